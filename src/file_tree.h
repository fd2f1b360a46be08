// SPDX-License-Identifier: MIT
// A tree of files read through one API: the target system's files (Host::target(), below
// --root) and the running kernel's /proc, /sys and /dev (Host::kernel()). Only the target's
// files are changed, through TargetFiles.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "atomic_file.h"
#include "util/result.h"

namespace kvmprov {

struct FileInfo {
  bool exists = false;
  bool regular = false;
  bool directory = false;
  bool symlink = false;  // the path itself is a symlink (lstat)
  bool char_device = false;
  unsigned mode = 0;  // permission bits (07777)
  uid_t uid = 0;
  gid_t gid = 0;
  long long mtime_ns = 0;
};

class FileTree {
 public:
  virtual ~FileTree() = default;

  // Content of the regular file PATH (absolute, as seen in the tree); nullopt when it does not
  // exist.
  virtual Result<std::optional<std::string>> read(const std::string& path) = 0;
  // What PATH is; exists=false when absent. The target's tree tells of the path itself (lstat:
  // its writes never follow a symlink), the kernel's of what the path names (stat: udev makes
  // device symlinks).
  virtual Result<FileInfo> stat(const std::string& path) = 0;
  // Names of the entries of directory DIR, sorted; empty when DIR does not exist.
  virtual Result<std::vector<std::string>> list(const std::string& dir) = 0;

  bool exists(const std::string& path) {
    auto info = stat(path);
    return info && info->exists;
  }
  // The content, or nullopt when PATH is absent or unreadable: for /proc and /sys, where a
  // file kept from this process tells no more than a missing one.
  std::optional<std::string> read_or_absent(const std::string& path) {
    auto content = read(path);
    return content ? std::move(*content) : std::nullopt;
  }
};

// The target system's files, which apply changes: atomically, never through a symlink.
class TargetFiles : public FileTree {
 public:
  // Replaces PATH atomically with CONTENT (see replace_file in atomic_file.h: OPTIONS give the
  // mode, whether an existing shared file keeps its owner, group and mode, and the content that
  // may be replaced), creating missing parent directories (0755) for a file kvmprov owns.
  // Returns false, touching nothing, when PATH already holds exactly CONTENT. Never follows a
  // symlink at PATH.
  virtual Result<bool> write(const std::string& path, std::string_view content,
                             const WriteOptions& options) = 0;
  // Removes PATH, which must still hold EXPECTED when that is set. Returns false when it did not
  // exist.
  virtual Result<bool> remove(const std::string& path, const Expected& expected) = 0;
  // Whether write(PATH, ..., OPTIONS) or remove(PATH) would refuse, without changing anything:
  // the one decision plan and apply share.
  virtual Result<void> can_write(const std::string& path, const WriteOptions& options) = 0;
  virtual Result<void> can_remove(const std::string& path) = 0;
  // Both answers at once (observe asks both of every file it may write): the same decisions as
  // the two calls, which a tree may reach with one walk.
  virtual Refusals refusals(const std::string& path, const WriteOptions& options) {
    Refusals r;
    if (auto w = can_write(path, options); !w) r.write = w.error();
    if (auto m = can_remove(path); !m) r.remove = m.error();
    return r;
  }
  // Removes the temporaries a killed run left beside PATH; never one a live run is writing.
  virtual void remove_stale_temporaries(const std::string& path) = 0;
};

}  // namespace kvmprov
