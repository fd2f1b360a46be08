// SPDX-License-Identifier: MIT
// Small text helpers shared across kvmprov: trimming, joining, ASCII case folding and the edit
// distance behind every "did you mean" hint.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kvmprov {

// S with A-Z folded to a-z; other bytes as they are (locale-independent).
std::string ascii_lower(std::string_view s);

// S without leading and trailing whitespace (space, tab, CR, LF, VT, FF).
std::string_view trim(std::string_view s);

// PARTS with SEP between them; empty parts are left out.
std::string join(const std::vector<std::string>& parts, std::string_view sep);

// Optimal string alignment distance: insertions, deletions, substitutions and a transposed
// adjacent pair each count as one edit (a transposition is the commonest typo).
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace kvmprov
