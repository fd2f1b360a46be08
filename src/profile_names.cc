// SPDX-License-Identifier: MIT
// The grammar of the words a profile holds: names, option values, device nodes, paths, booleans,
// and the words of its enumerations.
#include "profile_names.h"

#include <algorithm>
#include <iterator>
#include <span>
#include <utility>
#include <vector>

#include "util/text.h"

namespace kvmprov {

namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool is_octal(char c) {
  return c >= '0' && c <= '7';
}

// Whether C is one of the bytes in SET. Not strchr: it finds the terminating NUL, so a NUL in a
// value would pass as an allowed character.
bool is_one_of(char c, std::string_view set) {
  return set.find(c) != std::string_view::npos;
}

bool all_of(std::string_view s, bool (*pred)(char)) {
  return std::all_of(s.begin(), s.end(), pred);
}

// Why S is empty or longer than MAX characters; "" when it is neither.
std::string explain_length(std::string_view s, std::size_t max) {
  if (s.empty()) return "must not be empty";
  if (s.size() > max) return "must be at most " + std::to_string(max) + " characters";
  return "";
}

// Why S is not 1 to MAX characters of A-Z a-z 0-9 and EXTRA; "" when it is. The message lists
// EXTRA in its order.
std::string explain_word(std::string_view s, std::size_t max, std::string_view extra) {
  if (auto why = explain_length(s, max); !why.empty()) return why;
  if (!std::all_of(s.begin(), s.end(),
                   [extra](char c) { return is_alnum(c) || is_one_of(c, extra); })) {
    std::string allowed = "allowed characters are A-Z a-z 0-9";
    for (const char c : extra) (allowed += ' ') += c;
    return allowed;
  }
  return "";
}

// The parts of PATH between its slashes, empty ones included: "a//b/" is a, "", b and "".
std::vector<std::string_view> path_components(std::string_view path) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t end = path.find('/', start);
    parts.push_back(path.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// The boolean words: true and false in YAML 1.2's core schema and in YAML 1.1, the rest in YAML
// 1.1 only.
constexpr std::pair<std::string_view, bool> kBooleanWords[] = {
    {"true", true}, {"false", false}, {"y", true},   {"yes", true},
    {"on", true},   {"n", false},     {"no", false}, {"off", false}};
constexpr std::size_t kYaml12Words = 2;

// The word of V in TABLE; the first word (the default) for a value outside it.
template <class E>
std::string_view name_in(NameTable<E> table, E v) {
  for (const auto& [value, name] : table)
    if (value == v) return name;
  return table.front().second;
}

}  // namespace

std::string explain_profile_name(std::string_view s) {
  return explain_word(s, 64, "._-");
}

std::string explain_module_name(std::string_view s) {
  return explain_word(s, 55, "_-");
}

std::string explain_option_name(std::string_view s) {
  return explain_word(s, 64, "_");
}

// An option value reaches libkmod, which splits an options line at white space and joins a line
// ending in a backslash with the next; the kernel, which honours double quotes; and /bin/sh, when
// any file's "install" command passes $CMDLINE_OPTS on (modprobe.d(5)). So: no white space, quotes,
// backslash or shell syntax. '#' is refused as a comment to other readers. A leading '-' is
// harmless: the word on the line is NAME=VALUE, which starts with the name.
std::string explain_option_value(std::string_view s) {
  return explain_word(s, 255, "_.,:+/=@-");
}

std::string explain_device_node(std::string_view s) {
  if (auto why = explain_word(s, 255, "._/-"); !why.empty()) return why;
  if (s.front() == '/') return "must be relative to /dev, without a leading '/'";
  if (s.find("..") != std::string_view::npos) return "must not contain \"..\"";
  for (std::string_view part : path_components(s)) {
    if (part.empty() || part == ".") return "must not contain empty or \".\" path components";
    // A tool given the path as an argument would read a leading '-' as an option.
    if (part.front() == '-') return "no path component may start with '-'";
  }
  return "";
}

// Group and user names as Debian's shadow tools take them: useradd and groupadd (4.13) refuse only
// an empty name, more than 32 characters, a leading '-', '+' or '~', and ':', ',' or white
// space; so "Admin" and "john.doe" (SSSD, LDAP) are names. Refused besides is what breaks where
// kvmprov puts a name: /etc/group, the argument vectors of groupadd and usermod, and a udev
// GROUP="..." value; and anything outside printable ASCII, since two spellings of one Unicode
// name are different bytes to /etc/group and udev.
std::string explain_account_name(std::string_view s) {
  if (auto why = explain_length(s, 32); !why.empty()) return why;
  if (!all_of(s, [](char c) { return c > ' ' && c < 0x7f; }))
    return "must be printable ASCII, without white space or control characters";
  if (const auto bad = s.find_first_of(":,\"'\\%"); bad != std::string_view::npos) {
    switch (s[bad]) {
      case ':':
        return "must not contain ':', which separates the fields of /etc/group";
      case ',':
        return "must not contain ',', which separates the members in /etc/group";
      case '%':
        return "must not contain '%', which udev substitutes in GROUP=";
      default:
        return "must not contain quotes or '\\', which end or escape a udev rule's value";
    }
  }
  if (const auto dollar = s.find('$'); dollar != std::string_view::npos && dollar + 1 < s.size())
    return "'$' is allowed only at the end (as in a Samba machine account): elsewhere udev substitutes it in GROUP=";
  switch (s.front()) {
    case '-':
      return "must not start with '-': groupadd and usermod would take it for an option";
    case '+':
    case '~':
      return "must not start with '+' or '~': groupadd and useradd refuse it ('+' marks NIS entries in /etc/group)";
    case '#':
      return "must not start with '#': /etc/group would read its line as a comment";
  }
  if (all_of(s, [](char c) { return c >= '0' && c <= '9'; }))
    return "must not be all digits: udev's GROUP= and usermod --groups would take it for a group ID";
  return "";
}

std::string explain_cpu_model_name(std::string_view s) {
  if (auto why = explain_word(s, 64, "._-"); !why.empty()) return why;
  if (s.front() == '-') return "must not start with '-'";
  return "";
}

std::string explain_config_path(std::string_view s) {
  if (auto why = explain_word(s, 255, "._/+-"); !why.empty()) return why;
  if (s.front() != '/') return "must be an absolute path";
  if (s.back() == '/') return "must not end with '/'";
  for (std::string_view part : path_components(s.substr(1))) {
    if (part.empty() || part == "." || part == "..") {
      return "must not contain empty, \".\" or \"..\" path components";
    }
  }
  return "";
}

bool octal_digits(std::string_view s) {
  return (s.size() == 3 || s.size() == 4) && all_of(s, is_octal);
}

std::optional<bool> yaml_bool(std::string_view s, bool yaml11) {
  const std::size_t words = yaml11 ? std::size(kBooleanWords) : kYaml12Words;
  for (const auto& [word, value] : std::span(kBooleanWords).first(words)) {
    if (ascii_lower(s) != word) continue;
    std::string capitalised(word);
    capitalised[0] = static_cast<char>(capitalised[0] - 'a' + 'A');
    const bool upper =
        std::none_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
    if (s == word || s == capitalised || upper) return value;
  }
  return std::nullopt;
}

NameTable<Vendor> vendor_names() {
  static const std::vector<std::pair<Vendor, std::string_view>> kNames = [] {
    std::vector<std::pair<Vendor, std::string_view>> names;
    for (const VendorInfo& row : known_vendors()) names.emplace_back(row.vendor, row.name);
    return names;
  }();
  return kNames;
}

std::string_view persist_name(PersistMode m) {
  return name_in<PersistMode>(kPersistModes, m);
}

std::string_view nova_virt_type_name(NovaVirtType t) {
  return name_in<NovaVirtType>(kNovaVirtTypes, t);
}

std::string_view nova_cpu_mode_name(NovaCpuMode m) {
  return name_in<NovaCpuMode>(kNovaCpuModes, m);
}

std::string normalise_module_name(std::string_view name) {
  std::string out(name);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

bool valid_module_name(std::string_view name) {
  return explain_module_name(name).empty();
}
bool valid_option_name(std::string_view name) {
  return explain_option_name(name).empty();
}
bool valid_option_value(std::string_view value) {
  return explain_option_value(value).empty();
}
bool valid_device_node(std::string_view node) {
  return explain_device_node(node).empty();
}
bool valid_account_name(std::string_view name) {
  return explain_account_name(name).empty();
}
bool valid_cpu_model_name(std::string_view name) {
  return explain_cpu_model_name(name).empty();
}
bool valid_config_path(std::string_view path) {
  return explain_config_path(path).empty();
}

}  // namespace kvmprov
