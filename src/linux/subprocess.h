// SPDX-License-Identifier: MIT
// Runs a system tool (groupadd, usermod, udevadm) with an argument vector, never through a shell.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace kvmprov {

// The first of CANDIDATES (absolute paths) that is an executable file; "" when none is.
std::string find_program(const std::vector<std::string>& candidates);

// Runs ARGV (ARGV[0] an absolute path) with a minimal environment, waits for it, and fails with
// its exit status and the first line of its standard error unless it exits 0.
Result<void> run_program(const std::vector<std::string>& argv);

}  // namespace kvmprov
