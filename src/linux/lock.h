// SPDX-License-Identifier: MIT
// The run lock that keeps two kvmprov runs (a postinst and a config-management run) apart.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "host.h"
#include "util/result.h"

namespace kvmprov {

// The lock of the running system: a directory only root can create (/run is root's), so no
// other user can plant it, hold it or point it elsewhere.
inline constexpr std::string_view kLiveLockDir = "/run/kvmprov";

// Takes an flock on a directory: DIR itself when CREATE is false (an image's root under --root:
// nothing is written into the image, so a read-only image can be planned and reset --dry-run),
// or DIR created 0700 when CREATE is true (kLiveLockDir), refused unless it is a real directory
// owned by root (or this user) that no one else can write. While another run holds it, calls
// ON_WAIT once with a description of the holder, then polls until TIMEOUT has passed and fails
// naming the holder's PID (read from /proc/locks: the lock holds no file of its own); a TIMEOUT
// of 0 fails at once. Releasing the Lock unlocks.
Result<std::unique_ptr<Lock>> take_run_lock(
    const std::string& dir, bool create, std::chrono::milliseconds timeout,
    const std::function<void(const std::string&)>& on_wait = {});

// The PID that holds an flock on the file with device DEV and inode INO according to LOCKS (the
// text of /proc/locks), or 0 when none is listed.
pid_t flock_holder(std::string_view locks, dev_t dev, ino_t ino);

}  // namespace kvmprov
