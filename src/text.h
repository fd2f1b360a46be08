// SPDX-License-Identifier: MIT
// Small text helpers shared by the parsers: ASCII case folding and the edit distance behind
// every "did you mean" hint.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kvmprov {

// S with A-Z folded to a-z; other bytes as they are (locale-independent).
std::string ascii_lower(std::string_view s);

// Optimal string alignment distance: insertions, deletions, substitutions and a transposed
// adjacent pair each count as one edit (a transposition is the commonest typo).
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace kvmprov
