// SPDX-License-Identifier: MIT
// Text of kvmprov's own files and of its block in /etc/modules; pure string work.
#include "persist.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace kvmprov {

namespace {

struct Span {
  size_t begin, end;  // [begin, end) of the whole block, including the end marker's newline
};

std::string_view strip_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Calls FN(line_without_newline, start, end_including_newline) for each line.
template <class Fn>
void for_each_line(std::string_view text, Fn fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
    size_t line_end = nl == std::string_view::npos ? text.size() : nl;
    if (!fn(strip_cr(text.substr(pos, line_end - pos)), pos, end)) return;
    pos = end;
  }
}

std::optional<Span> find_block(std::string_view text) {
  std::optional<size_t> begin;
  std::optional<Span> span;
  for_each_line(text, [&](std::string_view line, size_t start, size_t end) {
    if (!begin && line.starts_with(kBlockBegin)) {
      begin = start;
    } else if (begin && line.starts_with(kBlockEnd)) {
      span = Span{*begin, end};
      return false;
    }
    return true;
  });
  // A begin marker without an end (a truncated edit by hand) runs to the end of the file.
  if (begin && !span) span = Span{*begin, text.size()};
  return span;
}

// S with control bytes and backslashes escaped: the profile's path is any bytes the operator
// gave, and a newline in it would start a directive of its own in the file that quotes it.
std::string escape_controls(std::string_view s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\\') {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string managed_header(const Profile& profile) {
  return fmt::format(
      "# Managed by kvmprov from profile \"{}\" ({}).\n"
      "# Changes here are overwritten: edit the profile and run \"kvmprov apply\".\n",
      profile.name, escape_controls(profile.source));
}

std::string set_managed_block(std::string_view text, const Profile& profile,
                              const std::vector<std::string>& modules) {
  std::string block = fmt::format("{} (profile \"{}\"): managed by kvmprov, do not edit\n",
                                  kBlockBegin, profile.name);
  for (const auto& m : modules) block += m + "\n";
  block += std::string(kBlockEnd) + "\n";

  std::string out;
  if (auto span = find_block(text)) {
    // The first block is replaced in place; any later one (a copy made by hand) is stale.
    out.append(text.substr(0, span->begin));
    out += block;
    out += remove_managed_block(text.substr(span->end));
  } else {
    out.append(text);
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += block;
  }
  return out;
}

std::string remove_managed_block(std::string_view text) {
  std::string out;
  while (auto span = find_block(text)) {
    out.append(text.substr(0, span->begin));
    text.remove_prefix(span->end);
  }
  out.append(text);
  return out;
}

std::vector<std::string> duplicates_outside_block(std::string_view text,
                                                  const std::vector<std::string>& modules) {
  std::string outside = remove_managed_block(text);
  std::vector<std::string> dups;
  for_each_line(outside, [&](std::string_view line, size_t, size_t) {
    size_t start = line.find_first_not_of(" \t");
    if (start == std::string_view::npos || line[start] == '#') return true;
    std::string_view word = line.substr(start, line.find_first_of(" \t", start) - start);
    std::string name(word);
    std::replace(name.begin(), name.end(), '-', '_');
    if (std::find(modules.begin(), modules.end(), name) != modules.end() &&
        std::find(dups.begin(), dups.end(), name) == dups.end())
      dups.push_back(name);
    return true;
  });
  return dups;
}

}  // namespace kvmprov
