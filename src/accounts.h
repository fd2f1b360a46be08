// SPDX-License-Identifier: MIT
// Users and groups of the target system, parsed from its /etc/group and /etc/passwd, and the
// permission check the kernel makes when a user opens a device node.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvmprov {

struct GroupEntry {
  std::string name;
  gid_t gid = 0;
  std::vector<std::string> members;
  // Known through NSS only (LDAP, SSSD, extrausers), not from the target's /etc/group: usermod
  // cannot add members to it.
  bool from_nss = false;
};

struct UserEntry {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;                // primary group
  bool from_nss = false;        // known through NSS only, not from the target's /etc/passwd
  std::vector<gid_t> nss_gids;  // every group NSS puts it in (getgrouplist); empty when not asked
};

// A user as NSS knows it, with every group it belongs to (getgrouplist), its primary one included.
struct SystemUser {
  UserEntry user;
  std::vector<gid_t> gids;
};

struct Accounts {
  std::vector<GroupEntry> groups;
  std::vector<UserEntry> users;

  const GroupEntry* group(std::string_view name) const;
  const GroupEntry* group_by_gid(gid_t gid) const;
  const UserEntry* user(std::string_view name) const;
  // The first entry with UID, as getpwuid answers when two names share one (root and toor).
  const UserEntry* user_by_uid(uid_t uid) const;
  // "user:group 0660" for a node owned by UID:GID, with the numbers for ids these lack.
  std::string perms_text(uid_t uid, gid_t gid, unsigned mode) const;
  // Whether USER belongs to GROUP, as its primary group or a listed member.
  bool member_of(const UserEntry& user, const GroupEntry& group) const;
  // The primary gid of USER and the gids of every group that lists it.
  std::vector<gid_t> gids_of(const UserEntry& user) const;
};

// Parses /etc/group and /etc/passwd text; malformed lines (and NIS "+" lines) are skipped.
Accounts parse_accounts(std::string_view group_text, std::string_view passwd_text);

// ACC with what NSS adds: the GROUPS and USERS it lacks (marked from_nss), and every membership
// USERS' group lists give in a group ACC has.
void add_system_accounts(Accounts& acc, const std::vector<GroupEntry>& groups,
                         const std::vector<SystemUser>& users);

// Whether a process with UID and GIDS may open a node owned by OWNER:GROUP with MODE for reading
// and writing, as the kernel decides it without ACLs: the owner bits for the owner, else the
// group bits for a member of the group, else the other bits; root always may.
bool may_open_rw(uid_t uid, const std::vector<gid_t>& gids, uid_t owner, gid_t group,
                 unsigned mode);

}  // namespace kvmprov
