// SPDX-License-Identifier: MIT
// Parsing of /etc/group and /etc/passwd, and the owner/group/other permission check.
#include "accounts.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "util/text.h"

namespace kvmprov {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  out.reserve(8);  // a passwd line's seven fields, without growing
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

template <class T>
std::optional<T> parse_id(std::string_view s) {
  T value{};
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

template <class Fn>
void for_each_line(std::string_view text, Fn fn) {
  for (std::string_view line : lines(text)) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#' || line.front() == '+' || line.front() == '-') continue;
    fn(line);
  }
}

// The first of ITEMS that PRED holds for; nullptr when none does.
template <class T, class Pred>
const T* first_of(const std::vector<T>& items, Pred pred) {
  auto it = std::find_if(items.begin(), items.end(), pred);
  return it == items.end() ? nullptr : &*it;
}

}  // namespace

const GroupEntry* Accounts::group(std::string_view name) const {
  return first_of(groups, [&](const GroupEntry& g) { return g.name == name; });
}

const GroupEntry* Accounts::group_by_gid(gid_t gid) const {
  return first_of(groups, [&](const GroupEntry& g) { return g.gid == gid; });
}

const UserEntry* Accounts::user(std::string_view name) const {
  return first_of(users, [&](const UserEntry& u) { return u.name == name; });
}

const UserEntry* Accounts::user_by_uid(uid_t uid) const {
  return first_of(users, [&](const UserEntry& u) { return u.uid == uid; });
}

std::string Accounts::perms_text(uid_t uid, gid_t gid, unsigned mode) const {
  const UserEntry* u = user_by_uid(uid);
  const GroupEntry* g = group_by_gid(gid);
  return fmt::format("{}:{} {:04o}", u ? u->name : std::to_string(uid),
                     g ? g->name : std::to_string(gid), mode);
}

bool Accounts::member_of(const UserEntry& user, const GroupEntry& group) const {
  return user.gid == group.gid ||
         std::find(group.members.begin(), group.members.end(), user.name) != group.members.end();
}

std::vector<gid_t> Accounts::gids_of(const UserEntry& user) const {
  std::vector<gid_t> gids{user.gid};
  auto add = [&](gid_t gid) {
    if (std::find(gids.begin(), gids.end(), gid) == gids.end()) gids.push_back(gid);
  };
  for (const auto& g : groups)
    if (std::find(g.members.begin(), g.members.end(), user.name) != g.members.end()) add(g.gid);
  for (gid_t gid : user.nss_gids) add(gid);
  return gids;
}

Accounts parse_accounts(std::string_view group_text, std::string_view passwd_text) {
  Accounts a;
  for_each_line(group_text, [&](std::string_view line) {
    auto f = split(line, ':');
    if (f.size() < 4 || f[0].empty()) return;
    auto gid = parse_id<gid_t>(f[2]);
    if (!gid) return;
    GroupEntry g{.name = std::string(f[0]), .gid = *gid};
    for (std::string_view m : split(f[3], ','))
      if (!m.empty()) g.members.emplace_back(m);
    a.groups.push_back(std::move(g));
  });
  for_each_line(passwd_text, [&](std::string_view line) {
    auto f = split(line, ':');
    if (f.size() < 4 || f[0].empty()) return;
    auto uid = parse_id<uid_t>(f[2]);
    auto gid = parse_id<gid_t>(f[3]);
    if (!uid || !gid) return;
    a.users.push_back({.name = std::string(f[0]), .uid = *uid, .gid = *gid});
  });
  return a;
}

bool may_open_rw(uid_t uid, const std::vector<gid_t>& gids, uid_t owner, gid_t group,
                 unsigned mode) {
  if (uid == 0) return true;
  if (uid == owner) return (mode & 0600) == 0600;
  if (std::find(gids.begin(), gids.end(), group) != gids.end()) return (mode & 0060) == 0060;
  return (mode & 0006) == 0006;
}

void add_system_accounts(Accounts& acc, const std::vector<GroupEntry>& groups,
                         const std::vector<SystemUser>& users) {
  for (const auto& g : groups) {
    if (acc.group(g.name)) continue;
    GroupEntry entry = g;
    entry.from_nss = true;
    acc.groups.push_back(std::move(entry));
  }
  for (const auto& u : users) {
    if (!acc.user(u.user.name)) {
      UserEntry entry = u.user;
      entry.from_nss = true;
      acc.users.push_back(std::move(entry));
    }
    for (auto& entry : acc.users)
      if (entry.name == u.user.name) entry.nss_gids = u.gids;
    for (gid_t gid : u.gids) {
      for (auto& g : acc.groups) {
        if (g.gid != gid || gid == u.user.gid) continue;
        if (std::find(g.members.begin(), g.members.end(), u.user.name) == g.members.end())
          g.members.push_back(u.user.name);
      }
    }
  }
}

}  // namespace kvmprov
