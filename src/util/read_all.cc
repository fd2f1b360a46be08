// SPDX-License-Identifier: MIT
// read_all: a whole file read in chunks, up to a limit.
#include "util/read_all.h"

#include <unistd.h>

#include <cerrno>

namespace kvmprov {

Result<std::string> read_all(int fd, std::size_t limit, std::size_t expected) {
  std::string out;
  if (expected != 0 && expected <= limit) out.reserve(expected);
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return errno_error("read", err);
    }
    if (n == 0) return out;
    if (out.size() + static_cast<std::size_t>(n) > limit) return errno_error("read", EFBIG);
    out.append(buf, static_cast<std::size_t>(n));
    if (expected != 0 && out.size() == expected) return out;
  }
}

}  // namespace kvmprov
