// SPDX-License-Identifier: MIT
// The check verb: whether this host can run KVM guests, from the running kernel's side only, with
// the place it runs in (a chroot cannot be checked, a container is said), --fact, --user and
// --log; its report returned as text to main.cc.
#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "check.h"
#include "cli_output.h"
#include "cli_verbs.h"
#include "host.h"
#include "libvirt.h"
#include "observe.h"
#include "plan.h"
#include "profile.h"
#include "util/text.h"

namespace kvmprov {
namespace {

// Where check runs, unless --live says it is the running system.
struct CheckPlace {
  std::string refused;    // why check cannot run here (a chroot), or ""
  std::string container;  // the container manager, when in a container
  std::string notice;     // said once the options are known to be good
};

CheckPlace check_place(const Options& o) {
  if (o.live) return {};
  const ScopeFacts scope = detect_scope("/");
  // A chroot sees the build host's kernel through /proc and /dev: any verdict would be about
  // the wrong machine.
  if (scope.scope == Scope::chroot)
    return {
        .refused =
            "cannot check KVM from a chroot (" + scope.evidence +
            "): its kernel and /dev/kvm are the build host's; run check on the host that boots this system, or give --live to check the one running it"};
  // A container's guests run on the host's kernel through the /dev/kvm passed in: the verdict
  // is about this container, and the fixes are the host's or the container's.
  if (scope.scope == Scope::container)
    return {
        .container = scope.container,
        .notice =
            "running in a container (" + scope.container + ": " + scope.evidence +
            "): checking the host's kernel and the device nodes passed in; no module is loaded"};
  return {};
}

// The facts check reasons with: the kernel's side only, not kvmprov's files, the udev rules,
// accounts or nova.conf.
Facts kernel_facts(Host& host) {
  return observe_kernel(host, built_in_profile(), ModuleDetail::state);
}

// A fact check does not reason with would be ignored while its lines say otherwise.
std::optional<std::string> not_a_check_fact(std::string_view key) {
  const auto& keys = check_fact_keys();
  if (std::find(keys.begin(), keys.end(), key) != keys.end()) return std::nullopt;
  std::vector<std::string> names(keys.begin(), keys.end());
  return "--fact " + std::string(key) +
         " does not apply to check, which examines the running kernel and decides KVM's usability itself; facts check uses: " +
         join(names, ", ");
}

CheckOptions check_options(const Options& o, const std::string& container) {
  CheckOptions options{.user = o.check_user, .container = container};
  options.libvirt = [](Host& h, const Verdict& v) { return libvirt_item(h, v); };
  if (!o.check_log.empty()) {
    std::error_code ec;
    options.log_path = std::filesystem::absolute(o.check_log, ec).lexically_normal();
    if (ec) options.log_path = o.check_log;
  }
  return options;
}

// An unknown --user is a usage error, not a verdict about the host.
std::optional<std::string> unknown_user(Host& host, const std::string& user) {
  if (user.empty()) return std::nullopt;
  if (auto who = host.can_open_as(user, "/dev/kvm"); !who && who.error().code == ENOENT)
    return who.error().message + " (--user)";
  return std::nullopt;
}

}  // namespace

VerbOutput run_check_verb(const Options& o, const Messages& say) {
  const CheckPlace place = check_place(o);
  if (!place.refused.empty()) {
    say.error(place.refused);
    return {.status = kExitFailure};
  }
  auto host = make_linux_host();
  Facts facts = kernel_facts(*host);
  if (auto bad = override_facts(facts, o.facts, not_a_check_fact)) {
    say.error(*bad);
    return {.status = kExitUsage};
  }
  if (auto bad = unknown_user(*host, o.check_user)) {
    say.error(*bad);
    return {.status = kExitUsage};
  }
  if (!place.notice.empty()) say.notice(place.notice);
  CheckReport report = run_check(*host, facts, check_options(o, place.container));
  return {.out = o.json ? json_text(check_json(report))
                        : for_the_log(render_check(report, text_options(o))),
          .status = report.verdict.usable ? 0 : kExitFailure};
}

}  // namespace kvmprov
