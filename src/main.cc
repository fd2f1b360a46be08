// SPDX-License-Identifier: MIT
// kvmprov command line: parses arguments, runs observe → plan → apply → report, and is the only
// place that prints or exits.
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "apply.h"
#include "check.h"
#include "cli.h"
#include "cli_output.h"
#include "libvirt.h"
#include "nova.h"
#include "plan.h"
#include "profile.h"
#include "report.h"
#include "util/text.h"
#include "version.h"

namespace {

using namespace kvmprov;

// The first error writing to stdout; reported once, at the end (see finish).
int stdout_errno = 0;

void print(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size() && stdout_errno == 0)
    stdout_errno = errno != 0 ? errno : EIO;
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

int run(int argc, char** argv) {
  const CommandLine command = parse_command_line(argc, argv);
  for (const std::string& e : command.errors) error(e);
  print(command.out);
  if (command.status) return *command.status;
  const Options& o = command.options;
  switch (command.verb) {
    case Verb::version:
      if (o.json)
        print(json_text(
            {{"format", kJsonFormat}, {"name", "kvmprov"}, {"version", KVMPROV_VERSION}}));
      else
        print("kvmprov " KVMPROV_VERSION "\n");
      return 0;
    case Verb::validate:
      return run_validate(o);
    case Verb::check:
      return run_check_verb(o);
    case Verb::plan:
      return run_plan_or_apply(o, "plan");
    case Verb::apply:
      return run_plan_or_apply(o, "apply");
    case Verb::reset:
      return run_reset(o);
    case Verb::help:
      break;  // answered by parse_command_line
  }
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
