// SPDX-License-Identifier: MIT
// The command line's model: kvmprov's verbs and options, and argv parsed into a command to run or
// into what to print instead (a help page, usage errors), so that main.cc alone prints.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace kvmprov {

inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 64;
inline constexpr int kExitBadProfile = 65;
// With --detailed-exitcodes a failure is 4, as Puppet's; 1 is left to an internal error or a
// report that could not be written.
inline constexpr int kExitDetailedFailure = 4;

struct Options {
  std::string profile;
  std::string root = "/";
  bool root_given = false;  // --root DIR (checked: a real directory, not the running system's /)
  bool live = false;        // --live: "/" is the running system, whatever detect_scope says
  bool json = false;
  bool quiet = false;
  bool no_color = false;
  std::string color = "auto";  // --color WHEN: always, never, auto
  std::vector<std::string> facts;
  bool detailed_exitcodes = false;
  bool allow_reload = false;
  std::string lock_timeout_text = "60";
  std::chrono::milliseconds lock_timeout{60000};
  std::string validate_file;
  std::string check_user;
  std::string check_log;
  bool reset_dry_run = false;
};

enum class Verb { check, plan, apply, validate, reset, version, help };

// What the command line asks for. With STATUS set there is nothing to run: OUT goes to stdout,
// each of ERRORS is a one-line message on stderr, and the exit status is *STATUS.
struct CommandLine {
  Verb verb = Verb::help;
  Options options;
  std::optional<int> status;
  std::string out;
  std::vector<std::string> errors;
};

// Parses ARGV and checks every option that can be checked before a verb runs: which verb takes
// it, --lock-timeout, --root and --live. help is answered here.
CommandLine parse_command_line(int argc, char** argv);

// The status of a run of apply or reset that failed before any action: the lock not had, or not
// root.
int run_failure(const Options& o);

}  // namespace kvmprov
