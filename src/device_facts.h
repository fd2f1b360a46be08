// SPDX-License-Identifier: MIT
// Observed state for device permissions: rules and tmpfiles.d files in the order they are read,
// accounts of the target, and the device nodes of the running system.
#pragma once

#include "accounts.h"

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "udev_rules.h"

namespace kvmprov {

struct NodeState {
  bool exists = false;
  bool char_device = false;
  uid_t uid = 0;
  gid_t gid = 0;
  unsigned mode = 0;
};

struct DeviceFacts {
  std::vector<ConfText> udev_rules;        // every rules file in udev's order, kvmprov's included
  std::vector<ConfText> tmpfiles;          // every tmpfiles.d file in systemd-tmpfiles' order
  std::optional<std::string> group_file;   // the target's /etc/group; nullopt when absent
  std::string group_file_error;            // why it could not be read, "" when it could
  std::optional<std::string> passwd_file;  // the target's /etc/passwd
  // The profile's groups, device groups and members as NSS knows them (Host::system_group and
  // system_user): accounts from LDAP, SSSD or extrausers that the files lack, and memberships.
  std::vector<GroupEntry> system_groups;
  std::vector<SystemUser> system_users;
  // Why groupadd and usermod must not run on the target: kvmprov would refuse to write its
  // account files itself (a symlinked /etc in an image, which the shadow tools follow), "" if not.
  std::string accounts_refusal;
  std::map<std::string, NodeState> nodes;         // by node below /dev (running system only)
  std::map<std::string, std::string> subsystems;  // node -> its subsystem ("misc"), when known
  bool udevd_running = false;                     // its control socket /run/udev/control exists
  bool udevd_installed = false;    // systemd-udevd or udevd is installed in the target
  std::vector<std::string> notes;  // files that could not be read, ignored: the node actions say
                                   // so, since the prediction went without them
};

}  // namespace kvmprov
