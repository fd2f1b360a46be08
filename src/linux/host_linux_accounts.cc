// SPDX-License-Identifier: MIT
// LinuxHost's users and groups: names from the kernel root's account files and NSS, changes
// through the shadow tools, and who may open a device node.
#include <fcntl.h>
#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "accounts.h"
#include "linux/host_linux.h"
#include "linux/subprocess.h"
#include "linux/user_access.h"
#include "util/text.h"
#include "util/unique_fd.h"

namespace kvmprov {

Result<void> LinuxHost::create_group(const std::string& name, bool system) {
  std::string groupadd = find_program({"/usr/sbin/groupadd", "/sbin/groupadd"});
  if (groupadd.empty())
    return Error{ENOENT, "cannot create group " + quote(name) +
                             ": groupadd not found (install the \"passwd\" package)"};
  std::vector<std::string> argv{groupadd};
  if (system) argv.emplace_back("--system");
  if (!live()) argv.insert(argv.end(), {"--root", root_});
  argv.push_back(name);
  if (auto r = run_program(argv); !r)
    return Error{r.error().code, "cannot create group " + quote(name) + ": " + r.error().message};
  return {};
}

Result<void> LinuxHost::add_group_member(const std::string& group, const std::string& user) {
  // usermod edits only users of /etc/passwd; gpasswd adds a user NSS knows (LDAP, SSSD) to a
  // group of /etc/group.
  const bool nss_user = nss_answers() && !local_accounts().user(user) && system_user(user);
  std::string tool = nss_user ? find_program({"/usr/bin/gpasswd", "/bin/gpasswd"})
                              : find_program({"/usr/sbin/usermod", "/sbin/usermod"});
  if (tool.empty())
    return Error{ENOENT, "cannot add " + quote(user) + " to group " + quote(group) + ": " +
                             (nss_user ? "gpasswd" : "usermod") +
                             " not found (install the \"passwd\" package)"};
  std::vector<std::string> argv{tool};
  if (nss_user)
    argv.insert(argv.end(), {"--add", user});
  else
    argv.insert(argv.end(), {"--append", "--groups", group});
  if (!live()) argv.insert(argv.end(), {"--root", root_});
  argv.push_back(nss_user ? group : user);
  if (auto r = run_program(argv); !r)
    return Error{r.error().code, "cannot add " + quote(user) + " to group " + quote(group) + ": " +
                                     r.error().message};
  return {};
}

std::string LinuxHost::user_name(uid_t uid) {
  if (const UserEntry* u = local_accounts().user_by_uid(uid)) return u->name;
  return kernel_root_ == "/" ? nss_user_name(uid) : "";
}

std::string LinuxHost::group_name(gid_t gid) {
  if (const GroupEntry* g = local_accounts().group_by_gid(gid)) return g->name;
  return kernel_root_ == "/" ? nss_group_name(gid) : "";
}

std::optional<GroupEntry> LinuxHost::system_group(const std::string& name) {
  if (!nss_answers()) return std::nullopt;
  std::vector<char> buf(16384);
  struct group gr {};
  struct group* found = nullptr;
  while (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) == ERANGE &&
         buf.size() < (size_t{1} << 24))
    buf.resize(buf.size() * 2);
  if (!found) return std::nullopt;
  GroupEntry g{.name = gr.gr_name, .gid = gr.gr_gid};
  for (char** m = gr.gr_mem; m && *m; ++m) g.members.emplace_back(*m);
  return g;
}

std::optional<SystemUser> LinuxHost::system_user(const std::string& name) {
  if (!nss_answers()) return std::nullopt;
  auto who = lookup_account(name);  // getpwnam_r and getgrouplist
  if (!who) return std::nullopt;
  return SystemUser{.user = {.name = name, .uid = who->uid, .gid = who->gid}, .gids = who->groups};
}

Result<UserAccess> LinuxHost::can_open_as(const std::string& user, const std::string& path) {
  const std::optional<std::string> full = kernel_path(path);
  if (!full) return Error{EINVAL, "cannot open \"" + path + "\": not an absolute path"};
  if (user.empty()) {
    UserAccess self;
    self.uid = geteuid();
    self.gid = getegid();
    self.user = user_name(self.uid);
    self.groups.push_back(self.gid);
    int n = getgroups(0, nullptr);
    if (n > 0) {
      std::vector<gid_t> more(static_cast<size_t>(n));
      n = getgroups(n, more.data());
      if (n > 0) self.groups.insert(self.groups.end(), more.begin(), more.begin() + n);
    }
    UniqueFd fd(open(full->c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    self.can_open = fd.valid();
    self.open_errno = self.can_open ? 0 : errno;
    self.opened_as_user = true;
    return self;
  }
  auto who = kernel_root_ == "/" ? lookup_account(user) : lookup_account(user, local_accounts());
  if (!who) return who.error();
  // Really trying is exact (ACLs, LSMs); it needs root and the running system.
  if (geteuid() == 0 && kernel_root_ == "/") {
    auto err = open_as(*who, *full);
    if (!err) return err.error();
    who->can_open = *err == 0;
    who->open_errno = *err;
    who->opened_as_user = true;
    return who;
  }
  auto info = kernel_.stat(path);
  if (!info) return info.error();
  if (!info->exists) {
    who->open_errno = ENOENT;
    return who;
  }
  who->can_open = may_open_rw(who->uid, who->groups, info->uid, info->gid, info->mode);
  who->open_errno = who->can_open ? 0 : EACCES;
  return who;
}

const Accounts& LinuxHost::local_accounts() {
  if (!local_accounts_) {
    local_accounts_ = parse_accounts(kernel_.read_or_absent("/etc/group").value_or(""),
                                     kernel_.read_or_absent("/etc/passwd").value_or(""));
  }
  return *local_accounts_;
}

}  // namespace kvmprov
