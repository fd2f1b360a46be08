// SPDX-License-Identifier: MIT
// The verbs that read a profile or change the host: version, validate, plan, apply and reset, each
// the pipeline observe -> plan -> apply -> report, its report returned as text to main.cc.
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "apply.h"
#include "cli_output.h"
#include "cli_verbs.h"
#include "libvirt.h"
#include "observe.h"
#include "plan.h"
#include "profile.h"
#include "report.h"
#include "util/text.h"
#include "version.h"

namespace kvmprov {
namespace {

// Every error of a profile, one per line, and the exit status for an invalid one.
VerbOutput profile_errors(const ParseResult& parsed) {
  VerbOutput result{.status = kExitBadProfile};
  for (const auto& e : parsed.errors) result.err += displayable(e.str()) + "\n";
  return result;
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

// apply and reset change the system they run on (its kernel, or in a chroot or container its
// files) only as root; refusing at once leaves no file half written and no lock behind.
bool refuse_unprivileged(const Options& o, std::string_view verb, const Messages& say) {
  if (o.root_given || geteuid() == 0) return false;
  say.error(std::string(verb) +
            " changes the running system and needs root: run it as root (sudo kvmprov " +
            std::string(verb) + "), or give --root DIR to provision an image");
  return true;
}

// The host a verb works on: the image below --root, or "/". For "/" the run finds out where it
// is (see detect_scope): in a chroot it acts on "/" as on an image, in a container it leaves the
// kernel and the device nodes to the host, and it says so in one line. --live skips the
// question.
std::unique_ptr<Host> host_for(const Options& o, const Messages& say) {
  if (o.root_given) return make_linux_host({.root = o.root});
  const ScopeFacts scope = o.live ? ScopeFacts{.scope = Scope::running_system} : detect_scope("/");
  if (scope.scope == Scope::chroot)
    say.notice(
        "running in a chroot (" + scope.evidence +
        "): acting on its files as on an image (--root /); kernel, device and udev actions are skipped (--live to act on the running system)");
  else if (scope.scope == Scope::container)
    say.notice("running in a container (" + scope.container + ": " + scope.evidence +
               "): its files are changed; kernel modules and device nodes are left to the host");
  return make_linux_host({.root = "/", .scope = scope});
}

// The host a verb works on and, when the verb WRITES, the run lock held until it is done.
struct Session {
  std::unique_ptr<Host> host;
  std::unique_ptr<Lock> lock;
};

// A session for VERB; nullopt when a writing verb is refused (not root) or has no lock, said
// already. The wait for the lock, when there is one, is said once as it starts.
std::optional<Session> open_session(const Options& o, std::string_view verb, bool writes,
                                    const Messages& say) {
  if (writes && refuse_unprivileged(o, verb, say)) return std::nullopt;
  Session session{.host = host_for(o, say)};
  if (!writes) return session;
  auto lock = session.host->lock(o.lock_timeout, say.notice);
  if (!lock) {
    say.error(lock.error().message);
    return std::nullopt;
  }
  session.lock = std::move(*lock);
  return session;
}

PlanOptions plan_options(const Host& host, const Options& o) {
  const ScopeFacts scope = host.scope();
  return {.live = host.live(),
          .allow_reload = o.allow_reload,
          .scope = scope.scope,
          .container = scope.container};
}

// REPORT as --json or text asks, with the exit status it stands for.
VerbOutput report_output(const RunReport& report, const Options& o) {
  return {.out = o.json ? json_text(report_json(report))
                        : for_the_log(render_text(report, text_options(o))),
          .status = exit_status(report, o.detailed_exitcodes)};
}

}  // namespace

std::optional<std::string> override_facts(
    Facts& facts, const std::vector<std::string>& overrides,
    const std::function<std::optional<std::string>(std::string_view key)>& refuse) {
  for (const auto& f : overrides) {
    if (auto r = override_fact(facts, f); !r) return r.error().message;
    if (!refuse) continue;
    if (auto why = refuse(std::string_view(f).substr(0, f.find('=')))) return why;
  }
  return std::nullopt;
}

VerbOutput run_version(const Options& o) {
  if (o.json)
    return {.out = json_text(
                {{"format", kJsonFormat}, {"name", "kvmprov"}, {"version", KVMPROV_VERSION}})};
  return {.out = "kvmprov " KVMPROV_VERSION "\n"};
}

VerbOutput run_validate(const Options& o) {
  ParseResult parsed = load_profile_file(o.validate_file);
  if (!parsed.profile && o.json)
    return {.out = json_text(profile_errors_json(o.validate_file, parsed)),
            .status = kExitBadProfile};
  if (!parsed.profile) return profile_errors(parsed);
  const Profile& p = *parsed.profile;
  if (o.json)
    return {.out = json_text({{"format", kJsonFormat},
                              {"file", o.validate_file},
                              {"valid", true},
                              {"name", p.name}})};
  if (o.quiet) return {};
  return {.out = displayable(o.validate_file) + ": valid profile \"" + p.name + "\"\n"};
}

VerbOutput run_plan_or_apply(const Options& o, Verb verb, const Messages& say) {
  ParseResult parsed = load_profile(o);
  if (!parsed.profile) return profile_errors(parsed);
  const Profile& profile = *parsed.profile;

  const bool apply = verb == Verb::apply;
  auto session = open_session(o, "apply", apply, say);
  if (!session) return {.status = run_failure(o)};
  Host& host = *session->host;
  // The text report shows only the parameters the profile sets; the JSON one lists every one.
  Facts facts = observe(host, profile, o.json ? ModuleDetail::all : ModuleDetail::options);
  if (auto bad = override_facts(facts, o.facts)) {
    say.error(*bad);
    return {.status = kExitUsage};
  }
  if (!facts.arch_problem.empty() && !facts.cpu_known)
    say.notice(
        "the image's architecture is not known (" + facts.arch_problem +
        "): it is planned as an x86 image; make the image's /bin/sh its shell program, or give --fact cpu_vendor=... for an x86 image");
  if (!facts.cpu_known && is_x86(facts.cpu.arch) && depends_on_cpu_vendor(profile))
    say.notice(
        "the image's CPU is not known (--root without --fact cpu_vendor): module options are written for every vendor, and kvm_intel or kvm_amd is left to udev, which loads the CPU's own at boot; give --fact cpu_vendor=... for an image made for one vendor");
  observe_kvm_verdict(host, profile, facts);
  Plan plan = make_plan(profile, facts, plan_options(host, o));
  if (apply) sweep_stale_temporaries(host, facts, plan);
  RunReport report{
      .verb = apply ? "apply" : "plan", .dry_run = !apply, .profile = &profile, .facts = &facts};
  report.actions = apply ? apply_plan(host, plan) : std::move(plan.actions);
  // nova's guests run through libvirt: what this apply changed below it, libvirt must see.
  if (apply && profile.nova)
    if (auto libvirt = libvirt_followup(host, report.actions))
      report.actions.push_back(std::move(*libvirt));
  return report_output(report, o);
}

VerbOutput run_reset(const Options& o, const Messages& say) {
  auto session = open_session(o, "reset", !o.reset_dry_run, say);
  if (!session) return {.status = run_failure(o)};
  const Profile none;  // reset needs no profile; the files it removes are fixed
  Facts facts = observe(*session->host, none);
  Plan plan = make_reset_plan(facts);
  RunReport report{.verb = "reset", .dry_run = o.reset_dry_run, .profile = &none, .facts = &facts};
  report.actions = o.reset_dry_run ? std::move(plan.actions) : apply_plan(*session->host, plan);
  return report_output(report, o);
}

}  // namespace kvmprov
