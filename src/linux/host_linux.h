// SPDX-License-Identifier: MIT
// LinuxHost, the Host seam on a real machine: its declaration, shared by the files that define
// it (host_linux.cc: the kernel, its modules and where the run is; host_linux_files.cc: files
// below --root; host_linux_accounts.cc: users and groups; host_linux_devices.cc: device nodes,
// udev and the KVM probe).
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host.h"
#include "linux/kmod.h"
#include "util/unique_fd.h"

namespace kvmprov {

// Larger files are not configuration; reading one whole would only waste memory.
inline constexpr std::size_t kMaxHostFile = std::size_t{16} << 20;

// lstat (or, when FOLLOW, stat) of FULL, a path on disk; exists=false when absent.
Result<FileInfo> stat_on_disk(const std::string& full, bool follow);
FileInfo file_info(const struct stat& st);

// The target's files below ROOT, through atomic_file's walk, which no symlink planted inside the
// root can lead outside it (host_linux_files.cc).
class LinuxTargetFiles final : public TargetFiles {
 public:
  explicit LinuxTargetFiles(std::string root) : root_(std::move(root)) {}
  Result<std::optional<std::string>> read(const std::string& path) override;
  Result<FileInfo> stat(const std::string& path) override;
  Result<std::vector<std::string>> list(const std::string& dir) override;
  Result<bool> write(const std::string& path, std::string_view content,
                     const WriteOptions& options) override;
  Result<bool> remove(const std::string& path, const Expected& expected) override;
  Result<void> can_write(const std::string& path, const WriteOptions& options) override;
  Result<void> can_remove(const std::string& path) override;
  Refusals refusals(const std::string& path, const WriteOptions& options) override;
  void remove_stale_temporaries(const std::string& path) override;

 private:
  // PATH below the root, opened with FLAGS through the root's descriptor, opened once for the
  // run's reads; where it cannot be, each open tries the root again and says why it fails.
  Result<UniqueFd> open_below(const std::string& path, int flags);

  std::string root_;
  UniqueFd root_fd_;
  bool root_fd_tried_ = false;
  WalkCache walked_;  // refusals' walks
};

// The running kernel's /proc, /sys and /dev below KERNEL_ROOT ("/" but in tests); an unreadable
// file reads as absent (host_linux_files.cc).
class LinuxKernelFiles final : public FileTree {
 public:
  explicit LinuxKernelFiles(std::string kernel_root) : kernel_root_(std::move(kernel_root)) {}
  Result<std::optional<std::string>> read(const std::string& path) override;
  Result<FileInfo> stat(const std::string& path) override;
  Result<std::vector<std::string>> list(const std::string& dir) override;
  // PATH below the kernel root; nullopt for a relative path or one with "..".
  std::optional<std::string> on_disk(const std::string& path) const;

 private:
  std::string kernel_root_;
};

class LinuxHost final : public Host {
 public:
  explicit LinuxHost(const LinuxHostOptions& options);

  bool live() const override { return scope_.scope == Scope::running_system; }
  ScopeFacts scope() const override { return scope_; }
  const std::string& root() const override { return root_; }

  TargetFiles& target() override { return target_; }
  FileTree& kernel() override { return kernel_; }
  // The running system: systemd is PID 1 (its runtime directory exists), not merely installed,
  // since a container may ship systemd without running it. An image (--root): installed.
  bool has_systemd() override;

  // Users and groups (host_linux_accounts.cc).
  Result<void> create_group(const std::string& name, bool system) override;
  Result<void> add_group_member(const std::string& group, const std::string& user) override;
  // The local files first, read once (the system accounts owning device nodes are there), then,
  // on the running system, the name service for accounts they lack (LDAP, sssd).
  std::string user_name(uid_t uid) override;
  std::string group_name(gid_t gid) override;
  std::optional<GroupEntry> system_group(const std::string& name) override;
  std::optional<SystemUser> system_user(const std::string& name) override;
  Result<UserAccess> can_open_as(const std::string& user, const std::string& path) override;

  // The kernel and its modules (host_linux.cc).
  std::string kernel_release() override;
  // Asked once a run: in a guest each CPUID instruction traps to the hypervisor.
  CpuidIds cpuid() override {
    if (!cpuid_) cpuid_ = read_cpuid();
    return *cpuid_;
  }
  Result<void> load_module(const std::string& name,
                           const std::vector<ModuleOption>& options) override;
  Result<void> unload_module(const std::string& name) override;
  Result<uint64_t> read_msr(unsigned cpu, uint32_t reg) override;
  Result<std::optional<LogTail>> read_log(const std::string& path, size_t max_bytes) override;
  Result<std::string> kernel_log() override;
  bool privileged() override { return geteuid() == 0; }
  Result<std::unique_ptr<Lock>> lock(
      std::chrono::milliseconds timeout,
      const std::function<void(const std::string&)>& on_wait) override;

  // Device nodes, udev and the KVM probe (host_linux_devices.cc).
  Result<FileInfo> device_node(const std::string& node) override;
  Result<void> set_device_node(const std::string& node, uid_t uid, gid_t gid,
                               unsigned mode) override;
  Result<void> reload_udev_rules() override;
  Result<void> udev_change(const std::string& subsystem, const std::string& sysname) override;
  Result<int> open_device_as(const std::string& node, uid_t uid, gid_t gid,
                             const std::vector<gid_t>& groups) override;

 protected:
  ModuleFacts module_facts(const std::string& name, const ModuleRead& read) override;
  // The probe of /dev/kvm, as WHO when set (host_linux_devices.cc).
  Result<KvmProbe> kvm_probe(const UserAccess* who) override;

 private:
  // NSS in this process reads this system's nsswitch.conf: for "/" of the running system or a
  // container. A chroot's would load the image's NSS modules against the build host's daemons.
  bool nss_answers() const {
    return root_ == "/" &&
           (scope_.scope == Scope::running_system || scope_.scope == Scope::container);
  }
  // PATH below the kernel root; nullopt for a relative path or one with "..".
  std::optional<std::string> kernel_path(const std::string& path) const {
    return kernel_.on_disk(path);
  }
  // The kernel root's /etc/group and /etc/passwd, parsed on first use.
  const Accounts& local_accounts();
  // Whether the kernel can load modules (/proc/modules exists), asked once: a kernel's build
  // does not change while it runs.
  bool loadable_modules();
  // libkmod is opened on first use, so runs that never touch modules never need it.
  Kmod* open_kmod();
  // What /sys alone tells about NAME: on a kernel without loadable-module support, or when
  // libkmod is unavailable.
  ModuleFacts sys_module_facts(const std::string& name, const ModuleRead& read);

  std::string root_;
  std::string kernel_root_;
  LinuxTargetFiles target_;
  LinuxKernelFiles kernel_;
  std::string modules_dir_;
  ScopeFacts scope_;
  std::optional<std::string> kernel_release_;
  std::optional<CpuidIds> cpuid_;
  std::optional<bool> loadable_modules_;
  std::unique_ptr<Kmod> kmod_;
  std::optional<Error> kmod_error_;
  std::optional<Accounts> local_accounts_;
};

}  // namespace kvmprov
