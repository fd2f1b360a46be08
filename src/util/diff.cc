// SPDX-License-Identifier: MIT
// A unified diff of two small texts (most are a few dozen lines).
#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "util/diff.h"

namespace kvmprov {

namespace {

std::vector<std::string> split_lines(const std::optional<std::string>& text) {
  std::vector<std::string> lines;
  if (!text) return lines;
  size_t pos = 0;
  while (pos < text->size()) {
    size_t nl = text->find('\n', pos);
    if (nl == std::string::npos) {
      lines.push_back(text->substr(pos) + "\n\\ No newline at end of file");
      break;
    }
    lines.push_back(text->substr(pos, nl - pos));
    pos = nl + 1;
  }
  return lines;
}

struct Edit {
  char op;      // ' ', '-', '+'
  size_t a, b;  // line indexes in before/after (of the line, or where it would be)
};

// Myers' O(ND) shortest edit script: linear in the file for few changes (a package's nova.conf is
// ten thousand lines and a plan changes a handful). nullopt past kMaxEdits edits, which keeps
// the saved frontiers (O(D^2)) small.
std::optional<std::vector<Edit>> myers_script(const std::vector<std::string>& a,
                                              const std::vector<std::string>& b) {
  constexpr long kMaxEdits = 1000;
  const long n = static_cast<long>(a.size()), m = static_cast<long>(b.size());
  const long max = std::min(n + m, kMaxEdits);
  std::vector<long> v(static_cast<size_t>(2 * (n + m) + 3), 0);
  const long off = n + m + 1;
  auto at = [&](long k) -> long& { return v[static_cast<size_t>(k + off)]; };
  std::vector<std::vector<long>> trace;  // frontier before step d, for k in [-d-1, d+1]
  for (long d = 0; d <= max; ++d) {
    std::vector<long> snap;
    for (long k = -d - 1; k <= d + 1; ++k) snap.push_back(at(k));
    trace.push_back(std::move(snap));
    for (long k = -d; k <= d; k += 2) {
      long x = (k == -d || (k != d && at(k - 1) < at(k + 1))) ? at(k + 1) : at(k - 1) + 1;
      long y = x - k;
      while (x < n && y < m && a[static_cast<size_t>(x)] == b[static_cast<size_t>(y)]) ++x, ++y;
      at(k) = x;
      if (x < n || y < m) continue;
      std::vector<Edit> edits;
      for (long e = d; e >= 0; --e) {
        const std::vector<long>& t = trace[static_cast<size_t>(e)];
        auto prev = [&](long kk) { return t[static_cast<size_t>(kk + e + 1)]; };
        const long kk = x - y;
        const long prev_k =
            (kk == -e || (kk != e && prev(kk - 1) < prev(kk + 1))) ? kk + 1 : kk - 1;
        const long prev_x = e == 0 ? 0 : prev(prev_k);
        const long prev_y = e == 0 ? 0 : prev_x - prev_k;
        while (x > prev_x && y > prev_y) {
          --x, --y;
          edits.push_back({' ', static_cast<size_t>(x), static_cast<size_t>(y)});
        }
        if (e > 0) {
          edits.push_back(
              {x == prev_x ? '+' : '-', static_cast<size_t>(prev_x), static_cast<size_t>(prev_y)});
        }
        x = prev_x;
        y = prev_y;
      }
      std::reverse(edits.begin(), edits.end());
      return edits;
    }
  }
  return std::nullopt;
}

// The shortest edit script, or, past kMaxEdits edits (a rewrite, not an edit), "remove all, add
// all".
std::vector<Edit> edit_script(const std::vector<std::string>& a,
                              const std::vector<std::string>& b) {
  if (auto few = myers_script(a, b)) return *few;
  std::vector<Edit> edits;
  for (size_t i = 0; i < a.size(); ++i) edits.push_back({'-', i, 0});
  for (size_t j = 0; j < b.size(); ++j) edits.push_back({'+', a.size(), j});
  return edits;
}

}  // namespace

std::string unified_diff(const std::string& path, const std::optional<std::string>& before,
                         const std::optional<std::string>& after) {
  if (before == after) return "";
  auto a = split_lines(before);
  auto b = split_lines(after);
  auto edits = edit_script(a, b);
  constexpr size_t kContext = 3;

  std::string out = fmt::format("--- {}\n+++ {}\n", before ? "a" + path : "/dev/null",
                                after ? "b" + path : "/dev/null");
  size_t k = 0;
  while (k < edits.size()) {
    // Find the next change, then grow a hunk around it until changes are far enough apart.
    while (k < edits.size() && edits[k].op == ' ') ++k;
    if (k == edits.size()) break;
    size_t start = k >= kContext ? k - kContext : 0;
    size_t end = k;
    size_t quiet = 0;
    for (size_t x = k; x < edits.size(); ++x) {
      if (edits[x].op == ' ') {
        if (++quiet > 2 * kContext) break;
      } else {
        quiet = 0;
        end = x;
      }
    }
    size_t stop = std::min(edits.size(), end + 1 + kContext);
    size_t a_start = edits[start].a, b_start = edits[start].b, a_len = 0, b_len = 0;
    std::string body;
    for (size_t x = start; x < stop; ++x) {
      const Edit& e = edits[x];
      const std::string& line = e.op == '+' ? b[e.b] : a[e.a];
      body += e.op + line + "\n";
      if (e.op != '+') ++a_len;
      if (e.op != '-') ++b_len;
    }
    out += fmt::format("@@ -{},{} +{},{} @@\n", a_len ? a_start + 1 : a_start, a_len,
                       b_len ? b_start + 1 : b_start, b_len);
    out += body;
    k = stop;
  }
  return out;
}

}  // namespace kvmprov
