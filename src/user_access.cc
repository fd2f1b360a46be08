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

namespace kvmprov {
namespace {

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::string field;
  std::istringstream in(line);
  while (std::getline(in, field, sep)) out.push_back(field);
  if (!line.empty() && line.back() == sep) out.emplace_back();
  return out;
}

std::optional<unsigned> number(const std::string& s) {
  if (s.empty() || s.size() > 10 ||
      !std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return static_cast<unsigned>(std::stoul(s));
}

// Rows of a colon-separated database file (passwd, group) below ROOT.
std::vector<std::vector<std::string>> rows(const std::string& root, const char* file) {
  std::vector<std::vector<std::string>> out;
  std::ifstream in(root + file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    out.push_back(split(line, ':'));
  }
  return out;
}

}  // namespace

bool mode_grants_read_write(unsigned mode, uid_t owner, gid_t group, uid_t uid,
                            const std::vector<gid_t>& groups) {
  if (uid == 0) return true;
  // Like the kernel: the first class that matches decides, even when it grants less.
  if (uid == owner) return (mode & 0600) == 0600;
  if (std::find(groups.begin(), groups.end(), group) != groups.end()) return (mode & 0060) == 0060;
  return (mode & 0006) == 0006;
}

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
  bool seen = false;
  for (const auto& r : rows(root, "/etc/passwd")) {
    if (r.size() < 4 || r[0] != user) continue;
    auto uid = number(r[2]);
    auto gid = number(r[3]);
    if (!uid || !gid) continue;
    a.uid = *uid;
    a.gid = *gid;
    seen = true;
    break;
  }
  if (!seen) return Error{ENOENT, unknown};
  a.groups.push_back(a.gid);
  for (const auto& r : rows(root, "/etc/group")) {
    if (r.size() < 4) continue;
    auto gid = number(r[2]);
    if (!gid || *gid == a.gid) continue;
    for (const auto& member : split(r[3], ','))
      if (member == user) a.groups.push_back(*gid);
  }
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
  for (const auto& r : rows(root, "/etc/passwd"))
    if (r.size() >= 3 && number(r[2]) == uid) return r[0];
  return "";
}

std::string group_name_below(gid_t gid, const std::string& root) {
  if (root == "/") {
    std::vector<char> buf(16384);
    struct group gr {};
    struct group* found = nullptr;
    if (getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == 0 && found) return gr.gr_name;
    return "";
  }
  for (const auto& r : rows(root, "/etc/group"))
    if (r.size() >= 3 && number(r[2]) == gid) return r[0];
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
