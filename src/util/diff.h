// SPDX-License-Identifier: MIT
// A unified diff of two small texts, as plan output shows a file's change.
#pragma once

#include <optional>
#include <string>

namespace kvmprov {

// Renders a unified diff of two texts, labelled with PATH ("" for an absent side).
std::string unified_diff(const std::string& path, const std::optional<std::string>& before,
                         const std::optional<std::string>& after);

}  // namespace kvmprov
