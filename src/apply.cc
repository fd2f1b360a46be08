// SPDX-License-Identifier: MIT
// apply: carries out the actions a plan marked `changed`, through the Host, and records the
// outcome of each. It decides nothing the plan did not.
#include "apply.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "atomic_file.h"
#include "plan_modules.h"

namespace kvmprov {

Summary summarize(const std::vector<Action>& actions) {
  const auto count = [&](Status s) {
    return static_cast<int>(std::count_if(actions.begin(), actions.end(),
                                          [&](const Action& a) { return a.status == s; }));
  };
  return Summary{.changed = count(Status::changed),
                 .unchanged = count(Status::unchanged),
                 .failed = count(Status::failed),
                 .skipped = count(Status::skipped),
                 .pending = count(Status::pending)};
}

namespace {

void fail(Action& a, std::string message) {
  a.status = Status::failed;
  a.detail = std::move(message);
}

// A load "succeeds" only when the module is live afterwards with the profile's options: a vendor
// module's init can refuse (another vendor module loaded) while libkmod still reports success.
void confirm_loaded(Host& host, Action& a, std::string_view verb) {
  ModuleFacts after = host.module(a.target);
  if (!in_kernel(after.state)) {
    fail(
        a,
        fmt::format(
            "cannot {} \"{}\": the kernel reported success but the module is not loaded (state: {}); its init refused, e.g. another vendor's KVM module is loaded (see the kernel log: dmesg | grep kvm)",
            verb, a.target, module_state_name(after.state)));
    return;
  }
  for (const auto& opt : a.options) {
    auto it = after.params.find(opt.name);
    if (it == after.params.end()) continue;  // write-only parameters are not visible in sysfs
    std::string have = it->second;
    while (!have.empty() && (have.back() == '\n' || have.back() == ' ')) have.pop_back();
    if (!same_param_value(have, opt.value)) {
      fail(a, fmt::format("\"{}\" is loaded but its parameter {} is {} (profile: {})", a.target,
                          opt.name, have, opt.value));
      return;
    }
  }
  a.status = Status::changed;
}

void run(Host& host, Action& a) {
  switch (a.kind) {
    case ActionKind::write_file: {
      // Only over the content plan read: a file someone changed since is left as it now is.
      auto r = host.target().write(
          a.target, a.after.value_or(""),
          {.mode = a.mode, .keep_owner = a.shared, .safe_dirs = a.safe_dirs, .expected = a.before});
      if (!r) return fail(a, r.error().message);
      a.status = *r ? Status::changed : Status::unchanged;
      return;
    }
    case ActionKind::remove_file: {
      auto r = host.target().remove(a.target, a.before);
      if (!r) return fail(a, r.error().message);
      a.status = *r ? Status::changed : Status::unchanged;
      return;
    }
    case ActionKind::load_module: {
      auto r = host.load_module(a.target, a.options);
      if (!r) return fail(a, fmt::format("cannot load \"{}\": {}", a.target, r.error().message));
      confirm_loaded(host, a, "load");
      if (a.status == Status::changed) a.detail = "loaded";
      return;
    }
    case ActionKind::reload_module: {
      auto r = host.unload_module(a.target);
      if (!r)
        return fail(
            a, fmt::format("cannot unload \"{}\" to reload it: {}", a.target, r.error().message));
      auto l = host.load_module(a.target, a.options);
      if (!l)
        return fail(a, fmt::format("unloaded \"{}\" but cannot load it again: {}", a.target,
                                   l.error().message));
      confirm_loaded(host, a, "reload");
      if (a.status == Status::changed) a.detail = "reloaded with the profile's options";
      return;
    }
    case ActionKind::kernel_cmdline:
      return;  // always pending: kvmprov does not edit boot loaders
    case ActionKind::create_group:
    case ActionKind::add_member:
    case ActionKind::node_permissions:
    case ActionKind::access:
      return apply_device_action(host, a);
    case ActionKind::nova_virt_type:
    case ActionKind::nova_cpu_mode:
    case ActionKind::libvirt_capabilities:
      return;  // decisions and checks: the plan said all there is
  }
}

}  // namespace

void sweep_stale_temporaries(Host& host, const Facts& facts, const Plan& plan) {
  std::set<std::string> paths;
  for (const auto& [path, content] : facts.files) paths.insert(path);
  for (const Action& a : plan.actions) {
    if (a.kind == ActionKind::write_file || a.kind == ActionKind::remove_file)
      paths.insert(a.target);
  }
  for (const std::string& path : paths) host.target().remove_stale_temporaries(path);
}

std::vector<Action> apply_plan(Host& host, const Plan& plan) {
  // The fault tests change the host here, between what plan read and what apply writes.
  fault_stop("apply");
  std::vector<Action> done = plan.actions;
  for (auto& a : done) {
    // An access check is a check, not a change: on the running system it is made again after
    // the changes before it, with a real open() where possible.
    const bool recheck = a.kind == ActionKind::access && host.live() && a.status != Status::pending;
    // An action that builds on an earlier one (nova.conf's kvm on the module loads) does not run
    // when that one failed.
    std::string failed_before;
    for (const auto& id : a.requires_ok)
      for (const auto& b : done)
        if (failed_before.empty() && &b != &a && b.id == id && b.status == Status::failed)
          failed_before = id;  // the first, the cause of the others
    if (!failed_before.empty()) {
      // What was planned or predicted on the assumption that an earlier action succeeds is not
      // true any more: a change is not made, a prediction ("can open it") is not known.
      if (a.status == Status::changed) {
        fail(a, fmt::format("not done: it depends on \"{}\", which failed", failed_before));
      } else if (a.status == Status::unchanged) {
        a.status = Status::pending;
        a.detail = fmt::format("not known: it depends on \"{}\", which failed", failed_before);
      }
      continue;
    }
    if (a.status == Status::changed || recheck) run(host, a);
  }
  return done;
}

}  // namespace kvmprov
