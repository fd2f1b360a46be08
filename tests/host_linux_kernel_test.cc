// SPDX-License-Identifier: MIT
// LinuxHost's view of the kernel and of where it runs, against mkdtemp roots and fixture trees:
// the run lock, kernel files, module facts, account names, detect_scope.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "host.h"
#include "host_linux_test_util.h"
#include "linux/lock.h"
#include "linux/sysfs_module.h"

using kvmprov::make_linux_host;
using namespace kvmprov::host_test;
using namespace std::chrono_literals;

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
  CHECK(host->kernel().read_or_absent("/proc/sys/kernel/osrelease") == "6.1.0-27-amd64\n");
  CHECK_FALSE(host->kernel().read_or_absent("/proc/modules").has_value());
  CHECK_FALSE(host->kernel().read_or_absent("/sys/module/kvm").has_value());
  CHECK_FALSE(host->kernel().read_or_absent("/sys/../proc/sys/kernel/osrelease").has_value());
  CHECK(host->kernel().exists("/sys/module/kvm"));
  CHECK_FALSE(host->kernel().exists("/sys/module/kvm_intel"));
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

// Skipped (and counted so) without root: making the root a mount point needs a mount namespace.
TEST_CASE("detect_scope: a root that is a mount point is not a chroot, whatever else is there" *
          doctest::skip(geteuid() != 0)) {
  TempRoot outer;
  const std::string k = outer.path();
  make_dir(k + "/proc");
  make_dir(k + "/proc/self");
  // A table without "/" would call the root a chroot: statx's word that the root is a mount's
  // root comes first, and the table is not read.
  put(k + "/proc/self/mountinfo", "22 1 0:21 /proc /proc rw,nosuid - proc proc rw\n");
  REQUIRE(kvmprov::detect_scope(k).scope == kvmprov::Scope::chroot);

  // 0: the running system; 1: anything else.
  const int status = exit_status_of_child([&] {
    struct statx stx {};
    if (!private_mount_namespace() || mount(k.c_str(), k.c_str(), nullptr, MS_BIND, nullptr) ||
        statx(AT_FDCWD, k.c_str(), 0, 0, &stx) != 0 ||
        (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) == 0)
      return kCannotRunHere;
    return kvmprov::detect_scope(k).scope == kvmprov::Scope::running_system ? 0 : 1;
  });
  if (status == kCannotRunHere) {
    MESSAGE("skipped: no private mount namespace here, or no STATX_ATTR_MOUNT_ROOT (Linux 5.8)");
    return;
  }
  CHECK(status == 0);
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

TEST_CASE("read_small_file reads kernel and regular files whole, and refuses what is not a file") {
  TempRoot root;
  make_dir(root / "/dir");
  put(root / "/conf", std::string(100000, 'a') + "\n");
  REQUIRE(mkfifo((root / "/fifo").c_str(), 0644) == 0);
  CHECK_FALSE(kvmprov::read_small_file(root / "/dir", 1 << 20));
  CHECK_FALSE(kvmprov::read_small_file(root / "/missing", 1 << 20));
  // Longer than one read, and one byte over the limit.
  CHECK(kvmprov::read_small_file(root / "/conf", 1 << 20) == std::string(100000, 'a') + "\n");
  CHECK_FALSE(kvmprov::read_small_file(root / "/conf", 100000));
  CHECK(kvmprov::read_small_file(root / "/conf", 100001));
  // A FIFO without a writer does not block the run: it reads as empty.
  CHECK(kvmprov::read_small_file(root / "/fifo", 1 << 20) == std::string());
  // /proc reports no size; the content still comes whole.
  const auto status = kvmprov::read_small_file("/proc/self/status", 1 << 20);
  REQUIRE(status);
  CHECK(status->starts_with("Name:"));
  CHECK(status->find("\nPid:") != std::string::npos);
  CHECK(status->ends_with("\n"));
}
