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
#include <vector>

#include "host.h"
#include "linux/kmod.h"

namespace kvmprov {

// Larger files are not configuration; reading one whole would only waste memory.
inline constexpr std::size_t kMaxHostFile = std::size_t{16} << 20;

class LinuxHost final : public Host {
 public:
  explicit LinuxHost(const LinuxHostOptions& options);

  bool live() const override { return scope_.scope == Scope::running_system; }
  ScopeFacts scope() const override { return scope_; }
  const std::string& root() const override { return root_; }

  // Files below the root (host_linux_files.cc).
  Result<std::optional<std::string>> read_file(const std::string& path) override;
  Result<bool> write_file(const std::string& path, std::string_view content,
                          const WriteOptions& options) override;
  Result<bool> remove_file(const std::string& path, const Expected& expected) override;
  Result<void> can_write(const std::string& path, const WriteOptions& options) override;
  Result<void> can_remove(const std::string& path) override;
  void remove_stale_temporaries(const std::string& path) override;
  Result<FileInfo> stat(const std::string& path) override;
  // The running system: systemd is PID 1 (its runtime directory exists), not merely installed,
  // since a container may ship systemd without running it. An image (--root): installed.
  bool has_systemd() override;
  Result<std::vector<std::string>> list_dir(const std::string& dir) override;

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
  std::optional<std::string> read_kernel_file(const std::string& path) override;
  bool kernel_path_exists(const std::string& path) override;
  std::string kernel_release() override;
  std::string cpuid_hypervisor_id() override { return kvmprov::cpuid_hypervisor_id(); }
  std::string cpuid_vendor_id() override { return kvmprov::cpuid_vendor_id(); }
  ModuleFacts module(const std::string& name) override { return query_module(name, true); }
  ModuleFacts module_state(const std::string& name) override { return query_module(name, false); }
  Result<void> load_module(const std::string& name,
                           const std::vector<ModuleOption>& options) override;
  Result<void> unload_module(const std::string& name) override;
  Result<FileInfo> kernel_stat(const std::string& path) override;
  std::optional<std::vector<std::string>> list_kernel_dir(const std::string& path) override;
  Result<uint64_t> read_msr(unsigned cpu, uint32_t reg) override;
  Result<std::optional<LogTail>> read_log(const std::string& path, size_t max_bytes) override;
  Result<std::string> kernel_log() override;
  bool privileged() override { return geteuid() == 0; }
  Result<std::unique_ptr<Lock>> lock(
      std::chrono::milliseconds timeout,
      const std::function<void(const std::string&)>& on_wait) override;

  // Device nodes, udev and the KVM probe (host_linux_devices.cc).
  KvmProbe probe_kvm() override;
  Result<KvmProbe> probe_kvm_as(const UserAccess& who) override;
  Result<FileInfo> device_node(const std::string& node) override;
  Result<void> set_device_node(const std::string& node, uid_t uid, gid_t gid,
                               unsigned mode) override;
  Result<void> reload_udev_rules() override;
  Result<void> udev_change(const std::string& subsystem, const std::string& sysname) override;
  Result<int> open_device_as(const std::string& node, uid_t uid, gid_t gid,
                             const std::vector<gid_t>& groups) override;

 private:
  // NSS in this process reads this system's nsswitch.conf: for "/" of the running system or a
  // container. A chroot's would load the image's NSS modules against the build host's daemons.
  bool nss_answers() const {
    return root_ == "/" &&
           (scope_.scope == Scope::running_system || scope_.scope == Scope::container);
  }
  // PATH below the kernel root; nullopt for a relative path or one with "..".
  std::optional<std::string> kernel_path(const std::string& path) const;
  // stat (FOLLOW) or lstat of FULL, a path on disk; exists=false when absent.
  static Result<FileInfo> stat_on_disk(const std::string& full, bool follow);
  static FileInfo file_info(const struct stat& st);
  ModuleFacts query_module(const std::string& name, bool details);
  // The kernel root's /etc/group and /etc/passwd, parsed on first use.
  const Accounts& local_accounts();
  // libkmod is opened on first use, so runs that never touch modules never need it.
  Kmod* open_kmod();
  // What /sys alone tells about NAME: on a kernel without loadable-module support, or when
  // libkmod is unavailable.
  ModuleFacts sys_module_facts(const std::string& name, bool details);

  std::string root_;
  std::string kernel_root_;
  std::string modules_dir_;
  ScopeFacts scope_;
  std::optional<std::string> kernel_release_;
  std::unique_ptr<Kmod> kmod_;
  std::optional<Error> kmod_error_;
  std::optional<Accounts> local_accounts_;
};

}  // namespace kvmprov
