// SPDX-License-Identifier: MIT
// Text of the files kvmprov owns, and its marked block in the shared /etc/modules.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "atomic_file.h"
#include "profile.h"
#include "util/result.h"

namespace kvmprov {

// The files kvmprov owns or shares.
inline constexpr const char* kModprobeConf = "/etc/modprobe.d/kvmprov.conf";
inline constexpr const char* kModulesLoadConf = "/etc/modules-load.d/kvmprov.conf";
inline constexpr const char* kEtcModules = "/etc/modules";
// nova.conf is nova's: kvmprov keeps its owner, group and mode, and accepts the directory
// Debian's dbconfig-common gives it (/etc/nova nova:nova 0770).
inline constexpr WriteOptions kNovaConfWrite{.keep_owner = true, .safe_dirs = false};

inline constexpr std::string_view kBlockBegin = "# BEGIN kvmprov";
inline constexpr std::string_view kBlockEnd = "# END kvmprov";

// The first lines of every file kvmprov owns: names the tool and the profile.
std::string managed_header(const Profile& profile);

// kvmprov's blocks in /etc/modules are found exactly or not at all: a BEGIN line is one that is
// kBlockBegin, alone or followed by a blank (a UTF-8 byte order mark before it on the first line
// and a CR at its end are ignored), an END line likewise; "# BEGIN kvmprovisioner" is another
// tool's. A BEGIN without its END, a BEGIN inside a block or an END outside one is an error: the
// lines after a lost marker are the operator's, and guessing where the block ends would delete
// them.

// TEXT with kvmprov's block holding MODULES (one per line): the first block is replaced where it
// is, or one is appended; later blocks (copies made by hand) are removed. Every byte outside the
// blocks is kept. Fails, naming the line, when the markers are malformed.
Result<std::string> set_managed_block(std::string_view text, const Profile& profile,
                                      const std::vector<std::string>& modules);
// TEXT without kvmprov's blocks (all of them); unchanged when there is none. Fails as above.
Result<std::string> remove_managed_block(std::string_view text);
// Only the lines of kvmprov's blocks in TEXT ("" when none, or when the markers are malformed):
// what a report may show of a file kvmprov shares.
std::string managed_block_excerpt(std::string_view text);
// MODULES that TEXT also lists outside kvmprov's block (as "name" or "name options..."); none
// when the markers are malformed.
std::vector<std::string> duplicates_outside_block(std::string_view text,
                                                  const std::vector<std::string>& modules);

}  // namespace kvmprov
