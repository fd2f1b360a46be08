// SPDX-License-Identifier: MIT
// A line model of an INI file that follows oslo.config's parser (oslo_config/iniparser.py), so
// that what is read and changed here is what nova will read.
#include "util/ini_edit.h"

#include <algorithm>
#include <map>
#include <set>

#include "util/text.h"

namespace kvmprov {

namespace {

enum class LineKind { blank, comment, section, key, continuation, other };

struct Line {
  std::string body;  // without its line ending
  std::string eol;   // "\n", "\r\n" or "" (the last line without one)
  LineKind kind = LineKind::other;
  std::string section;    // section, key: the group the line belongs to, as ini_group names it
  std::string key;        // key, continuation: the key
  std::size_t sep = 0;    // key: offset of the '=' or ':'
  std::size_t owner = 0;  // continuation: index of its key line
  bool removed = false;
};

constexpr std::string_view kBlanks = " \t\r\n\v\f";

std::string_view rstrip(std::string_view s) {
  auto end = s.find_last_not_of(kBlanks);
  return end == std::string_view::npos ? std::string_view() : s.substr(0, end + 1);
}

std::string_view strip(std::string_view s) {
  s = rstrip(s);
  auto start = s.find_first_not_of(kBlanks);
  return start == std::string_view::npos ? std::string_view() : s.substr(start);
}

}  // namespace

std::string ini_group(std::string_view section) {
  // Python's str.lower(); the groups nova reads are ASCII, and no other letter lower-cases into
  // one of theirs.
  return section == "DEFAULT" ? std::string(section) : ascii_lower(section);
}

namespace {

std::vector<Line> parse(std::string_view text) {
  std::vector<Line> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    Line l;
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      l.body = std::string(text.substr(pos));
      pos = text.size();
    } else {
      std::size_t end = nl;
      if (end > pos && text[end - 1] == '\r') --end;
      l.body = std::string(text.substr(pos, end - pos));
      l.eol = std::string(text.substr(end, nl + 1 - end));
      pos = nl + 1;
    }
    lines.push_back(std::move(l));
  }
  std::string section;
  std::optional<std::size_t> active;  // the key line a continuation would extend
  for (std::size_t i = 0; i < lines.size(); ++i) {
    Line& l = lines[i];
    const std::string_view body = rstrip(l.body);
    l.section = section;
    if (body.empty()) {
      l.kind = LineKind::blank;
      active.reset();
    } else if (body.front() == ' ' || body.front() == '\t') {
      if (active) {
        l.kind = LineKind::continuation;
        l.owner = *active;
        l.key = lines[*active].key;
      }
    } else if (body.front() == '[') {
      active.reset();
      if (body.back() == ']') {
        l.kind = LineKind::section;
        section = ini_group(body.substr(1, body.size() - 2));
        l.section = section;
      }
    } else if (body.front() == '#' || body.front() == ';') {
      l.kind = LineKind::comment;
      active.reset();
    } else {
      active.reset();
      const std::size_t colon = body.find(':');
      const std::size_t equal = body.find('=');
      if (colon == std::string_view::npos && equal == std::string_view::npos) continue;
      const std::size_t sep =
          colon == std::string_view::npos || (equal != std::string_view::npos && equal < colon)
              ? equal
              : colon;
      const std::string_view key = strip(body.substr(0, sep));
      if (key.empty()) continue;
      l.kind = LineKind::key;
      l.key = std::string(key);
      l.sep = sep;
      active = i;
    }
  }
  return lines;
}

// The value of a key line as oslo.config reads it, without continuation lines.
std::string line_value(const Line& l) {
  std::string v(strip(std::string_view(l.body).substr(l.sep + 1)));
  if (v.size() >= 2 && v.front() == v.back() && (v.front() == '"' || v.front() == '\''))
    v = v.substr(1, v.size() - 2);
  return v;
}

bool has_continuation(const std::vector<Line>& lines, std::size_t key_line) {
  return key_line + 1 < lines.size() && lines[key_line + 1].kind == LineKind::continuation &&
         lines[key_line + 1].owner == key_line;
}

std::optional<std::size_t> last_live(const std::vector<Line>& lines,
                                     std::string_view setting_section, std::string_view key) {
  const std::string section = ini_group(setting_section);
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (!lines[i].removed && lines[i].kind == LineKind::key && lines[i].section == section &&
        lines[i].key == key)
      found = i;
  return found;
}

void remove_with_continuation(std::vector<Line>& lines, std::size_t key_line) {
  lines[key_line].removed = true;
  for (std::size_t j = key_line + 1; j < lines.size(); ++j) {
    if (lines[j].kind != LineKind::continuation || lines[j].owner != key_line) break;
    lines[j].removed = true;
  }
}

// The key line with its value replaced, keeping the key, the separator and the space after it.
std::string replace_value(const Line& l, const std::string& value) {
  const std::string_view after = std::string_view(l.body).substr(l.sep + 1);
  std::string_view lead = after.substr(0, after.find_first_not_of(" \t"));
  if (strip(after).empty()) lead = l.sep > 0 && l.body[l.sep - 1] == ' ' ? " " : "";
  std::string line = l.body.substr(0, l.sep + 1);
  line += lead;
  line += value;
  return line;
}

}  // namespace

std::optional<std::string> ini_get(std::string_view text, std::string_view section,
                                   std::string_view key) {
  const std::vector<Line> lines = parse(text);
  auto at = last_live(lines, section, key);
  if (!at) return std::nullopt;
  std::string value = line_value(lines[*at]);
  for (std::size_t j = *at + 1; j < lines.size() && has_continuation(lines, j - 1); ++j) {
    value += '\n';
    value += strip(lines[j].body);
  }
  return value;
}

std::string ini_apply(std::string_view text, const std::vector<IniSetting>& settings) {
  std::vector<Line> lines = parse(text);
  const std::string eol = !lines.empty() && lines.front().eol == "\r\n" ? "\r\n" : "\n";
  // Keys to add, per section, in the order given; sections in the order first named.
  std::vector<std::string> section_order;
  std::map<std::string, std::vector<std::string>> additions;
  for (const auto& s : settings) {
    auto at = last_live(lines, s.section, s.key);
    if (!s.value) {
      while (at) {
        remove_with_continuation(lines, *at);
        at = last_live(lines, s.section, s.key);
      }
      continue;
    }
    const std::string wanted = s.key + " = " + *s.value;
    if (!at) {
      if (!additions.count(s.section)) section_order.push_back(s.section);
      additions[s.section].push_back(wanted);
      continue;
    }
    Line& l = lines[*at];
    if (line_value(l) == *s.value && !has_continuation(lines, *at)) continue;
    l.body = replace_value(l, *s.value);
    for (std::size_t j = *at + 1; j < lines.size(); ++j) {
      if (lines[j].kind != LineKind::continuation || lines[j].owner != *at) break;
      lines[j].removed = true;
    }
  }

  std::map<std::size_t, std::vector<std::string>> insert_after;  // header line -> new lines
  std::vector<std::string> appended;
  for (const auto& section : section_order) {
    std::optional<std::size_t> header;
    const std::string group = ini_group(section);
    for (std::size_t i = 0; i < lines.size() && !header; ++i)
      if (lines[i].kind == LineKind::section && lines[i].section == group) header = i;
    auto& keys = additions[section];
    if (header) {
      auto& slot = insert_after[*header];
      slot.insert(slot.end(), keys.begin(), keys.end());
    } else {
      if (!appended.empty() || (!lines.empty() && !strip(lines.back().body).empty()))
        appended.push_back("");
      appended.push_back("[" + section + "]");
      appended.insert(appended.end(), keys.begin(), keys.end());
    }
  }

  std::string out;
  out.reserve(text.size() + 256);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const Line& l = lines[i];
    if (l.removed) continue;
    out += l.body;
    auto ins = insert_after.find(i);
    const bool last = i + 1 == lines.size();
    out +=
        l.eol.empty() && (ins != insert_after.end() || (last && !appended.empty())) ? eol : l.eol;
    if (ins != insert_after.end())
      for (const auto& added : ins->second) out += added + eol;
  }
  for (const auto& added : appended) out += added + eol;
  return out;
}

std::string ini_excerpt(std::string_view text, const std::vector<IniSetting>& settings) {
  std::string out;
  for (const auto& s : settings) {
    std::optional<std::string> value = ini_get(text, s.section, s.key);
    if (!value) continue;
    std::string shown = *value;
    // One line per setting. (std::string::replace trips GCC 12's -Wrestrict false positive.)
    std::replace(shown.begin(), shown.end(), '\n', ' ');
    out += "[" + s.section + "] " + s.key + " = " + shown + "\n";
  }
  return out;
}

}  // namespace kvmprov
