// SPDX-License-Identifier: MIT
// Where kvmprov's output goes decides its form: a journal stream, a dpkg maintainer script's log
// or a terminal; read from the environment and the file descriptors, printed by main.cc.
#include "cli_output.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cstdlib>

#include "util/text.h"

namespace kvmprov {
namespace {

// Whether a Debian maintainer script runs kvmprov: its output lands in apt's and term.log, where
// each line must say whose it is.
bool under_dpkg() {
  const char* script = std::getenv("DPKG_MAINTSCRIPT_NAME");
  return script && *script;
}

// --color=always colours even a pipe; never, or --no-color, nowhere; auto (the default) only a
// terminal that can show it (TERM set and not "dumb"), unless NO_COLOR is set or dpkg runs us.
// JSON is never coloured.
bool use_color(const Options& o) {
  if (o.json || o.no_color || o.color == "never") return false;
  if (o.color == "always") return true;
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  return !(no_color && *no_color) && !under_dpkg() && term && *term &&
         std::string_view(term) != "dumb" && isatty(STDOUT_FILENO);
}

}  // namespace

bool is_journal(int fd) {
  const char* stream = std::getenv("JOURNAL_STREAM");
  struct stat st {};
  if (!stream || !*stream || ::fstat(fd, &st) != 0) return false;
  return std::string(stream) == fmt::format("{}:{}", static_cast<unsigned long long>(st.st_dev),
                                            static_cast<unsigned long long>(st.st_ino));
}

std::string for_the_log(std::string_view text) {
  if (!under_dpkg()) return std::string(text);
  std::string out;
  for (std::string_view line : lines(text)) {
    // A journal priority ("<3>") stays first, where journald reads it.
    const size_t at = line.size() >= 3 && line[0] == '<' && line[2] == '>' ? 3 : 0;
    out.append(line.substr(0, at)).append("kvmprov: ").append(line.substr(at)) += "\n";
  }
  return out;
}

RenderOptions text_options(const Options& o) {
  return {.color = use_color(o), .quiet = o.quiet, .journal = is_journal(STDOUT_FILENO)};
}

}  // namespace kvmprov
