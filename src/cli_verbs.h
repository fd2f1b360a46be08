// SPDX-License-Identifier: MIT
// What each verb does once the command line is parsed (src/run_verbs.cc, src/run_check.cc). A verb
// prints nothing: its one-line messages go to main.cc as they happen, and its report comes back
// as text with the exit status.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli.h"
#include "facts.h"

namespace kvmprov {

// Where a verb's messages go as they happen, each said by main.cc as one line on stderr: a
// notice that the run waits for the lock cannot wait for the end of the run.
struct Messages {
  std::function<void(const std::string&)> error;
  std::function<void(const std::string&)> notice;  // no failure: where the run is, a wait
};

// A verb's result: its report for stdout, text for stderr as it is (a profile's errors, one per
// line, without the "kvmprov: " of a message) and the exit status.
struct VerbOutput {
  std::string out;
  std::string err;
  int status = 0;
};

VerbOutput run_version(const Options& o);
VerbOutput run_validate(const Options& o);
// VERB is plan or apply.
VerbOutput run_plan_or_apply(const Options& o, Verb verb, const Messages& say);
// Removes what kvmprov generated (its own files, its block in /etc/modules) and nothing else:
// modules stay loaded and groups stay, so running guests are not disturbed. With --dry-run it
// only says what it would remove.
VerbOutput run_reset(const Options& o, const Messages& say);
VerbOutput run_check_verb(const Options& o, const Messages& say);

// Applies each --fact KEY=VALUE of OVERRIDES to FACTS in turn; the first that cannot be applied,
// or whose key REFUSE objects to, stops it with the message to say.
std::optional<std::string> override_facts(
    Facts& facts, const std::vector<std::string>& overrides,
    const std::function<std::optional<std::string>(std::string_view key)>& refuse = {});

}  // namespace kvmprov
