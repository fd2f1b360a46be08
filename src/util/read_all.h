// SPDX-License-Identifier: MIT
// The one bounded read of a whole file: what is read from the host is never trusted to be small.
#pragma once

#include <cstddef>
#include <string>

#include "util/result.h"

namespace kvmprov {

// Everything left to read on FD, retrying reads a signal interrupted. Fails with the read's
// errno, or with EFBIG as soon as more than LIMIT bytes came, so that a huge or endless file
// (a device, /dev/zero planted at a path) costs no more than LIMIT bytes of memory.
Result<std::string> read_all(int fd, std::size_t limit);

}  // namespace kvmprov
