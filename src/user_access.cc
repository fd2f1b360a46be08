// SPDX-License-Identifier: MIT
// Whether a user can open /dev/kvm: really tried with the user's credentials when we are root,
// since ACLs and LSMs can decide otherwise than the mode bits; computed from the bits when not.
#include "user_access.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "accounts.h"

namespace kvmprov {

Result<UserAccess> lookup_account(const std::string& user) {
  UserAccess a;
  a.user = user;
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  int rc = getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0) return errno_error("cannot look up user \"" + user + "\"", rc);
  if (!found) return Error{ENOENT, "unknown user \"" + user + "\""};
  a.uid = pw.pw_uid;
  a.gid = pw.pw_gid;
  int n = 64;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  while (getgrouplist(user.c_str(), a.gid, groups.data(), &n) < 0)
    groups.resize(static_cast<size_t>(n));
  groups.resize(static_cast<size_t>(n));
  a.groups = groups;
  return a;
}

Result<UserAccess> lookup_account(const std::string& user, const Accounts& accounts) {
  const UserEntry* entry = accounts.user(user);
  if (!entry) return Error{ENOENT, "unknown user \"" + user + "\""};
  UserAccess a;
  a.user = user;
  a.uid = entry->uid;
  a.gid = entry->gid;
  a.groups = accounts.gids_of(*entry);
  return a;
}

std::string nss_user_name(uid_t uid) {
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found) return pw.pw_name;
  return "";
}

std::string nss_group_name(gid_t gid) {
  std::vector<char> buf(16384);
  struct group gr {};
  struct group* found = nullptr;
  if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == 0 && found) return gr.gr_name;
  return "";
}

Result<int> open_as(const UserAccess& who, const std::string& path) {
  // Status 100 + step: the child could not take the user's credentials.
  constexpr int kSwitchFailed = 100;
  pid_t pid = fork();
  if (pid < 0) return errno_error("cannot fork to open \"" + path + "\" as \"" + who.user + "\"");
  if (pid == 0) {
    // Only async-signal-safe calls between fork and _exit.
    if (setgroups(who.groups.size(), who.groups.data()) != 0) _exit(kSwitchFailed + 1);
    if (setgid(who.gid) != 0) _exit(kSwitchFailed + 2);
    if (setuid(who.uid) != 0) _exit(kSwitchFailed + 3);
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) _exit(errno < kSwitchFailed ? errno : EIO);
    close(fd);
    _exit(0);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return errno_error("cannot wait for the child opening \"" + path + "\"");
  }
  if (!WIFEXITED(status)) return Error{EIO, "the child opening \"" + path + "\" died"};
  const int code = WEXITSTATUS(status);
  if (code > kSwitchFailed)
    return Error{EPERM, "cannot take the credentials of \"" + who.user + "\" to open \"" + path +
                            "\" (setgroups/setgid/setuid failed)"};
  return code;
}

}  // namespace kvmprov
