// SPDX-License-Identifier: MIT
// Accounts and "can this user open that device": used by LinuxHost for check's --user.
#pragma once

#include <sys/types.h>

#include <string>

#include "accounts.h"
#include "host.h"
#include "util/result.h"

namespace kvmprov {

// USER's uid, primary gid and groups through the name service (getpwnam_r, getgrouplist): the
// running system's view. can_open is left false.
Result<UserAccess> lookup_account(const std::string& user);
// The same from ACCOUNTS, the files of another root.
Result<UserAccess> lookup_account(const std::string& user, const Accounts& accounts);

// Account names from the name service; "" when unknown.
std::string nss_user_name(uid_t uid);
std::string nss_group_name(gid_t gid);

// Opens PATH read-write in a child process that has taken WHO's groups, gid and uid (needs root);
// 0 when it opened, else the errno. Error when the child could not switch credentials.
Result<int> open_as(const UserAccess& who, const std::string& path);

// Runs probe_kvm_device(DEVICE) in a child process that has taken WHO's groups, gid and uid
// (needs root): the probe as that user. Error when the child could not switch credentials.
Result<KvmProbe> probe_as(const UserAccess& who, const std::string& device);

}  // namespace kvmprov
