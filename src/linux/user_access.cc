// SPDX-License-Identifier: MIT
// Whether a user can open /dev/kvm: really tried with the user's credentials when we are root,
// since ACLs and LSMs can decide otherwise than the mode bits; computed from the bits when not.
#include "linux/user_access.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <vector>

#include "accounts.h"
#include "util/unique_fd.h"

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

namespace {

// The name in the entry LOOKUP (getpwuid_r, getgrgid_r) finds for ID; "" when none.
template <class Entry, class Id>
std::string nss_name(int (*lookup)(Id, Entry*, char*, size_t, Entry**), Id id, char* Entry::*name) {
  std::vector<char> buf(16384);
  Entry entry{};
  Entry* found = nullptr;
  if (lookup(id, &entry, buf.data(), buf.size(), &found) == 0 && found) return entry.*name;
  return "";
}

}  // namespace

std::string nss_user_name(uid_t uid) {
  return nss_name(getpwuid_r, uid, &passwd::pw_name);
}

std::string nss_group_name(gid_t gid) {
  return nss_name(getgrgid_r, gid, &group::gr_name);
}

namespace {

// Status 100 + step: the child could not take the user's credentials.
constexpr int kSwitchFailed = 100;

// Forks a child that has taken WHO's groups, gid and uid; in the child (0 returned) only
// async-signal-safe calls may follow, ending in _exit.
pid_t fork_as(const UserAccess& who) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  if (setgroups(who.groups.size(), who.groups.data()) != 0) _exit(kSwitchFailed + 1);
  if (setgid(who.gid) != 0) _exit(kSwitchFailed + 2);
  if (setuid(who.uid) != 0) _exit(kSwitchFailed + 3);
  return 0;
}

// The child's exit status, or an error when it died or could not switch credentials.
Result<int> wait_child(pid_t pid, const UserAccess& who, const std::string& path) {
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

}  // namespace

Result<int> open_as(const UserAccess& who, const std::string& path) {
  const pid_t pid = fork_as(who);
  if (pid < 0) return errno_error("cannot fork to open \"" + path + "\" as \"" + who.user + "\"");
  if (pid == 0) {
    int fd = open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) _exit(errno < kSwitchFailed ? errno : EIO);
    close(fd);
    _exit(0);
  }
  return wait_child(pid, who, path);
}

Result<KvmProbe> probe_as(const UserAccess& who, const std::string& device) {
  // The result crosses the pipe as its fields, not as the struct's bytes with their padding.
  using Wire = std::array<int, 7>;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return errno_error("cannot probe \"" + device + "\" as \"" + who.user + "\"");
  UniqueFd in(fds[0]), out(fds[1]);
  const pid_t pid = fork_as(who);
  if (pid < 0)
    return errno_error("cannot fork to probe \"" + device + "\" as \"" + who.user + "\"");
  if (pid == 0) {
    const KvmProbe p = probe_kvm_device(device);
    const Wire wire = {p.opened,   p.open_errno,   p.api_version, p.vm_created,
                       p.vm_errno, p.vcpu_created, p.vcpu_errno};
    _exit(write(out.get(), wire.data(), sizeof wire) == static_cast<ssize_t>(sizeof wire) ? 0 : 1);
  }
  out.reset();
  Wire wire{};
  size_t got = 0;
  while (got < sizeof wire) {
    const ssize_t n = read(in.get(), reinterpret_cast<char*>(wire.data()) + got, sizeof wire - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  auto code = wait_child(pid, who, device);
  if (!code) return code.error();
  if (got != sizeof wire || *code != 0)
    return Error{EIO,
                 "the child probing \"" + device + "\" as \"" + who.user + "\" sent no result"};
  return KvmProbe{.opened = wire[0] != 0,
                  .open_errno = wire[1],
                  .api_version = wire[2],
                  .vm_created = wire[3] != 0,
                  .vm_errno = wire[4],
                  .vcpu_created = wire[5] != 0,
                  .vcpu_errno = wire[6]};
}

}  // namespace kvmprov
