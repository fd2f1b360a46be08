// SPDX-License-Identifier: MIT
// Atomic replacement and removal of files below a root, through atomic_file_walk.cc's walk, which
// no symlink planted inside the root can redirect outside it.
#include "atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "atomic_file_internal.h"
#include "util/dir_names.h"
#include "util/read_all.h"

namespace kvmprov {

namespace {

using atomic_file_detail::cannot;
using atomic_file_detail::refusing;
using atomic_file_detail::unsafe_directory_reason;

// Fault injection for the crash tests (tests/fault/crash_test.sh): with KVMPROV_FAULT_STEP=N in
// the environment the process kills itself with SIGKILL at the Nth step of writing or removing
// files, as a power cut or the OOM killer would; the steps lie between the system calls that
// make a replacement atomic. Without the variable it does nothing.
void fault_point() {
  static const long target = [] {
    const char* step = std::getenv("KVMPROV_FAULT_STEP");
    return step ? std::strtol(step, nullptr, 10) : 0L;
  }();
  static long reached = 0;
  if (target > 0 && ++reached == target) raise(SIGKILL);
}

// Writes all of DATA to FD; 0 or the errno.
int write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return 0;
}

// Whether the regular file LEAF in DIR_FD holds exactly CONTENT; 0 or the errno.
int holds_content(int dir_fd, const std::string& leaf, std::string_view content, bool* same) {
  *same = false;
  UniqueFd fd(openat(dir_fd, leaf.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return errno;
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode) || static_cast<size_t>(st.st_size) != content.size()) return 0;
  // More than CONTENT is a difference, not an error.
  auto now = read_all(fd.get(), content.size());
  if (!now) return now.error().code == EFBIG ? 0 : now.error().code;
  *same = *now == content;
  return 0;
}

std::string random_temp_name() {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char bytes[6] = {};
  size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;  // the bytes left as they are still give a name; O_EXCL catches collisions
    }
    got += static_cast<size_t>(n);
  }
  std::string name(kTempPrefix);
  for (const unsigned char b : bytes) name += kChars[b % (sizeof kChars - 1)];
  return name;
}

// Unlinks a temporary on scope exit unless it was renamed into place.
class TempName {
 public:
  TempName(int dir_fd, std::string name) : dir_fd_(dir_fd), name_(std::move(name)) {}
  TempName(const TempName&) = delete;
  TempName& operator=(const TempName&) = delete;
  ~TempName() {
    if (!committed_) unlinkat(dir_fd_, name_.c_str(), 0);
  }
  const std::string& name() const { return name_; }
  void commit() { committed_ = true; }

 private:
  int dir_fd_;
  std::string name_;
  bool committed_ = false;
};

}  // namespace

void remove_stale_temporaries(int dir_fd) {
  UniqueFd fd(openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return;
  auto names = dir_names(fd.get());
  if (!names) return;
  std::vector<std::string> stale = std::move(*names);
  std::erase_if(stale, [](const std::string& name) { return !name.starts_with(kTempPrefix); });
  for (const std::string& name : stale) {
    UniqueFd temp(
        openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!temp.valid()) continue;
    struct stat held {};
    struct stat now {};
    if (fstat(temp.get(), &held) != 0 || !S_ISREG(held.st_mode)) continue;
    // A writer holds its temporary locked until the rename; only an abandoned one is free.
    if (flock(temp.get(), LOCK_EX | LOCK_NB) != 0) continue;
    if (fstatat(dir_fd, name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (now.st_dev != held.st_dev || now.st_ino != held.st_ino) continue;
    unlinkat(dir_fd, name.c_str(), 0);
  }
}

void remove_stale_temporaries_beside(const std::string& root, const std::string& path) {
  std::string leaf;
  auto dir = open_parent_dir(root, path, Walk::existing, "clean up beside", &leaf);
  struct stat st {};
  if (!dir || fstat(dir->get(), &st) != 0 || !unsafe_directory_reason(st).empty()) return;
  remove_stale_temporaries(dir->get());
}

namespace {

// Why the file at LEAF (lstat'ed into ST) cannot be replaced or removed, or nullopt.
std::optional<Error> leaf_refusal(const struct stat& st, std::string_view verb,
                                  const std::string& shown, bool symlink_ok) {
  if (S_ISLNK(st.st_mode) && !symlink_ok)
    return refusing(verb, shown, ELOOP, "it is a symbolic link");
  if (S_ISDIR(st.st_mode)) return refusing(verb, shown, EISDIR, "it is a directory");
  if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
    return refusing(verb, shown, EINVAL, "it is not a regular file");
  return std::nullopt;
}

// Whether the file LEAF in DIR_FD, shown as SHOWN, may be replaced (or removed, SYMLINK_OK): fine
// when absent.
Result<void> check_leaf(int dir_fd, const std::string& leaf, std::string_view verb,
                        const std::string& shown, bool symlink_ok) {
  struct stat st {};
  if (fstatat(dir_fd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (const int err = errno; err != ENOENT) return cannot(verb, shown, err);
    return {};
  }
  if (auto refusal = leaf_refusal(st, verb, shown, symlink_ok)) return *refusal;
  return {};
}

// Larger files are not configuration; the same limit as the reads plan makes.
constexpr size_t kMaxCompared = size_t{16} << 20;

// Whether the regular file LEAF in DIR_FD holds what EXPECTED says (nullopt inside: absent);
// nullopt when it does, else the refusal.
std::optional<Error> differs_from_expected(int dir_fd, const std::string& leaf, bool exists,
                                           const Expected& expected, std::string_view verb,
                                           const std::string& shown) {
  if (!expected) return std::nullopt;
  const auto changed = [&](std::string_view how) {
    return refusing(
        verb, shown, ESTALE,
        std::string(how) + " since it was read (run again to plan from its new content)");
  };
  if (!exists) return *expected ? std::optional(changed("it was removed")) : std::nullopt;
  if (!*expected) return changed("it was created");
  UniqueFd fd(openat(dir_fd, leaf.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return cannot(verb, shown, errno, "cannot read the current content");
  // Past what was read (or past the limit) it cannot be the same.
  auto now = read_all(fd.get(), std::min(kMaxCompared, (*expected)->size()));
  if (!now && now.error().code != EFBIG)
    return cannot(verb, shown, now.error().code, "cannot read the current content");
  if (!now || *now != **expected) return changed("it changed");
  return std::nullopt;
}

}  // namespace

Result<void> check_replaceable(const std::string& root, const std::string& path,
                               const WriteOptions& options) {
  constexpr std::string_view kVerb = "write";
  std::string leaf;
  auto dir =
      open_parent_dir(root, path, options.safe_dirs ? Walk::probe : Walk::existing, kVerb, &leaf);
  if (!dir) {
    // A directory that does not exist yet is made by the write (or, for a shared file, the
    // file's absence is planned for: nothing is written).
    if (dir.error().code == ENOENT) return {};
    return dir.error();
  }
  return check_leaf(dir->get(), leaf, kVerb, path_on_disk(root, path), false);
}

Result<void> check_removable(const std::string& root, const std::string& path) {
  constexpr std::string_view kVerb = "remove";
  std::string leaf;
  auto dir = open_parent_dir(root, path, Walk::existing, kVerb, &leaf);
  if (!dir) return dir.error().code == ENOENT ? Result<void>() : dir.error();
  return check_leaf(dir->get(), leaf, kVerb, path_on_disk(root, path), true);
}

Refusals check_refusals(const std::string& root, const std::string& path,
                        const WriteOptions& options, WalkCache* cache) {
  std::string leaf;
  const Walk walk = options.safe_dirs ? Walk::probe : Walk::existing;
  UniqueFd owned;
  Result<int> dir = -1;
  if (cache != nullptr) {
    dir = walk_parent_dir_cached(root, path, options.safe_dirs, "write", &leaf, *cache);
  } else if (auto opened = open_parent_dir(root, path, walk, "write", &leaf)) {
    owned = std::move(*opened);
    dir = owned.get();
  } else {
    dir = opened.error();
  }
  if (!dir) {
    // A missing directory stops both walks alike; any other refusal may be the write's own.
    if (dir.error().code == ENOENT) return {};
    Refusals r{.write = dir.error()};
    if (auto removable = check_removable(root, path); !removable) r.remove = removable.error();
    return r;
  }
  const std::string shown = path_on_disk(root, path);
  struct stat st {};
  if (fstatat(*dir, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    const int err = errno;
    if (err == ENOENT) return {};
    return {.write = cannot("write", shown, err), .remove = cannot("remove", shown, err)};
  }
  return {.write = leaf_refusal(st, "write", shown, false),
          .remove = leaf_refusal(st, "remove", shown, true)};
}

Result<bool> replace_file(const std::string& root, const std::string& path,
                          std::string_view content, const WriteOptions& options) {
  constexpr std::string_view kVerb = "write";
  const bool keep_owner = options.keep_owner;
  std::string leaf;
  auto dir =
      open_parent_dir(root, path, options.safe_dirs ? Walk::create : Walk::existing, kVerb, &leaf);
  if (!dir) return dir.error();
  const int dir_fd = dir->get();
  const std::string shown = path_on_disk(root, path);

  struct stat st {};
  bool exists = false;
  if (fstatat(dir_fd, leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    exists = true;
    if (auto refusal = leaf_refusal(st, kVerb, shown, false)) return *refusal;
  } else if (const int err = errno; err != ENOENT) {
    return cannot(kVerb, shown, err);
  }
  if (auto refusal = differs_from_expected(dir_fd, leaf, exists, options.expected, kVerb, shown))
    return *refusal;
  if (exists) {
    bool same = false;
    if (const int err = holds_content(dir_fd, leaf, content, &same); err != 0) {
      return cannot(kVerb, shown, err, "cannot read the current content");
    }
    if (same) return false;
  }

  remove_stale_temporaries(dir_fd);

  UniqueFd temp_fd;
  std::string temp_name;
  for (int attempt = 0; attempt < 64 && !temp_fd.valid(); ++attempt) {
    temp_name = random_temp_name();
    temp_fd.reset(openat(dir_fd, temp_name.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600));
    if (const int err = errno; !temp_fd.valid() && err != EEXIST) return cannot(kVerb, shown, err);
  }
  if (!temp_fd.valid()) return cannot(kVerb, shown, EEXIST);
  TempName temp(dir_fd, temp_name);

  const int fd = temp_fd.get();
  int err = 0;
  // Mode and owner go on before any content, so no one ever sees the content with other ones.
  if (flock(fd, LOCK_EX) != 0) err = errno;
  if (keep_owner && exists) {
    // A shared file keeps what its package or its operator gave it (nova.conf: root:nova 0640,
    // /etc/modules: root:adm 0600); if that cannot be reproduced, nothing is replaced.
    if (err == 0 && (st.st_uid != geteuid() || st.st_gid != getegid()) &&
        fchown(fd, st.st_uid, st.st_gid) != 0)
      err = errno;
    if (err == 0 && fchmod(fd, st.st_mode & 07777) != 0) err = errno;
  } else {
    if (err == 0 && geteuid() == 0 && fchown(fd, 0, 0) != 0) err = errno;
    if (err == 0 && fchmod(fd, options.mode & 07777) != 0) err = errno;
  }
  fault_point();
  // In two halves, so that the crash tests can stop a run with a truncated temporary.
  const size_t half = content.size() / 2;
  if (err == 0) err = write_all(fd, content.substr(0, half));
  fault_point();
  if (err == 0) err = write_all(fd, content.substr(half));
  fault_point();
  if (err == 0 && fsync(fd) != 0) err = errno;
  fault_point();
  if (err == 0 && renameat(dir_fd, temp.name().c_str(), dir_fd, leaf.c_str()) != 0) err = errno;
  if (err != 0) return cannot(kVerb, shown, err);
  temp.commit();
  fault_point();
  if (fsync(dir_fd) != 0) {
    err = errno;
    return cannot(kVerb, shown, err, "cannot sync its directory");
  }
  fault_point();
  return true;
}

void fault_stop(std::string_view where) {
  const char* stop = std::getenv("KVMPROV_FAULT_STOP");
  if (stop && where == stop) raise(SIGSTOP);
}

Result<bool> remove_file_below(const std::string& root, const std::string& path,
                               const Expected& expected) {
  constexpr std::string_view kVerb = "remove";
  std::string leaf;
  auto dir = open_parent_dir(root, path, Walk::existing, kVerb, &leaf);
  if (!dir) {
    if (dir.error().code == ENOENT) return false;
    return dir.error();
  }
  const std::string shown = path_on_disk(root, path);
  struct stat st {};
  if (fstatat(dir->get(), leaf.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    const int err = errno;
    if (err == ENOENT) return false;
    return cannot(kVerb, shown, err);
  }
  if (auto refusal = leaf_refusal(st, kVerb, shown, true)) return *refusal;
  // Removing a symlink loses nothing but the link; a regular file must still hold what was read.
  if (S_ISREG(st.st_mode)) {
    if (auto refusal = differs_from_expected(dir->get(), leaf, true, expected, kVerb, shown))
      return *refusal;
  }
  fault_point();
  if (unlinkat(dir->get(), leaf.c_str(), 0) != 0) {
    const int err = errno;
    if (err == ENOENT) return false;
    return cannot(kVerb, shown, err);
  }
  fault_point();
  if (fsync(dir->get()) != 0) {
    const int err = errno;
    return cannot(kVerb, shown, err, "cannot sync its directory");
  }
  fault_point();
  return true;
}

}  // namespace kvmprov
