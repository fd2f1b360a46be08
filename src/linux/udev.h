// SPDX-License-Identifier: MIT
// libudev: send a "change" uevent to one device and wait until udevd has processed it.
#pragma once

#include <chrono>
#include <string>

#include "util/result.h"

namespace kvmprov {

// Finds SUBSYSTEM/SYSNAME ("misc"/"kvm"), listens on a udev monitor for that subsystem, writes
// "change" to the device's uevent attribute and waits up to TIMEOUT for udevd to announce that it
// has finished the event.
Result<void> udev_change_and_wait(const std::string& subsystem, const std::string& sysname,
                                  std::chrono::milliseconds timeout);

}  // namespace kvmprov
