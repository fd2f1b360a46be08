// SPDX-License-Identifier: MIT
// LinuxHost: the Host seam on a real machine, with files below --root and facts from the kernel.
// Here: its construction, the kernel's files, modules, log and MSRs, the run lock, and where the
// run is (detect_scope).
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "atomic_file.h"
#include "host.h"
#include "kernel_log.h"
#include "linux/host_linux.h"
#include "linux/kmod.h"
#include "linux/lock.h"
#include "linux/sysfs_module.h"
#include "msr.h"
#include "util/text.h"

namespace kvmprov {
namespace {

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};

// PATH made absolute and free of symlinks when it exists, else as given without trailing slashes.
std::string canonical_or_given(const std::string& path) {
  std::unique_ptr<char, FreeDeleter> real(realpath(path.c_str(), nullptr));
  std::string result = real ? std::string(real.get()) : path;
  while (result.size() > 1 && result.back() == '/') result.pop_back();
  return result.empty() ? std::string("/") : result;
}

std::string trim_trailing_space(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x2000  // Linux 5.8's; older headers lack it
#endif

// Whether statx says PATH is the root directory of a mount; false where it cannot tell.
bool is_mount_root(const std::string& path) {
  struct statx stx {};
  return ::statx(AT_FDCWD, path.c_str(), 0, 0, &stx) == 0 &&
         (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0 &&
         (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

// The container manager's name from the markers they leave, "" when none.
std::string container_marker(const std::string& kernel_root, std::string* evidence) {
  const auto read_small = [&](const std::string& path) {
    return read_small_file(path_on_disk(kernel_root, path), kMaxHostFile);
  };
  // systemd-nspawn, LXC, podman and systemd's own detection write the manager's name here.
  if (auto name = read_small("/run/systemd/container")) {
    *evidence = "/run/systemd/container says \"" + trim_trailing_space(*name) + "\"";
    const std::string n = trim_trailing_space(*name);
    return n.empty() ? std::string("container") : n;
  }
  if (auto environ = read_small("/proc/1/environ")) {
    // NUL-separated; "container=" is set by every manager for PID 1.
    for (size_t pos = 0; pos < environ->size();) {
      const size_t end = std::min(environ->find('\0', pos), environ->size());
      const std::string_view var = std::string_view(*environ).substr(pos, end - pos);
      if (var.starts_with("container=") && var.size() > 10) {
        *evidence = "PID 1's environment says " + std::string(var);
        return std::string(var.substr(10));
      }
      pos = end + 1;
    }
  }
  struct stat st {};
  if (::stat(path_on_disk(kernel_root, "/.dockerenv").c_str(), &st) == 0) {
    *evidence = "/.dockerenv exists";
    return "docker";
  }
  if (::stat(path_on_disk(kernel_root, "/run/.containerenv").c_str(), &st) == 0) {
    *evidence = "/run/.containerenv exists";
    return "podman";
  }
  return "";
}

}  // namespace

LinuxHost::LinuxHost(const LinuxHostOptions& options)
    : root_(canonical_or_given(options.root)),
      kernel_root_(canonical_or_given(options.kernel_root)),
      target_(root_),
      kernel_(kernel_root_),
      modules_dir_(options.modules_dir),
      scope_(root_ == "/" ? options.scope : ScopeFacts{.scope = Scope::image}) {}

FileInfo file_info(const struct stat& st) {
  FileInfo info;
  info.exists = true;
  info.regular = S_ISREG(st.st_mode);
  info.directory = S_ISDIR(st.st_mode);
  info.symlink = S_ISLNK(st.st_mode);
  info.char_device = S_ISCHR(st.st_mode);
  info.mode = st.st_mode & 07777;
  info.uid = st.st_uid;
  info.gid = st.st_gid;
  info.mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return info;
}

Result<FileInfo> stat_on_disk(const std::string& full, bool follow) {
  struct stat st {};
  if ((follow ? ::stat(full.c_str(), &st) : ::lstat(full.c_str(), &st)) != 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return FileInfo{};
    return errno_error("cannot stat " + quote_path(full), err);
  }
  return file_info(st);
}

std::string LinuxHost::kernel_release() {
  if (!kernel_release_) {
    if (kernel_root_ == "/") {
      struct utsname uts {};
      kernel_release_ = uname(&uts) == 0 ? std::string(uts.release) : std::string();
    } else {
      kernel_release_ =
          trim_trailing_space(kernel_.read_or_absent("/proc/sys/kernel/osrelease").value_or(""));
    }
  }
  return *kernel_release_;
}

Result<void> LinuxHost::load_module(const std::string& name,
                                    const std::vector<ModuleOption>& options) {
  Kmod* kmod = open_kmod();
  if (!kmod) return *kmod_error_;
  return kmod->insert(name, options);
}

Result<void> LinuxHost::unload_module(const std::string& name) {
  Kmod* kmod = open_kmod();
  if (!kmod) return *kmod_error_;
  return kmod->remove(name);
}

Result<uint64_t> LinuxHost::read_msr(unsigned cpu, uint32_t reg) {
  return read_msr_device(path_on_disk(kernel_root_, fmt::format("/dev/cpu/{}/msr", cpu)), reg);
}

Result<std::optional<LogTail>> LinuxHost::read_log(const std::string& path, size_t max_bytes) {
  return read_log_tail(path, max_bytes);
}

Result<std::string> LinuxHost::kernel_log() {
  // syslog(2) reads the running kernel, so it is no fallback for a snapshot tree.
  return read_kernel_log(path_on_disk(kernel_root_, "/dev/kmsg"), kernel_root_ == "/");
}

Result<std::unique_ptr<Lock>> LinuxHost::lock(
    std::chrono::milliseconds timeout, const std::function<void(const std::string&)>& on_wait) {
  if (live())
    return take_run_lock(path_on_disk(kernel_root_, std::string(kLiveLockDir)), true, timeout,
                         on_wait);
  return take_run_lock(root_, false, timeout, on_wait);
}

ModuleFacts LinuxHost::module_facts(const std::string& name, const ModuleRead& read) {
  // A kernel without loadable-module support has nothing libkmod could load or find: /sys
  // tells all there is, and the run is spared mapping libkmod and its libraries.
  if (!loadable_modules()) return sys_module_facts(name, read);
  if (Kmod* kmod = open_kmod()) return kmod->query(name, read);
  ModuleFacts facts = sys_module_facts(name, read);
  facts.unknown_because = kmod_error_->message;
  return facts;
}

bool LinuxHost::loadable_modules() {
  if (!loadable_modules_) loadable_modules_ = kernel_.exists("/proc/modules");
  return *loadable_modules_;
}

Kmod* LinuxHost::open_kmod() {
  if (kmod_ || kmod_error_) return kmod_.get();
  const std::string dir = modules_dir_.empty()
                              ? path_on_disk(kernel_root_, "/lib/modules/" + kernel_release())
                              : modules_dir_;
  // Kmod::open finds the modprobe.d directories below the kernel root itself.
  auto kmod = Kmod::open(dir, {}, kernel_root_);
  if (kmod) {
    kmod_ = std::move(kmod.value());
  } else {
    kmod_error_ = kmod.error();
  }
  return kmod_.get();
}

ModuleFacts LinuxHost::sys_module_facts(const std::string& name, const ModuleRead& read) {
  ModuleFacts facts;
  facts.name = normalise_module_name(name);
  if (!kernel_.exists("/sys/module/" + facts.name)) return facts;
  const SysModule sys(kernel_root_, facts.name);
  if (read.details) facts.params = sys.parameters(read.params);
  // Without loadable-module support, or without an initstate, a /sys/module entry is builtin.
  const std::optional<ModuleState> state = loadable_modules() ? sys.initstate() : std::nullopt;
  if (!state) {
    facts.state = ModuleState::builtin;
    facts.found = true;
    return facts;
  }
  facts.state = *state;
  return facts;
}

ScopeFacts detect_scope(const std::string& kernel_root) {
  ScopeFacts f;
  struct stat root {};
  struct stat init_root {};
  const std::string proc = path_on_disk(kernel_root, "/proc/self");
  if (::stat(proc.c_str(), &root) != 0) {
    f.scope = Scope::chroot;
    f.evidence = "there is no /proc: the running kernel cannot be seen";
    return f;
  }
  const bool init_seen = ::stat(path_on_disk(kernel_root, "/proc/1/root").c_str(), &init_root) == 0;
  if (::stat(kernel_root.c_str(), &root) == 0 && init_seen &&
      (root.st_dev != init_root.st_dev || root.st_ino != init_root.st_ino)) {
    f.scope = Scope::chroot;
    f.evidence = "/ is not the root directory of PID 1";
    return f;
  }
  // PID 1's root cannot always be examined, even by root (a container runtime that withholds
  // ptrace access). Then the mount table answers for the common chroot, a directory of another
  // file system: the kernel lists only the mounts below this root, so "/" is missing from it.
  // A root that statx says is a mount's root is listed there as "/": the table (which costs the
  // kernel a line per mount) is read only when statx cannot say so (before Linux 5.8).
  if (!init_seen && !is_mount_root(kernel_root)) {
    if (auto table =
            read_small_file(path_on_disk(kernel_root, "/proc/self/mountinfo"), kMaxHostFile)) {
      bool root_mounted = false;
      for (const std::string_view line : lines(*table)) {
        // ID PARENT MAJOR:MINOR ROOT MOUNT-POINT ...
        std::istringstream fields{std::string(line)};
        std::string id, parent, device, mount_root, mount_point;
        if (fields >> id >> parent >> device >> mount_root >> mount_point && mount_point == "/") {
          root_mounted = true;
          break;
        }
      }
      if (!root_mounted) {
        f.scope = Scope::chroot;
        f.evidence =
            "/ is not a mount point (/proc/self/mountinfo), and PID 1's root cannot be examined";
        return f;
      }
    }
  }
  f.container = container_marker(kernel_root, &f.evidence);
  if (!f.container.empty()) f.scope = Scope::container;
  return f;
}

std::unique_ptr<Host> make_linux_host(const LinuxHostOptions& options) {
  return std::make_unique<LinuxHost>(options);
}

std::unique_ptr<Host> make_linux_host() {
  const LinuxHostOptions running;
  return make_linux_host(running);
}

}  // namespace kvmprov
