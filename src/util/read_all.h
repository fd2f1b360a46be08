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
// EXPECTED, when not 0, is the size fstat gave for a regular file: a read that brings the total
// to it is taken for the end, sparing the read that would only say so (a regular file's reads
// come short only at its end; one that grew meanwhile is read on).
Result<std::string> read_all(int fd, std::size_t limit, std::size_t expected = 0);

}  // namespace kvmprov
