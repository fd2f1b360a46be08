// SPDX-License-Identifier: MIT
// The plan's vocabulary: an action (kind, target, status, reason, contents) and a plan as a list of
// them. Every planner, apply and the reports speak it; none of them needs more of the others.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "profile.h"

namespace kvmprov {

enum class ActionKind {
  load_module,     // insert a module (and its dependencies) through libkmod
  reload_module,   // unload and insert again with the profile's options
  kernel_cmdline,  // an option of a built-in module: only the kernel command line can set it
  write_file,      // create or replace a file kvmprov owns (or the block in /etc/modules)
  remove_file,     // remove a file kvmprov owns that the profile no longer needs

  // Device permissions and groups.
  create_group,      // create a group of the target through groupadd
  add_member,        // add a user to a group through usermod
  node_permissions,  // converge owner, group and mode of a device node of the running system
  access,            // whether a group member can open a device node (a check, never a change)

  // OpenStack Compute (the file itself is a write_file action with keep_owner).
  nova_virt_type,  // the virt_type nova.conf gets, and why (a decision, never a change)
  nova_cpu_mode,   // the CPU mode and models, validated against libvirt's CPU map and this CPU

  // libvirt, after an apply that changed what its KVM guests need (a check, never a change).
  libvirt_capabilities,
};

// The kind's word in reports and JSON: "load", "write", "virt-type", ...
inline std::string_view action_kind_name(ActionKind k) {
  static constexpr std::pair<ActionKind, std::string_view> kNames[] = {
      {ActionKind::load_module, "load"},       {ActionKind::reload_module, "reload"},
      {ActionKind::kernel_cmdline, "cmdline"}, {ActionKind::write_file, "write"},
      {ActionKind::remove_file, "remove"},     {ActionKind::create_group, "group"},
      {ActionKind::add_member, "member"},      {ActionKind::node_permissions, "node"},
      {ActionKind::access, "access"},          {ActionKind::nova_virt_type, "virt-type"},
      {ActionKind::nova_cpu_mode, "cpu-mode"}, {ActionKind::libvirt_capabilities, "libvirt"},
  };
  for (const auto& [kind, name] : kNames)
    if (kind == k) return name;
  return "?";
}

// In a plan: unchanged (already right), changed (will change), pending (cannot be done now, with
// the reason), skipped (not attempted: --root), failed (known to fail). After apply, changed
// becomes changed or failed.
enum class Status { unchanged, changed, failed, skipped, pending };

inline std::string_view status_name(Status s) {
  static constexpr std::pair<Status, std::string_view> kNames[] = {
      {Status::unchanged, "unchanged"}, {Status::changed, "changed"}, {Status::failed, "failed"},
      {Status::skipped, "skipped"},     {Status::pending, "pending"},
  };
  for (const auto& [status, name] : kNames)
    if (status == s) return name;
  return "?";
}

// What device and group actions act on.
struct DeviceTarget {
  std::string node;              // below /dev: "kvm", "net/tun"
  std::string group;             // group name ("" = group not managed)
  std::string user;              // add_member, access: the user
  std::string subsystem;         // node_permissions: for the change event ("misc")
  std::string module;            // node_permissions: the module that creates the node
  std::optional<unsigned> mode;  // node_permissions: wanted permission bits
  bool check_owner = true;       // node_permissions: the owner must be root
  bool system = false;           // create_group: a system group
  bool udevd_running = false;    // node_permissions: udevd applies rules on this host
};

// What nova actions decided.
struct NovaTarget {
  std::string virt_type;  // "kvm" or "qemu"
  std::string reason;     // check's reason code when virt_type was auto, else ""
  std::string source;     // where the verdict came from: "check", "--fact", "--root", "profile"
  std::string cpu_mode;
  std::vector<std::string> cpu_models;
  std::vector<std::string> missing_features;  // features the host lacks, per model "M: f1 f2"
  std::vector<std::string> decides;  // write_file: the keys nova-compute takes from this file
};

struct Action {
  std::string id;  // stable and unique: "module:kvm_amd", "file:/etc/modprobe.d/kvmprov.conf"
  ActionKind kind = ActionKind::load_module;
  std::string target;  // module name or file path
  Status status = Status::unchanged;
  std::string detail;  // why (plan), or what happened (apply)
  // load/reload: the options to pass.
  std::vector<ModuleOption> options;
  // write_file/remove_file: contents before (nullopt: absent) and after.
  std::optional<std::string> before;
  std::optional<std::string> after;
  unsigned mode = 0644;
  // write_file: a file kvmprov edits but does not own (nova.conf, /etc/modules). An existing one
  // keeps its owner, group and mode, and reports show only shown_before and shown_after, the
  // lines kvmprov manages: the operator's own lines (a database password in nova.conf) never
  // reach a report.
  bool shared = false;
  bool safe_dirs = true;  // see WriteOptions::safe_dirs
  std::optional<std::string> shown_before;
  std::optional<std::string> shown_after;
  // Ids of earlier actions that must not fail in apply for this one to run.
  std::vector<std::string> requires_ok;
  // create_group, add_member, node_permissions, access.
  DeviceTarget device;
  // nova_virt_type, nova_cpu_mode.
  NovaTarget nova;
};

struct Plan {
  std::vector<Action> actions;
};

// What a report may show of a file action's content: the whole file kvmprov owns, only the
// managed lines of a file it shares (Action::shared).
inline const std::optional<std::string>& shown_before(const Action& a) {
  return a.shared ? a.shown_before : a.before;
}
inline const std::optional<std::string>& shown_after(const Action& a) {
  return a.shared ? a.shown_after : a.after;
}

}  // namespace kvmprov
