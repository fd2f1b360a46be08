// SPDX-License-Identifier: MIT
// kvmprov command line: parses arguments, runs observe → plan → apply → report, and is the only
// place that prints or exits.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apply.h"
#include "check.h"
#include "nova.h"
#include "plan.h"
#include "profile.h"
#include "report.h"
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
  double lock_timeout = 60;
  std::string validate_file;
  std::string check_user;
  std::string check_log;
  bool reset_dry_run = false;
};

void print(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
}

void error(const std::string& s) {
  std::fprintf(stderr, "kvmprov: %s\n", s.c_str());
}

bool use_color(const Options& o) {
  const char* no_color = std::getenv("NO_COLOR");
  return !o.no_color && !o.json && !(no_color && *no_color) && isatty(STDOUT_FILENO);
}

// Prints every error of a profile and returns the exit status for an invalid one.
int report_profile_errors(const ParseResult& parsed) {
  for (const auto& e : parsed.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
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
    print(
        nlohmann::json(
            {{"format", kJsonFormat}, {"file", o.validate_file}, {"valid", true}, {"name", p.name}})
            .dump(2) +
        "\n");
  } else if (!o.quiet) {
    print(o.validate_file + ": valid profile \"" + p.name + "\"\n");
  }
  return 0;
}

int run_plan_or_apply(const Options& o, const std::string& verb) {
  ParseResult parsed = load_profile(o);
  if (!parsed.profile) return report_profile_errors(parsed);
  const Profile& profile = *parsed.profile;

  auto host = make_linux_host({.root = o.root});
  std::unique_ptr<Lock> lock;
  if (verb == "apply") {
    auto timeout = std::chrono::milliseconds(static_cast<long long>(o.lock_timeout * 1000));
    auto l = host->lock(timeout);
    if (!l) {
      error(l.error().message);
      return o.detailed_exitcodes ? 4 : kExitFailure;
    }
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
    print(report_json(report).dump(2) + "\n");
  else
    print(render_text(report, {.color = use_color(o), .quiet = o.quiet}));
  return exit_status(report, o.detailed_exitcodes);
}

// Removes what kvmprov generated (its own files, its block in /etc/modules) and nothing else:
// modules stay loaded and groups stay, so running guests are not disturbed.
// With --dry-run it only says what it would remove.
int run_reset(const Options& o) {
  auto host = make_linux_host({.root = o.root});
  std::unique_ptr<Lock> lock;
  if (!o.reset_dry_run) {
    auto timeout = std::chrono::milliseconds(static_cast<long long>(o.lock_timeout * 1000));
    auto l = host->lock(timeout);
    if (!l) {
      error(l.error().message);
      return o.detailed_exitcodes ? 4 : kExitFailure;
    }
    lock = std::move(*l);
  }
  const Profile none;  // reset needs no profile; the files it removes are fixed
  Facts facts = observe(*host, none);
  Plan plan = make_reset_plan(facts);
  RunReport report{.verb = "reset", .dry_run = o.reset_dry_run, .profile = &none, .facts = &facts};
  report.actions = o.reset_dry_run ? plan.actions : apply_plan(*host, plan);

  if (o.json)
    print(report_json(report).dump(2) + "\n");
  else
    print(render_text(report, {.color = use_color(o), .quiet = o.quiet}));
  return exit_status(report, o.detailed_exitcodes);
}

int run_check_verb(const Options& o) {
  if (o.root != "/") {
    error("check examines the running system; --root is not supported for it (drop --root)");
    return kExitUsage;
  }
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
    print(check_json(report).dump(2) + "\n");
  else
    print(render_check(report, {.color = use_color(o), .quiet = o.quiet}));
  return report.verdict.usable ? 0 : kExitFailure;
}

}  // namespace

int main(int argc, char** argv) {
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
  app.add_option("--lock-timeout", o.lock_timeout,
                 "Seconds apply and reset wait for another run's lock (default 60)")
      ->type_name("SECONDS")
      ->check(CLI::NonNegativeNumber.description(""));

  auto* check = app.add_subcommand("check", "Tell whether this host can run KVM guests, and why");
  check
      ->add_option("--user", o.check_user,
                   "Whose access to /dev/kvm decides (default: the user running kvmprov)")
      ->type_name("NAME");
  check
      ->add_option("--log", o.check_log,
                   "nova-compute log to search for \"no supported architecture for os type "
                   "'hvm'\" (default: /var/log/nova/nova-compute.log when it exists)")
      ->type_name("FILE");
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

  if (*version) {
    print("kvmprov " KVMPROV_VERSION "\n");
    return 0;
  }
  if (*validate) return run_validate(o);
  if (*check) return run_check_verb(o);
  if (*plan) return run_plan_or_apply(o, "plan");
  if (*apply) return run_plan_or_apply(o, "apply");
  if (*reset) return run_reset(o);
  return kExitUsage;
}
