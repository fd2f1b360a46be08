// SPDX-License-Identifier: MIT
// The walk below a root: paths split and checked, directories opened one at a time without
// following symlinks (or with openat2's RESOLVE_IN_ROOT), so that nothing planted inside the root
// can lead a read or a write outside it.
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "atomic_file.h"
#include "atomic_file_internal.h"

namespace kvmprov {

namespace {

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

}  // namespace

namespace atomic_file_detail {

Error cannot(std::string_view verb, const std::string& shown, int err, const std::string& detail) {
  std::string message = "cannot " + std::string(verb) + " " + quoted(shown) + ": ";
  if (!detail.empty()) message += detail + ": ";
  message += std::strerror(err);
  return Error{err, message};
}

Error refusing(std::string_view verb, const std::string& shown, int err,
               const std::string& reason) {
  return Error{err, "refusing to " + std::string(verb) + " " + quoted(shown) + ": " + reason};
}

std::string unsafe_directory_reason(const struct stat& st) {
  if (st.st_uid != 0 && st.st_uid != geteuid()) {
    return "is owned by uid " + std::to_string(st.st_uid);
  }
  if ((st.st_mode & S_ISVTX) != 0) return {};
  if ((st.st_mode & S_IWOTH) != 0) return "is writable by other users";
  if ((st.st_mode & S_IWGRP) != 0 && st.st_gid != 0 && st.st_gid != getegid()) {
    return "is writable by group " + std::to_string(st.st_gid);
  }
  return {};
}

}  // namespace atomic_file_detail

namespace {

using atomic_file_detail::cannot;
using atomic_file_detail::refusing;
using atomic_file_detail::unsafe_directory_reason;

std::string trimmed_root(const std::string& root) {
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return r == "/" ? std::string() : r;
}

}  // namespace

std::string path_on_disk(const std::string& root, const std::string& path) {
  if (!path.empty() && path.front() != '/') return trimmed_root(root) + "/" + path;
  return trimmed_root(root) + path;
}

namespace {

// Calls ON_PART with each component of PATH that is neither empty nor "."; fails, as
// split_target_path says, for a relative PATH or a ".." component.
template <class OnPart>
Result<void> for_each_component(const std::string& root, const std::string& path, OnPart on_part) {
  if (path.empty() || path.front() != '/') {
    return Error{EINVAL, "invalid path " + quoted(path) + ": not absolute"};
  }
  const std::string_view all(path);
  size_t start = 0;
  while (start <= all.size()) {
    size_t end = all.find('/', start);
    if (end == std::string_view::npos) end = all.size();
    const std::string_view part = all.substr(start, end - start);
    if (part == "..") {
      return Error{EINVAL, "invalid path " + quoted(path_on_disk(root, path)) +
                               ": \"..\" components are not allowed"};
    }
    if (!part.empty() && part != ".") on_part(part);
    start = end + 1;
  }
  return {};
}

}  // namespace

Result<void> check_target_path(const std::string& root, const std::string& path) {
  return for_each_component(root, path, [](std::string_view) {});
}

Result<std::vector<std::string>> split_target_path(const std::string& root,
                                                   const std::string& path) {
  std::vector<std::string> parts;
  auto ok =
      for_each_component(root, path, [&](std::string_view part) { parts.emplace_back(part); });
  if (!ok) return ok.error();
  return parts;
}

namespace {

// One step of the walk: directory NAME in DIR_FD (WALKED on disk), opened without following a
// symlink, made first when CREATE and missing, checked when CHECK_SAFETY.
Result<UniqueFd> open_walked_dir(int dir_fd, const std::string& name, const std::string& walked,
                                 bool create, bool check_safety, std::string_view verb,
                                 const std::string& shown) {
  constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  bool made = false;
  int fd = openat(dir_fd, name.c_str(), kFlags);
  if (fd < 0 && errno == ENOENT && create) {
    if (mkdirat(dir_fd, name.c_str(), 0755) == 0) {
      made = true;
    } else if (errno != EEXIST) {
      const int err = errno;
      return cannot(verb, shown, err, "cannot create directory " + quoted(walked));
    }
    fd = openat(dir_fd, name.c_str(), kFlags);
  }
  if (fd < 0) {
    const int err = errno;
    struct stat st {};
    if ((err == ELOOP || err == ENOTDIR) &&
        fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISLNK(st.st_mode)) {
        return refusing(verb, shown, ELOOP, quoted(walked) + " is a symbolic link");
      }
      return refusing(verb, shown, ENOTDIR, quoted(walked) + " is not a directory");
    }
    return cannot(verb, shown, err);
  }
  UniqueFd next(fd);
  if (made && fchmod(next.get(), 0755) != 0) {
    const int err = errno;
    return cannot(verb, shown, err, "cannot set the mode of directory " + quoted(walked));
  }
  if (check_safety) {
    struct stat st {};
    if (fstat(next.get(), &st) != 0) {
      const int err = errno;
      return cannot(verb, shown, err);
    }
    const std::string reason = unsafe_directory_reason(st);
    if (!reason.empty()) {
      return refusing(verb, shown, EPERM, "directory " + quoted(walked) + " " + reason);
    }
  }
  return next;
}

UniqueFd open_root_dir(const std::string& root) {
  return UniqueFd(open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

}  // namespace

Result<UniqueFd> open_parent_dir(const std::string& root, const std::string& path, Walk walk,
                                 std::string_view verb, std::string* leaf) {
  const bool create = walk == Walk::create;
  const bool check_safety = walk != Walk::existing;
  auto parts = split_target_path(root, path);
  if (!parts) return parts.error();
  const std::string shown = path_on_disk(root, path);
  if (parts->empty()) return refusing(verb, shown, EISDIR, "it is the root directory");

  UniqueFd dir = open_root_dir(root);
  if (!dir.valid()) {
    const int err = errno;
    return cannot(verb, shown, err, "cannot open root directory " + quoted(root));
  }
  std::string walked = trimmed_root(root);
  for (size_t i = 0; i + 1 < parts->size(); ++i) {
    walked += "/" + (*parts)[i];
    auto next = open_walked_dir(dir.get(), (*parts)[i], walked, create, check_safety, verb, shown);
    if (!next) return next.error();
    dir = std::move(*next);
  }
  *leaf = parts->back();
  return dir;
}

int WalkCache::find(const std::string& key) const {
  const auto it = dirs_.find(key);
  return it == dirs_.end() ? -1 : it->second.get();
}

int WalkCache::keep(const std::string& key, UniqueFd fd) {
  UniqueFd& slot = dirs_[key];
  slot = std::move(fd);
  return slot.get();
}

Result<int> walk_parent_dir_cached(const std::string& root, const std::string& path,
                                   bool check_safety, std::string_view verb, std::string* leaf,
                                   WalkCache& cache) {
  auto parts = split_target_path(root, path);
  if (!parts) return parts.error();
  const std::string shown = path_on_disk(root, path);
  if (parts->empty()) return refusing(verb, shown, EISDIR, "it is the root directory");

  // A directory that passed the safety checks passed the lesser walk too, not the other way.
  const std::string mode = check_safety ? "safe:" : "existing:";
  int dir = cache.find(mode);
  if (dir < 0) {
    UniqueFd fd = open_root_dir(root);
    if (!fd.valid()) {
      const int err = errno;
      return cannot(verb, shown, err, "cannot open root directory " + quoted(root));
    }
    dir = cache.keep(mode, std::move(fd));
  }
  std::string walked = trimmed_root(root);
  std::string key = mode;
  for (size_t i = 0; i + 1 < parts->size(); ++i) {
    walked += "/" + (*parts)[i];
    key += "/" + (*parts)[i];
    if (const int known = cache.find(key); known >= 0) {
      dir = known;
      continue;
    }
    auto next = open_walked_dir(dir, (*parts)[i], walked, false, check_safety, verb, shown);
    if (!next) return next.error();
    dir = cache.keep(key, std::move(*next));
  }
  *leaf = parts->back();
  return dir;
}

namespace {

// Pushes the components of PATH onto TODO, the first on top; "" and "." are dropped, except that
// a PATH ending in "/" or "/." ends in "." so that what it names has to be a directory.
void push_components(std::string_view path, std::vector<std::string>& todo) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view part = path.substr(start, end - start);
    if (!part.empty() && part != ".") parts.emplace_back(part);
    start = end + 1;
  }
  if (!parts.empty() && (path.ends_with('/') || path.ends_with("/."))) parts.emplace_back(".");
  todo.insert(todo.end(), parts.rbegin(), parts.rend());
}

// The text of the symlink NAME in DIR_FD (NAME "" for DIR_FD itself, an O_PATH link), or
// nullopt with errno set when it is none.
std::optional<std::string> link_text(int dir_fd, const char* name) {
  std::string text(256, '\0');
  for (;;) {
    const ssize_t n = readlinkat(dir_fd, name, text.data(), text.size());
    if (n < 0) return std::nullopt;
    if (static_cast<size_t>(n) < text.size()) {
      text.resize(static_cast<size_t>(n));
      return text;
    }
    text.resize(text.size() * 2);
  }
}

// Whether the links in DIR_FD may be the kernel's "magic" ones (/proc/self/root, /proc/PID/fd/N),
// which lead to what they stand for, not to their text: those of a procfs directory other than
// its root, whose links (self, thread-self, mounts, net) are plain. When in doubt, yes.
bool may_hold_magic_links(int dir_fd) {
  constexpr ino_t kProcRootIno = 1;
  struct statfs fs {};
  struct stat st {};
  if (fstatfs(dir_fd, &fs) != 0 || fstat(dir_fd, &st) != 0) return true;
  return fs.f_type == PROC_SUPER_MAGIC && st.st_ino != kProcRootIno;
}

// The text of the link NAME in DIR_FD (or of DIR_FD itself, an O_PATH link, with NAME ""), or
// nullopt with errno. A link that may be magic is refused (ELOOP), as openat2's
// RESOLVE_NO_MAGICLINKS refuses them: its text does not say where it leads.
std::optional<std::string> step_link(int dir_fd, const char* name, int link_dir_fd) {
  if (!may_hold_magic_links(link_dir_fd)) return link_text(dir_fd, name);
  // Asked of lstat, not readlink: reading /proc/PID/root needs the right to trace PID.
  struct stat st {};
  const bool link =
      fstatat(dir_fd, name, &st, *name != '\0' ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH) == 0 &&
      S_ISLNK(st.st_mode);
  errno = link ? ELOOP : EINVAL;
  return std::nullopt;
}

// One component of the walk: NAME in DIR_FD opened with FLAGS and O_NOFOLLOW. A symlink there
// gives -1 and its text in *LINK; anything else the descriptor, or -1 with errno.
int open_step(int dir_fd, const std::string& name, int flags, std::optional<std::string>* link) {
  const int fd = openat(dir_fd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    // O_NOFOLLOW refuses a link with ELOOP (ENOTDIR with O_DIRECTORY): ask whether it is one.
    const int err = errno;
    if (err == ELOOP || err == ENOTDIR) {
      *link = step_link(dir_fd, name.c_str(), dir_fd);
      if (!*link && errno == ELOOP) return -1;
    }
    errno = err;
    return -1;
  }
  struct stat st {};
  if ((flags & O_PATH) != 0 && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
    // O_PATH | O_NOFOLLOW opens the link itself.
    *link = step_link(fd, "", dir_fd);
    const int err = *link ? ELOOP : errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

}  // namespace

namespace atomic_file_detail {

InRootDirs::InRootDirs(int root_fd) : root_fd_(root_fd) {}

int InRootDirs::fd() const {
  return levels_.empty() ? root_fd_ : current_.get();
}

bool InRootDirs::down(const std::string& name, UniqueFd fd) {
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return false;
  levels_.push_back({name, st.st_dev, st.st_ino});
  current_ = std::move(fd);
  return true;
}

bool InRootDirs::up() {
  if (levels_.empty()) return true;  // ".." of the root is the root, as for "/"
  levels_.pop_back();
  if (levels_.empty()) {
    current_.reset();
    return true;
  }
  // ".." of the directory held is the level above unless a rename moved it meanwhile: then the
  // way down is walked again from the root.
  UniqueFd parent(openat(current_.get(), "..", O_PATH | O_DIRECTORY | O_CLOEXEC));
  struct stat st {};
  if (parent.valid() && fstat(parent.get(), &st) == 0 && st.st_dev == levels_.back().dev &&
      st.st_ino == levels_.back().ino) {
    current_ = std::move(parent);
    return true;
  }
  return rewalk();
}

void InRootDirs::to_root() {
  levels_.clear();
  current_.reset();
}

bool InRootDirs::rewalk() {
  UniqueFd dir;
  for (Level& level : levels_) {
    const int from = dir.valid() ? dir.get() : root_fd_;
    dir.reset(openat(from, level.name.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st {};
    if (!dir.valid() || fstat(dir.get(), &st) != 0) return false;
    level.dev = st.st_dev;
    level.ino = st.st_ino;
  }
  current_ = std::move(dir);
  return true;
}

int open_in_root_by_walk(int root_fd, std::string_view relative, int flags) {
  constexpr int kMaxLinks = 40;  // the kernel's own limit on links in one lookup
  InRootDirs dirs(root_fd);
  std::vector<std::string> todo;
  push_components(relative, todo);
  for (int links = 0;;) {
    if (todo.empty()) return openat(dirs.fd(), ".", flags | O_CLOEXEC);
    const std::string name = std::move(todo.back());
    todo.pop_back();
    if (name == "..") {
      if (!dirs.up()) return -1;
      continue;
    }
    const bool last = todo.empty();
    if (name == "." && !last) continue;  // a link's trailing "/": the directory is walked into
    std::optional<std::string> link;
    const int fd = open_step(dirs.fd(), name, last ? flags : O_PATH | O_DIRECTORY, &link);
    if (fd >= 0 && last) return fd;
    if (fd >= 0) {
      if (!dirs.down(name, UniqueFd(fd))) return -1;
      continue;
    }
    if (!link) return -1;
    if (++links > kMaxLinks || link->empty()) {
      errno = link->empty() ? ENOENT : ELOOP;
      return -1;
    }
    // The link's text is resolved as if ROOT_FD were "/": an absolute one starts again there.
    if (link->front() == '/') dirs.to_root();
    push_components(*link, todo);
  }
}

}  // namespace atomic_file_detail

namespace {

// Opens PATH below ROOT_FD (ROOT's descriptor) with FLAGS, as open_below_root.
Result<UniqueFd> open_path_below(int root_fd, const std::string& root, const std::string& path,
                                 int flags) {
  std::string relative;
  auto ok = for_each_component(root, path, [&](std::string_view part) {
    if (!relative.empty()) relative += '/';
    relative += part;
  });
  if (!ok) return ok.error();
  const char* const target = relative.empty() ? "." : relative.c_str();
  open_how how{};
  how.flags = static_cast<unsigned>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd = -1;
  // EAGAIN: a concurrent rename somewhere on the system made the kernel retry-worthy.
  for (int attempt = 0; attempt < 16; ++attempt) {
    fd = syscall(SYS_openat2, root_fd, target, &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN) break;
  }
  // Kernels before 5.6 have no openat2 (ENOSYS), and a seccomp filter older than it (Docker's
  // before 20.10) refuses it (EPERM): the same resolution is then made a component at a time.
  if (fd < 0 && (errno == ENOSYS || errno == EPERM))
    fd = atomic_file_detail::open_in_root_by_walk(root_fd, relative, flags);
  if (fd < 0) {
    const int err = errno;
    return cannot("open", path_on_disk(root, path), err);
  }
  return UniqueFd(static_cast<int>(fd));
}

}  // namespace

Result<UniqueFd> open_below_root(const std::string& root, const std::string& path, int flags) {
  if (auto ok = check_target_path(root, path); !ok) return ok.error();
  UniqueFd root_fd(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid()) {
    const int err = errno;
    return cannot("open", path_on_disk(root, path), err);
  }
  return open_path_below(root_fd.get(), root, path, flags);
}

Result<UniqueFd> open_below_root(int root_fd, const std::string& root, const std::string& path,
                                 int flags) {
  return open_path_below(root_fd, root, path, flags);
}

}  // namespace kvmprov
