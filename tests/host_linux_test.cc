// SPDX-License-Identifier: MIT
// LinuxHost and atomic_file against mkdtemp roots: contents, modes, symlinks, locks, faults.
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "atomic_file.h"
#include "host.h"
#include "linux/lock.h"
#include "test_util.h"

using kvmprov::make_linux_host;
using kvmprov::replace_file;
using namespace std::chrono_literals;

namespace {

// A fresh directory under /tmp, removed with everything in it at scope exit.
class TempRoot : public kvmprov::test::TempDir {
 public:
  TempRoot() : TempDir("kvmprov-test") {}
};

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

void put(const std::string& path, const std::string& content, mode_t mode = 0644) {
  kvmprov::UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  REQUIRE(fd.valid());
  REQUIRE(write(fd.get(), content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  REQUIRE(fchmod(fd.get(), mode) == 0);
}

std::string get(const std::string& path) {
  kvmprov::UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.valid());
  std::string content;
  char buf[4096];
  ssize_t n = 0;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0) content.append(buf, static_cast<size_t>(n));
  return content;
}

void make_dir(const std::string& path, mode_t mode = 0755) {
  REQUIRE(mkdir(path.c_str(), mode) == 0);
  REQUIRE(chmod(path.c_str(), mode) == 0);
}

struct stat lstat_of(const std::string& path) {
  struct stat st {};
  REQUIRE(lstat(path.c_str(), &st) == 0);
  return st;
}

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

// Names in DIR that start with the temporary prefix.
std::vector<std::string> temporaries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  REQUIRE(d != nullptr);
  while (const dirent* e = readdir(d)) {
    if (std::string_view(e->d_name).starts_with(kvmprov::kTempPrefix))
      names.emplace_back(e->d_name);
  }
  closedir(d);
  return names;
}

// The error message of R, "" when R succeeded (doctest evaluates messages even on success).
template <class T>
std::string why(const kvmprov::Result<T>& r) {
  return r ? std::string() : r.error().message;
}

std::unique_ptr<kvmprov::Host> host_at(const std::string& root) {
  kvmprov::LinuxHostOptions options;
  options.root = root;
  return make_linux_host(options);
}

// A host whose kernel is the fixture tree tests/data/kmod/NAME, with no module tree.
std::unique_ptr<kvmprov::Host> kmod_fixture_host(const std::string& name) {
  kvmprov::LinuxHostOptions options;
  options.kernel_root = std::string(KVMPROV_TEST_DATA) + "/kmod/" + name;
  options.modules_dir = "/nonexistent/lib/modules/6.1.0-test";
  return make_linux_host(options);
}

}  // namespace

TEST_CASE("write_file creates the file with the exact content and mode whatever the umask") {
  TempRoot root;
  auto host = host_at(root.path());
  {
    UmaskGuard mask(077);
    auto wrote = host->write_file("/etc/modprobe.d/kvm.conf", "options kvm_intel nested=1\n",
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
    auto wrote = host->write_file("/etc/secret", "x", {.mode = 0600});
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
  REQUIRE(*host->write_file("/etc/modules", "kvm\n", {.mode = 0644}));
  const timespec old_times[2] = {{978307200, 123}, {978307200, 456}};
  REQUIRE(utimensat(AT_FDCWD, file.c_str(), old_times, AT_SYMLINK_NOFOLLOW) == 0);
  const ino_t inode = lstat_of(file).st_ino;

  auto again = host->write_file("/etc/modules", "kvm\n", {.mode = 0644});
  REQUIRE_MESSAGE(again, why(again));
  CHECK_FALSE(*again);
  const struct stat st = lstat_of(file);
  CHECK(st.st_mtim.tv_sec == 978307200);
  CHECK(st.st_mtim.tv_nsec == 456);
  CHECK(st.st_ino == inode);

  auto info = host->stat("/etc/modules");
  REQUIRE(info);
  CHECK(info->mtime_ns == 978307200LL * 1000000000LL + 456);
}

TEST_CASE("write_file with different content replaces the file and takes the new mode") {
  TempRoot root;
  auto host = host_at(root.path());
  make_dir(root / "/etc");
  put(root / "/etc/modules", "loop\n", 0600);
  const ino_t inode = lstat_of(root / "/etc/modules").st_ino;

  auto wrote = host->write_file("/etc/modules", "loop\nkvm\n", {.mode = 0644});
  REQUIRE_MESSAGE(wrote, why(wrote));
  CHECK(*wrote);
  CHECK(get(root / "/etc/modules") == "loop\nkvm\n");
  const struct stat st = lstat_of(root / "/etc/modules");
  CHECK((st.st_mode & 07777) == 0644);
  CHECK(st.st_ino != inode);  // renamed into place, never rewritten in place
  CHECK(temporaries(root / "/etc").empty());

  // A shorter content of the same prefix is a change too.
  CHECK(*host->write_file("/etc/modules", "loop\n", {.mode = 0644}));
  CHECK(get(root / "/etc/modules") == "loop\n");
  CHECK(*host->write_file("/etc/modules", "", {.mode = 0644}));
  CHECK(get(root / "/etc/modules").empty());
  CHECK_FALSE(*host->write_file("/etc/modules", "", {.mode = 0644}));
}

TEST_CASE("write_file refuses a symlink at the target and leaves its target alone") {
  TempRoot root;
  TempRoot outside;
  auto host = host_at(root.path());
  make_dir(root / "/etc");
  put(outside / "/victim", "precious\n");
  REQUIRE(symlink((outside / "/victim").c_str(), (root / "/etc/modules").c_str()) == 0);

  auto wrote = host->write_file("/etc/modules", "kvm\n", {.mode = 0644});
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

  auto wrote = host->write_file("/etc/modprobe.d/kvm.conf", "x\n", {.mode = 0644});
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
  auto wrote = host->write_file("/etc/modules", "kvm\n", {.mode = 0644});
  REQUIRE_FALSE(wrote);
  CHECK(wrote.error().message ==
        "refusing to write \"" + (root / "/etc/modules") + "\": it is a directory");

  put(root / "/etc/file", "x");
  wrote = host->write_file("/etc/file/inner", "kvm\n", {.mode = 0644});
  REQUIRE_FALSE(wrote);
  CHECK(wrote.error().message == "refusing to write \"" + (root / "/etc/file/inner") + "\": \"" +
                                     (root / "/etc/file") + "\" is not a directory");
}

TEST_CASE("write_file refuses a directory that others can write to") {
  TempRoot root;
  auto host = host_at(root.path());
  make_dir(root / "/etc", 0777);
  auto wrote = host->write_file("/etc/modules", "kvm\n", {.mode = 0644});
  REQUIRE_FALSE(wrote);
  CHECK(wrote.error().message == "refusing to write \"" + (root / "/etc/modules") +
                                     "\": directory \"" + (root / "/etc") +
                                     "\" is writable by other users");
  CHECK_FALSE(exists(root / "/etc/modules"));

  // The sticky bit keeps others from replacing what is ours, as in /run/lock.
  REQUIRE(chmod((root / "/etc").c_str(), 01777) == 0);
  auto sticky = host->write_file("/etc/modules", "kvm\n", {.mode = 0644});
  CHECK_MESSAGE(sticky, why(sticky));
}

// Skipped (and counted so) without root: chown to another user needs root.
TEST_CASE("write_file refuses a directory owned by another user" * doctest::skip(geteuid() != 0)) {
  TempRoot root;
  auto host = host_at(root.path());
  make_dir(root / "/etc");
  REQUIRE(chown((root / "/etc").c_str(), 12345, 0) == 0);
  auto wrote = host->write_file("/etc/modules", "kvm\n", {.mode = 0644});
  REQUIRE_FALSE(wrote);
  CHECK(wrote.error().message == "refusing to write \"" + (root / "/etc/modules") +
                                     "\": directory \"" + (root / "/etc") +
                                     "\" is owned by uid 12345");
}

TEST_CASE("write_file rejects relative paths and \"..\"") {
  TempRoot root;
  auto host = host_at(root.path());
  auto relative = host->write_file("etc/modules", "kvm\n", {.mode = 0644});
  REQUIRE_FALSE(relative);
  CHECK(relative.error().message == "invalid path \"etc/modules\": not absolute");

  auto dotdot = host->write_file("/etc/../../escape", "kvm\n", {.mode = 0644});
  REQUIRE_FALSE(dotdot);
  CHECK(dotdot.error().message ==
        "invalid path \"" + (root / "/etc/../../escape") + "\": \"..\" components are not allowed");
  CHECK_FALSE(host->read_file("/etc/../x"));
  CHECK_FALSE(host->remove_file("../x", std::nullopt));
  CHECK_FALSE(host->stat("/.."));
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

  REQUIRE(*host->write_file("/etc/modules", "kvm\n", {.mode = 0644}));
  CHECK(temporaries(root / "/etc") == std::vector<std::string>{".kvmprov.Busy00"});

  busy.reset();
  REQUIRE(*host->write_file("/etc/modules", "kvm\nvhost_net\n", {.mode = 0644}));
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
    if (unshare(CLONE_NEWNS) != 0) report(77, std::string("unshare: ") + std::strerror(errno));
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        mount(etc.c_str(), etc.c_str(), nullptr, MS_BIND, nullptr) != 0 ||
        mount(nullptr, etc.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr) != 0) {
      report(77, std::string("mount: ") + std::strerror(errno));
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
  if (WEXITSTATUS(status) == 77) {
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
  CHECK_FALSE(*host->remove_file("/etc/modules", std::nullopt));
  make_dir(root / "/etc");
  CHECK_FALSE(*host->remove_file("/etc/modules", std::nullopt));

  put(root / "/etc/modules", "kvm\n");
  auto removed = host->remove_file("/etc/modules", std::nullopt);
  REQUIRE_MESSAGE(removed, why(removed));
  CHECK(*removed);
  CHECK_FALSE(exists(root / "/etc/modules"));

  put(root / "/etc/real", "keep\n");
  REQUIRE(symlink("/etc/real", (root / "/etc/link").c_str()) == 0);
  CHECK(*host->remove_file("/etc/link", std::nullopt));
  CHECK_FALSE(exists(root / "/etc/link"));
  CHECK(get(root / "/etc/real") == "keep\n");

  make_dir(root / "/etc/dir");
  auto dir = host->remove_file("/etc/dir", std::nullopt);
  REQUIRE_FALSE(dir);
  CHECK(dir.error().message ==
        "refusing to remove \"" + (root / "/etc/dir") + "\": it is a directory");
  CHECK(exists(root / "/etc/dir"));
}

TEST_CASE("read_file reads regular files and resolves symlinks inside the root") {
  TempRoot root;
  auto host = host_at(root.path());
  auto absent = host->read_file("/etc/modules");
  REQUIRE(absent);
  CHECK_FALSE(absent->has_value());

  make_dir(root / "/etc");
  put(root / "/etc/real", "inside\n");
  REQUIRE(symlink("/etc/real", (root / "/etc/modules").c_str()) == 0);
  auto through = host->read_file("/etc/modules");
  REQUIRE_MESSAGE(through, why(through));
  CHECK(through->value_or("") == "inside\n");

  // An absolute or climbing symlink stays in the root: this root has no /etc/passwd.
  REQUIRE(symlink("/etc/passwd", (root / "/etc/absolute").c_str()) == 0);
  REQUIRE(symlink("../../../../../../../etc/passwd", (root / "/etc/climbing").c_str()) == 0);
  for (const char* link : {"/etc/absolute", "/etc/climbing"}) {
    auto escaped = host->read_file(link);
    REQUIRE(escaped);
    CHECK_FALSE(escaped->has_value());
  }

  auto dir = host->read_file("/etc");
  REQUIRE_FALSE(dir);
  CHECK(dir.error().message == "cannot read \"" + (root / "/etc") + "\": Is a directory");
}

TEST_CASE("stat reports symlinks, directories and character devices without following") {
  TempRoot root;
  auto host = host_at(root.path());
  auto absent = host->stat("/dev/kvm");
  REQUIRE(absent);
  CHECK_FALSE(absent->exists);

  make_dir(root / "/etc");
  REQUIRE(symlink("/nowhere", (root / "/etc/link").c_str()) == 0);
  auto link = host->stat("/etc/link");
  REQUIRE(link);
  CHECK(link->exists);
  CHECK(link->symlink);
  CHECK_FALSE(link->regular);

  auto etc = host->stat("/etc");
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
  auto kvm = host->stat("/dev/kvm");
  REQUIRE(kvm);
  CHECK(kvm->exists);
  CHECK(kvm->char_device);
  CHECK_FALSE(kvm->regular);
  CHECK(kvm->mode == 0660);
  CHECK(kvm->uid == 0);
  CHECK(kvm->gid == 36);
}

TEST_CASE("an image's lock is the root directory itself: nothing is written into the image") {
  TempRoot root;
  auto host = host_at(root.path());
  const std::string pid = std::to_string(getpid());

  std::vector<std::string> said;
  auto first = host->lock(0ms, [&](const std::string& s) { said.push_back(s); });
  REQUIRE_MESSAGE(first, why(first));
  CHECK_FALSE(exists(root / "/run"));
  CHECK(said.empty());

  // flock belongs to the open file description, so a second open conflicts even in-process;
  // /proc/locks names the holder, since the lock holds no file to write a PID into.
  auto second = host->lock(0ms);
  REQUIRE_FALSE(second);
  CHECK(second.error().message ==
        "another kvmprov run holds the lock on \"" + root.path() + "\" (PID " + pid + ")");

  auto waited = host->lock(150ms, [&](const std::string& s) { said.push_back(s); });
  REQUIRE_FALSE(waited);
  CHECK(waited.error().message == "another kvmprov run holds the lock on \"" + root.path() +
                                      "\" (PID " + pid + "); waited 150 ms");
  // The wait is said once, as it starts.
  REQUIRE(said.size() == 1);
  CHECK(said[0] == "another kvmprov run holds the lock on \"" + root.path() + "\" (PID " + pid +
                       "); waiting up to 150 ms");

  first->reset();
  auto third = host->lock(0ms);
  REQUIRE_MESSAGE(third, why(third));
}

TEST_CASE("a read-only image can be locked") {
  TempRoot root;
  REQUIRE(chmod(root.path().c_str(), 0555) == 0);
  auto host = host_at(root.path());
  auto lock = host->lock(0ms);
  CHECK_MESSAGE(lock, why(lock));
  REQUIRE(chmod(root.path().c_str(), 0755) == 0);
}

TEST_CASE("the running system's lock is a directory only root can have made") {
  TempRoot kernel;
  make_dir(kernel / "/run");
  auto live = make_linux_host({.root = "/", .kernel_root = kernel.path()});
  REQUIRE(live->live());
  const std::string dir = kernel / "/run/kvmprov";
  {
    auto lock = live->lock(0ms);
    REQUIRE_MESSAGE(lock, why(lock));
    CHECK(S_ISDIR(lstat_of(dir).st_mode));
    CHECK((lstat_of(dir).st_mode & 07777) == 0700);
    auto again = live->lock(0ms);
    REQUIRE_FALSE(again);
    CHECK(again.error().message.starts_with("another kvmprov run holds the lock on \"" + dir));
  }
  // Anything else at the path is refused, never followed or used.
  REQUIRE(chmod(dir.c_str(), 0777) == 0);
  auto open_to_all = live->lock(0ms);
  REQUIRE_FALSE(open_to_all);
  CHECK(open_to_all.error().message ==
        "refusing to lock \"" + dir + "\": it is writable by other users (remove it)");
  REQUIRE(rmdir(dir.c_str()) == 0);
  put(dir, "");
  auto file = live->lock(0ms);
  REQUIRE_FALSE(file);
  CHECK(file.error().message ==
        "refusing to lock \"" + dir + "\": it is not a directory (remove it)");
  REQUIRE(unlink(dir.c_str()) == 0);
  REQUIRE(symlink(kernel.path().c_str(), dir.c_str()) == 0);
  auto link = live->lock(0ms);
  REQUIRE_FALSE(link);
  CHECK(link.error().message ==
        "refusing to lock \"" + dir + "\": it is not a directory (remove it)");
  REQUIRE(unlink(dir.c_str()) == 0);
  if (geteuid() == 0) {
    make_dir(dir, 0700);
    REQUIRE(chown(dir.c_str(), 4242, 4242) == 0);
    auto planted = live->lock(0ms);
    REQUIRE_FALSE(planted);
    CHECK(planted.error().message ==
          "refusing to lock \"" + dir + "\": it is owned by uid 4242 (remove it)");
  }
}

TEST_CASE("flock_holder reads the holder of a file from /proc/locks") {
  const std::string locks =
      "1: POSIX  ADVISORY  WRITE 77 fe:00:42 0 EOF\n"
      "2: FLOCK  ADVISORY  WRITE 1234 fe:00:10952790 0 EOF\n"
      "2: -> FLOCK  ADVISORY  WRITE 999 fe:00:10952790 0 EOF\n";
  CHECK(kvmprov::flock_holder(locks, makedev(0xfe, 0), 10952790) == 1234);
  CHECK(kvmprov::flock_holder(locks, makedev(0xfe, 0), 42) == 0);  // a POSIX lock is not ours
  CHECK(kvmprov::flock_holder(locks, makedev(0xfe, 1), 10952790) == 0);
  CHECK(kvmprov::flock_holder("", makedev(0xfe, 0), 10952790) == 0);
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

TEST_CASE("kernel files are read below the kernel root") {
  TempRoot kernel;
  make_dir(kernel / "/proc");
  make_dir(kernel / "/proc/sys");
  make_dir(kernel / "/proc/sys/kernel");
  put(kernel / "/proc/sys/kernel/osrelease", "6.1.0-27-amd64\n");
  make_dir(kernel / "/sys");
  make_dir(kernel / "/sys/module");
  make_dir(kernel / "/sys/module/kvm");

  kvmprov::LinuxHostOptions options;
  options.kernel_root = kernel.path();
  auto host = make_linux_host(options);
  CHECK(host->kernel_release() == "6.1.0-27-amd64");
  CHECK(host->read_kernel_file("/proc/sys/kernel/osrelease") == "6.1.0-27-amd64\n");
  CHECK_FALSE(host->read_kernel_file("/proc/modules").has_value());
  CHECK_FALSE(host->read_kernel_file("/sys/module/kvm").has_value());
  CHECK_FALSE(host->read_kernel_file("/sys/../proc/sys/kernel/osrelease").has_value());
  CHECK(host->kernel_path_exists("/sys/module/kvm"));
  CHECK_FALSE(host->kernel_path_exists("/sys/module/kvm_intel"));
}

TEST_CASE("module facts come from /sys alone on a kernel without loadable-module support") {
  // The fixture has no /proc/modules: /sys gives state and parameters (that libkmod is not even
  // mapped then is checked by cli_test.sh, with the dynamic loader's debug output).
  auto host = kmod_fixture_host("builtin");
  kvmprov::ModuleFacts kvm_intel = host->module("kvm-intel");
  CHECK(kvm_intel.name == "kvm_intel");
  CHECK(kvm_intel.state == kvmprov::ModuleState::builtin);
  CHECK(kvm_intel.found);
  CHECK(kvm_intel.params == std::map<std::string, std::string>{{"nested", "Y"}});
  CHECK(host->module("kvm").state == kvmprov::ModuleState::builtin);
  kvmprov::ModuleFacts kvm_amd = host->module("kvm_amd");
  CHECK(kvm_amd.state == kvmprov::ModuleState::absent);
  CHECK_FALSE(kvm_amd.found);
  CHECK(kvm_amd.params.empty());

  kvmprov::ModuleFacts state = host->module_state("kvm_intel");
  CHECK(state.state == kvmprov::ModuleState::builtin);
  CHECK(state.found);
  CHECK(state.params.empty());
}

TEST_CASE("module facts on a kernel with module support come from libkmod") {
  auto host = kmod_fixture_host("live");
  kvmprov::ModuleFacts kvm = host->module("kvm");
  CHECK(kvm.state == kvmprov::ModuleState::live);
  CHECK(kvm.holders == std::vector<std::string>{"kvm_intel"});
  // Only libkmod's side reads the modprobe.d blacklists.
  CHECK(host->module("kvm_amd").blacklisted_by ==
        std::string(KVMPROV_TEST_DATA) + "/kmod/live/etc/modprobe.d/no-amd.conf");

  // The state alone: no parameters, refcount or holders, but still the blacklist.
  CHECK_FALSE(host->module("kvm_intel").params.empty());
  kvmprov::ModuleFacts state = host->module_state("kvm");
  CHECK(state.state == kvmprov::ModuleState::live);
  CHECK(state.params.empty());
  CHECK(state.refcount == 0);
  CHECK(state.holders.empty());
  CHECK(host->module_state("kvm_amd").blacklisted_by ==
        std::string(KVMPROV_TEST_DATA) + "/kmod/live/etc/modprobe.d/no-amd.conf");
}

TEST_CASE("user and group names come from the kernel root's account files") {
  TempRoot kernel;
  make_dir(kernel / "/etc");
  put(kernel / "/etc/group", "root:x:0:\nkvm:x:107:alice\n");
  put(kernel / "/etc/passwd",
      "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/a:/bin/sh\n");
  kvmprov::LinuxHostOptions options;
  options.kernel_root = kernel.path();
  auto host = make_linux_host(options);
  CHECK(host->group_name(107) == "kvm");
  CHECK(host->user_name(1000) == "alice");
  CHECK(host->group_name(4242).empty());
  CHECK(host->user_name(4242).empty());
  // On the running system every name service knows root.
  CHECK(make_linux_host({})->user_name(0) == "root");
}

TEST_CASE("detect_scope: a chroot, no /proc, each container marker, the running system") {
  TempRoot outer;
  const std::string k = outer.path();
  // No /proc at all: the running kernel cannot be seen.
  kvmprov::ScopeFacts none = kvmprov::detect_scope(k);
  CHECK(none.scope == kvmprov::Scope::chroot);
  CHECK(none.evidence == "there is no /proc: the running kernel cannot be seen");

  // /proc/1/root is another directory than this root: a chroot (what ischroot(1) tests).
  make_dir(k + "/proc");
  make_dir(k + "/proc/self");
  make_dir(k + "/proc/1");
  REQUIRE(symlink("/", (k + "/proc/1/root").c_str()) == 0);
  kvmprov::ScopeFacts chroot = kvmprov::detect_scope(k);
  CHECK(chroot.scope == kvmprov::Scope::chroot);
  CHECK(chroot.evidence == "/ is not the root directory of PID 1");

  // PID 1's root cannot be examined: the mount table decides. A root that is not a mount point
  // is a chroot into a directory; one that is, the running system (or a chroot into a mount).
  REQUIRE(unlink((k + "/proc/1/root").c_str()) == 0);
  put(k + "/proc/self/mountinfo",
      "22 1 0:21 /proc /proc rw,nosuid - proc proc rw\n"
      "23 22 0:5 / /dev rw - devtmpfs udev rw\n");
  kvmprov::ScopeFacts unmounted = kvmprov::detect_scope(k);
  CHECK(unmounted.scope == kvmprov::Scope::chroot);
  CHECK(unmounted.evidence ==
        "/ is not a mount point (/proc/self/mountinfo), and PID 1's root cannot be examined");
  put(k + "/proc/self/mountinfo",
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
      "22 27 0:21 / /proc rw,nosuid - proc proc rw\n");
  CHECK(kvmprov::detect_scope(k).scope == kvmprov::Scope::running_system);
  // A mount point under another name ("/ x" escaped as "/\040x") is not "/".
  put(k + "/proc/self/mountinfo", "27 1 254:0 / /\\040x rw - ext4 /dev/vda rw\n");
  CHECK(kvmprov::detect_scope(k).scope == kvmprov::Scope::chroot);
  REQUIRE(unlink((k + "/proc/self/mountinfo").c_str()) == 0);

  // PID 1's root is this root: the running system, unless a container says it is one.
  REQUIRE(symlink(k.c_str(), (k + "/proc/1/root").c_str()) == 0);
  CHECK(kvmprov::detect_scope(k).scope == kvmprov::Scope::running_system);

  put(k + "/.dockerenv", "");
  kvmprov::ScopeFacts docker = kvmprov::detect_scope(k);
  CHECK(docker.scope == kvmprov::Scope::container);
  CHECK(docker.container == "docker");
  CHECK(docker.evidence == "/.dockerenv exists");
  REQUIRE(unlink((k + "/.dockerenv").c_str()) == 0);

  make_dir(k + "/run");
  put(k + "/run/.containerenv", "");
  CHECK(kvmprov::detect_scope(k).container == "podman");

  // PID 1's environment comes before the files: podman and LXC set container= there.
  put(k + "/proc/1/environ", std::string("HOME=/\0container=lxc\0TERM=xterm\0", 32));
  kvmprov::ScopeFacts lxc = kvmprov::detect_scope(k);
  CHECK(lxc.container == "lxc");
  CHECK(lxc.evidence == "PID 1's environment says container=lxc");

  // systemd's own record comes first of all.
  make_dir(k + "/run/systemd");
  put(k + "/run/systemd/container", "systemd-nspawn\n");
  kvmprov::ScopeFacts nspawn = kvmprov::detect_scope(k);
  CHECK(nspawn.scope == kvmprov::Scope::container);
  CHECK(nspawn.container == "systemd-nspawn");
  CHECK(nspawn.evidence == "/run/systemd/container says \"systemd-nspawn\"");
}

TEST_CASE("a host made for a chroot or a container on / is not live, and says where it is") {
  TempRoot root;
  auto chroot = make_linux_host(
      {.root = "/", .scope = {.scope = kvmprov::Scope::chroot}, .kernel_root = root.path()});
  CHECK_FALSE(chroot->live());
  CHECK(chroot->scope().scope == kvmprov::Scope::chroot);
  auto image = make_linux_host({.root = root.path(), .scope = {.scope = kvmprov::Scope::chroot}});
  CHECK(image->scope().scope == kvmprov::Scope::image);  // --root DIR is always an image
}
