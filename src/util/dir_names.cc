// SPDX-License-Identifier: MIT
// dir_names: a directory's entries from getdents64.
#include "util/dir_names.h"

#include <dirent.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string_view>

namespace kvmprov {

Result<std::vector<std::string>> dir_names(int fd) {
  std::vector<std::string> names;
  alignas(struct dirent64) char buf[32768];
  for (;;) {
    const ssize_t n = getdents64(fd, buf, sizeof buf);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return errno_error("getdents64", err);
    }
    if (n == 0) return names;
    // Records are read field by field: the buffer is bytes, not an array of dirent64.
    for (std::size_t pos = 0; pos < static_cast<std::size_t>(n);) {
      unsigned short reclen = 0;
      std::memcpy(&reclen, buf + pos + offsetof(struct dirent64, d_reclen), sizeof reclen);
      if (reclen <= offsetof(struct dirent64, d_name) || reclen > static_cast<std::size_t>(n) - pos)
        return errno_error("getdents64", EIO);
      const char* name = buf + pos + offsetof(struct dirent64, d_name);
      const std::string_view view(name, strnlen(name, reclen - offsetof(struct dirent64, d_name)));
      if (view != "." && view != "..") names.emplace_back(view);
      pos += reclen;
    }
  }
}

}  // namespace kvmprov
