// SPDX-License-Identifier: MIT
// kvmprov command line: parses arguments, runs observe → plan → apply → report, and is the only
// place that prints or exits.
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
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
#include "libvirt.h"
#include "observe.h"
#include "plan.h"
#include "profile.h"
#include "report.h"
#include "util/text.h"
#include "version.h"

namespace {

using namespace kvmprov;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 64;
constexpr int kExitBadProfile = 65;
// With --detailed-exitcodes a failure is 4, as Puppet's; 1 is left to an internal error or a
// report that could not be written.
constexpr int kExitDetailedFailure = 4;

struct Options {
  std::string profile;
  std::string root = "/";
  bool root_given = false;  // --root DIR (checked: a real directory, not the running system's /)
  bool live = false;        // --live: "/" is the running system, whatever detect_scope says
  bool json = false;
  bool quiet = false;
  bool no_color = false;
  std::string color = "auto";  // --color WHEN: always, never, auto
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

// The status of a run of apply or reset that failed before any action: the lock not had, or not
// root.
int run_failure(const Options& o) {
  return o.detailed_exitcodes ? kExitDetailedFailure : kExitFailure;
}

// The first error writing to stdout; reported once, at the end (see finish).
int stdout_errno = 0;

void print(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size() && stdout_errno == 0)
    stdout_errno = errno != 0 ? errno : EIO;
}

// Whether FD is the journal's stream: systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the
// stream it connects a service's stdout or stderr to (systemd.exec(5)). Its lines then take
// sd-daemon's "<N>" priority prefixes, so that "journalctl -p warning" finds failures.
bool is_journal(int fd) {
  const char* stream = std::getenv("JOURNAL_STREAM");
  struct stat st {};
  if (!stream || !*stream || ::fstat(fd, &st) != 0) return false;
  return std::string(stream) == fmt::format("{}:{}", static_cast<unsigned long long>(st.st_dev),
                                            static_cast<unsigned long long>(st.st_ino));
}

// sd-daemon(3)'s priorities.
enum class Priority { error = 3, warning = 4, notice = 5 };

// One line on stderr; the host's bytes in S (paths, file content) are escaped, so they can
// neither split the line nor reach the terminal as control sequences.
void say(Priority priority, const std::string& s) {
  static const bool journal = is_journal(STDERR_FILENO);
  const std::string line =
      (journal ? fmt::format("<{}>", static_cast<int>(priority)) : std::string()) +
      "kvmprov: " + displayable(s) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void error(const std::string& s) {
  say(Priority::error, s);
}

// What the run found out and did about it, which is no failure: where it runs, a wait.
void notice(const std::string& s) {
  say(Priority::notice, s);
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

// Whether a Debian maintainer script runs kvmprov: its output lands in apt's and term.log, where
// each line must say whose it is.
bool under_dpkg() {
  const char* script = std::getenv("DPKG_MAINTSCRIPT_NAME");
  return script && *script;
}

// TEXT with "kvmprov: " before each line under dpkg, as it is elsewhere.
std::string for_the_log(std::string text) {
  if (!under_dpkg()) return text;
  std::string out;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t nl = std::min(text.find('\n', pos), text.size());
    std::string line = text.substr(pos, nl - pos);
    // A journal priority ("<3>") stays first, where journald reads it.
    const size_t at = line.size() >= 3 && line[0] == '<' && line[2] == '>' ? 3 : 0;
    out += line.insert(at, "kvmprov: ") + "\n";
    pos = nl + 1;
  }
  return out;
}

// --color=always colours even a pipe; never, or --no-color, nowhere; auto (the default) only a
// terminal that can show it (TERM set and not "dumb"), unless NO_COLOR is set or dpkg runs us.
// JSON is never coloured.
bool use_color(const Options& o) {
  if (o.json || o.no_color || o.color == "never") return false;
  if (o.color == "always") return true;
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  return !(no_color && *no_color) && !under_dpkg() && term && *term &&
         std::string_view(term) != "dumb" && isatty(STDOUT_FILENO);
}

// How the text report is rendered for this run: colours, --quiet, the journal's priorities.
RenderOptions text_options(const Options& o) {
  return {.color = use_color(o), .quiet = o.quiet, .journal = is_journal(STDOUT_FILENO)};
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

// validate --json: every error as {file, line, column, message}; line and column are null when
// the error concerns the whole file ("cannot read profile", "larger than 1 MiB").
nlohmann::json profile_errors_json(const std::string& file, const ParseResult& parsed) {
  nlohmann::json errors = nlohmann::json::array();
  for (const auto& e : parsed.errors) {
    const auto position = [&](int n) { return e.line > 0 ? nlohmann::json(n) : nullptr; };
    errors.push_back({{"file", e.file},
                      {"line", position(e.line)},
                      {"column", position(e.column)},
                      {"message", e.message}});
  }
  return {{"format", kJsonFormat}, {"file", file}, {"valid", false}, {"errors", errors}};
}

int run_validate(const Options& o) {
  ParseResult parsed = load_profile_file(o.validate_file);
  if (!parsed.profile && o.json) {
    print(json_text(profile_errors_json(o.validate_file, parsed)));
    return kExitBadProfile;
  }
  if (!parsed.profile) return report_profile_errors(parsed);
  const Profile& p = *parsed.profile;
  if (o.json) {
    print(json_text(
        {{"format", kJsonFormat}, {"file", o.validate_file}, {"valid", true}, {"name", p.name}}));
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
    return "--root is empty: give the image's directory, or drop --root to act on the running system";
  std::error_code ec;
  const auto status = std::filesystem::status(root, ec);
  if (ec) return "--root \"" + root + "\": " + ec.message();
  if (!std::filesystem::is_directory(status)) return "--root \"" + root + "\": not a directory";
  if (std::filesystem::canonical(root, ec) == "/" && !ec)
    return "--root \"" + root +
           "\" is the running system's root directory: drop --root to provision this host";
  return std::nullopt;
}

// apply and reset change the system they run on (its kernel, or in a chroot or container its
// files) only as root; refusing at once leaves no file half written and no lock behind.
bool refuse_unprivileged(const Options& o, std::string_view verb) {
  if (o.root_given || geteuid() == 0) return false;
  error(std::string(verb) +
        " changes the running system and needs root: run it as root (sudo kvmprov " +
        std::string(verb) + "), or give --root DIR to provision an image");
  return true;
}

// The run lock for apply and reset; the wait, when there is one, is said once as it starts, and
// a failure is said before returning nullopt.
std::optional<std::unique_ptr<Lock>> take_lock(Host& host, const Options& o) {
  auto l = host.lock(o.lock_timeout, [](const std::string& waiting) { notice(waiting); });
  if (!l) {
    error(l.error().message);
    return std::nullopt;
  }
  return std::move(*l);
}

// The host a verb works on: the image below --root, or "/". For "/" the run finds out where it
// is (see detect_scope): in a chroot it acts on "/" as on an image, in a container it leaves the
// kernel and the device nodes to the host, and it says so in one line. --live skips the
// question.
std::unique_ptr<Host> host_for(const Options& o) {
  if (o.root_given) return make_linux_host({.root = o.root});
  const ScopeFacts scope = o.live ? ScopeFacts{.scope = Scope::running_system} : detect_scope("/");
  if (scope.scope == Scope::chroot)
    notice(
        "running in a chroot (" + scope.evidence +
        "): acting on its files as on an image (--root /); kernel, device and udev actions are skipped (--live to act on the running system)");
  else if (scope.scope == Scope::container)
    notice("running in a container (" + scope.container + ": " + scope.evidence +
           "): its files are changed; kernel modules and device nodes are left to the host");
  return make_linux_host({.root = "/", .scope = scope});
}

PlanOptions plan_options(const Host& host, const Options& o) {
  const ScopeFacts scope = host.scope();
  return {.live = host.live(),
          .allow_reload = o.allow_reload,
          .scope = scope.scope,
          .container = scope.container};
}

int run_plan_or_apply(const Options& o, const std::string& verb) {
  ParseResult parsed = load_profile(o);
  if (!parsed.profile) return report_profile_errors(parsed);
  const Profile& profile = *parsed.profile;

  if (verb == "apply" && refuse_unprivileged(o, verb)) return run_failure(o);
  auto host = host_for(o);
  std::unique_ptr<Lock> lock;
  if (verb == "apply") {
    auto l = take_lock(*host, o);
    if (!l) return run_failure(o);
    lock = std::move(*l);
  }
  Facts facts = observe(*host, profile);
  for (const auto& f : o.facts) {
    if (auto r = override_fact(facts, f); !r) {
      error(r.error().message);
      return kExitUsage;
    }
  }
  if (!facts.cpu_known && depends_on_cpu_vendor(profile))
    notice(
        "the image's CPU is not known (--root without --fact cpu_vendor): module options are written for every vendor, and kvm_intel or kvm_amd is left to udev, which loads the CPU's own at boot; give --fact cpu_vendor=... for an image made for one vendor");
  observe_kvm_verdict(*host, profile, facts);
  Plan plan = make_plan(profile, facts, plan_options(*host, o));
  if (verb == "apply") sweep_stale_temporaries(*host, facts, plan);
  RunReport report{.verb = verb, .dry_run = verb == "plan", .profile = &profile, .facts = &facts};
  report.actions = verb == "apply" ? apply_plan(*host, plan) : plan.actions;

  if (o.json)
    print(json_text(report_json(report)));
  else
    print(for_the_log(render_text(report, text_options(o))));
  return exit_status(report, o.detailed_exitcodes);
}

// Removes what kvmprov generated (its own files, its block in /etc/modules) and nothing else:
// modules stay loaded and groups stay, so running guests are not disturbed.
// With --dry-run it only says what it would remove.
int run_reset(const Options& o) {
  if (!o.reset_dry_run && refuse_unprivileged(o, "reset")) return run_failure(o);
  auto host = host_for(o);
  std::unique_ptr<Lock> lock;
  if (!o.reset_dry_run) {
    auto l = take_lock(*host, o);
    if (!l) return run_failure(o);
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
    print(for_the_log(render_text(report, text_options(o))));
  return exit_status(report, o.detailed_exitcodes);
}

int run_check_verb(const Options& o) {
  std::string container;
  std::string container_notice;  // said once the options are known to be good
  if (!o.live) {
    const ScopeFacts scope = detect_scope("/");
    // A chroot sees the build host's kernel through /proc and /dev: any verdict would be about
    // the wrong machine.
    if (scope.scope == Scope::chroot) {
      error(
          "cannot check KVM from a chroot (" + scope.evidence +
          "): its kernel and /dev/kvm are the build host's; run check on the host that boots this system, or give --live to check the one running it");
      return kExitFailure;
    }
    // A container's guests run on the host's kernel through the /dev/kvm passed in: the verdict
    // is about this container, and the fixes are the host's or the container's.
    if (scope.scope == Scope::container) {
      container = scope.container;
      container_notice =
          "running in a container (" + scope.container + ": " + scope.evidence +
          "): checking the host's kernel and the device nodes passed in; no module is loaded";
    }
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
    // A fact check does not reason with would be ignored while its lines say otherwise.
    const std::string_view key = std::string_view(f).substr(0, f.find('='));
    const auto& keys = check_fact_keys();
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      std::vector<std::string> names(keys.begin(), keys.end());
      error(
          "--fact " + std::string(key) +
          " does not apply to check, which examines the running kernel and decides KVM's usability itself; facts check uses: " +
          join(names, ", "));
      return kExitUsage;
    }
  }
  CheckOptions check_options{.user = o.check_user, .container = container};
  check_options.libvirt = [](Host& h, const Verdict& v) { return libvirt_item(h, v); };
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
  if (!container_notice.empty()) notice(container_notice);
  CheckReport report = run_check(*host, facts, check_options);
  if (o.json)
    print(json_text(check_json(report)));
  else
    print(for_the_log(render_check(report, text_options(o))));
  return report.verdict.usable ? 0 : kExitFailure;
}

// Where a global option can be used: a verb, or reset with --dry-run, which takes no lock.
enum Use : unsigned {
  kCheck = 1u << 0,
  kPlan = 1u << 1,
  kApply = 1u << 2,
  kValidate = 1u << 3,
  kReset = 1u << 4,
  kResetDryRun = 1u << 5,
  kVersion = 1u << 6,
  kHelp = 1u << 7,
};
constexpr unsigned kEveryUse = (1u << 8) - 1;

// Which verbs take each global option. Any other use is a usage error rather than silently
// ignored (check --profile X would look as if X mattered). Each verb's --help lists its own
// options from here; README and kvmprov(8) carry the same table, and cli_test runs every cell.
struct OptionUse {
  std::string_view option;
  unsigned uses;
};
constexpr OptionUse kOptionUses[] = {
    {"--profile", kPlan | kApply},
    {"--root", kPlan | kApply | kReset | kResetDryRun},
    {"--live", kCheck | kPlan | kApply | kReset | kResetDryRun},
    {"--json", kEveryUse & ~kHelp},
    {"--quiet", kEveryUse & ~(kVersion | kHelp)},
    {"--no-color", kEveryUse},  // a preference of the caller's terminal, as NO_COLOR is
    {"--color", kEveryUse},
    {"--fact", kCheck | kPlan | kApply},
    {"--detailed-exitcodes", kPlan | kApply | kReset | kResetDryRun},
    {"--allow-reload", kPlan | kApply},
    {"--lock-timeout", kApply | kReset},
};

constexpr std::string_view kVerbNames[] = {"check", "plan",    "apply", "validate",
                                           "reset", "version", "help"};

std::string_view use_name(Use use) {
  switch (use) {
    case kCheck:
      return "check";
    case kPlan:
      return "plan";
    case kApply:
      return "apply";
    case kValidate:
      return "validate";
    case kReset:
      return "reset";
    case kResetDryRun:
      return "reset --dry-run";
    case kVersion:
      return "version";
    case kHelp:
      return "help";
  }
  return "";
}

// "a, b and c".
std::string list_words(const std::vector<std::string>& words, std::string_view last_sep) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? std::string(last_sep) : std::string(", ");
    out += words[i];
  }
  return out;
}

// USES as a reader says it: "plan, apply and reset", "apply and reset without --dry-run".
std::string uses_text(unsigned uses) {
  std::vector<std::string> words;
  for (unsigned bit = 1; bit <= kHelp; bit <<= 1) {
    if (!(uses & bit)) continue;
    if (bit == kReset) {
      words.emplace_back(uses & kResetDryRun ? "reset" : "reset without --dry-run");
    } else if (bit != kResetDryRun || !(uses & kReset)) {
      words.emplace_back(use_name(static_cast<Use>(bit)));
    }
  }
  return list_words(words, " and ");
}

// The message for a word that is not a verb, with a hint when it looks like a typo of one.
std::string unknown_verb(const std::string& word) {
  const std::vector<std::string_view> verbs(std::begin(kVerbNames), std::end(kVerbNames));
  if (auto near = closest_word(word, verbs))
    return "unknown verb \"" + word + "\" (did you mean \"" + std::string(*near) + "\"?)";
  std::vector<std::string> names(std::begin(kVerbNames), std::end(kVerbNames));
  return "unknown verb \"" + word + "\": expected " + list_words(names, " or ") +
         " (see kvmprov --help)";
}

int run(int argc, char** argv) {
  Options o;
  CLI::App app{
      "kvmprov: make this host a correctly provisioned KVM host, idempotently, and tell whether KVM can be used here.",
      "kvmprov"};
  app.require_subcommand(0, 1);
  app.fallthrough();
  app.set_help_all_flag("--help-all", "Print the help of every verb");
  app.footer(
      "Not every verb takes every option: each verb's --help lists its own (kvmprov help VERB).\n"
      "Exit status: 0 success; 1 failure (plan: a predicted one); 64 usage error; 65 invalid profile. With --detailed-exitcodes: 0 nothing changed, 2 changes (plan: or pending items), 4 failures, 6 both. check: 0 usable, 1 not usable. The full tables are in kvmprov(8); see also kvmprov.yaml(5).");
  bool version_flag = false;
  app.add_flag("-V,--version", version_flag, "Print the version, as the version verb does");
  app.add_option("--profile", o.profile, "Host profile (default: the built-in default profile)")
      ->type_name("FILE");
  app.add_option("--root", o.root,
                 "Operate on the system image below DIR; kernel actions are skipped")
      ->type_name("DIR");
  app.add_flag("--live", o.live,
               "Act on the running system even where / looks like a chroot or container");
  app.add_flag("--json", o.json, "Print a JSON report");
  app.add_flag("--quiet", o.quiet, "Print only failures, pending items and the summary");
  auto* no_color = app.add_flag("--no-color", o.no_color,
                                "No colors (as --color=never; also when NO_COLOR is set)");
  app.add_option(
         "--color", o.color,
         "Colors: always, never, or auto (the default: on a terminal, unless NO_COLOR is set or TERM is dumb)")
      ->type_name("WHEN")
      ->check(CLI::IsMember({"always", "never", "auto"}))
      ->excludes(no_color);
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
        return name.empty()
                   ? "the name is empty (an unset variable such as $SUDO_USER gives that): name an account, or drop --user to ask about the user running kvmprov"
                   : "";
      });
  check
      ->add_option(
          "--log", o.check_log,
          "nova-compute log to search for \"no supported architecture for os type 'hvm'\", a file of any size or a pipe such as /dev/stdin (default: /var/log/nova/nova-compute.log when it exists)")
      ->type_name("FILE")
      ->check([](const std::string& file) -> std::string {
        return file.empty()
                   ? "the file name is empty: name the log, or drop --log for /var/log/nova/nova-compute.log"
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
  auto* help = app.add_subcommand("help", "Print the help of kvmprov, or of VERB");
  std::string help_verb;
  help->add_option("VERB", help_verb, "The verb to explain");

  // Per-verb --help lists the global options the verb takes, since they are what it is run with.
  const std::pair<CLI::App*, unsigned> verbs[] = {{check, kCheck},
                                                  {plan, kPlan},
                                                  {apply, kApply},
                                                  {validate, kValidate},
                                                  {reset, kReset | kResetDryRun},
                                                  {version, kVersion},
                                                  {help, kHelp}};
  for (const auto& [verb, uses] : verbs) {
    std::string globals = "Global options (before or after the verb):\n";
    for (const auto& [name, option_uses] : kOptionUses) {
      if (!(option_uses & uses)) continue;
      const CLI::Option* opt = app.get_option(std::string(name));
      std::string shown(name);
      if (opt->get_expected_min() > 0) shown += " " + opt->get_type_name();
      if (name == "--lock-timeout" && verb == reset) shown += " (not with --dry-run)";
      globals += "  " + shown + std::string(shown.size() < 28 ? 28 - shown.size() : 1, ' ') +
                 opt->get_description() + "\n";
    }
    verb->footer(globals + "\n" + app.get_footer());
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // A word where the verb belongs is a misspelt verb more often than a stray argument.
    if (app.get_subcommands().empty()) {
      for (const std::string& word : app.remaining()) {
        if (word.empty() || word.front() != '-') {
          error(unknown_verb(word));
          return kExitUsage;
        }
      }
    }
    error(e.what() + std::string(" (see kvmprov --help)"));
    return kExitUsage;
  }

  CLI::App* verb = app.get_subcommands().empty() ? nullptr : app.get_subcommands().front();
  if (version_flag && verb && verb != version) {
    error("--version is the version verb: give it without " + verb->get_name());
    return kExitUsage;
  }
  if (version_flag) verb = version;
  if (!verb) {
    std::vector<std::string> names(std::begin(kVerbNames), std::end(kVerbNames));
    error("a verb is required: " + list_words(names, " or ") + " (see kvmprov --help)");
    return kExitUsage;
  }
  unsigned use = 0;
  for (const auto& [v, uses] : verbs)
    if (v == verb) use = uses;
  if (verb == reset) use = o.reset_dry_run ? kResetDryRun : kReset;
  bool refused = false;
  for (const auto& [name, option_uses] : kOptionUses) {
    if (option_uses & use || app.get_option(std::string(name))->count() == 0) continue;
    error(std::string(use_name(static_cast<Use>(use))) + " does not take " + std::string(name) +
          " (only " + uses_text(option_uses) + " do): drop it");
    refused = true;
  }
  if (refused) return kExitUsage;

  o.lock_timeout = parse_seconds(o.lock_timeout_text).value_or(o.lock_timeout);
  if (verb == help) {
    if (help_verb.empty()) {
      // app.help() would show the help of the verb parsed, which is "help" itself.
      print(app.get_formatter()->make_help(&app, "kvmprov", CLI::AppFormatMode::Normal));
      return 0;
    }
    if (std::find(std::begin(kVerbNames), std::end(kVerbNames), help_verb) ==
        std::end(kVerbNames)) {
      error(unknown_verb(help_verb));
      return kExitUsage;
    }
    print(app.get_subcommand(help_verb)->help("kvmprov"));
    return 0;
  }
  if (verb == version) {
    if (o.json)
      print(
          json_text({{"format", kJsonFormat}, {"name", "kvmprov"}, {"version", KVMPROV_VERSION}}));
    else
      print("kvmprov " KVMPROV_VERSION "\n");
    return 0;
  }
  if (verb == validate) return run_validate(o);
  o.root_given = app.get_option("--root")->count() > 0;
  if (o.root_given && o.live) {
    error("--live and --root exclude each other: --root DIR acts on an image, --live on this host");
    return kExitUsage;
  }
  if (o.root_given) {
    if (auto bad = check_root(o.root)) {
      error(*bad);
      return kExitUsage;
    }
  }
  if (verb == check) return run_check_verb(o);
  if (verb == plan) return run_plan_or_apply(o, "plan");
  if (verb == apply) return run_plan_or_apply(o, "apply");
  if (verb == reset) return run_reset(o);
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
