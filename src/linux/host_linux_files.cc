// SPDX-License-Identifier: MIT
// LinuxHost's two file trees: the target's files below the root (--root DIR, or "/"), read,
// replaced, removed and listed through atomic_file's walk, which no symlink planted inside the
// root can lead outside it; and the running kernel's /proc, /sys and /dev.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "atomic_file.h"
#include "linux/host_linux.h"
#include "linux/sysfs_module.h"
#include "util/dir_names.h"
#include "util/read_all.h"
#include "util/text.h"
#include "util/unique_fd.h"

namespace kvmprov {

Result<UniqueFd> LinuxTargetFiles::open_below(const std::string& path, int flags) {
  if (!root_fd_tried_) {
    root_fd_tried_ = true;
    root_fd_.reset(open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  }
  if (root_fd_.valid()) return open_below_root(root_fd_.get(), root_, path, flags);
  return open_below_root(root_, path, flags);
}

Result<std::optional<std::string>> LinuxTargetFiles::read(const std::string& path) {
  if (auto ok = check_target_path(root_, path); !ok) return ok.error();
  // Made only for an error: most reads succeed or find nothing.
  const auto context = [&] { return "cannot read " + quote_path(path_on_disk(root_, path)); };
  // O_NONBLOCK: a FIFO planted at PATH must not hang the run before fstat refuses it.
  auto fd = open_below(path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
  if (!fd) {
    if (fd.error().code == ENOENT) return std::optional<std::string>();
    return errno_error(context(), fd.error().code);
  }
  struct stat st {};
  if (fstat(fd->get(), &st) != 0) {
    const int err = errno;
    return errno_error(context(), err);
  }
  if (S_ISDIR(st.st_mode)) return errno_error(context(), EISDIR);
  if (!S_ISREG(st.st_mode)) return Error{EINVAL, context() + ": not a regular file"};
  auto content = read_all(fd->get(), kMaxHostFile, static_cast<std::size_t>(st.st_size));
  if (!content) return errno_error(context(), content.error().code);
  return std::optional<std::string>(std::move(*content));
}

Result<bool> LinuxTargetFiles::write(const std::string& path, std::string_view content,
                                     const WriteOptions& options) {
  return replace_file(root_, path, content, options);
}

Result<bool> LinuxTargetFiles::remove(const std::string& path, const Expected& expected) {
  return remove_file_below(root_, path, expected);
}

Result<void> LinuxTargetFiles::can_write(const std::string& path, const WriteOptions& options) {
  return check_replaceable(root_, path, options);
}

Result<void> LinuxTargetFiles::can_remove(const std::string& path) {
  return check_removable(root_, path);
}

Refusals LinuxTargetFiles::refusals(const std::string& path, const WriteOptions& options) {
  return check_refusals(root_, path, options, &walked_);
}

void LinuxTargetFiles::remove_stale_temporaries(const std::string& path) {
  remove_stale_temporaries_beside(root_, path);
}

Result<FileInfo> LinuxTargetFiles::stat(const std::string& path) {
  auto parts = split_target_path(root_, path);
  if (!parts) return parts.error();
  const auto context = [&] { return "cannot stat " + quote_path(path_on_disk(root_, path)); };
  std::string parent(1, '/');
  for (size_t i = 0; i + 1 < parts->size(); ++i) {
    parent += (*parts)[i];
    parent += '/';
  }
  auto dir = open_below(parent, O_PATH | O_DIRECTORY);
  if (!dir) {
    const int err = dir.error().code;
    if (err == ENOENT || err == ENOTDIR) return FileInfo{};
    return errno_error(context(), err);
  }
  struct stat st {};
  const char* leaf = parts->empty() ? "." : parts->back().c_str();
  if (fstatat(dir->get(), leaf, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    const int err = errno;
    if (err == ENOENT) return FileInfo{};
    return errno_error(context(), err);
  }
  return file_info(st);
}

bool LinuxHost::has_systemd() {
  if (live()) return kernel_.exists("/run/systemd/system");
  for (const char* binary : {"/lib/systemd/systemd", "/usr/lib/systemd/systemd"}) {
    auto fd = open_below_root(root_, binary, O_PATH);
    struct stat st {};
    if (fd && fstat(fd->get(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0) {
      return true;
    }
  }
  return false;
}

Result<std::vector<std::string>> LinuxTargetFiles::list(const std::string& dir) {
  std::vector<std::string> names;
  auto fd = open_below(dir, O_RDONLY | O_DIRECTORY);
  if (!fd) {
    if (fd.error().code == ENOENT || fd.error().code == ENOTDIR) return names;
    return errno_error("cannot list " + quote_path(path_on_disk(root_, dir)), fd.error().code);
  }
  auto read = dir_names(fd->get());
  if (!read) {
    return errno_error("cannot list " + quote_path(path_on_disk(root_, dir)), read.error().code);
  }
  names = std::move(*read);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::optional<std::string>> LinuxKernelFiles::read(const std::string& path) {
  const std::optional<std::string> full = on_disk(path);
  if (!full) return std::optional<std::string>();
  return read_small_file(*full, kMaxHostFile);
}

Result<FileInfo> LinuxKernelFiles::stat(const std::string& path) {
  const std::optional<std::string> full = on_disk(path);
  if (!full) return Error{EINVAL, "cannot stat " + quote_path(path) + ": not an absolute path"};
  return stat_on_disk(*full, true);
}

Result<std::vector<std::string>> LinuxKernelFiles::list(const std::string& dir) {
  const std::optional<std::string> full = on_disk(dir);
  if (!full) return std::vector<std::string>();
  return sorted_entries(*full).value_or(std::vector<std::string>());
}

std::optional<std::string> LinuxKernelFiles::on_disk(const std::string& path) const {
  if (!check_target_path(kernel_root_, path)) return std::nullopt;
  return path_on_disk(kernel_root_, path);
}

}  // namespace kvmprov
