// SPDX-License-Identifier: MIT
// Planning of device permissions: what the rules file must say, whether another rules or
// tmpfiles.d file defeats it, which groups and members are missing, what each live node needs, and
// whether each member will be able to open each node.
#include "plan_devices.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "accounts.h"
#include "util/text.h"
#include "vendor.h"

namespace kvmprov {

std::string module_for_node(const std::string& node) {
  static const std::map<std::string, std::string> kModules = {
      {"kvm", "kvm"},        {"vhost-net", "vhost_net"}, {"vhost-vsock", "vhost_vsock"},
      {"net/tun", "tun"},    {"fuse", "fuse"},           {"vfio/vfio", "vfio"},
      {"udmabuf", "udmabuf"}};
  auto it = kModules.find(node);
  return it == kModules.end() ? "" : it->second;
}

namespace {

std::string base_name(const std::string& path) {
  return path.substr(path.rfind('/') + 1);
}

std::string mode_text(unsigned mode) {
  return fmt::format("{:04o}", mode);
}

// What MODE gives every local user on /dev/NODE, said exactly: 0432 lets them write but not read,
// which is no use to QEMU and still lets anyone write to the device.
std::string others_access_note(unsigned mode, const std::string& node) {
  const bool read = (mode & 0004) != 0, write = (mode & 0002) != 0;
  if (read && write)
    return fmt::format("world-writable ({}): every local user can open it{}", mode_text(mode),
                       node == "kvm" ? " and run virtual machines" : "");
  return fmt::format(
      "every local user can open it {} only ({}){}", read ? "for reading" : "for writing",
      mode_text(mode),
      write ? ": anyone can write to the device, while QEMU needs read and write access" : "");
}

std::string user_name(const Accounts& acc, uid_t uid) {
  const UserEntry* u = acc.user_by_uid(uid);
  return u ? u->name : std::to_string(uid);
}

std::string group_name(const Accounts& acc, gid_t gid) {
  const GroupEntry* g = acc.group_by_gid(gid);
  return g ? g->name : std::to_string(gid);
}

// Whether VALUE (a MODE= assignment) means the same bits as WANT.
bool same_mode(const std::string& value, unsigned want) {
  auto m = parse_octal_mode(value);
  return m && *m == want;
}

std::string setting_text(std::string_view key, const Setting& s) {
  return fmt::format("{}{}\"{}\" at {}", key, s.final ? ":=" : "=", s.value, s.where());
}

// The rules as udev will read them after apply: kvmprov's file replaced by OURS (or gone).
std::vector<ConfText> rules_after(const std::vector<ConfText>& rules,
                                  const std::optional<std::string>& ours) {
  const std::string name = base_name(kUdevRulesFile);
  std::vector<ConfText> out;
  for (const auto& r : rules)
    if (base_name(r.path) != name) out.push_back(r);
  if (ours) {
    auto pos = std::find_if(out.begin(), out.end(),
                            [&](const ConfText& r) { return base_name(r.path) > name; });
    out.insert(pos, ConfText{kUdevRulesFile, *ours});
  }
  return out;
}

struct Verdict {
  std::vector<std::string> defeats;  // why kvmprov's rule does not decide
  std::vector<std::string> notes;    // what may interfere
};

Verdict judge(const DeviceSpec& dev, const NodePrediction& p, bool udevd_installed) {
  Verdict v;
  auto defeated = [&](std::string_view key, const Setting& s) {
    const bool earlier = base_name(s.file) < base_name(kUdevRulesFile);
    v.defeats.push_back(fmt::format(
        "{} overrides kvmprov's rule ({})", setting_text(key, s),
        earlier && s.final ? "read before it, \":=\" makes it final" : "read after it"));
  };
  if (!dev.group.empty() && p.group && p.group->file != kUdevRulesFile &&
      p.group->value != dev.group)
    defeated("GROUP", *p.group);
  if (dev.mode && p.mode && p.mode->file != kUdevRulesFile && !same_mode(p.mode->value, *dev.mode))
    defeated("MODE", *p.mode);
  for (const auto& u : p.uncertain) {
    // A plain assignment read before kvmprov's rule cannot win: kvmprov's later one overrides
    // it. Only a later one, or an earlier final one (":="), can.
    const bool earlier = base_name(u.setting.file) < base_name(kUdevRulesFile);
    if (earlier && !u.setting.final) continue;
    bool differs = (u.key == "GROUP" && !dev.group.empty() && u.setting.value != dev.group) ||
                   (u.key == "MODE" && dev.mode && !same_mode(u.setting.value, *dev.mode)) ||
                   (u.key == "OWNER" && u.setting.value != "root" && u.setting.value != "0");
    if (differs)
      v.notes.push_back(fmt::format("{} may override it (conditions kvmprov cannot evaluate: {})",
                                    setting_text(u.key, u.setting), u.conditions));
  }
  auto tmpfiles = [&](std::string_view what, const Setting& s) {
    std::string text =
        fmt::format("{} {} sets {} \"{}\" at boot", s.where(), "(systemd-tmpfiles)", what, s.value);
    if (udevd_installed)
      v.notes.push_back(text + " before udevd applies the rules");
    else
      v.defeats.push_back(text + " and no udevd is installed to apply the rule");
  };
  if (!dev.group.empty() && p.tmpfiles_group && p.tmpfiles_group->value != dev.group)
    tmpfiles("group", *p.tmpfiles_group);
  if (dev.mode && p.tmpfiles_mode && !same_mode(p.tmpfiles_mode->value, *dev.mode))
    tmpfiles("mode", *p.tmpfiles_mode);
  return v;
}

const Action* find_action(const Plan& plan, const std::string& id) {
  for (const auto& a : plan.actions)
    if (a.id == id) return &a;
  return nullptr;
}

// A node's group and mode once apply has run, as the access checks see them.
struct Effective {
  std::string group;
  unsigned mode = 0600;
  bool known = false;
};

// What the steps of plan_devices work from, and what each learns for the later ones.
struct DevicePlanner {
  const Profile& profile;
  const DeviceFacts& d;
  const std::map<std::string, ModuleFacts>& modules;
  const PlanOptions& options;
  Accounts acc;                                        // the files' accounts and NSS's
  std::set<std::string> groups_after;                  // groups that exist once apply has run
  std::map<std::string, std::set<std::string>> added;  // user -> groups apply adds them to
  std::map<std::string, Effective> effective;          // node -> group and mode after apply
};

Action group_action(const GroupSpec& g, const GroupEntry* existing, DevicePlanner& dp) {
  Action a{.id = "group:" + g.name, .kind = ActionKind::create_group, .target = g.name};
  a.device.group = g.name;
  a.device.system = g.system;
  const auto cannot = [&](const std::string& why) {
    a.status = Status::failed;
    a.detail = fmt::format("cannot create group \"{}\": {}", g.name, why);
  };
  if (existing) {
    a.status = Status::unchanged;
    a.detail = existing->from_nss
                   ? fmt::format("exists (gid {}, through NSS: not in /etc/group)", existing->gid)
                   : fmt::format("exists (gid {})", existing->gid);
  } else if (!dp.d.group_file_error.empty()) {
    cannot(dp.d.group_file_error);
  } else if (!dp.d.accounts_refusal.empty()) {
    cannot(dp.d.accounts_refusal);
  } else if (!dp.d.group_file) {
    cannot(fmt::format("the target has no /etc/group (is {} a system image?)",
                       dp.options.live ? "this" : "the --root directory"));
  } else {
    a.status = Status::changed;
    a.detail = g.system ? "create a system group" : "create";
    dp.groups_after.insert(g.name);
  }
  return a;
}

Action member_action(const GroupSpec& g, const std::string& m, const GroupEntry* existing,
                     DevicePlanner& dp) {
  Action b{.id = "member:" + g.name + ":" + m,
           .kind = ActionKind::add_member,
           .target = m + " in " + g.name};
  b.device.group = g.name;
  b.device.user = m;
  const UserEntry* user = dp.acc.user(m);
  if (!user) {
    b.status = Status::pending;
    b.detail = fmt::format("user \"{}\" does not exist yet; run again once it does", m);
  } else if (existing && dp.acc.member_of(*user, *existing)) {
    b.status = Status::unchanged;
    b.detail = user->gid == existing->gid ? "primary group" : "already a member";
  } else if (existing && existing->from_nss) {
    b.status = Status::failed;
    b.detail = fmt::format(
        "cannot add \"{}\" to group \"{}\": the group comes through NSS (LDAP, SSSD, extrausers), not from /etc/group: add the member where the group is defined",
        m, g.name);
  } else if (!dp.groups_after.count(g.name)) {
    b.status = Status::failed;
    b.detail = fmt::format("cannot add \"{}\": group \"{}\" cannot be created", m, g.name);
  } else if (!dp.d.accounts_refusal.empty()) {
    b.status = Status::failed;
    b.detail =
        fmt::format("cannot add \"{}\" to group \"{}\": {}", m, g.name, dp.d.accounts_refusal);
  } else {
    b.status = Status::changed;
    b.detail = fmt::format("add \"{}\" to group \"{}\"", m, g.name);
    dp.added[m].insert(g.name);
  }
  return b;
}

// Groups first: the rules name them, and udevd resolves a group name when it reads the rules.
void plan_groups(DevicePlanner& dp, Plan& plan) {
  for (const auto& g : dp.profile.groups) {
    const GroupEntry* existing = dp.acc.group(g.name);
    plan.actions.push_back(group_action(g, existing, dp));
    for (const auto& m : g.members) plan.actions.push_back(member_action(g, m, existing, dp));
  }
}

// The group and mode NODE will have: as the rules predict, else as it is, else the kernel's.
Effective effective_of(const NodePrediction& p, const NodeState& node, const Accounts& acc) {
  Effective e;
  e.group = p.group ? p.group->value : node.exists ? group_name(acc, node.gid) : "root";
  if (p.mode && parse_octal_mode(p.mode->value))
    e.mode = *parse_octal_mode(p.mode->value);
  else if (node.exists)
    e.mode = node.mode;
  else
    e.mode = p.group ? 0660 : 0600;
  e.known = p.group || p.mode || node.exists;
  return e;
}

// What may interfere with kvmprov's rule, files the prediction went without, and what the mode
// gives every user: "; note; note", or "".
std::string node_notes(const DeviceSpec& dev, const Verdict& v, const DeviceFacts& d) {
  std::vector<std::string> notes = v.notes;
  notes.insert(notes.end(), d.notes.begin(), d.notes.end());
  if (dev.mode && (*dev.mode & 0006) && dev.node != "net/tun")
    notes.push_back(others_access_note(*dev.mode, dev.node));
  return notes.empty() ? "" : "; " + join(notes, "; ");
}

// Whether this run loads a module that creates A's node: its own, or for /dev/kvm an x86 vendor
// module (kvm.ko registers /dev/kvm only when kvm_intel or kvm_amd initialises).
bool run_loads_creator(const Action& a, const Plan& plan) {
  return std::any_of(plan.actions.begin(), plan.actions.end(), [&](const Action& b) {
    return b.kind == ActionKind::load_module && b.status == Status::changed &&
           (b.target == a.device.module || (a.device.node == "kvm" && is_vendor_module(b.target)));
  });
}

// The node's module when it is already loaded or built in and nothing this run loads creates the
// node: then loading will not make it appear (arm64 started at EL1 has kvm built in and no
// /dev/kvm). Null otherwise.
const ModuleFacts* loaded_without_node(const Action& a, const Plan& plan, const DevicePlanner& dp) {
  auto it = dp.modules.find(a.device.module);
  if (it == dp.modules.end() || run_loads_creator(a, plan)) return nullptr;
  return in_kernel(it->second.state) ? &it->second : nullptr;
}

// A node that does not exist yet: checked after its module's load when this run loads it.
void plan_absent_node(Action& a, const Plan& plan, const DevicePlanner& dp) {
  // Named only when known: "its driver" is no module's name.
  const std::string module = a.device.module.empty()
                                 ? std::string("its driver")
                                 : fmt::format("module \"{}\"", a.device.module);
  const Action* load =
      a.device.module.empty() ? nullptr : find_action(plan, "module:" + a.device.module);
  if (load && load->status == Status::changed) {
    a.status = Status::changed;
    a.detail = fmt::format("does not exist yet: checked after {} is loaded", module);
  } else if (const ModuleFacts* m = loaded_without_node(a, plan, dp)) {
    a.status = Status::pending;
    a.detail = fmt::format(
        "does not exist although {} is {}: loading it will not create the node ({}); the rule applies if it appears",
        module, m->state == ModuleState::builtin ? "built into the kernel" : "loaded",
        a.device.node == "kvm" ? "kvmprov check says why"
                               : "see the kernel log, and whether devtmpfs is mounted on /dev");
  } else {
    a.status = Status::pending;
    a.detail = fmt::format(
        "does not exist yet: it appears when {} is loaded; the rule applies then", module);
  }
}

// A character device as it is against what DEV wants.
void plan_present_node(Action& a, const DeviceSpec& dev, const NodeState& node,
                       const DevicePlanner& dp) {
  const Accounts& acc = dp.acc;
  const GroupEntry* want_group = dev.group.empty() ? nullptr : acc.group(dev.group);
  const bool group_ok = dev.group.empty() || (want_group && want_group->gid == node.gid);
  const bool mode_ok = !dev.mode || node.mode == *dev.mode;
  const bool owner_ok = !a.device.check_owner || node.uid == 0;
  const std::string have = acc.perms_text(node.uid, node.gid, node.mode);
  if (group_ok && mode_ok && owner_ok) {
    a.status = Status::unchanged;
    a.detail = have;
    return;
  }
  const std::string want =
      fmt::format("{}:{} {}", a.device.check_owner ? "root" : user_name(acc, node.uid),
                  dev.group.empty() ? group_name(acc, node.gid) : dev.group,
                  mode_text(dev.mode.value_or(node.mode)));
  a.status = Status::changed;
  a.detail = fmt::format("{} -> {}: {}", have, want,
                         dp.d.udevd_running
                             ? "udevd running: reload its rules, send a change event and verify"
                             : "udevd not running: set directly; the rule covers later boots");
}

void decide_node(Action& a, const DeviceSpec& dev, const NodeState& node, const Verdict& v,
                 const DevicePlanner& dp, const Plan& plan) {
  if (dev.group.empty() && !dev.mode) {
    a.status = Status::unchanged;
    a.detail = "no group or mode in the profile: nothing to manage";
  } else if (!dev.group.empty() && !dp.groups_after.count(dev.group)) {
    const bool listed = std::any_of(dp.profile.groups.begin(), dp.profile.groups.end(),
                                    [&](const GroupSpec& g) { return g.name == dev.group; });
    a.status = Status::failed;
    a.detail =
        listed
            ? fmt::format("group \"{}\" cannot be created (see its group action)", dev.group)
            : fmt::format(
                  "group \"{}\" does not exist and the profile does not create it (add it under \"groups\")",
                  dev.group);
  } else if (!v.defeats.empty()) {
    a.status = Status::failed;
    a.detail = "kvmprov's rule does not decide: " + join(v.defeats, "; ");
  } else if (!dp.options.live) {
    a.status = Status::skipped;
    a.detail = not_live_reason(dp.options) +
               (dp.options.scope == Scope::container
                    ? ": device nodes belong to the host; kvmprov leaves them alone"
                    : ": device nodes are left alone; the rule applies when the image boots");
  } else if (!node.exists) {
    plan_absent_node(a, plan, dp);
  } else if (!node.char_device) {
    a.status = Status::failed;
    a.detail = fmt::format("\"/dev/{}\" is not a character device, refusing to touch it", dev.node);
  } else {
    plan_present_node(a, dev, node, dp);
  }
}

// What udev knows of DEV's node when it matches rules.
DeviceIdentity device_identity(const DeviceSpec& dev, const DeviceFacts& d) {
  auto it = d.subsystems.find(dev.node);
  return {.node = dev.node,
          .kernel = device_kernel_name(dev.node),
          .subsystem = it == d.subsystems.end() ? std::string() : it->second};
}

// One node_permissions action: what the rules, as udev reads them after apply, give DEV (P), and
// the node as it is.
Action node_action(const DeviceSpec& dev, const NodePrediction& p, DevicePlanner& dp,
                   const Plan& plan) {
  const DeviceFacts& d = dp.d;
  Action a{
      .id = "node:" + dev.node, .kind = ActionKind::node_permissions, .target = "/dev/" + dev.node};
  a.device.node = dev.node;
  a.device.group = dev.group;
  a.device.mode = dev.mode;
  a.device.module = module_for_node(dev.node);
  a.device.udevd_running = d.udevd_running;
  if (!dev.group.empty() && find_action(plan, "group:" + dev.group))
    a.requires_ok.push_back("group:" + dev.group);
  a.device.subsystem = device_identity(dev, d).subsystem;
  a.device.check_owner = !p.owner || p.owner->value == "root" || p.owner->value == "0";
  const Verdict v = judge(dev, p, d.udevd_installed);

  auto node_it = d.nodes.find(dev.node);
  const NodeState node = node_it == d.nodes.end() ? NodeState{} : node_it->second;
  dp.effective[dev.node] = effective_of(p, node, dp.acc);
  decide_node(a, dev, node, v, dp, plan);
  a.detail += node_notes(dev, v, d);
  return a;
}

// Whether member M will be able to open DEV's node once apply has run.
Action access_action(const std::string& m, const DeviceSpec& dev, DevicePlanner& dp) {
  Action a{.id = "access:" + m + ":" + dev.node,
           .kind = ActionKind::access,
           .target = "/dev/" + dev.node};
  a.device.node = dev.node;
  a.device.user = m;
  // The prediction holds only if the groups, the memberships and the node converge.
  a.requires_ok.push_back("node:" + dev.node);
  for (const auto& grp : dp.added[m]) {
    a.requires_ok.push_back("group:" + grp);
    a.requires_ok.push_back("member:" + grp + ":" + m);
  }
  const UserEntry* user = dp.acc.user(m);
  const Effective& e = dp.effective[dev.node];
  if (!user) {
    a.status = Status::pending;
    a.detail = fmt::format("user \"{}\" does not exist yet", m);
    return a;
  }
  std::set<std::string> groups = dp.added[m];
  for (const auto& grp : dp.acc.groups)
    if (dp.acc.member_of(*user, grp)) groups.insert(grp.name);
  const std::string perms = fmt::format("root:{} {}", e.group, mode_text(e.mode));
  // The kernel's rule (may_open_rw), by group name since the group may not exist yet: a member of
  // the node's group gets the group bits and never falls back to the others'.
  bool ok = user->uid == 0;
  std::string how = "root";
  if (!ok && groups.count(e.group)) {
    ok = (e.mode & 0060) == 0060;
    how = fmt::format("through group \"{}\"", e.group);
  } else if (!ok) {
    ok = (e.mode & 0006) == 0006;
    how = "as any user";
  }
  a.status = ok ? Status::unchanged : Status::failed;
  a.detail = ok ? fmt::format("\"{}\" can open it ({}, {})", m, perms, how)
                : fmt::format("\"{}\" cannot open it ({}; groups: {})", m, perms,
                              join({groups.begin(), groups.end()}, ", "));
  if (!e.known) a.detail += " (predicted: the node does not exist yet)";
  return a;
}

// One access action per listed member (each once) and device.
void plan_access(DevicePlanner& dp, Plan& plan) {
  std::set<std::string> checked;
  for (const auto& g : dp.profile.groups) {
    for (const auto& m : g.members) {
      if (!checked.insert(m).second) continue;
      for (const auto& dev : dp.profile.devices) plan.actions.push_back(access_action(m, dev, dp));
    }
  }
}

}  // namespace

void plan_devices(const Profile& profile, const Facts& facts, const PlanOptions& options,
                  Plan& plan) {
  const DeviceFacts& d = facts.devices;
  DevicePlanner dp{.profile = profile,
                   .d = d,
                   .modules = facts.modules,
                   .options = options,
                   .acc = parse_accounts(d.group_file.value_or(""), d.passwd_file.value_or(""))};
  add_system_accounts(dp.acc, d.system_groups, d.system_users);
  for (const auto& g : dp.acc.groups) dp.groups_after.insert(g.name);
  plan_groups(dp, plan);

  const std::optional<std::string> ours = udev_rules_text(profile);
  plan_file(plan, kUdevRulesFile, file_facts(facts, kUdevRulesFile), ours,
            {.why_removed = "the profile lists no devices"});

  std::vector<DeviceIdentity> ids;
  for (const auto& dev : profile.devices) ids.push_back(device_identity(dev, d));
  const std::vector<NodePrediction> predictions =
      predict_nodes(rules_after(d.udev_rules, ours), d.tmpfiles, ids);
  for (size_t i = 0; i < profile.devices.size(); ++i)
    plan.actions.push_back(node_action(profile.devices[i], predictions[i], dp, plan));
  plan_access(dp, plan);
}

}  // namespace kvmprov
