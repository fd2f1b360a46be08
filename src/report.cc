// SPDX-License-Identifier: MIT
// Human-readable plan and apply output, and exit statuses.
#include "report.h"

#include <fmt/format.h>

#include "util/diff.h"
#include "util/text.h"

namespace kvmprov {

namespace {

constexpr const char* kReset = "\033[0m";

// How each status looks: its color on a terminal, and its marker in a plan ('\0' for a change,
// which its kind marks).
struct StatusLook {
  Status status;
  const char* color;
  char marker;
};
constexpr StatusLook kLooks[] = {
    {Status::unchanged, "", '='},       {Status::changed, "\033[32m", '\0'},
    {Status::failed, "\033[31m", '!'},  {Status::pending, "\033[33m", '?'},
    {Status::skipped, "\033[36m", '.'},
};

const StatusLook& look_of(Status s) {
  for (const StatusLook& look : kLooks)
    if (look.status == s) return look;
  return kLooks[0];
}

// The plan's diff-like marker of an action.
char plan_marker(const Action& a) {
  if (const char marker = look_of(a.status).marker) return marker;
  if (a.kind == ActionKind::remove_file) return '-';
  if (a.kind == ActionKind::write_file) return a.before ? '~' : '+';
  const bool in_place =
      a.kind == ActionKind::reload_module || a.kind == ActionKind::node_permissions;
  return in_place ? '~' : '+';
}

std::string summary_line(const RunReport& r) {
  Summary s = summarize(r.actions);
  std::string line;
  if (r.dry_run)
    line = fmt::format("{} to change, {} unchanged, {} failing, {} pending", s.changed, s.unchanged,
                       s.failed, s.pending);
  else
    line = fmt::format("{} changed, {} unchanged, {} failed, {} pending", s.changed, s.unchanged,
                       s.failed, s.pending);
  if (s.skipped) line += fmt::format(", {} skipped", s.skipped);
  return line;
}

}  // namespace

std::string render_text(const RunReport& r, const RenderOptions& o) {
  std::string out;
  const bool plan = r.dry_run;
  for (const auto& a : r.actions) {
    if (o.quiet && a.status != Status::failed && a.status != Status::pending) continue;
    const char* c = o.color ? look_of(a.status).color : "";
    const char* reset = o.color && *c ? kReset : "";
    std::string head =
        plan ? std::string(1, plan_marker(a)) : fmt::format("{:<9}", status_name(a.status));
    // The host's bytes (paths, module names, file content) are escaped: they can neither split
    // a line nor reach the terminal as control sequences.
    out += journal_prefix(o, a.status == Status::failed, a.status == Status::pending);
    out += fmt::format("{}{} {} {}{}{}\n", c, head, action_kind_name(a.kind), displayable(a.target),
                       a.detail.empty() ? "" : ": " + displayable(a.detail), reset);
    if (plan && !o.quiet && a.status == Status::changed &&
        (a.kind == ActionKind::write_file || a.kind == ActionKind::remove_file))
      out += displayable(unified_diff(a.target, shown_before(a), shown_after(a)), true);
  }
  out += journal_prefix(o, summarize(r.actions).failed > 0, false);
  out += summary_line(r) + "\n";
  return out;
}

int exit_status(const RunReport& r, bool detailed) {
  Summary s = summarize(r.actions);
  // In a plan a pending item is a change still to be made (Puppet's "unless" must see it); after
  // apply it is one that could not be made, so it is not a change made.
  const bool changes = s.changed > 0 || (r.dry_run && s.pending > 0);
  if (detailed) return (changes ? 2 : 0) | (s.failed ? 4 : 0);
  return s.failed ? 1 : 0;
}

}  // namespace kvmprov
