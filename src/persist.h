// SPDX-License-Identifier: MIT
// Text of the files kvmprov owns, and its marked block in the shared /etc/modules.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "profile.h"

namespace kvmprov {

inline constexpr std::string_view kBlockBegin = "# BEGIN kvmprov";
inline constexpr std::string_view kBlockEnd = "# END kvmprov";

// The first lines of every file kvmprov owns: names the tool and the profile.
std::string managed_header(const Profile& profile);

// TEXT with kvmprov's block holding MODULES (one per line): the block is replaced where it is,
// or appended; a second block (a copy made by hand) is removed. Every byte outside the blocks is
// kept.
std::string set_managed_block(std::string_view text, const Profile& profile,
                              const std::vector<std::string>& modules);
// TEXT without kvmprov's blocks (all of them); unchanged when there is none.
std::string remove_managed_block(std::string_view text);
// MODULES that TEXT also lists outside kvmprov's block (as "name" or "name options...").
std::vector<std::string> duplicates_outside_block(std::string_view text,
                                                  const std::vector<std::string>& modules);

}  // namespace kvmprov
