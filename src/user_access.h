// SPDX-License-Identifier: MIT
// Accounts and "can this user open that device": used by LinuxHost for check's --user.
#pragma once

#include <sys/types.h>

#include <string>

#include "host.h"
#include "result.h"

namespace kvmprov {

// USER's uid, primary gid and groups. ROOT "/": through NSS (getpwnam_r, getgrouplist); another
// root: from ROOT/etc/passwd and ROOT/etc/group. can_open is left false.
Result<UserAccess> lookup_account(const std::string& user, const std::string& root);

// Account names for ids below ROOT (as lookup_account); "" when unknown.
std::string user_name_below(uid_t uid, const std::string& root);
std::string group_name_below(gid_t gid, const std::string& root);

// Opens PATH read-write in a child process that has taken WHO's groups, gid and uid (needs root);
// 0 when it opened, else the errno. Error when the child could not switch credentials.
Result<int> open_as(const UserAccess& who, const std::string& path);

}  // namespace kvmprov
