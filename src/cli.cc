// SPDX-License-Identifier: MIT
// The command line in CLI11: kvmprov's options and verbs, which verb takes which global option,
// and the checks of option values. Nothing here prints: the help pages and usage errors go back
// to main.cc as text.
#include "cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string_view>

#include "util/text.h"

namespace kvmprov {
namespace {

// Where a global option can be used: a verb, or reset with --dry-run, which takes no lock.
enum Use : unsigned {
  kCheck = 1u << 0,
  kPlan = 1u << 1,
  kApply = 1u << 2,
  kValidate = 1u << 3,
  kReset = 1u << 4,
  kResetDryRun = 1u << 5,
  kVersion = 1u << 6,
  kHelp = 1u << 7,
};
constexpr unsigned kEveryUse = (1u << 8) - 1;

// Which verbs take each global option. Any other use is a usage error rather than silently
// ignored (check --profile X would look as if X mattered). Each verb's --help lists its own
// options from here; README and kvmprov(8) carry the same table, and cli_test runs every cell.
struct OptionUse {
  std::string_view option;
  unsigned uses;
};
constexpr OptionUse kOptionUses[] = {
    {"--profile", kPlan | kApply},
    {"--root", kPlan | kApply | kReset | kResetDryRun},
    {"--live", kCheck | kPlan | kApply | kReset | kResetDryRun},
    {"--json", kEveryUse & ~kHelp},
    {"--quiet", kEveryUse & ~(kVersion | kHelp)},
    {"--no-color", kEveryUse},  // a preference of the caller's terminal, as NO_COLOR is
    {"--color", kEveryUse},
    {"--fact", kCheck | kPlan | kApply},
    {"--detailed-exitcodes", kPlan | kApply | kReset | kResetDryRun},
    {"--allow-reload", kPlan | kApply},
    {"--lock-timeout", kApply | kReset},
};

constexpr std::string_view kVerbNames[] = {"check", "plan",    "apply", "validate",
                                           "reset", "version", "help"};

std::string_view use_name(Use use) {
  switch (use) {
    case kCheck:
      return "check";
    case kPlan:
      return "plan";
    case kApply:
      return "apply";
    case kValidate:
      return "validate";
    case kReset:
      return "reset";
    case kResetDryRun:
      return "reset --dry-run";
    case kVersion:
      return "version";
    case kHelp:
      return "help";
  }
  return "";
}

// "a, b and c".
std::string list_words(const std::vector<std::string>& words, std::string_view last_sep) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? std::string(last_sep) : std::string(", ");
    out += words[i];
  }
  return out;
}

// USES as a reader says it: "plan, apply and reset", "apply and reset without --dry-run".
std::string uses_text(unsigned uses) {
  std::vector<std::string> words;
  for (unsigned bit = 1; bit <= kHelp; bit <<= 1) {
    if (!(uses & bit)) continue;
    if (bit == kReset) {
      words.emplace_back(uses & kResetDryRun ? "reset" : "reset without --dry-run");
    } else if (bit != kResetDryRun || !(uses & kReset)) {
      words.emplace_back(use_name(static_cast<Use>(bit)));
    }
  }
  return list_words(words, " and ");
}

// The message for a word that is not a verb, with a hint when it looks like a typo of one.
std::string unknown_verb(const std::string& word) {
  const std::vector<std::string_view> verbs(std::begin(kVerbNames), std::end(kVerbNames));
  if (auto near = closest_word(word, verbs))
    return "unknown verb \"" + word + "\" (did you mean \"" + std::string(*near) + "\"?)";
  std::vector<std::string> names(std::begin(kVerbNames), std::end(kVerbNames));
  return "unknown verb \"" + word + "\": expected " + list_words(names, " or ") +
         " (see kvmprov --help)";
}

// Seconds as given to --lock-timeout: a finite number >= 0 (fractions allowed). A value too large
// to count in milliseconds waits as good as for ever.
std::optional<std::chrono::milliseconds> parse_seconds(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789.eE+-") != std::string::npos)
    return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double seconds = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(seconds) || seconds < 0)
    return errno == ERANGE && seconds > 0 ? std::optional(std::chrono::milliseconds::max())
                                          : std::nullopt;
  constexpr double kMaxMs = 1e15;  // about 31,700 years
  const double ms = seconds * 1000;
  return std::chrono::milliseconds(ms >= kMaxMs ? static_cast<long long>(kMaxMs)
                                                : std::llround(ms));
}

// CLI11's check: "" when TEXT is a valid --lock-timeout, else why not.
std::string lock_timeout_problem(const std::string& text) {
  if (parse_seconds(text)) return "";
  return "\"" + displayable(text) + "\" is not a number of seconds >= 0 (such as 60 or 0.5)";
}

// Why --root DIR cannot be used, or nullopt. An empty DIR is what a script's unset variable
// gives, and a DIR that is "/" (or a link to it) is the running system: both would provision the
// build host itself instead of an image.
std::optional<std::string> check_root(const Options& o) {
  if (!o.root_given) return std::nullopt;
  if (o.live)
    return "--live and --root exclude each other: --root DIR acts on an image, --live on this host";
  const std::string& root = o.root;
  if (root.empty())
    return "--root is empty: give the image's directory, or drop --root to act on the running system";
  std::error_code ec;
  const auto status = std::filesystem::status(root, ec);
  if (ec) return "--root \"" + root + "\": " + ec.message();
  if (!std::filesystem::is_directory(status)) return "--root \"" + root + "\": not a directory";
  if (std::filesystem::canonical(root, ec) == "/" && !ec)
    return "--root \"" + root +
           "\" is the running system's root directory: drop --root to provision this host";
  return std::nullopt;
}

// A verb's CLI11 subcommand, and the uses of global options it stands for.
struct VerbApp {
  CLI::App* app;  // null when the command line does not name the verb (CommandWords)
  Verb verb;
  unsigned uses;
};

// What CLI11 fills in: the options, and what only the parser needs.
struct Parsed {
  Options o;
  bool version_flag = false;
  std::string help_verb;
};

// Whether an argument in ARGV may ask for a help page (--help, --help-all, -h alone or among
// other short flags, the help verb), whose pages list every verb.
bool may_ask_for_help(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.find("help") != std::string_view::npos) return true;
    if (arg.size() > 1 && arg[0] == '-' && arg[1] != '-' && arg.find('h') != std::string_view::npos)
      return true;
  }
  return false;
}

// The words of the command line, as far as deciding which verbs and global options to build: a
// run is spared building those its command line cannot give (CLI11 builds a parser for each);
// where it may ask for help, whose pages list them all, every one is built.
struct CommandWords {
  int argc;
  char** argv;
  bool help;  // may_ask_for_help
  // VERB is a word of its own: CLI11 chooses a verb only by its exact name.
  bool names_verb(std::string_view verb) const {
    return help ||
           std::any_of(argv + 1, argv + argc, [verb](const char* arg) { return arg == verb; });
  }
  // NAME comes as "NAME VALUE" or "NAME=VALUE", the only forms CLI11 takes a long option in.
  bool gives_option(std::string_view name) const {
    return help || std::any_of(argv + 1, argv + argc, [name](std::string_view arg) {
             return arg.starts_with(name) && (arg.size() == name.size() || arg[name.size()] == '=');
           });
  }
};

// The program's description, the footer and the global options WORDS may give.
void add_global_options(CLI::App& app, Parsed& p, const CommandWords& words) {
  Options& o = p.o;
  app.require_subcommand(0, 1);
  app.fallthrough();
  app.set_help_all_flag("--help-all", "Print the help of every verb");
  app.footer(
      "Not every verb takes every option: each verb's --help lists its own (kvmprov help VERB).\n"
      "Exit status: 0 success; 1 failure (plan: a predicted one); 64 usage error; 65 invalid profile. With --detailed-exitcodes: 0 nothing changed, 2 changes (plan: or pending items), 4 failures, 6 both. check: 0 usable, 1 not usable. The full tables are in kvmprov(8); see also kvmprov.yaml(5).");
  app.add_flag("-V,--version", p.version_flag, "Print the version, as the version verb does");
  if (words.gives_option("--profile"))
    app.add_option("--profile", o.profile, "Host profile (default: the built-in default profile)")
        ->type_name("FILE");
  if (words.gives_option("--root"))
    app.add_option("--root", o.root,
                   "Operate on the system image below DIR; kernel actions are skipped")
        ->type_name("DIR");
  if (words.gives_option("--live"))
    app.add_flag("--live", o.live,
                 "Act on the running system even where / looks like a chroot or container");
  if (words.gives_option("--json")) app.add_flag("--json", o.json, "Print a JSON report");
  if (words.gives_option("--quiet"))
    app.add_flag("--quiet", o.quiet, "Print only failures, pending items and the summary");
  CLI::Option* no_color = nullptr;
  if (words.gives_option("--no-color"))
    no_color = app.add_flag("--no-color", o.no_color,
                            "No colors (as --color=never; also when NO_COLOR is set)");
  if (words.gives_option("--color")) {
    auto* color =
        app.add_option(
               "--color", o.color,
               "Colors: always, never, or auto (the default: on a terminal, unless NO_COLOR is set or TERM is dumb)")
            ->type_name("WHEN")
            ->check(CLI::IsMember({"always", "never", "auto"}));
    if (no_color) color->excludes(no_color);
  }
  if (words.gives_option("--fact"))
    app.add_option("--fact", o.facts, "Override an observed fact, e.g. cpu_vendor=amd (repeatable)")
        ->type_name("KEY=VALUE");
  if (words.gives_option("--detailed-exitcodes"))
    app.add_flag("--detailed-exitcodes", o.detailed_exitcodes,
                 "Exit 2 for changes, 4 for failures, 6 for both");
  if (words.gives_option("--allow-reload"))
    app.add_flag("--allow-reload", o.allow_reload,
                 "Reload a loaded module whose options differ, when no guest uses it");
  if (words.gives_option("--lock-timeout"))
    app.add_option("--lock-timeout", o.lock_timeout_text,
                   "Seconds apply and reset wait for another run's lock (default 60)")
        ->type_name("SECONDS")
        ->check([](const std::string& text) { return lock_timeout_problem(text); });
}

// A verb's option whose empty value is refused with IF_EMPTY.
void add_nonempty_option(CLI::App& verb, const std::string& name, std::string& value,
                         const std::string& type, const std::string& description,
                         const std::string& if_empty) {
  verb.add_option(name, value, description)
      ->type_name(type)
      ->check([if_empty](const std::string& text) { return text.empty() ? if_empty : ""; });
}

// Each verb's subcommand and its own options.
CLI::App* add_check(CLI::App& app, Parsed& p) {
  auto* check = app.add_subcommand("check", "Tell whether this host can run KVM guests, and why");
  // An empty value is what a script's unset variable gives ("$SUDO_USER" without sudo): refused,
  // never taken for the default.
  add_nonempty_option(
      *check, "--user", p.o.check_user, "NAME",
      "Whose access to /dev/kvm decides (default: the user running kvmprov)",
      "the name is empty (an unset variable such as $SUDO_USER gives that): name an account, or drop --user to ask about the user running kvmprov");
  add_nonempty_option(
      *check, "--log", p.o.check_log, "FILE",
      "nova-compute log to search for \"no supported architecture for os type 'hvm'\", a file of any size or a pipe such as /dev/stdin (default: /var/log/nova/nova-compute.log when it exists)",
      "the file name is empty: name the log, or drop --log for /var/log/nova/nova-compute.log");
  return check;
}

CLI::App* add_plan(CLI::App& app, Parsed&) {
  return app.add_subcommand("plan", "Show what apply would change; change nothing");
}

CLI::App* add_apply(CLI::App& app, Parsed&) {
  return app.add_subcommand("apply", "Converge the host to the profile");
}

CLI::App* add_validate(CLI::App& app, Parsed& p) {
  auto* validate = app.add_subcommand("validate", "Check a profile file and report every error");
  validate->add_option("FILE", p.o.validate_file, "Profile to validate")->required();
  return validate;
}

CLI::App* add_reset(CLI::App& app, Parsed& p) {
  auto* reset = app.add_subcommand(
      "reset", "Remove the files kvmprov wrote; leave modules loaded and groups in place");
  reset->add_flag("--dry-run", p.o.reset_dry_run, "Show what reset would remove; change nothing");
  return reset;
}

CLI::App* add_version(CLI::App& app, Parsed&) {
  return app.add_subcommand("version", "Print the version");
}

CLI::App* add_help(CLI::App& app, Parsed& p) {
  auto* help = app.add_subcommand("help", "Print the help of kvmprov, or of VERB");
  help->add_option("VERB", p.help_verb, "The verb to explain");
  return help;
}

struct VerbRule {
  std::string_view name;
  Verb verb;
  unsigned uses;
  CLI::App* (*add)(CLI::App& app, Parsed& p);
};
constexpr VerbRule kVerbRules[] = {{"check", Verb::check, kCheck, add_check},
                                   {"plan", Verb::plan, kPlan, add_plan},
                                   {"apply", Verb::apply, kApply, add_apply},
                                   {"validate", Verb::validate, kValidate, add_validate},
                                   {"reset", Verb::reset, kReset | kResetDryRun, add_reset},
                                   {"version", Verb::version, kVersion, add_version},
                                   {"help", Verb::help, kHelp, add_help}};

// The verbs, each with its subcommand when WORDS name it (the app of the others is null): a verb
// the command line does not name is never chosen.
std::vector<VerbApp> add_verbs(CLI::App& app, Parsed& p, const CommandWords& words) {
  std::vector<VerbApp> verbs;
  for (const VerbRule& rule : kVerbRules)
    verbs.push_back(
        {words.names_verb(rule.name) ? rule.add(app, p) : nullptr, rule.verb, rule.uses});
  return verbs;
}

// The global options VERB (standing for USES) takes, for its --help.
std::string verb_globals(const CLI::App& app, Verb verb, unsigned uses) {
  std::string globals = "Global options (before or after the verb):\n";
  for (const auto& [name, option_uses] : kOptionUses) {
    if (!(option_uses & uses)) continue;
    const CLI::Option* opt = app.get_option_no_throw(std::string(name));
    if (!opt) continue;
    std::string shown(name);
    if (opt->get_expected_min() > 0) shown += " " + opt->get_type_name();
    if (name == "--lock-timeout" && verb == Verb::reset) shown += " (not with --dry-run)";
    globals += "  " + shown + std::string(shown.size() < 28 ? 28 - shown.size() : 1, ' ') +
               opt->get_description() + "\n";
  }
  return globals;
}

// Per-verb --help lists the global options the verb takes, since they are what it is run with.
// The text is made only when a help page is: a run that prints none is spared it. CLI11 puts the
// callback's text, a newline and the footer the verb inherited from APP together.
void add_verb_footers(const CLI::App& app, const std::vector<VerbApp>& verbs) {
  for (const auto& [verb, v, uses] : verbs)
    if (verb) verb->footer([&app, v = v, uses = uses] { return verb_globals(app, v, uses); });
}

CommandLine usage_error(std::vector<std::string> errors) {
  return {.status = kExitUsage, .errors = std::move(errors)};
}

// The help CLI11 was asked for (--help, --help-all), for main.cc to print.
CommandLine help_page(const CLI::App& app, const CLI::Error& e) {
  std::ostringstream out, err;  // exit() writes a help page to OUT only
  const int status = app.exit(e, out, err);
  return {.status = status, .out = out.str()};
}

// The usage error for a command line CLI11 refused.
std::string parse_error(const CLI::App& app, const CLI::ParseError& e) {
  // A word where the verb belongs is a misspelt verb more often than a stray argument.
  if (app.get_subcommands().empty()) {
    for (const std::string& word : app.remaining()) {
      if (word.empty() || word.front() != '-') return unknown_verb(word);
    }
  }
  return e.what() + std::string(" (see kvmprov --help)");
}

// One error for each global option given that USE does not take.
std::vector<std::string> refused_options(const CLI::App& app, unsigned use) {
  std::vector<std::string> errors;
  for (const auto& [name, option_uses] : kOptionUses) {
    const CLI::Option* given = app.get_option_no_throw(std::string(name));
    if (option_uses & use || !given || given->count() == 0) continue;
    errors.push_back(std::string(use_name(static_cast<Use>(use))) + " does not take " +
                     std::string(name) + " (only " + uses_text(option_uses) + " do): drop it");
  }
  return errors;
}

// kvmprov help [VERB].
CommandLine help_verb(const CLI::App& app, const std::string& verb) {
  if (verb.empty()) {
    // app.help() would show the help of the verb parsed, which is "help" itself.
    return {.status = 0,
            .out = app.get_formatter()->make_help(&app, "kvmprov", CLI::AppFormatMode::Normal)};
  }
  if (std::find(std::begin(kVerbNames), std::end(kVerbNames), verb) == std::end(kVerbNames))
    return usage_error({unknown_verb(verb)});
  return {.status = 0, .out = app.get_subcommand(verb)->help("kvmprov")};
}

// The verb CLI11 found, and its options checked: which verb takes them, --lock-timeout and
// --root.
CommandLine command(const CLI::App& app, const std::vector<VerbApp>& verbs, Parsed p) {
  const CLI::App* chosen = app.get_subcommands().empty() ? nullptr : app.get_subcommands().front();
  if (p.version_flag && chosen && chosen->get_name() != "version")
    return usage_error({"--version is the version verb: give it without " + chosen->get_name()});
  const auto found = std::find_if(verbs.begin(), verbs.end(), [&](const VerbApp& v) {
    return p.version_flag ? v.verb == Verb::version : v.app && v.app == chosen;
  });
  if (found == verbs.end()) {
    std::vector<std::string> names(std::begin(kVerbNames), std::end(kVerbNames));
    return usage_error(
        {"a verb is required: " + list_words(names, " or ") + " (see kvmprov --help)"});
  }
  unsigned use = found->uses;
  if (found->verb == Verb::reset) use = p.o.reset_dry_run ? kResetDryRun : kReset;
  if (auto refused = refused_options(app, use); !refused.empty())
    return usage_error(std::move(refused));

  Options& o = p.o;
  o.lock_timeout = parse_seconds(o.lock_timeout_text).value_or(o.lock_timeout);
  if (found->verb == Verb::help) return help_verb(app, p.help_verb);
  const CLI::Option* root = app.get_option_no_throw("--root");
  o.root_given = root && root->count() > 0;
  if (auto bad = check_root(o)) return usage_error({*bad});
  return {.verb = found->verb, .options = std::move(o)};
}

}  // namespace

CommandLine parse_command_line(int argc, char** argv) {
  CLI::App app{
      "kvmprov: make this host a correctly provisioned KVM host, idempotently, and tell whether KVM can be used here.",
      "kvmprov"};
  Parsed p;
  const CommandWords words{.argc = argc, .argv = argv, .help = may_ask_for_help(argc, argv)};
  add_global_options(app, p, words);
  const std::vector<VerbApp> verbs = add_verbs(app, p, words);
  add_verb_footers(app, verbs);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return help_page(app, e);
  } catch (const CLI::CallForAllHelp& e) {
    return help_page(app, e);
  } catch (const CLI::ParseError& e) {
    return usage_error({parse_error(app, e)});
  }
  return command(app, verbs, std::move(p));
}

int run_failure(const Options& o) {
  return o.detailed_exitcodes ? kExitDetailedFailure : kExitFailure;
}

}  // namespace kvmprov
