// SPDX-License-Identifier: MIT
// check's report as text (one line per check, a hint below it, the verdict last) and as JSON.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "check.h"
#include "util/text.h"

namespace kvmprov {

std::string render_check(const CheckReport& r, const RenderOptions& o) {
  std::string out;
  for (const auto& item : r.items) {
    if (o.quiet && item.state != CheckState::fail) continue;
    const char* color = "";
    if (o.color)
      color = item.state == CheckState::pass   ? "\033[32m"
              : item.state == CheckState::warn ? "\033[33m"
              : item.state == CheckState::fail ? "\033[31m"
                                               : "\033[36m";
    // Details quote the host (a log's path, a CPU model name): escaped, one line each.
    out += journal_prefix(o, item.state == CheckState::fail, item.state == CheckState::warn);
    out += fmt::format("{}{}{} {}: {}\n", color, check_state_name(item.state),
                       o.color ? "\033[0m" : "", item.title, displayable(item.detail));
    if (!item.hint.empty()) out += fmt::format("     hint: {}\n", displayable(item.hint));
  }
  out += journal_prefix(o, !r.verdict.usable, false);
  out += fmt::format("verdict: {} ({}): {}; virt_type={}\n",
                     r.verdict.usable ? "usable" : "not usable", r.verdict.reason,
                     displayable(r.verdict.advice), r.verdict.virt_type);
  return out;
}

nlohmann::json check_json(const CheckReport& r) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& i : r.items)
    items.push_back({{"id", i.id},
                     {"title", i.title},
                     {"state", check_state_name(i.state)},
                     {"detail", i.detail},
                     {"hint", i.hint}});
  return {{"format", kJsonFormat},
          {"container", r.container.empty() ? nlohmann::json() : nlohmann::json(r.container)},
          {"checks", items},
          {"verdict",
           {{"usable", r.verdict.usable},
            {"reason", r.verdict.reason},
            {"advice", r.verdict.advice},
            {"virt_type", r.verdict.virt_type},
            {"exit_status", r.verdict.usable ? 0 : 1}}}};
}

}  // namespace kvmprov
