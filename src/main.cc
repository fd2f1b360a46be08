// SPDX-License-Identifier: MIT
// kvmprov's entry point: runs the verb the command line asks for (cli.cc parses it, the verbs are
// in run_*.cc) and is the only place that prints or exits.
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "cli.h"
#include "cli_output.h"
#include "cli_verbs.h"
#include "util/text.h"

namespace {

using namespace kvmprov;

// The first error writing to stdout; reported once, at the end (see finish).
int stdout_errno = 0;

void print(const std::string& s) {
  if (std::fwrite(s.data(), 1, s.size(), stdout) != s.size() && stdout_errno == 0)
    stdout_errno = errno != 0 ? errno : EIO;
}

// sd-daemon(3)'s priorities.
enum class Priority { error = 3, warning = 4, notice = 5 };

// One line on stderr; the host's bytes in S (paths, file content) are escaped, so they can
// neither split the line nor reach the terminal as control sequences.
void say(Priority priority, const std::string& s) {
  static const bool journal = is_journal(STDERR_FILENO);
  const std::string line =
      (journal ? fmt::format("<{}>", static_cast<int>(priority)) : std::string()) +
      "kvmprov: " + displayable(s) + "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void error(const std::string& s) {
  say(Priority::error, s);
}

// What the run found out and did about it, which is no failure: where it runs, a wait.
void notice(const std::string& s) {
  say(Priority::notice, s);
}

// STATUS, unless the output could not be written (a full disk, a closed pipe): a report that
// was lost is a failure, as in coreutils.
int finish(int status) {
  errno = 0;
  if (std::fflush(stdout) != 0 && stdout_errno == 0) stdout_errno = errno != 0 ? errno : EIO;
  if (stdout_errno == 0 && std::ferror(stdout)) stdout_errno = EIO;
  if (stdout_errno == 0) return status;
  error(std::string("write error: ") + std::strerror(stdout_errno));
  return kExitFailure;
}

// Writes what a verb returned: stderr's text as it is, then the report.
int emit(const VerbOutput& result) {
  std::fwrite(result.err.data(), 1, result.err.size(), stderr);
  print(result.out);
  return result.status;
}

int run(int argc, char** argv) {
  const CommandLine command = parse_command_line(argc, argv);
  for (const std::string& e : command.errors) error(e);
  print(command.out);
  if (command.status) return *command.status;
  const Options& o = command.options;
  const Messages messages{.error = error, .notice = notice};
  switch (command.verb) {
    case Verb::version:
      return emit(run_version(o));
    case Verb::validate:
      return emit(run_validate(o));
    case Verb::check:
      return emit(run_check_verb(o, messages));
    case Verb::plan:
    case Verb::apply:
      return emit(run_plan_or_apply(o, command.verb, messages));
    case Verb::reset:
      return emit(run_reset(o, messages));
    case Verb::help:
      break;  // answered by parse_command_line
  }
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // Nothing may end the process with an uncaught exception (an abort, a core, and a report the
  // caller never sees): whatever escapes is said in one line and is a failure.
  try {
    return finish(run(argc, argv));
  } catch (const std::exception& e) {
    error(std::string("internal error: ") + e.what());
  } catch (...) {
    error("internal error: an unknown exception");
  }
  return finish(kExitFailure);
}
