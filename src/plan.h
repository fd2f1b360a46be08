// SPDX-License-Identifier: MIT
// Observation and the pure planner: (Profile, Facts) -> Plan, a printable list of actions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "facts.h"
#include "host.h"
#include "profile.h"

namespace kvmprov {

// The files kvmprov owns or shares.
inline constexpr const char* kModprobeConf = "/etc/modprobe.d/kvmprov.conf";
inline constexpr const char* kModulesLoadConf = "/etc/modules-load.d/kvmprov.conf";
inline constexpr const char* kEtcModules = "/etc/modules";

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
};
std::string_view action_kind_name(ActionKind k);

// In a plan: unchanged (already right), changed (will change), pending (cannot be done now, with
// the reason), skipped (not attempted: --root), failed (known to fail). After apply, changed
// becomes changed or failed.
enum class Status { unchanged, changed, failed, skipped, pending };
std::string_view status_name(Status s);

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
const std::optional<std::string>& shown_before(const Action& a);
const std::optional<std::string>& shown_after(const Action& a);

struct PlanOptions {
  bool live = true;            // kernel and device actions allowed (Scope::running_system)
  bool allow_reload = false;   // --allow-reload
  Scope scope = Scope::image;  // why not, when not live
  std::string container;       // Scope::container: which ("docker", "lxc", ...)
};

// Why kernel and device actions are not taken ("not the running system (--root)", "running in a
// chroot", "in a container (docker)"); "" when they are.
std::string not_live_reason(const PlanOptions& options);

// Reads everything plan() needs for PROFILE through HOST. Read only. MODULE_DETAILS false: the
// profile's modules without parameters, refcount and holders (check needs only their state).
Facts observe(Host& host, const Profile& profile, bool module_details = true);

// What observe records of a file kvmprov may write (as OPTIONS say) or remove: its content or why
// it cannot be read, and whether apply would refuse to replace or remove it.
FileFacts observe_file(Host& host, const std::string& path, const WriteOptions& options = {});

// How plan_file plans one file.
struct FileChange {
  unsigned mode = 0644;
  bool shared = false;  // see Action::shared
  std::string note;     // added to the detail
  std::string why_removed = "no longer needed by the profile";
  std::string error;  // why the new content could not be made: the action fails with it
};

// A write_file or remove_file action taking PATH from what FACTS saw to AFTER (nullopt: absent),
// or none when both are absent. A file that could not be read is never taken for an absent one:
// the action fails naming the file and the cause; so does one apply would refuse to replace or
// remove (a symlink, a directory, a FIFO), so that plan predicts every refusal of apply.
void plan_file(Plan& plan, const std::string& path, const FileFacts& facts,
               const std::optional<std::string>& after, const FileChange& how = {});
// What observe saw of PATH; an absent file when it was not observed.
const FileFacts& file_facts(const Facts& facts, const std::string& path);

// Whether which modules PROFILE loads depends on the CPU's vendor (a vendor KVM module, or a
// module with `when: cpu_vendor`): an image whose CPU is not known is then planned for any vendor.
bool depends_on_cpu_vendor(const Profile& profile);

// Decides, without I/O, what apply must do.
Plan make_plan(const Profile& profile, const Facts& facts, const PlanOptions& options);

// Decides, without I/O, what `reset` must do: remove every file kvmprov owns and its block in
// /etc/modules, nothing else. Loaded modules and groups stay as they are.
Plan make_reset_plan(const Facts& facts);

// The modules of PROFILE that apply to this CPU vendor (vendor modules of other vendors and
// `when` mismatches are left out).
std::vector<const ModuleSpec*> modules_for_host(const Profile& profile, const Facts& facts);

// Whether a module parameter as sysfs shows it (HAVE, e.g. "Y\n") is the profile's value (WANT,
// e.g. "1"): booleans compare as Y/N = 1/0 = true/false, trailing whitespace is ignored.
bool same_param_value(std::string_view have, std::string_view want);

}  // namespace kvmprov
