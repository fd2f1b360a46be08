// SPDX-License-Identifier: MIT
// Apply of group, member, device node and access actions. A node counts as converged only when
// stat() after the change shows the wanted owner, group and mode.
#include "apply.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "accounts.h"

namespace kvmprov {

namespace {

void fail(Action& a, std::string message) {
  a.status = Status::failed;
  a.detail = std::move(message);
}

// The target's accounts as they are now (groupadd and usermod may have just changed them), with
// GROUP and USER as NSS knows them where the files lack them (LDAP, SSSD, extrausers).
Accounts read_accounts(Host& host, const std::string& group = "", const std::string& user = "") {
  auto group_file = host.target().read("/etc/group");
  auto passwd = host.target().read("/etc/passwd");
  Accounts acc = parse_accounts(group_file && *group_file ? **group_file : std::string(),
                                passwd && *passwd ? **passwd : std::string());
  std::vector<GroupEntry> groups;
  std::vector<SystemUser> users;
  if (!group.empty() && !acc.group(group))
    if (auto g = host.system_group(group)) groups.push_back(std::move(*g));
  if (!user.empty())
    if (auto u = host.system_user(user)) users.push_back(std::move(*u));
  add_system_accounts(acc, groups, users);
  return acc;
}

std::string perms_text(const Accounts& acc, const FileInfo& info) {
  return acc.perms_text(info.uid, info.gid, info.mode);
}

void apply_node(Host& host, Action& a) {
  const DeviceTarget& t = a.device;
  const std::string path = "/dev/" + t.node;
  auto info = host.device_node(t.node);
  if (!info) return fail(a, info.error().message);
  if (!info->exists) {
    a.status = Status::pending;
    a.detail =
        t.module.empty()
            ? "does not exist yet; the rule applies when it appears"
            : fmt::format(
                  "does not exist yet: it appears when module \"{}\" is loaded; the rule applies then",
                  t.module);
    return;
  }
  if (!info->char_device)
    return fail(a, fmt::format("\"{}\" is not a character device, refusing to touch it", path));

  const Accounts acc = read_accounts(host, t.group);
  gid_t gid = info->gid;
  if (!t.group.empty()) {
    const GroupEntry* g = acc.group(t.group);
    if (!g)
      return fail(a,
                  fmt::format("group \"{}\" does not exist in /etc/group or through NSS", t.group));
    gid = g->gid;
  }
  const unsigned mode = t.mode.value_or(info->mode);
  const uid_t uid = t.check_owner ? 0 : info->uid;
  auto right = [&](const FileInfo& i) { return i.uid == uid && i.gid == gid && i.mode == mode; };
  const std::string was = perms_text(acc, *info);
  if (right(*info)) {
    a.status = Status::unchanged;
    a.detail = was;
    return;
  }

  std::string how = "udevd not running: set directly; the rule covers later boots";
  if (t.udevd_running) {
    // udevd re-reads rules only when a rules file changed, and resolves group names when it
    // reads them: a group created since then stays unknown to it. stat() after the event is
    // the only proof.
    std::string why;
    if (auto r = host.reload_udev_rules(); !r) why = r.error().message;
    if (why.empty() && !t.subsystem.empty()) {
      if (auto r = host.udev_change(t.subsystem, device_kernel_name(t.node)); !r)
        why = r.error().message;
    } else if (why.empty()) {
      why = "its subsystem is unknown, so no change event was sent";
    }
    auto after = host.device_node(t.node);
    if (why.empty() && after && right(*after)) {
      a.status = Status::changed;
      a.detail = fmt::format("{} -> {}: applied by udevd after a rules reload and a change event",
                             was, perms_text(acc, *after));
      return;
    }
    if (why.empty() && after)
      why = fmt::format(
          "still {} after a rules reload and a change event (udevd resolves group names when it reads its rules; a group created since it last read them is unknown to it until a rules file changes or it restarts)",
          perms_text(acc, *after));
    how = "udevd did not apply the rule: " + why + "; set directly";
  }
  if (auto r = host.set_device_node(t.node, uid, gid, mode); !r) return fail(a, r.error().message);
  auto now = host.device_node(t.node);
  if (!now) return fail(a, now.error().message);
  if (!right(*now))
    return fail(a, fmt::format("\"{}\" is still {} after setting it directly", path,
                               perms_text(acc, *now)));
  a.status = Status::changed;
  a.detail = fmt::format("{} -> {}: {}", was, perms_text(acc, *now), how);
}

// Live check of one member against one node: the permission bits, and, as root, a real open().
void check_access(Host& host, Action& a) {
  const DeviceTarget& t = a.device;
  const Accounts acc = read_accounts(host, t.group, t.user);
  const UserEntry* user = acc.user(t.user);
  if (!user) {
    a.status = Status::pending;
    a.detail = fmt::format("user \"{}\" does not exist yet", t.user);
    return;
  }
  auto info = host.device_node(t.node);
  if (!info) return fail(a, info.error().message);
  if (!info->exists) {
    a.status = Status::pending;
    a.detail = "the node does not exist yet: nothing to open";
    return;
  }
  const std::vector<gid_t> gids = acc.gids_of(*user);
  const std::string perms = perms_text(acc, *info);
  const bool bits = may_open_rw(user->uid, gids, info->uid, info->gid, info->mode);
  std::string groups;
  for (gid_t g : gids) {
    const GroupEntry* e = acc.group_by_gid(g);
    groups += (groups.empty() ? "" : ", ") + (e ? e->name : std::to_string(g));
  }
  if (!bits) {
    return fail(a, fmt::format("\"{}\" cannot open it ({}; groups: {})", t.user, perms, groups));
  }
  a.status = Status::unchanged;
  a.detail = fmt::format("\"{}\" can open it ({})", t.user, perms);
  auto opened = host.open_device_as(t.node, user->uid, user->gid, gids);
  if (!opened) {
    a.detail += "; permission bits only: " + opened.error().message;
  } else if (*opened != 0) {
    fail(a, fmt::format("\"{}\" cannot open it: open() as that user failed: {} ({})", t.user,
                        std::strerror(*opened), perms));
  } else {
    a.detail += "; open() as that user succeeded";
  }
}

}  // namespace

void apply_device_action(Host& host, Action& a) {
  switch (a.kind) {
    case ActionKind::create_group:
      if (auto r = host.create_group(a.device.group, a.device.system); !r)
        return fail(a, r.error().message);
      a.status = Status::changed;
      a.detail = a.device.system ? "created a system group" : "created";
      return;
    case ActionKind::add_member:
      if (auto r = host.add_group_member(a.device.group, a.device.user); !r)
        return fail(a, r.error().message);
      a.status = Status::changed;
      a.detail = fmt::format("added \"{}\" to group \"{}\"", a.device.user, a.device.group);
      return;
    case ActionKind::node_permissions:
      return apply_node(host, a);
    case ActionKind::access:
      return check_access(host, a);
    default:
      return;
  }
}

}  // namespace kvmprov
