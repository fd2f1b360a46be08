// SPDX-License-Identifier: MIT
// Rendering of plan/apply results: human text, JSON, and the exit status.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "action.h"
#include "apply.h"
#include "facts.h"
#include "profile.h"

namespace kvmprov {

struct RunReport {
  std::string verb;      // "plan", "apply" or "reset"
  bool dry_run = false;  // the actions were planned, not carried out
  const Profile* profile = nullptr;
  const Facts* facts = nullptr;
  std::vector<Action> actions;
};

struct RenderOptions {
  bool color = false;
  bool quiet = false;  // only failures and pending items, and the summary
  // Lines for the journal (JOURNAL_STREAM): sd-daemon's priority before each line, <3> for a
  // failure (a failed action or FAIL item, a summary or verdict saying so), <4> for a pending
  // action or WARN item; other lines take journald's default.
  bool journal = false;
};

// The sd-daemon prefix for a line of priority 3 (error) or 4 (warning) under OPTIONS.journal.
inline const char* journal_prefix(const RenderOptions& options, bool error, bool warning) {
  if (!options.journal) return "";
  return error ? "<3>" : warning ? "<4>" : "";
}

std::string render_text(const RunReport& report, const RenderOptions& options);
// The "format" every JSON document kvmprov prints carries, as do the schemas in schema/: keys may
// be added within a format; one that changes meaning or goes away bumps it.
inline constexpr int kJsonFormat = 1;
nlohmann::json facts_json(const Facts& facts);
nlohmann::json report_json(const RunReport& report);

// J as indented JSON text ending in a newline, whatever bytes its strings hold: every key and
// value is made valid UTF-8 first (see valid_utf8), so the output always parses.
std::string json_text(nlohmann::json j);

// Exit status of plan, apply and reset (kvmprov(8), EXIT STATUS). Plain: 1 when an action failed
// or, in a plan, would fail; else 0. Detailed (Puppet's convention): 2 = changes (in a plan, also
// pending items), 4 = failures, 6 = both, 0 = neither.
int exit_status(const RunReport& report, bool detailed);

}  // namespace kvmprov
