// SPDX-License-Identifier: MIT
// Text of kvmprov's own files and of its block in /etc/modules; pure string work.
#include "persist.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "util/text.h"

namespace kvmprov {

namespace {

struct Span {
  size_t begin, end;  // [begin, end) of the whole block, including the end marker's newline
};

constexpr std::string_view kByteOrderMark = "\xef\xbb\xbf";

// Calls FN(line_without_newline, start, end_including_newline) for each line, until FN returns
// false.
template <class Fn>
void for_each_line(std::string_view text, Fn fn) {
  size_t start = 0;
  for (std::string_view line : lines(text)) {
    const size_t end = std::min(start + line.size() + 1, text.size());
    if (!fn(line, start, end)) return;
    start = end;
  }
}

// Whether LINE is MARKER, alone or followed by a blank, ignoring a CR at its end.
bool is_marker(std::string_view line, std::string_view marker) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (!line.starts_with(marker)) return false;
  return line.size() == marker.size() || line[marker.size()] == ' ' || line[marker.size()] == '\t';
}

Result<std::vector<Span>> find_blocks(std::string_view text) {
  std::vector<Span> spans;
  constexpr size_t kNone = std::string_view::npos;
  size_t begin = kNone;  // where the open block starts
  int begin_line = 0;
  int number = 0;
  std::optional<Error> error;
  for_each_line(text, [&](std::string_view line, size_t start, size_t end) {
    ++number;
    if (start == 0 && line.starts_with(kByteOrderMark)) {
      line.remove_prefix(kByteOrderMark.size());
      start = kByteOrderMark.size();
    }
    if (is_marker(line, kBlockBegin)) {
      if (begin != kNone) {
        error = Error{
            0,
            fmt::format(
                "kvmprov's block opened at line {} has no \"{}\" marker before the next \"{}\" at line {}; fix it by hand",
                begin_line, kBlockEnd, kBlockBegin, number)};
        return false;
      }
      begin = start;
      begin_line = number;
    } else if (is_marker(line, kBlockEnd)) {
      if (begin == kNone) {
        error = Error{
            0, fmt::format(
                   "\"{}\" at line {} closes no block (its \"{}\" line is missing); fix it by hand",
                   kBlockEnd, number, kBlockBegin)};
        return false;
      }
      spans.push_back(Span{begin, end});
      begin = kNone;
    }
    return true;
  });
  if (error) return *error;
  if (begin != kNone)
    return Error{
        0, fmt::format("kvmprov's block opened at line {} has no \"{}\" marker; fix it by hand",
                       begin_line, kBlockEnd)};
  return spans;
}

// TEXT without the SPANS (in order), and where the first one was, if any.
std::string without(std::string_view text, const std::vector<Span>& spans,
                    std::optional<size_t>* first = nullptr) {
  std::string out;
  size_t pos = 0;
  for (const Span& span : spans) {
    out.append(text.substr(pos, span.begin - pos));
    if (first && !*first) *first = out.size();
    pos = span.end;
  }
  out.append(text.substr(pos));
  return out;
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

Result<std::string> set_managed_block(std::string_view text, const Profile& profile,
                                      const std::vector<std::string>& modules) {
  auto spans = find_blocks(text);
  if (!spans) return spans.error();
  std::string block = fmt::format("{} (profile \"{}\"): managed by kvmprov, do not edit\n",
                                  kBlockBegin, profile.name);
  for (const auto& m : modules) block += m + "\n";
  block += std::string(kBlockEnd) + "\n";

  std::optional<size_t> first;
  std::string out = without(text, *spans, &first);
  if (first) {
    out.insert(*first, block);
  } else {
    if (!out.empty() && out.back() != '\n') out += '\n';
    out += block;
  }
  return out;
}

Result<std::string> remove_managed_block(std::string_view text) {
  auto spans = find_blocks(text);
  if (!spans) return spans.error();
  return without(text, *spans);
}

std::string managed_block_excerpt(std::string_view text) {
  auto spans = find_blocks(text);
  std::string out;
  if (!spans) return out;
  for (const Span& span : *spans) out.append(text.substr(span.begin, span.end - span.begin));
  return out;
}

std::vector<std::string> duplicates_outside_block(std::string_view text,
                                                  const std::vector<std::string>& modules) {
  auto outside_or = remove_managed_block(text);
  std::vector<std::string> dups;
  if (!outside_or) return dups;
  const std::string& outside = *outside_or;
  for_each_line(outside, [&](std::string_view line, size_t, size_t) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
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
