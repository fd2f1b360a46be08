// SPDX-License-Identifier: MIT
// kvmprov command line: parses arguments, runs observe → plan → apply → report, and is the only
// place that prints or exits.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apply.h"
#include "check.h"
#include "nova.h"
#include "plan.h"
#include "profile.h"
#include "report.h"
#include "text.h"
#include "version.h"

namespace {

using namespace kvmprov;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 64;
constexpr int kExitBadProfile = 65;

struct Options {
  std::string profile;
  std::string root = "/";
  bool json = false;
  bool quiet = false;
  bool no_color = false;
  std::vector<std::string> facts;
  bool detailed_exitcodes = false;
  bool allow_reload = false;
  std::string lock_timeout_text = "60";
  std::chrono::milliseconds lock_timeout{60000};
  std::string validate_file;
  std::string check_user;
  std::string check_log;
  bool reset_dry_run = false;
};

// The first error writing to stdout; reported once, at the end (see finish).
int stdout_errno = 0;

void print(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size() && stdout_errno == 0)
    stdout_errno = errno != 0 ? errno : EIO;
}

// One line on stderr; the host's bytes in S (paths, file content) are escaped, so they can
// neither split the line nor reach the terminal as control sequences.
void error(const std::string& s) {
  const std::string line = "kvmprov: " + displayable(s) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

// STATUS, unless the output could not be written (a full disk, a closed pipe): a report that
// was lost is a failure, as in coreutils.
int finish(int status) {
  errno = 0;
  if (std::fflush(stdout) != 0 && stdout_errno == 0) stdout_errno = errno != 0 ? errno : EIO;
  if (stdout_errno == 0 && std::ferror(stdout)) stdout_errno = EIO;
  if (stdout_errno == 0) return status;
  error(std::string("write error: ") + std::strerror(stdout_errno));
  return kExitFailure;
}

bool use_color(const Options& o) {
  const char* no_color = std::getenv("NO_COLOR");
  return !o.no_color && !o.json && !(no_color && *no_color) && isatty(STDOUT_FILENO);
}

// Prints every error of a profile and returns the exit status for an invalid one.
int report_profile_errors(const ParseResult& parsed) {
  for (const auto& e : parsed.errors) {
    const std::string line = displayable(e.str()) + "\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
  }
  return kExitBadProfile;
}

ParseResult load_profile(const Options& o) {
  if (o.profile.empty()) return ParseResult{built_in_profile(), {}};
  return load_profile_file(o.profile);
}

int run_validate(const Options& o) {
  ParseResult parsed = load_profile_file(o.validate_file);
  if (!parsed.profile) return report_profile_errors(parsed);
  const Profile& p = *parsed.profile;
  if (o.json) {
    print(json_text({{"file", o.validate_file}, {"valid", true}, {"name", p.name}}));
  } else if (!o.quiet) {
    print(displayable(o.validate_file) + ": valid profile \"" + p.name + "\"\n");
  }
  return 0;
}

// Seconds as given to --lock-timeout: a finite number >= 0 (fractions allowed). A value too large
// to count in milliseconds waits as good as for ever.
std::optional<std::chrono::milliseconds> parse_seconds(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789.eE+-") != std::string::npos)
    return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double seconds = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(seconds) || seconds < 0)
    return errno == ERANGE && seconds > 0 ? std::optional(std::chrono::milliseconds::max())
                                          : std::nullopt;
  constexpr double kMaxMs = 1e15;  // about 31,700 years
  const double ms = seconds * 1000;
  return std::chrono::milliseconds(ms >= kMaxMs ? static_cast<long long>(kMaxMs)
                                                : std::llround(ms));
}

// CLI11's check: "" when TEXT is a valid --lock-timeout, else why not.
std::string lock_timeout_problem(const std::string& text) {
  if (parse_seconds(text)) return "";
  return "\"" + displayable(text) + "\" is not a number of seconds >= 0 (such as 60 or 0.5)";
}

// Why --root DIR cannot be used, or nullopt. An empty DIR is what a script's unset variable
// gives, and a DIR that is "/" (or a link to it) is the running system: both would provision the
// build host itself instead of an image.
std::optional<std::string> check_root(const std::string& root) {
  if (root.empty())
    return "--root is empty: give the image's directory, or drop --root to act on the running "
           "system";
  std::error_code ec;
  const auto status = std::filesystem::status(root, ec);
  if (ec) return "--root \"" + root + "\": " + ec.message();
  if (!std::filesystem::is_directory(status)) return "--root \"" + root + "\": not a directory";
  if (std::filesystem::canonical(root, ec) == "/" && !ec)
    return "--root \"" + root +
           "\" is the running system's root directory: drop --root to provision this host";
  return std::nullopt;
}

// apply and reset change the running system only as root; refusing at once leaves no file half
// written and no lock behind.
bool refuse_unprivileged(const Host& host, std::string_view verb) {
  if (!host.live() || geteuid() == 0) return false;
  error(std::string(verb) +
        " changes the running system and needs root: run it as root (sudo kvmprov " +
        std::string(verb) + "), or give --root DIR to provision an image");
  return true;
}

// The run lock for apply and reset; the wait, when there is one, is said once as it starts, and
// a failure is said before returning nullopt.
std::optional<std::unique_ptr<Lock>> take_lock(Host& host, const Options& o) {
  auto l = host.lock(o.lock_timeout, [](const std::string& waiting) { error(waiting); });
  if (!l) {
    error(l.error().message);
    return std::nullopt;
  }
  return std::move(*l);
}

int run_plan_or_apply(const Options& o, const std::string& verb) {
  ParseResult parsed = load_profile(o);
  if (!parsed.profile) return report_profile_errors(parsed);
  const Profile& profile = *parsed.profile;

  auto host = make_linux_host({.root = o.root});
  if (verb == "apply" && refuse_unprivileged(*host, verb)) return kExitFailure;
  std::unique_ptr<Lock> lock;
  if (verb == "apply") {
    auto l = take_lock(*host, o);
    if (!l) return o.detailed_exitcodes ? 4 : kExitFailure;
    lock = std::move(*l);
  }
  Facts facts = observe(*host, profile);
  for (const auto& f : o.facts) {
    if (auto r = override_fact(facts, f); !r) {
      error(r.error().message);
      return kExitUsage;
    }
  }
  observe_kvm_verdict(*host, profile, facts);
  Plan plan = make_plan(profile, facts, {.live = host->live(), .allow_reload = o.allow_reload});
  if (verb == "apply") sweep_stale_temporaries(*host, facts, plan);
  RunReport report{.verb = verb, .dry_run = verb == "plan", .profile = &profile, .facts = &facts};
  report.actions = verb == "apply" ? apply_plan(*host, plan) : plan.actions;

  if (o.json)
    print(json_text(report_json(report)));
  else
    print(render_text(report, {.color = use_color(o), .quiet = o.quiet}));
  return exit_status(report, o.detailed_exitcodes);
}

// Removes what kvmprov generated (its own files, its block in /etc/modules) and nothing else:
// modules stay loaded and groups stay, so running guests are not disturbed.
// With --dry-run it only says what it would remove.
int run_reset(const Options& o) {
  auto host = make_linux_host({.root = o.root});
  if (!o.reset_dry_run && refuse_unprivileged(*host, "reset")) return kExitFailure;
  std::unique_ptr<Lock> lock;
  if (!o.reset_dry_run) {
    auto l = take_lock(*host, o);
    if (!l) return o.detailed_exitcodes ? 4 : kExitFailure;
    lock = std::move(*l);
  }
  const Profile none;  // reset needs no profile; the files it removes are fixed
  Facts facts = observe(*host, none);
  Plan plan = make_reset_plan(facts);
  RunReport report{.verb = "reset", .dry_run = o.reset_dry_run, .profile = &none, .facts = &facts};
  report.actions = o.reset_dry_run ? plan.actions : apply_plan(*host, plan);

  if (o.json)
    print(json_text(report_json(report)));
  else
    print(render_text(report, {.color = use_color(o), .quiet = o.quiet}));
  return exit_status(report, o.detailed_exitcodes);
}

int run_check_verb(const Options& o) {
  auto host = make_linux_host({});
  Facts facts;
  {
    // check needs the kernel's side only: not the udev rules, accounts or nova.conf.
    Profile profile = built_in_profile();
    profile.devices.clear();
    profile.groups.clear();
    profile.nova.reset();
    facts = observe(*host, profile, /*module_details=*/false);
  }
  for (const auto& f : o.facts) {
    if (auto r = override_fact(facts, f); !r) {
      error(r.error().message);
      return kExitUsage;
    }
    // A fact check does not reason with would be ignored while its lines say otherwise.
    const std::string_view key = std::string_view(f).substr(0, f.find('='));
    const auto& keys = check_fact_keys();
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      std::vector<std::string> names(keys.begin(), keys.end());
      error("--fact " + std::string(key) +
            " does not apply to check, which examines the running kernel and decides KVM's "
            "usability itself; facts check uses: " +
            join(names, ", "));
      return kExitUsage;
    }
  }
  CheckOptions check_options{.user = o.check_user};
  if (!o.check_log.empty()) {
    std::error_code ec;
    check_options.log_path = std::filesystem::absolute(o.check_log, ec).lexically_normal();
    if (ec) check_options.log_path = o.check_log;
  }
  if (!o.check_user.empty()) {
    // An unknown name is a usage error, not a verdict about the host.
    if (auto who = host->can_open_as(o.check_user, "/dev/kvm");
        !who && who.error().code == ENOENT) {
      error(who.error().message + " (--user)");
      return kExitUsage;
    }
  }
  CheckReport report = run_check(*host, facts, check_options);
  if (o.json)
    print(json_text(check_json(report)));
  else
    print(render_check(report, {.color = use_color(o), .quiet = o.quiet}));
  return report.verdict.usable ? 0 : kExitFailure;
}

int run(int argc, char** argv) {
  Options o;
  CLI::App app{
      "kvmprov: make this host a correctly provisioned KVM host, idempotently, and tell whether "
      "KVM can be used here.",
      "kvmprov"};
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(
      "Exit status: 0 success; 1 failure; 64 usage error; 65 invalid profile. With "
      "--detailed-exitcodes: 0 nothing changed, 2 changes, 4 failures, 6 both. check: 0 usable, "
      "1 not usable. See kvmprov(8) and kvmprov.yaml(5).");
  app.add_option("--profile", o.profile, "Host profile (default: the built-in default profile)")
      ->type_name("FILE");
  app.add_option("--root", o.root,
                 "Operate on the system image below DIR; kernel actions are skipped")
      ->type_name("DIR");
  app.add_flag("--json", o.json, "Print a JSON report");
  app.add_flag("--quiet", o.quiet, "Print only failures, pending items and the summary");
  app.add_flag("--no-color", o.no_color, "No colors (also when NO_COLOR is set)");
  app.add_option("--fact", o.facts, "Override an observed fact, e.g. cpu_vendor=amd (repeatable)")
      ->type_name("KEY=VALUE");
  app.add_flag("--detailed-exitcodes", o.detailed_exitcodes,
               "Exit 2 for changes, 4 for failures, 6 for both");
  app.add_flag("--allow-reload", o.allow_reload,
               "Reload a loaded module whose options differ, when no guest uses it");
  app.add_option("--lock-timeout", o.lock_timeout_text,
                 "Seconds apply and reset wait for another run's lock (default 60)")
      ->type_name("SECONDS")
      ->check([](const std::string& text) { return lock_timeout_problem(text); });

  auto* check = app.add_subcommand("check", "Tell whether this host can run KVM guests, and why");
  // An empty value is what a script's unset variable gives ("$SUDO_USER" without sudo): refused,
  // never taken for the default.
  check
      ->add_option("--user", o.check_user,
                   "Whose access to /dev/kvm decides (default: the user running kvmprov)")
      ->type_name("NAME")
      ->check([](const std::string& name) -> std::string {
        return name.empty() ? "the name is empty (an unset variable such as $SUDO_USER gives "
                              "that): name an account, or drop --user to ask about the user "
                              "running kvmprov"
                            : "";
      });
  check
      ->add_option("--log", o.check_log,
                   "nova-compute log to search for \"no supported architecture for os type "
                   "'hvm'\", a file of any size or a pipe such as /dev/stdin (default: "
                   "/var/log/nova/nova-compute.log when it exists)")
      ->type_name("FILE")
      ->check([](const std::string& file) -> std::string {
        return file.empty() ? "the file name is empty: name the log, or drop --log for "
                              "/var/log/nova/nova-compute.log"
                            : "";
      });
  auto* plan = app.add_subcommand("plan", "Show what apply would change; change nothing");
  auto* apply = app.add_subcommand("apply", "Converge the host to the profile");
  auto* validate = app.add_subcommand("validate", "Check a profile file and report every error");
  validate->add_option("FILE", o.validate_file, "Profile to validate")->required();
  auto* reset = app.add_subcommand(
      "reset", "Remove the files kvmprov wrote; leave modules loaded and groups in place");
  reset->add_flag("--dry-run", o.reset_dry_run, "Show what reset would remove; change nothing");
  auto* version = app.add_subcommand("version", "Print the version");

  // Per-verb --help lists the global options too, since they are what a verb is run with.
  std::string globals = "Global options (before or after the verb):\n";
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_name() == "--help") continue;
    std::string name = opt->get_name();
    if (!opt->get_type_name().empty() && opt->get_type_name() != "FLAG" &&
        opt->get_expected_min() > 0)
      name += " " + opt->get_type_name();
    globals += "  " + name + std::string(name.size() < 28 ? 28 - name.size() : 1, ' ') +
               opt->get_description() + "\n";
  }
  for (CLI::App* verb : {check, plan, apply, validate, reset, version})
    verb->footer(globals + "\n" + app.get_footer());

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    error(e.what() + std::string(" (see kvmprov --help)"));
    return kExitUsage;
  }

  o.lock_timeout = parse_seconds(o.lock_timeout_text).value_or(o.lock_timeout);
  if (*version) {
    print("kvmprov " KVMPROV_VERSION "\n");
    return 0;
  }
  if (*validate) return run_validate(o);
  if (app.get_option("--root")->count() > 0) {
    if (*check) {
      error("check examines the running system; --root is not supported for it (drop --root)");
      return kExitUsage;
    }
    if (auto bad = check_root(o.root)) {
      error(*bad);
      return kExitUsage;
    }
  }
  if (*check) return run_check_verb(o);
  if (*plan) return run_plan_or_apply(o, "plan");
  if (*apply) return run_plan_or_apply(o, "apply");
  if (*reset) return run_reset(o);
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // Nothing may end the process with an uncaught exception (an abort, a core, and a report the
  // caller never sees): whatever escapes is said in one line and is a failure.
  try {
    return finish(run(argc, argv));
  } catch (const std::exception& e) {
    error(std::string("internal error: ") + e.what());
  } catch (...) {
    error("internal error: an unknown exception");
  }
  return finish(kExitFailure);
}
