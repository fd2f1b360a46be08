// SPDX-License-Identifier: MIT
// LinuxHost and atomic_file against mkdtemp roots: contents, modes, symlinks, faults.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "atomic_file.h"
#include "atomic_file_internal.h"
#include "host.h"
#include "host_linux_test_util.h"
#include "util/dir_names.h"
#include "util/unique_fd.h"

using kvmprov::replace_file;
using namespace kvmprov::host_test;

namespace {

// Sets the umask for one test and restores it.
class UmaskGuard {
 public:
  explicit UmaskGuard(mode_t mask) : old_(umask(mask)) {}
  UmaskGuard(const UmaskGuard&) = delete;
  UmaskGuard& operator=(const UmaskGuard&) = delete;
  ~UmaskGuard() { umask(old_); }

 private:
  mode_t old_;
};

// Names in DIR that start with the temporary prefix.
std::vector<std::string> temporaries(const std::string& dir) {
  kvmprov::UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(fd.valid());
  auto read = kvmprov::dir_names(fd.get());
  REQUIRE(read);
  std::vector<std::string> names = std::move(*read);
  std::erase_if(names, [](const std::string& n) { return !n.starts_with(kvmprov::kTempPrefix); });
  return names;
}

}  // namespace

TEST_CASE("write_file creates the file with the exact content and mode whatever the umask") {
  TempRoot root;
  auto host = host_at(root.path());
  {
    UmaskGuard mask(077);
    auto wrote = host->target().write("/etc/modprobe.d/kvm.conf", "options kvm_intel nested=1\n",
                                      {.mode = 0644});
    REQUIRE_MESSAGE(wrote, why(wrote));
    CHECK(*wrote);
  }
  CHECK(get(root / "/etc/modprobe.d/kvm.conf") == "options kvm_intel nested=1\n");
  CHECK((lstat_of(root / "/etc/modprobe.d/kvm.conf").st_mode & 07777) == 0644);
  CHECK((lstat_of(root / "/etc").st_mode & 07777) == 0755);
  CHECK((lstat_of(root / "/etc/modprobe.d").st_mode & 07777) == 0755);
  CHECK(lstat_of(root / "/etc/modprobe.d/kvm.conf").st_uid == geteuid());
  {
    UmaskGuard mask(0);
    auto wrote = host->target().write("/etc/secret", "x", {.mode = 0600});
    REQUIRE_MESSAGE(wrote, why(wrote));
  }
  CHECK((lstat_of(root / "/etc/secret").st_mode & 07777) == 0600);
  CHECK(temporaries(root / "/etc").empty());
  CHECK(temporaries(root / "/etc/modprobe.d").empty());
}

TEST_CASE("write_file with the same content returns false and keeps the mtime") {
  TempRoot root;
  auto host = host_at(root.path());
  const std::string file = root / "/etc/modules";
  REQUIRE(*host->target().write("/etc/modules", "kvm\n", {.mode = 0644}));
  const timespec old_times[2] = {{978307200, 123}, {978307200, 456}};
  REQUIRE(utimensat(AT_FDCWD, file.c_str(), old_times, AT_SYMLINK_NOFOLLOW) == 0);
  const ino_t inode = lstat_of(file).st_ino;

  auto again = host->target().write("/etc/modules", "kvm\n", {.mode = 0644});
  REQUIRE_MESSAGE(again, why(again));
  CHECK_FALSE(*again);
  const struct stat st = lstat_of(file);
  CHECK(st.st_mtim.tv_sec == 978307200);
  CHECK(st.st_mtim.tv_nsec == 456);
  CHECK(st.st_ino == inode);

  auto info = host->target().stat("/etc/modules");
  REQUIRE(info);
  CHECK(info->mtime_ns == 978307200LL * 1000000000LL + 456);
}

TEST_CASE("write_file with different content replaces the file and takes the new mode") {
  TempRoot root;
  auto host = host_at(root.path());
  make_dir(root / "/etc");
  put(root / "/etc/modules", "loop\n", 0600);
  const ino_t inode = lstat_of(root / "/etc/modules").st_ino;

  auto wrote = host->target().write("/etc/modules", "loop\nkvm\n", {.mode = 0644});
  REQUIRE_MESSAGE(wrote, why(wrote));
  CHECK(*wrote);
  CHECK(get(root / "/etc/modules") == "loop\nkvm\n");
  const struct stat st = lstat_of(root / "/etc/modules");
  CHECK((st.st_mode & 07777) == 0644);
  CHECK(st.st_ino != inode);  // renamed into place, never rewritten in place
  CHECK(temporaries(root / "/etc").empty());

  // A shorter content of the same prefix is a change too.
  CHECK(*host->target().write("/etc/modules", "loop\n", {.mode = 0644}));
  CHECK(get(root / "/etc/modules") == "loop\n");
  CHECK(*host->target().write("/etc/modules", "", {.mode = 0644}));
  CHECK(get(root / "/etc/modules").empty());
  CHECK_FALSE(*host->target().write("/etc/modules", "", {.mode = 0644}));
}

TEST_CASE("write_file refuses a symlink at the target and leaves its target alone") {
  TempRoot root;
  TempRoot outside;
  auto host = host_at(root.path());
  make_dir(root / "/etc");
  put(outside / "/victim", "precious\n");
  REQUIRE(symlink((outside / "/victim").c_str(), (root / "/etc/modules").c_str()) == 0);

  auto wrote = host->target().write("/etc/modules", "kvm\n", {.mode = 0644});
  REQUIRE_FALSE(wrote);
  CHECK(wrote.error().message ==
        "refusing to write \"" + (root / "/etc/modules") + "\": it is a symbolic link");
  CHECK(get(outside / "/victim") == "precious\n");
  CHECK(S_ISLNK(lstat_of(root / "/etc/modules").st_mode));
  CHECK(temporaries(root / "/etc").empty());
}

TEST_CASE("write_file refuses a symlinked directory inside the root") {
  TempRoot root;
  TempRoot outside;
  auto host = host_at(root.path());
  REQUIRE(symlink(outside.path().c_str(), (root / "/etc").c_str()) == 0);

  auto wrote = host->target().write("/etc/modprobe.d/kvm.conf", "x\n", {.mode = 0644});
  REQUIRE_FALSE(wrote);
  CHECK(wrote.error().message == "refusing to write \"" + (root / "/etc/modprobe.d/kvm.conf") +
                                     "\": \"" + (root / "/etc") + "\" is a symbolic link");
  CHECK_FALSE(exists(outside / "/modprobe.d"));
}

TEST_CASE("write_file refuses a target that is a directory, and a non-directory parent") {
  TempRoot root;
  auto host = host_at(root.path());
  make_dir(root / "/etc");
  make_dir(root / "/etc/modules");
  auto wrote = host->target().write("/etc/modules", "kvm\n", {.mode = 0644});
  REQUIRE_FALSE(wrote);
  CHECK(wrote.error().message ==
        "refusing to write \"" + (root / "/etc/modules") + "\": it is a directory");

  put(root / "/etc/file", "x");
  wrote = host->target().write("/etc/file/inner", "kvm\n", {.mode = 0644});
  REQUIRE_FALSE(wrote);
  CHECK(wrote.error().message == "refusing to write \"" + (root / "/etc/file/inner") + "\": \"" +
                                     (root / "/etc/file") + "\" is not a directory");
}

TEST_CASE("write_file refuses a directory that others can write to") {
  TempRoot root;
  auto host = host_at(root.path());
  make_dir(root / "/etc", 0777);
  auto wrote = host->target().write("/etc/modules", "kvm\n", {.mode = 0644});
  REQUIRE_FALSE(wrote);
  CHECK(wrote.error().message == "refusing to write \"" + (root / "/etc/modules") +
                                     "\": directory \"" + (root / "/etc") +
                                     "\" is writable by other users");
  CHECK_FALSE(exists(root / "/etc/modules"));

  // The sticky bit keeps others from replacing what is ours, as in /run/lock.
  REQUIRE(chmod((root / "/etc").c_str(), 01777) == 0);
  auto sticky = host->target().write("/etc/modules", "kvm\n", {.mode = 0644});
  CHECK_MESSAGE(sticky, why(sticky));
}

// Skipped (and counted so) without root: chown to another user needs root.
TEST_CASE("write_file refuses a directory owned by another user" * doctest::skip(geteuid() != 0)) {
  TempRoot root;
  auto host = host_at(root.path());
  make_dir(root / "/etc");
  REQUIRE(chown((root / "/etc").c_str(), 12345, 0) == 0);
  auto wrote = host->target().write("/etc/modules", "kvm\n", {.mode = 0644});
  REQUIRE_FALSE(wrote);
  CHECK(wrote.error().message == "refusing to write \"" + (root / "/etc/modules") +
                                     "\": directory \"" + (root / "/etc") +
                                     "\" is owned by uid 12345");
}

TEST_CASE("write_file rejects relative paths and \"..\"") {
  TempRoot root;
  auto host = host_at(root.path());
  auto relative = host->target().write("etc/modules", "kvm\n", {.mode = 0644});
  REQUIRE_FALSE(relative);
  CHECK(relative.error().message == "invalid path \"etc/modules\": not absolute");

  auto dotdot = host->target().write("/etc/../../escape", "kvm\n", {.mode = 0644});
  REQUIRE_FALSE(dotdot);
  CHECK(dotdot.error().message ==
        "invalid path \"" + (root / "/etc/../../escape") + "\": \"..\" components are not allowed");
  CHECK_FALSE(host->target().read("/etc/../x"));
  CHECK_FALSE(host->target().remove("../x", std::nullopt));
  CHECK_FALSE(host->target().stat("/.."));
}

TEST_CASE("write_file removes temporaries left by a killed run but not one being written") {
  TempRoot root;
  auto host = host_at(root.path());
  make_dir(root / "/etc");
  put(root / "/etc/.kvmprov.Ab12Cd", "half-written");
  put(root / "/etc/.kvmprov.Busy00", "in progress");
  kvmprov::UniqueFd busy(open((root / "/etc/.kvmprov.Busy00").c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(busy.valid());
  REQUIRE(flock(busy.get(), LOCK_EX) == 0);

  REQUIRE(*host->target().write("/etc/modules", "kvm\n", {.mode = 0644}));
  CHECK(temporaries(root / "/etc") == std::vector<std::string>{".kvmprov.Busy00"});

  busy.reset();
  REQUIRE(*host->target().write("/etc/modules", "kvm\nvhost_net\n", {.mode = 0644}));
  CHECK(temporaries(root / "/etc").empty());
}

// Skipped (and counted so) without root: a read-only bind mount needs root.
TEST_CASE("write_file on a read-only filesystem fails naming the path and keeps the old file" *
          doctest::skip(geteuid() != 0)) {
  TempRoot root;
  make_dir(root / "/etc");
  put(root / "/etc/modules", "old\n");

  int pipe_fds[2];
  REQUIRE(pipe2(pipe_fds, O_CLOEXEC) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(pipe_fds[0]);
    auto report = [&](int status, const std::string& text) {
      const std::string line = text + "\n";
      if (write(pipe_fds[1], line.data(), line.size()) < 0) _exit(3);
      _exit(status);
    };
    const std::string etc = root / "/etc";
    if (!private_mount_namespace())
      report(kCannotRunHere, std::string("private mount namespace: ") + std::strerror(errno));
    if (mount(etc.c_str(), etc.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
        mount(nullptr, etc.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      report(kCannotRunHere, std::string("mount: ") + std::strerror(errno));
    }
    auto replaced = replace_file(root.path(), "/etc/modules", "new\n", {});
    if (replaced) report(1, "write to a read-only directory succeeded");
    auto created = replace_file(root.path(), "/etc/modprobe.d/kvm.conf", "new\n", {});
    if (created) report(1, "directory creation on a read-only mount succeeded");
    const std::string both = replaced.error().message + "\n" + created.error().message;
    if (write(pipe_fds[1], both.data(), both.size()) < 0) _exit(3);
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string output;
  char buf[1024];
  ssize_t n = 0;
  while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0) output.append(buf, static_cast<size_t>(n));
  close(pipe_fds[0]);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  if (WEXITSTATUS(status) == kCannotRunHere) {
    MESSAGE("skipped: no private mount namespace here: " << output);
    return;
  }
  REQUIRE_MESSAGE(WEXITSTATUS(status) == 0, output);
  CHECK(output == "cannot write \"" + (root / "/etc/modules") +
                      "\": Read-only file system\n"
                      "cannot write \"" +
                      (root / "/etc/modprobe.d/kvm.conf") + "\": cannot create directory \"" +
                      (root / "/etc/modprobe.d") + "\": Read-only file system");
  CHECK(get(root / "/etc/modules") == "old\n");
  CHECK(temporaries(root / "/etc").empty());
}

TEST_CASE("remove_file removes files and symlinks, never their targets or directories") {
  TempRoot root;
  auto host = host_at(root.path());
  CHECK_FALSE(*host->target().remove("/etc/modules", std::nullopt));
  make_dir(root / "/etc");
  CHECK_FALSE(*host->target().remove("/etc/modules", std::nullopt));

  put(root / "/etc/modules", "kvm\n");
  auto removed = host->target().remove("/etc/modules", std::nullopt);
  REQUIRE_MESSAGE(removed, why(removed));
  CHECK(*removed);
  CHECK_FALSE(exists(root / "/etc/modules"));

  put(root / "/etc/real", "keep\n");
  REQUIRE(symlink("/etc/real", (root / "/etc/link").c_str()) == 0);
  CHECK(*host->target().remove("/etc/link", std::nullopt));
  CHECK_FALSE(exists(root / "/etc/link"));
  CHECK(get(root / "/etc/real") == "keep\n");

  make_dir(root / "/etc/dir");
  auto dir = host->target().remove("/etc/dir", std::nullopt);
  REQUIRE_FALSE(dir);
  CHECK(dir.error().message ==
        "refusing to remove \"" + (root / "/etc/dir") + "\": it is a directory");
  CHECK(exists(root / "/etc/dir"));
}

TEST_CASE("read_file reads regular files and resolves symlinks inside the root") {
  TempRoot root;
  auto host = host_at(root.path());
  auto absent = host->target().read("/etc/modules");
  REQUIRE(absent);
  CHECK_FALSE(absent->has_value());

  make_dir(root / "/etc");
  put(root / "/etc/real", "inside\n");
  REQUIRE(symlink("/etc/real", (root / "/etc/modules").c_str()) == 0);
  auto through = host->target().read("/etc/modules");
  REQUIRE_MESSAGE(through, why(through));
  CHECK(through->value_or("") == "inside\n");

  // An absolute or climbing symlink stays in the root: this root has no /etc/passwd.
  REQUIRE(symlink("/etc/passwd", (root / "/etc/absolute").c_str()) == 0);
  REQUIRE(symlink("../../../../../../../etc/passwd", (root / "/etc/climbing").c_str()) == 0);
  for (const char* link : {"/etc/absolute", "/etc/climbing"}) {
    auto escaped = host->target().read(link);
    REQUIRE(escaped);
    CHECK_FALSE(escaped->has_value());
  }

  auto dir = host->target().read("/etc");
  REQUIRE_FALSE(dir);
  CHECK(dir.error().message == "cannot read \"" + (root / "/etc") + "\": Is a directory");
}

namespace {

// What opening RELATIVE below ROOT_FD gave: the file's identity, or the errno.
struct Opened {
  int err = 0;
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const Opened&) const = default;
};

Opened opened(int fd) {
  if (fd < 0) return {.err = errno};
  struct stat st {};
  REQUIRE(fstat(fd, &st) == 0);
  close(fd);
  return {.dev = st.st_dev, .ino = st.st_ino};
}

Opened walked(int root_fd, const std::string& relative, int flags) {
  return opened(kvmprov::atomic_file_detail::open_in_root_by_walk(root_fd, relative, flags));
}

std::string describe(const Opened& o) {
  return o.err ? std::string(std::strerror(o.err)) : "inode " + std::to_string(o.ino);
}

}  // namespace

// The walk for kernels without openat2: what an attacker plants in an image (absolute links,
// links climbing with "..", a link to "/", loops, a chain one link too long, a FIFO) resolves
// inside the root; and where this kernel has openat2, exactly as RESOLVE_IN_ROOT does.
TEST_CASE("the walk below a root resolves every link inside it, as openat2's RESOLVE_IN_ROOT") {
  TempRoot root;
  make_dir(root / "/etc");
  make_dir(root / "/lib");
  put(root / "/etc/real", "inside\n");
  const std::vector<std::pair<std::string, std::string>> links = {
      {"/etc/absolute", "/etc/real"},
      {"/etc/relative", "real"},
      {"/etc/climbing", "../../../../../../etc/real"},
      {"/etc/passwd-link", "/etc/passwd"},  // the build host has one; this root has not
      {"/etc/to-root", "/"},
      {"/etc/dots", "./../etc/./real"},
      {"/etc/loop-a", "loop-b"},
      {"/etc/loop-b", "loop-a"},
      {"/etc/dir", "/etc"},
      {"/etc/dangling", "/nowhere"},
      {"/lib/proc-root", "/proc/self/root/etc/passwd"},
      {"/etc/slash", "real/"},  // a trailing "/" or "/." names a directory, which real is not
      {"/etc/slash-dot", "/etc/real/."},
      {"/etc/sub-slash", "/etc/sub/"},
      {"/etc/up-after-slash", "sub-slash/../real"},
  };
  make_dir(root / "/etc/sub");
  // 300 directories deep, and back up: the walk holds one directory open, not one per level.
  std::string deep;
  for (int i = 0; i < 300; ++i) {
    deep += "/d";
    make_dir(root / deep);
  }
  put(root / (deep + "/f"), "deep\n");
  std::string up_again = deep;
  for (int i = 0; i < 300; ++i) up_again += "/..";
  REQUIRE(symlink((deep + "/f").c_str(), (root / "/etc/deep").c_str()) == 0);
  REQUIRE(symlink((up_again + "/etc/real").c_str(), (root / "/etc/deep-up").c_str()) == 0);
  for (const auto& [link, target] : links)
    REQUIRE(symlink(target.c_str(), (root / link).c_str()) == 0);
  // A chain of 40 links resolves (the kernel's limit); one more is a loop.
  for (int i = 0; i < 41; ++i) {
    const std::string next = i == 40 ? "real" : "chain" + std::to_string(i + 1);
    REQUIRE(symlink(next.c_str(), (root / ("/etc/chain" + std::to_string(i))).c_str()) == 0);
  }
  REQUIRE(mkfifo((root / "/etc/fifo").c_str(), 0600) == 0);
  kvmprov::UniqueFd root_fd(open(root.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(root_fd.valid());
  const Opened real = walked(root_fd.get(), "etc/real", O_RDONLY);
  REQUIRE(real.err == 0);
  const Opened etc = walked(root_fd.get(), "etc", O_PATH | O_DIRECTORY);
  REQUIRE(etc.err == 0);

  const int kRead = O_RDONLY | O_NOCTTY | O_NONBLOCK;
  CHECK(walked(root_fd.get(), "etc/absolute", kRead) == real);
  CHECK(walked(root_fd.get(), "etc/relative", kRead) == real);
  CHECK(walked(root_fd.get(), "etc/climbing", kRead) == real);
  CHECK(walked(root_fd.get(), "etc/dots", kRead) == real);
  CHECK(walked(root_fd.get(), "etc/to-root/etc/to-root/etc/real", kRead) == real);
  CHECK(walked(root_fd.get(), "etc/dir/dir/real", kRead) == real);
  CHECK(walked(root_fd.get(), "etc/dir", O_PATH | O_DIRECTORY) == etc);
  CHECK(walked(root_fd.get(), "etc/chain1", kRead) == real);
  CHECK(walked(root_fd.get(), "etc/passwd-link", kRead).err == ENOENT);
  CHECK(walked(root_fd.get(), "lib/proc-root", kRead).err == ENOENT);
  CHECK(walked(root_fd.get(), "etc/dangling", kRead).err == ENOENT);
  CHECK(walked(root_fd.get(), "etc/loop-a", kRead).err == ELOOP);
  CHECK(walked(root_fd.get(), "etc/chain0", kRead).err == ELOOP);
  CHECK(walked(root_fd.get(), "etc/real/x", kRead).err == ENOTDIR);
  CHECK(walked(root_fd.get(), "etc/real", O_PATH | O_DIRECTORY).err == ENOTDIR);
  CHECK(walked(root_fd.get(), "etc/fifo", kRead).err == 0);  // O_NONBLOCK: no wait for a writer
  CHECK(walked(root_fd.get(), "etc/slash", kRead).err == ENOTDIR);
  CHECK(walked(root_fd.get(), "etc/slash-dot", kRead).err == ENOTDIR);
  CHECK(walked(root_fd.get(), "etc/up-after-slash", kRead) == real);
  CHECK(walked(root_fd.get(), "etc/sub-slash", O_PATH | O_DIRECTORY).err == 0);
  const Opened deep_file = opened(open((root / (deep + "/f")).c_str(), O_RDONLY | O_CLOEXEC));
  CHECK(walked(root_fd.get(), "etc/deep", kRead) == deep_file);
  CHECK(walked(root_fd.get(), "etc/deep-up", kRead) == real);
  const int status = exit_status_of_child([&] {
    const rlimit few{.rlim_cur = 16, .rlim_max = 16};
    const bool ok = setrlimit(RLIMIT_NOFILE, &few) == 0 &&
                    walked(root_fd.get(), "etc/deep", kRead) == deep_file &&
                    walked(root_fd.get(), "etc/deep-up", kRead) == real;
    return ok ? 0 : 1;
  });
  CHECK_MESSAGE(status == 0, "300 levels deep with 16 descriptors allowed");
  CHECK(walked(root_fd.get(), "", O_PATH | O_DIRECTORY) == walked(root_fd.get(), ".", O_PATH));

  // Every case again, and each with O_PATH, against the kernel's own resolution where it has one.
  open_how how{};
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  how.flags = O_PATH | O_CLOEXEC;
  const long probe = syscall(SYS_openat2, root_fd.get(), "etc", &how, sizeof how);
  if (probe < 0) {
    MESSAGE("openat2 unavailable here (" << std::strerror(errno) << "): no comparison");
    return;
  }
  close(static_cast<int>(probe));
  std::vector<std::string> paths = {"etc/real/x", "etc/chain0", "etc/chain1", "etc/fifo",
                                    "etc",        "etc/deep",   "etc/deep-up"};
  for (const auto& [link, target] : links) paths.push_back(link.substr(1));
  for (const std::string& path : paths) {
    for (int flags : {kRead, O_PATH, O_PATH | O_DIRECTORY, O_RDONLY | O_DIRECTORY}) {
      how.flags = static_cast<unsigned>(flags | O_CLOEXEC);
      const Opened kernel = opened(
          static_cast<int>(syscall(SYS_openat2, root_fd.get(), path.c_str(), &how, sizeof how)));
      const Opened ours = walked(root_fd.get(), path, flags);
      CHECK_MESSAGE(ours == kernel, path << " with flags " << flags << ": the walk gives "
                                         << describe(ours) << ", openat2 " << describe(kernel));
    }
  }
}

// A directory renamed while the walk is inside it: ".." leads where the directory now is only
// while that is the level recorded above it; otherwise the levels are walked to again by name.
TEST_CASE("the walk below a root goes up by the names it came down when a rename moved a level") {
  TempRoot root;
  for (const char* dir : {"/a", "/a/b", "/a/b/c", "/x"}) make_dir(root / dir);
  kvmprov::UniqueFd root_fd(open(root.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  REQUIRE(root_fd.valid());
  const auto inode = [](int fd) {
    struct stat st {};
    REQUIRE(fstat(fd, &st) == 0);
    return st.st_ino;
  };
  const auto path_inode = [](const std::string& path) {
    struct stat st {};
    REQUIRE(stat(path.c_str(), &st) == 0);
    return st.st_ino;
  };
  kvmprov::atomic_file_detail::InRootDirs dirs(root_fd.get());
  for (const char* name : {"a", "b", "c"}) {
    kvmprov::UniqueFd fd(openat(dirs.fd(), name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    REQUIRE(fd.valid());
    REQUIRE(dirs.down(name, std::move(fd)));
  }
  REQUIRE(rename((root / "/a/b").c_str(), (root / "/x/b").c_str()) == 0);
  REQUIRE(dirs.up());  // c's parent is still the b recorded, now in /x
  CHECK(inode(dirs.fd()) == path_inode(root / "/x/b"));
  REQUIRE(dirs.up());  // b's parent is /x, not the /a recorded: /a again, by its name
  CHECK(inode(dirs.fd()) == path_inode(root / "/a"));
  REQUIRE(dirs.up());
  CHECK(dirs.fd() == root_fd.get());
  REQUIRE(dirs.up());  // ".." of the root is the root
  CHECK(dirs.fd() == root_fd.get());
}

// Skipped (and counted so) without root: /proc is bind-mounted into the root in a namespace.
TEST_CASE("the walk below a root refuses the links of a /proc mounted there, as openat2 does" *
          doctest::skip(geteuid() != 0)) {
  TempRoot root;
  make_dir(root / "/etc");
  make_dir(root / "/proc");
  put(root / "/etc/real", "inside\n");
  // 0: each plain link followed, each magic one refused with ELOOP; 1: not.
  const int status = exit_status_of_child([&] {
    const std::string proc = root / "/proc";
    if (!private_mount_namespace() ||
        mount("/proc", proc.c_str(), nullptr, MS_BIND | MS_REC, nullptr))
      return kCannotRunHere;
    const int root_fd = open(root.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    bool as_openat2 = root_fd >= 0;
    // /proc/self and /proc/mounts are plain links, followed as openat2 follows them.
    for (const char* plain : {"proc/self/status", "proc/mounts", "proc/thread-self/status"}) {
      const int fd = kvmprov::atomic_file_detail::open_in_root_by_walk(root_fd, plain, O_RDONLY);
      as_openat2 = as_openat2 && fd >= 0;
      if (fd >= 0) close(fd);
    }
    // /proc/self/root's text is "/", /proc/self/cwd's a path of the build host: followed as
    // text they would name files of the image that the links do not lead to.
    for (const char* magic : {"proc/self/root/etc/real", "proc/self/cwd", "proc/self/exe",
                              "proc/1/root/etc/real", "proc/self/fd/0"}) {
      for (int flags : {O_RDONLY | O_NONBLOCK, O_PATH}) {
        errno = 0;
        const int fd = kvmprov::atomic_file_detail::open_in_root_by_walk(root_fd, magic, flags);
        as_openat2 = as_openat2 && fd < 0 && errno == ELOOP;
      }
    }
    return as_openat2 ? 0 : 1;
  });
  if (status == kCannotRunHere) {
    MESSAGE("skipped: /proc cannot be bind-mounted in a private mount namespace here");
    return;
  }
  CHECK(status == 0);
}

namespace {

// Makes openat2 fail with ERR in this process from now on, as a kernel before 5.6 (ENOSYS) or a
// seccomp filter older than openat2 (Docker's before 20.10: EPERM) does. False where a filter
// cannot be installed.
bool refuse_openat2(int err) {
  constexpr auto kLoad = static_cast<unsigned short>(BPF_LD | BPF_W | BPF_ABS);
  constexpr auto kJumpIfEqual = static_cast<unsigned short>(BPF_JMP | BPF_JEQ | BPF_K);
  constexpr auto kReturn = static_cast<unsigned short>(BPF_RET | BPF_K);
  sock_filter filter[] = {
      {kLoad, 0, 0, offsetof(seccomp_data, nr)},
      {kJumpIfEqual, 0, 1, SYS_openat2},
      {kReturn, 0, 0, SECCOMP_RET_ERRNO | (static_cast<unsigned>(err) & SECCOMP_RET_DATA)},
      {kReturn, 0, 0, SECCOMP_RET_ALLOW},
  };
  sock_fprog program{.len = static_cast<unsigned short>(std::size(filter)), .filter = filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

}  // namespace

// Through the Host seam, as every verb reads an image: where openat2 is refused, links resolve
// inside the root all the same, and a link to the build host's /etc/passwd finds nothing.
TEST_CASE("reads below a root stay inside it where openat2 is refused (ENOSYS, EPERM)") {
  TempRoot root;
  make_dir(root / "/etc");
  put(root / "/etc/real", "inside\n");
  REQUIRE(symlink("/etc/real", (root / "/etc/modules").c_str()) == 0);
  REQUIRE(symlink("/etc/passwd", (root / "/etc/absolute").c_str()) == 0);
  REQUIRE(symlink("../../../../../../etc/passwd", (root / "/etc/climbing").c_str()) == 0);
  for (const int err : {ENOSYS, EPERM}) {
    // 0: as openat2 would; 1: a link left the root or was not followed; 2: openat2 still works.
    const int status = exit_status_of_child([&] {
      if (!refuse_openat2(err)) return kCannotRunHere;
      open_how how{.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
      if (syscall(SYS_openat2, AT_FDCWD, "/", &how, sizeof how) != -1 || errno != err) return 2;
      auto host = host_at(root.path());
      auto through = host->target().read("/etc/modules");
      bool inside = through && through->value_or("") == "inside\n";
      for (const char* link : {"/etc/absolute", "/etc/climbing"}) {
        auto escaped = host->target().read(link);
        inside = inside && escaped && !escaped->has_value();
      }
      return inside ? 0 : 1;
    });
    if (status == kCannotRunHere) {
      MESSAGE("skipped: no seccomp filter can be installed here");
      return;
    }
    CHECK_MESSAGE(status == 0, "openat2 refused with " << std::string(std::strerror(err)));
  }
}

TEST_CASE("stat reports symlinks, directories and character devices without following") {
  TempRoot root;
  auto host = host_at(root.path());
  auto absent = host->target().stat("/dev/kvm");
  REQUIRE(absent);
  CHECK_FALSE(absent->exists);

  make_dir(root / "/etc");
  REQUIRE(symlink("/nowhere", (root / "/etc/link").c_str()) == 0);
  auto link = host->target().stat("/etc/link");
  REQUIRE(link);
  CHECK(link->exists);
  CHECK(link->symlink);
  CHECK_FALSE(link->regular);

  auto etc = host->target().stat("/etc");
  REQUIRE(etc);
  CHECK(etc->directory);
  CHECK(etc->mode == 0755);

  if (geteuid() != 0) {
    MESSAGE("skipped: mknod needs root");
    return;
  }
  make_dir(root / "/dev");
  REQUIRE(mknod((root / "/dev/kvm").c_str(), S_IFCHR | 0600, makedev(10, 232)) == 0);
  REQUIRE(chmod((root / "/dev/kvm").c_str(), 0660) == 0);
  REQUIRE(chown((root / "/dev/kvm").c_str(), 0, 36) == 0);
  auto kvm = host->target().stat("/dev/kvm");
  REQUIRE(kvm);
  CHECK(kvm->exists);
  CHECK(kvm->char_device);
  CHECK_FALSE(kvm->regular);
  CHECK(kvm->mode == 0660);
  CHECK(kvm->uid == 0);
  CHECK(kvm->gid == 36);
}

TEST_CASE("has_systemd looks for an executable systemd in the root") {
  TempRoot root;
  auto host = host_at(root.path());
  CHECK_FALSE(host->has_systemd());
  make_dir(root / "/usr");
  make_dir(root / "/usr/lib");
  make_dir(root / "/usr/lib/systemd");
  put(root / "/usr/lib/systemd/systemd", "", 0644);
  CHECK_FALSE(host->has_systemd());
  REQUIRE(chmod((root / "/usr/lib/systemd/systemd").c_str(), 0755) == 0);
  CHECK(host->has_systemd());
}

TEST_CASE("the root is canonical and only \"/\" is live") {
  TempRoot root;
  auto host = host_at(root.path() + "//");
  CHECK_FALSE(host->live());
  CHECK(host->root() == root.path());
  CHECK(host_at("/")->live());
  CHECK(host_at("/")->root() == "/");
}

TEST_CASE("refusals gives what can_write and can_remove give, for every kind of path") {
  TempRoot root;
  auto host = host_at(root.path());
  make_dir(root / "/etc");
  put(root / "/etc/ok", "x");
  REQUIRE(symlink("ok", (root / "/etc/link").c_str()) == 0);
  make_dir(root / "/etc/dir");
  REQUIRE(mkfifo((root / "/etc/fifo").c_str(), 0644) == 0);
  make_dir(root / "/open", 0777);
  put(root / "/open/file", "x");
  REQUIRE(symlink("etc", (root / "/linked").c_str()) == 0);
  put(root / "/file", "x");
  const std::vector<std::string> paths = {
      "/etc/ok",    "/etc/missing", "/etc/link",  "/etc/dir",    "/etc/fifo",
      "/open/file", "/open/none",   "/linked/ok", "/file/inner", "/none/deeper/x",
      "/",          "etc/ok",       "/etc/../ok"};
  const auto message = [](const std::optional<kvmprov::Error>& e) {
    return e ? e->message : std::string();
  };
  for (const auto& path : paths) {
    for (const kvmprov::WriteOptions& options :
         {kvmprov::WriteOptions{}, kvmprov::WriteOptions{.keep_owner = true, .safe_dirs = false}}) {
      CAPTURE(path);
      CAPTURE(options.safe_dirs);
      const kvmprov::Refusals r = host->target().refusals(path, options);
      CHECK(message(r.write) == why(host->target().can_write(path, options)));
      CHECK(message(r.remove) == why(host->target().can_remove(path)));
    }
  }
  // The cases differ where they should: a symlink may be removed but not written through, and an
  // open directory keeps only the write out.
  CHECK(host->target().refusals("/etc/link", {}).write);
  CHECK_FALSE(host->target().refusals("/etc/link", {}).remove);
  CHECK(host->target().refusals("/open/file", {}).write);
  CHECK_FALSE(host->target().refusals("/open/file", {}).remove);
  CHECK_FALSE(host->target().refusals("/open/file", {.safe_dirs = false}).write);
  CHECK(host->target().refusals("/etc/fifo", {}).remove);
  CHECK(host->target().refusals("/linked/ok", {}).remove);
}

TEST_CASE("refusals walks a shared directory once, and never trusts it beyond what it passed") {
  TempRoot root;
  auto host = host_at(root.path());
  make_dir(root / "/etc");
  make_dir(root / "/etc/open", 0777);
  make_dir(root / "/etc/real");
  REQUIRE(symlink("real", (root / "/etc/link").c_str()) == 0);
  // Walked without the safety checks first (a shared file's walk), then with them: the open
  // directory passed only the lesser walk, so the stricter one still refuses it.
  CHECK_FALSE(
      host->target().refusals("/etc/open/a", {.keep_owner = true, .safe_dirs = false}).write);
  const auto strict = host->target().refusals("/etc/open/b", {});
  REQUIRE(strict.write);
  CHECK(strict.write->message.find("is writable by other users") != std::string::npos);
  // A refusal is not kept as a pass: the symlinked directory is refused every time, while the
  // directories beside it that passed are reused.
  for (int i = 0; i < 2; ++i) {
    const auto linked = host->target().refusals("/etc/link/x", {});
    REQUIRE(linked.write);
    CHECK(linked.write->message.find("is a symbolic link") != std::string::npos);
    CHECK_FALSE(host->target().refusals("/etc/real/x", {}).write);
    CHECK_FALSE(host->target().refusals("/etc/x", {}).write);
  }
  // A file made after a walk is seen: only directories are kept, the file is looked at each time.
  put(root / "/etc/real/late", "x");
  REQUIRE(mkfifo((root / "/etc/real/fifo").c_str(), 0644) == 0);
  CHECK_FALSE(host->target().refusals("/etc/real/late", {}).write);
  CHECK(host->target().refusals("/etc/real/fifo", {}).write);
}

TEST_CASE("check_refusals keeps only the directories that passed, under the walk they passed") {
  TempRoot root;
  make_dir(root / "/etc");
  make_dir(root / "/etc/open", 0777);
  make_dir(root / "/etc/real");
  REQUIRE(symlink("real", (root / "/etc/link").c_str()) == 0);
  kvmprov::WalkCache cache;
  const kvmprov::WriteOptions strict{}, shared{.keep_owner = true, .safe_dirs = false};
  CHECK_FALSE(kvmprov::check_refusals(root.path(), "/etc/real/x", strict, &cache).write);
  CHECK_FALSE(kvmprov::check_refusals(root.path(), "/etc/open/a", shared, &cache).write);
  CHECK(kvmprov::check_refusals(root.path(), "/etc/open/b", strict, &cache).write);
  CHECK(kvmprov::check_refusals(root.path(), "/etc/link/x", strict, &cache).write);
  CHECK(cache.find("safe:") >= 0);
  CHECK(cache.find("safe:/etc") >= 0);
  CHECK(cache.find("safe:/etc/real") >= 0);
  CHECK(cache.find("existing:/etc/open") >= 0);
  CHECK(cache.find("safe:/etc/open") < 0);
  CHECK(cache.find("safe:/etc/link") < 0);
  CHECK(cache.find("existing:/etc/link") < 0);
  // What is kept is the directory walked to, not a name that may point elsewhere later.
  struct stat kept {
  }, real{};
  REQUIRE(fstat(cache.find("safe:/etc/real"), &kept) == 0);
  REQUIRE(stat((root / "/etc/real").c_str(), &real) == 0);
  CHECK(kept.st_ino == real.st_ino);
}

TEST_CASE("list gives every name of a directory larger than one getdents64 read, sorted") {
  TempRoot root;
  // 3000 entries of 60-byte names fill several 32 KiB buffers; some names are bytes that are not
  // UTF-8 or hold a newline, and there are directories, symlinks and a FIFO among them.
  std::vector<std::string> want;
  REQUIRE(mkdir((root / "/etc").c_str(), 0755) == 0);
  REQUIRE(mkdir((root / "/etc/many.d").c_str(), 0755) == 0);
  for (int i = 0; i < 3000; ++i) {
    std::string name = "entry-" + std::to_string(i) + std::string(50, 'x');
    if (i % 500 == 1) name += "\xff\xfe";
    if (i % 700 == 2) name += "\nline";
    const std::string path = root / ("/etc/many.d/" + name);
    if (i % 3 == 0) {
      put(path, "rule\n");
    } else if (i % 3 == 1) {
      REQUIRE(mkdir(path.c_str(), 0755) == 0);
    } else if (i % 300 == 2) {
      REQUIRE(mkfifo(path.c_str(), 0644) == 0);
    } else {
      REQUIRE(symlink("/dev/null", path.c_str()) == 0);
    }
    want.push_back(name);
  }
  std::sort(want.begin(), want.end());
  auto host = host_at(root.path());
  auto names = host->target().list("/etc/many.d");
  REQUIRE(names);
  CHECK(names->size() == want.size());
  CHECK(*names == want);
  CHECK(std::find(names->begin(), names->end(), ".") == names->end());
  CHECK(std::find(names->begin(), names->end(), "..") == names->end());

  // An empty directory has no names; a missing one or a file where the directory should be
  // lists as empty, as a conf dir that is not there.
  REQUIRE(mkdir((root / "/etc/empty.d").c_str(), 0755) == 0);
  auto empty = host->target().list("/etc/empty.d");
  REQUIRE(empty);
  CHECK(empty->empty());
  put(root / "/etc/file.d", "not a directory\n");
  auto file = host->target().list("/etc/file.d");
  REQUIRE(file);
  CHECK(file->empty());
}

TEST_CASE("dir_names fails with ENOTDIR on a file descriptor that is not a directory") {
  TempRoot root;
  put(root / "/f", "x");
  kvmprov::UniqueFd fd(open((root / "/f").c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.valid());
  auto names = kvmprov::dir_names(fd.get());
  REQUIRE_FALSE(names);
  CHECK(names.error().code == ENOTDIR);
}
