// SPDX-License-Identifier: MIT
// The run lock that keeps two kvmprov runs (a postinst and a config-management run) apart.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "host.h"
#include "result.h"

namespace kvmprov {

// Where the lock lives, as seen on the target system.
inline constexpr std::string_view kLockPath = "/run/lock/kvmprov.lock";

// Takes an flock on <ROOT>/run/lock/kvmprov.lock (creating its directories) and writes this
// process's PID into it. While another run holds it, polls until TIMEOUT has passed, then fails
// naming that run's PID; a TIMEOUT of 0 fails at once. Releasing the Lock unlocks.
Result<std::unique_ptr<Lock>> take_run_lock(const std::string& root,
                                            std::chrono::milliseconds timeout);

}  // namespace kvmprov
