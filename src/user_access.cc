// SPDX-License-Identifier: MIT
// Whether a user can open /dev/kvm: really tried with the user's credentials when we are root,
// since ACLs and LSMs can decide otherwise than the mode bits; computed from the bits when not.
#include "user_access.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "accounts.h"

namespace kvmprov {
namespace {

// The passwd and group databases of another root (an image, a fixture tree).
Accounts accounts_below(const std::string& root) {
  auto slurp = [&](const char* file) {
    std::ifstream in(root + file);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  return parse_accounts(slurp("/etc/group"), slurp("/etc/passwd"));
}

}  // namespace

Result<UserAccess> lookup_account(const std::string& user, const std::string& root) {
  UserAccess a;
  a.user = user;
  const std::string unknown = "unknown user \"" + user + "\"";
  if (root == "/") {
    std::vector<char> buf(16384);
    struct passwd pw {};
    struct passwd* found = nullptr;
    int rc = getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0) return errno_error("cannot look up user \"" + user + "\"", rc);
    if (!found) return Error{ENOENT, unknown};
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
  Accounts accounts = accounts_below(root);
  const UserEntry* entry = accounts.user(user);
  if (!entry) return Error{ENOENT, unknown};
  a.uid = entry->uid;
  a.gid = entry->gid;
  a.groups = accounts.gids_of(*entry);
  return a;
}

std::string user_name_below(uid_t uid, const std::string& root) {
  if (root == "/") {
    std::vector<char> buf(16384);
    struct passwd pw {};
    struct passwd* found = nullptr;
    if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found) return pw.pw_name;
    return "";
  }
  const Accounts accounts = accounts_below(root);
  const UserEntry* u = accounts.user_by_uid(uid);
  return u ? u->name : "";
}

std::string group_name_below(gid_t gid, const std::string& root) {
  if (root == "/") {
    std::vector<char> buf(16384);
    struct group gr {};
    struct group* found = nullptr;
    if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == 0 && found) return gr.gr_name;
    return "";
  }
  Accounts accounts = accounts_below(root);
  const GroupEntry* g = accounts.group_by_gid(gid);
  return g ? g->name : "";
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
