// SPDX-License-Identifier: MIT
// Small text helpers shared by the parsers.
#include "util/text.h"

#include <algorithm>
#include <vector>

namespace kvmprov {

std::string_view trim(std::string_view s) {
  constexpr std::string_view kBlanks = " \t\r\n\v\f";
  const auto first = s.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(kBlanks) - first + 1);
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  // Without a branch, so that the compiler does many bytes at a time: a kernel log is large.
  for (char& c : out)
    c = static_cast<char>(c | (static_cast<unsigned char>(c - 'A') < 26 ? 0x20 : 0));
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t width = b.size() + 1;
  std::vector<std::size_t> d((a.size() + 1) * width);
  auto at = [&](std::size_t i, std::size_t j) -> std::size_t& { return d[i * width + j]; };
  for (std::size_t i = 0; i <= a.size(); ++i) at(i, 0) = i;
  for (std::size_t j = 0; j <= b.size(); ++j) at(0, j) = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      at(i, j) = std::min({at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        at(i, j) = std::min(at(i, j), at(i - 2, j - 2) + 1);
    }
  }
  return at(a.size(), b.size());
}

std::optional<std::string_view> closest_word(std::string_view word,
                                             const std::vector<std::string_view>& candidates) {
  if (word.size() > 64) return std::nullopt;  // bounds the quadratic distance computation
  std::optional<std::string_view> best;
  std::size_t best_distance = 0;
  for (std::string_view c : candidates) {
    const std::size_t limit = std::clamp<std::size_t>(c.size() / 3, 1, 2);
    const std::size_t d = edit_distance(word, c);
    if (d <= limit && (!best || d < best_distance)) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

namespace {

// The length of the well-formed UTF-8 sequence at the start of S (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF), or 0 when it does not start with one.
std::size_t utf8_sequence(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    len = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 == 0xe0) lo = 0xa0;  // overlong
    if (b0 == 0xed) hi = 0x9f;  // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 == 0xf0) lo = 0x90;  // overlong
    if (b0 == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < len || byte(1) < lo || byte(1) > hi) return 0;
  for (std::size_t i = 2; i < len; ++i)
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  return len;
}

void append_hex_escape(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\x";
  out += kHex[c >> 4];
  out += kHex[c & 0xf];
}

std::string escape_bytes(std::string_view s, bool controls, bool keep_newlines) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    const std::size_t len = utf8_sequence(s);
    if (len == 0) {
      append_hex_escape(out, static_cast<unsigned char>(s.front()));
      s.remove_prefix(1);
      continue;
    }
    const auto c = static_cast<unsigned char>(s.front());
    const bool c0 = c < 0x20 && c != '\t' && !(keep_newlines && c == '\n');
    const bool c1 = len == 2 && c == 0xc2 && static_cast<unsigned char>(s[1]) < 0xa0;
    if (controls && (c0 || c == 0x7f || c1)) {
      for (std::size_t i = 0; i < len; ++i)
        append_hex_escape(out, static_cast<unsigned char>(s[i]));
    } else {
      out.append(s.substr(0, len));
    }
    s.remove_prefix(len);
  }
  return out;
}

}  // namespace

std::string valid_utf8(std::string_view s) {
  return escape_bytes(s, false, true);
}

std::string displayable(std::string_view s, bool keep_newlines) {
  return escape_bytes(s, true, keep_newlines);
}

std::string quote(std::string_view s, std::size_t max) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  const std::size_t n = std::min(s.size(), max);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c < 0x20 || c >= 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  if (n < s.size()) out += "...";
  return out;
}

std::string quote_path(std::string_view path) {
  return quote(path, path.size());
}

std::vector<std::string_view> lines(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const std::size_t nl = s.find('\n');
    if (nl == std::string_view::npos) {
      out.push_back(s);
      break;
    }
    out.push_back(s.substr(0, nl));
    s.remove_prefix(nl + 1);
  }
  return out;
}

std::string_view line_around(std::string_view s, std::size_t at) {
  const std::size_t newline = at == 0 ? std::string_view::npos : s.rfind('\n', at - 1);
  const std::size_t start = newline == std::string_view::npos ? 0 : newline + 1;
  const std::size_t end = s.find('\n', at);
  return s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
}

}  // namespace kvmprov
