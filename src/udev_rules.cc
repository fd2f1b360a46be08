// SPDX-License-Identifier: MIT
// udev rules text and a prediction of effective device permissions; pure string work, so every
// precedence case can be tested on fixture trees and on the rules a distribution ships.
#include "udev_rules.h"

#include <fmt/format.h>
#include <fnmatch.h>

#include <algorithm>
#include <map>
#include <utility>

#include "persist.h"
#include "udev_rule_templates.h"
#include "util/text.h"

namespace kvmprov {

const std::vector<std::string>& udev_rules_dirs() {
  static const std::vector<std::string> kDirs = {"/etc/udev/rules.d", "/run/udev/rules.d",
                                                 "/usr/local/lib/udev/rules.d",
                                                 "/usr/lib/udev/rules.d", "/lib/udev/rules.d"};
  return kDirs;
}

const std::vector<std::string>& tmpfiles_dirs() {
  static const std::vector<std::string> kDirs = {"/etc/tmpfiles.d", "/run/tmpfiles.d",
                                                 "/usr/local/lib/tmpfiles.d", "/usr/lib/tmpfiles.d",
                                                 "/lib/tmpfiles.d"};
  return kDirs;
}

std::vector<std::string> order_conf_files(const std::vector<ConfDir>& dirs,
                                          std::string_view suffix) {
  // Each name with the directory holding it, directories in precedence order; a stable sort by
  // name keeps the first directory's entry first among equal names, and only it is kept.
  std::vector<std::pair<std::string_view, const std::string*>> found;
  for (const auto& d : dirs) {
    for (const auto& name : d.names) {
      if (name.size() <= suffix.size() || !name.ends_with(suffix) || name.front() == '.') continue;
      found.emplace_back(name, &d.dir);
    }
  }
  std::stable_sort(found.begin(), found.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<std::string> out;
  out.reserve(found.size());
  for (std::size_t i = 0; i < found.size(); ++i) {
    if (i > 0 && found[i].first == found[i - 1].first) continue;
    out.push_back(*found[i].second + "/" + std::string(found[i].first));
  }
  return out;
}

namespace {

// The device nodes with a template of their own in rules/; any other node takes
// rules/device.rules.in.
constexpr std::pair<std::string_view, std::string_view> kNodeTemplates[] = {
    {"kvm", "kvm"}, {"vhost-net", "vhost-net"}, {"vhost-vsock", "vhost-vsock"}, {"net/tun", "tun"}};

const UdevRuleTemplate* find_template(std::string_view name) {
  for (const auto& t : kUdevRuleTemplates)
    if (t.name == name) return &t;
  return nullptr;
}

// By name only, with no pointer compared: GCC does not fold a comparison of an array element's
// address in a constant expression under -fsanitize=undefined.
constexpr bool has_template(std::string_view name) {
  for (const auto& t : kUdevRuleTemplates)
    if (t.name == name) return true;
  return false;
}

constexpr bool every_template_present() {
  for (const auto& [node, name] : kNodeTemplates)
    if (!has_template(name)) return false;
  return has_template("device");
}
static_assert(every_template_present(), "rules/ lacks a template that kNodeTemplates names");

std::string_view rule_template(std::string_view node) {
  std::string_view name = "device";
  for (const auto& [known, template_name] : kNodeTemplates)
    if (known == node) name = template_name;
  return find_template(name)->text;
}

// TEXT with each @NAME@ replaced by VALUES' value for NAME; a part in [...] is kept, without its
// brackets, only when every placeholder in it has a value that is not empty (rules/README.md).
std::string fill_template(std::string_view text,
                          const std::map<std::string_view, std::string>& values) {
  std::string out;
  std::string part;  // the open [...] part so far
  bool in_part = false;
  bool complete = true;  // every placeholder of the open part has a value
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '[' && !in_part) {
      in_part = true;
      complete = true;
      part.clear();
      continue;
    }
    if (c == ']' && in_part) {
      if (complete) out += part;
      in_part = false;
      continue;
    }
    std::string& to = in_part ? part : out;
    const size_t end = c == '@' ? text.find('@', i + 1) : std::string_view::npos;
    if (end == std::string_view::npos) {
      to += c;
      continue;
    }
    const auto value = values.find(text.substr(i + 1, end - i - 1));
    if (value == values.end() || value->second.empty()) {
      complete = false;
    } else {
      to += value->second;
    }
    i = end;
  }
  return out;
}

}  // namespace

std::string device_kernel_name(std::string_view node) {
  size_t slash = node.rfind('/');
  return std::string(slash == std::string_view::npos ? node : node.substr(slash + 1));
}

std::string udev_rule_line(const DeviceSpec& device) {
  if (device.group.empty() && !device.mode) return "";
  return fill_template(rule_template(device.node),
                       {{"KERNEL", device_kernel_name(device.node)},
                        {"NODE", device.node},
                        {"GROUP", device.group},
                        {"MODE", device.mode ? fmt::format("{:04o}", *device.mode) : ""}});
}

std::optional<std::string> udev_rules_text(const Profile& profile) {
  std::string body;
  for (const auto& d : profile.devices) {
    std::string line = udev_rule_line(d);
    if (!line.empty()) body += line + "\n";
  }
  if (body.empty()) return std::nullopt;
  return managed_header(profile) + body;
}

std::optional<unsigned> parse_octal_mode(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned mode = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = mode * 8 + static_cast<unsigned>(c - '0');
  }
  return mode;
}

namespace {

struct Token {
  std::string key;   // "KERNEL", "ENV"
  std::string attr;  // the {...} part, without braces
  std::string op;    // "==", "!=", "=", "+=", "-=", ":="
  std::string value;
};

struct RuleLine {
  int line = 0;
  std::vector<Token> tokens;
};

bool is_key_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

// Parses one logical rule line; nullopt when udev would reject it too (it logs and skips those).
std::optional<std::vector<Token>> parse_rule(std::string_view s) {
  std::vector<Token> tokens;
  size_t i = 0;
  auto skip_space = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  };
  while (true) {
    skip_space();
    if (i >= s.size()) break;
    Token t;
    const size_t key_start = i;
    while (i < s.size() && is_key_char(s[i])) ++i;
    if (i == key_start) return std::nullopt;
    t.key.assign(s.substr(key_start, i - key_start));
    if (i < s.size() && s[i] == '{') {
      size_t close = s.find('}', i);
      if (close == std::string_view::npos) return std::nullopt;
      t.attr = std::string(s.substr(i + 1, close - i - 1));
      i = close + 1;
    }
    skip_space();
    for (std::string_view op : {"==", "!=", "+=", "-=", ":=", "="}) {
      if (s.substr(i, op.size()) == op) {
        t.op = std::string(op);
        i += op.size();
        break;
      }
    }
    if (t.op.empty()) return std::nullopt;
    skip_space();
    if (i < s.size() && s[i] == 'e' && i + 1 < s.size() && s[i + 1] == '"') ++i;
    if (i >= s.size() || s[i] != '"') return std::nullopt;
    ++i;
    // The value runs to the first quote that no backslash escapes; \" stands for a quote, any
    // other backslash for itself.
    bool closed = false;
    while (!closed) {
      size_t stop = i;
      while (stop < s.size() && s[stop] != '"' && s[stop] != '\\') ++stop;
      if (stop == s.size()) return std::nullopt;
      t.value.append(s.substr(i, stop - i));
      i = stop + 1;
      if (s[stop] == '"') {
        closed = true;
      } else if (i < s.size() && s[i] == '"') {
        t.value += '"';
        ++i;
      } else {
        t.value += '\\';
      }
    }
    tokens.push_back(std::move(t));
    skip_space();
    if (i < s.size() && s[i] == ',') ++i;
  }
  return tokens;
}

// Whether RULE can matter to a prediction: it names a key that assigns an owner, group or mode,
// or a GOTO or LABEL. Any other rule changes nothing predict follows, matched or not.
bool may_matter(std::string_view rule) {
  for (std::string_view key : {"GROUP", "MODE", "OWNER", "GOTO", "LABEL"})
    if (rule.find(key) != std::string_view::npos) return true;
  return false;
}

// The rule lines of one file that may matter, continuation lines joined.
std::vector<RuleLine> parse_rules_file(std::string_view text) {
  std::vector<RuleLine> out;
  std::string logical;
  int start = 0;
  int number = 0;
  for (std::string_view line : lines(text)) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (logical.empty()) {
      size_t first = line.find_first_not_of(" \t");
      if (first == std::string_view::npos || line[first] == '#') continue;
      start = number;
    }
    if (!line.empty() && line.back() == '\\') {
      logical.append(line.substr(0, line.size() - 1));
      continue;
    }
    logical.append(line);
    if (may_matter(logical))
      if (auto tokens = parse_rule(logical)) out.push_back({start, std::move(*tokens)});
    logical.clear();
  }
  return out;
}

// udev's patterns: shell globs, with '|' separating alternatives.
bool glob_match(const std::string& pattern, const std::string& value) {
  size_t start = 0;
  while (true) {
    size_t bar = pattern.find('|', start);
    std::string alt = pattern.substr(start, bar == std::string::npos ? bar : bar - start);
    if (fnmatch(alt.c_str(), value.c_str(), 0) == 0) return true;
    if (bar == std::string::npos) return false;
    start = bar + 1;
  }
}

enum class Match { no, yes, maybe };

std::string token_text(const Token& t) {
  std::string key = t.attr.empty() ? t.key : t.key + "{" + t.attr + "}";
  return key + t.op + "\"" + t.value + "\"";
}

// Whether the match keys of a rule hold for DEVICE in an "add" event; CONDITIONS collects what
// could not be evaluated.
Match evaluate(const std::vector<Token>& tokens, const DeviceIdentity& device,
               std::string& conditions) {
  Match result = Match::yes;
  for (const auto& t : tokens) {
    if (t.op != "==" && t.op != "!=") continue;
    const bool eq = t.op == "==";
    std::optional<bool> hit;
    if (t.key == "KERNEL" || t.key == "KERNELS") {
      hit = glob_match(t.value, device.kernel);
    } else if ((t.key == "SUBSYSTEM" || t.key == "SUBSYSTEMS") && !device.subsystem.empty()) {
      hit = glob_match(t.value, device.subsystem);
    } else if (t.key == "ACTION") {
      bool add = glob_match(t.value, "add");
      if (eq ? add : !add) continue;
      // Not true at boot or module load, but may be on another event ("change").
      bool change = glob_match(t.value, "change");
      if (eq ? change : !change) {
        result = Match::maybe;
        conditions += (conditions.empty() ? "" : ", ") + token_text(t);
        continue;
      }
      return Match::no;
    }
    if (!hit) {
      result = Match::maybe;
      conditions += (conditions.empty() ? "" : ", ") + token_text(t);
      continue;
    }
    if (*hit != eq) return Match::no;
  }
  return result;
}

}  // namespace

namespace {

// A z, Z or c line of a tmpfiles.d file.
struct TmpfilesLine {
  std::string file;
  int line = 0;
  char type = 0;                           // 'z', 'Z' or 'c'
  std::string glob;                        // the path field
  std::optional<std::string> mode, group;  // as set: without a leading '~' or ':'; not "-"
};

// The fields of a tmpfiles.d LINE (at most 6) when it is a z, Z or c line; empty otherwise.
std::vector<std::string> tmpfiles_fields(std::string_view line) {
  std::vector<std::string> f;
  const size_t first = line.find_first_not_of(" \t");
  if (first == std::string_view::npos) return f;
  const char type = line[first];
  if (type != 'z' && type != 'Z' && type != 'c') return f;
  size_t i = first;
  while (i < line.size() && f.size() < 6) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) break;
    size_t end = line.find_first_of(" \t", i);
    f.emplace_back(line.substr(i, end == std::string_view::npos ? end : end - i));
    i = end == std::string_view::npos ? line.size() : end;
  }
  if (f.size() < 2) f.clear();
  return f;
}

std::vector<TmpfilesLine> parse_tmpfiles(const std::vector<ConfText>& files) {
  std::vector<TmpfilesLine> out;
  for (const auto& file : files) {
    int number = 0;
    for (std::string_view line : lines(file.content)) {
      ++number;
      std::vector<std::string> f = tmpfiles_fields(line);
      if (f.empty()) continue;
      TmpfilesLine t{.file = file.path, .line = number, .type = f[0].front(), .glob = f[1]};
      if (f.size() > 2 && f[2] != "-") {
        std::string m = f[2];
        if (!m.empty() && (m.front() == '~' || m.front() == ':')) m.erase(0, 1);
        t.mode = std::move(m);
      }
      if (f.size() > 4 && f[4] != "-") t.group = f[4];
      out.push_back(std::move(t));
    }
  }
  return out;
}

// Follows the rules LINES of the file PATH for DEVICE, into P.
void predict_in_file(const std::string& path, const std::vector<RuleLine>& lines,
                     const DeviceIdentity& device, NodePrediction& p) {
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string conditions;
    Match m = evaluate(lines[i].tokens, device, conditions);
    if (m == Match::no) continue;
    std::string go_to;
    for (const auto& t : lines[i].tokens) {
      std::optional<Setting>* slot = t.key == "GROUP"   ? &p.group
                                     : t.key == "MODE"  ? &p.mode
                                     : t.key == "OWNER" ? &p.owner
                                                        : nullptr;
      if (t.key == "GOTO" && m == Match::yes) go_to = t.value;
      if (!slot || t.op == "==" || t.op == "!=") continue;
      if (*slot && (*slot)->final) continue;
      Setting s{.file = path, .line = lines[i].line, .value = t.value, .final = t.op == ":="};
      if (m == Match::yes) {
        *slot = s;
      } else {
        p.uncertain.push_back({.key = t.key, .setting = s, .conditions = conditions});
      }
    }
    if (go_to.empty()) continue;
    // udev ignores a GOTO whose LABEL does not follow in the same file.
    for (size_t j = i + 1; j < lines.size(); ++j) {
      const auto& toks = lines[j].tokens;
      if (std::any_of(toks.begin(), toks.end(),
                      [&](const Token& t) { return t.key == "LABEL" && t.value == go_to; })) {
        i = j;
        break;
      }
    }
  }
}

void predict_from_tmpfiles(const std::vector<TmpfilesLine>& tmpfiles, const std::string& node,
                           NodePrediction& p) {
  const std::string path = "/dev/" + node;
  std::optional<Setting> z_group, z_mode, c_group, c_mode;
  for (const auto& t : tmpfiles) {
    if (fnmatch(t.glob.c_str(), path.c_str(), FNM_PATHNAME) != 0) continue;
    auto& group = t.type == 'c' ? c_group : z_group;
    auto& mode = t.type == 'c' ? c_mode : z_mode;
    if (t.mode && !mode) mode = Setting{.file = t.file, .line = t.line, .value = *t.mode};
    if (t.group && !group) group = Setting{.file = t.file, .line = t.line, .value = *t.group};
  }
  p.tmpfiles_group = z_group ? z_group : c_group;
  p.tmpfiles_mode = z_mode ? z_mode : c_mode;
}

}  // namespace

std::vector<NodePrediction> predict_nodes(const std::vector<ConfText>& rules,
                                          const std::vector<ConfText>& tmpfiles,
                                          const std::vector<DeviceIdentity>& devices) {
  std::vector<NodePrediction> out(devices.size());
  // One file's rules at a time: parsed once, followed for every device, then dropped.
  for (const auto& file : rules) {
    const std::vector<RuleLine> lines = parse_rules_file(file.content);
    for (size_t d = 0; d < devices.size(); ++d)
      predict_in_file(file.path, lines, devices[d], out[d]);
  }
  const std::vector<TmpfilesLine> lines = parse_tmpfiles(tmpfiles);
  for (size_t d = 0; d < devices.size(); ++d) predict_from_tmpfiles(lines, devices[d].node, out[d]);
  return out;
}

NodePrediction predict_udev(const std::vector<ConfText>& rules, const DeviceIdentity& device) {
  return std::move(predict_nodes(rules, {}, {device}).front());
}

void predict_tmpfiles(const std::vector<ConfText>& files, const std::string& node,
                      NodePrediction& p) {
  predict_from_tmpfiles(parse_tmpfiles(files), node, p);
}

}  // namespace kvmprov
