// SPDX-License-Identifier: MIT
// What atomic_file.cc and atomic_file_walk.cc share: the two forms of their messages and the one
// rule for a directory that is safe to write into.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"
#include "util/unique_fd.h"

namespace kvmprov::atomic_file_detail {

// `cannot VERB "SHOWN": [DETAIL: ]strerror(ERR)`
Error cannot(std::string_view verb, const std::string& shown, int err,
             const std::string& detail = {});

// `refusing to VERB "SHOWN": REASON`
Error refusing(std::string_view verb, const std::string& shown, int err, const std::string& reason);

// The directories a walk below a root (open_in_root_by_walk) has gone down into: only the
// innermost is held open, so a path of any depth costs one descriptor; each level's identity is
// kept to check the way up.
class InRootDirs {
 public:
  explicit InRootDirs(int root_fd);
  // The innermost directory; the root while there is none.
  int fd() const;
  // Goes down into NAME, whose directory FD was opened without following a link.
  bool down(const std::string& name, UniqueFd fd);
  // Goes up one level; ".." of the root is the root. Where a rename moved the directory held,
  // its levels are walked to again from the root by name. False with errno when that fails.
  bool up();
  // Back to the root, as an absolute link's text starts there.
  void to_root();

 private:
  struct Level {
    std::string name;
    dev_t dev;
    ino_t ino;
  };
  bool rewalk();

  int root_fd_;
  std::vector<Level> levels_;
  UniqueFd current_;
};

// Opens RELATIVE below ROOT_FD with FLAGS as openat2's RESOLVE_IN_ROOT would, a component at a
// time, for kernels without it: every symlink is read and resolved as if ROOT_FD were "/", so an
// absolute link starts again at the root and ".." stops there; none is followed by the kernel.
// FLAGS are open(2)'s, without O_CREAT or O_NOFOLLOW: the last component is followed too.
// Returns the descriptor, or -1 with errno (ELOOP after 40 links).
int open_in_root_by_walk(int root_fd, std::string_view relative, int flags);

// Why a directory is unsafe to write into, "" when only root (or the running user) can modify it.
std::string unsafe_directory_reason(const struct stat& st);

}  // namespace kvmprov::atomic_file_detail

namespace kvmprov {

class WalkCache;

// open_parent_dir's walk with Walk::probe (CHECK_SAFETY) or Walk::existing, through CACHE: the
// directories on the way are opened once and kept there; the descriptor returned is CACHE's.
Result<int> walk_parent_dir_cached(const std::string& root, const std::string& path,
                                   bool check_safety, std::string_view verb, std::string* leaf,
                                   WalkCache& cache);

}  // namespace kvmprov
