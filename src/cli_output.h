// SPDX-License-Identifier: MIT
// How kvmprov's output suits where it goes: the journal's priorities, "kvmprov: " on each line of
// a dpkg maintainer script's log, colours only on a terminal that shows them.
#pragma once

#include <string>
#include <string_view>

#include "cli.h"
#include "report.h"

namespace kvmprov {

// Whether FD is the journal's stream: systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the
// stream it connects a service's stdout or stderr to (systemd.exec(5)). Its lines then take
// sd-daemon's "<N>" priority prefixes, so that "journalctl -p warning" finds failures.
bool is_journal(int fd);

// TEXT with "kvmprov: " before each line under dpkg, as it is elsewhere.
std::string for_the_log(std::string_view text);

// How the text report is rendered for this run: colours, --quiet, the journal's priorities.
RenderOptions text_options(const Options& o);

}  // namespace kvmprov
