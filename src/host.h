// SPDX-License-Identifier: MIT
// The one seam between kvmprov and the machine: files, kernel modules, locks. The real
// implementation (LinuxHost) takes a root path; tests use FakeHost, which records every call.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "accounts.h"
#include "facts.h"
#include "file_tree.h"
#include "kernel_log.h"
#include "profile.h"
#include "scope.h"
#include "util/result.h"

namespace kvmprov {

// What opening /dev/kvm and creating a VM and a vCPU did: the decisive test of "usable".
struct KvmProbe {
  bool opened = false;
  int open_errno = 0;
  int api_version = -1;  // KVM_GET_API_VERSION; 12 on every kernel since 2.6.22
  bool vm_created = false;
  int vm_errno = 0;
  bool vcpu_created = false;
  int vcpu_errno = 0;
  bool ok() const { return opened && api_version == 12 && vm_created && vcpu_created; }
};

// Opens DEVICE and issues KVM_GET_API_VERSION, KVM_CREATE_VM and KVM_CREATE_VCPU; closes all.
KvmProbe probe_kvm_device(const std::string& device);

// Whether one user can open a device node for reading and writing (what QEMU needs of /dev/kvm).
struct UserAccess {
  std::string user;  // the account name
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // primary and supplementary
  bool can_open = false;
  int open_errno = 0;  // why not, when can_open is false
  // true: really opened with the user's credentials (fork, setgroups, setgid, setuid, open);
  // false: computed from owner, group and mode bits (ACLs are not considered).
  bool opened_as_user = false;
};

// Held while apply runs; releasing it (destruction) unlocks.
class Lock {
 public:
  virtual ~Lock() = default;
};

class Host {
 public:
  virtual ~Host() = default;

  // True when kernel and device actions may run: the root is "/" of the running system.
  virtual bool live() const = 0;
  // Where kvmprov runs; with the container's name in a container.
  virtual ScopeFacts scope() const {
    return {.scope = live() ? Scope::running_system : Scope::image};
  }
  // The root every file path is resolved under ("/" or --root DIR).
  virtual const std::string& root() const = 0;

  // --- Files: the target system's (below root(); paths absolute as seen there: "/etc/modules")
  // and the running kernel's /proc, /sys and /dev (never under --root).
  virtual TargetFiles& target() = 0;
  virtual FileTree& kernel() = 0;
  // Whether an executable systemd is installed in the target (for persist: auto under --root).
  virtual bool has_systemd() = 0;

  // --- Users and groups of the target system, changed through the shadow tools (with --root).
  // Creates group NAME (a system group when SYSTEM).
  virtual Result<void> create_group(const std::string& name, bool system) = 0;
  // Adds USER to the supplementary members of GROUP.
  virtual Result<void> add_group_member(const std::string& group, const std::string& user) = 0;

  // --- The running kernel (never under --root).
  virtual std::string kernel_release() = 0;
  // CPUID's vendor string and hypervisor signature ("" when not x86, or not a guest).
  virtual CpuidIds cpuid() = 0;
  // State of one module (name normalised) through libkmod, with /sys facts.
  ModuleFacts module(const std::string& name) { return module_facts(name, {}); }
  // The same with only the parameters in PARAMS: a text report shows no other, and each costs
  // a read.
  ModuleFacts module(const std::string& name, const std::set<std::string>& params) {
    return module_facts(name, {.params = &params});
  }
  // The same without parameters, refcount and holders: for callers that need only the state
  // (whether a provider is there, what check reports), which spares a read per parameter.
  ModuleFacts module_state(const std::string& name) {
    return module_facts(name, {.details = false});
  }
  // Loads NAME and its dependencies honouring blacklists, passing OPTIONS to NAME.
  virtual Result<void> load_module(const std::string& name,
                                   const std::vector<ModuleOption>& options) = 0;
  virtual Result<void> unload_module(const std::string& name) = 0;
  // Runs probe_kvm_device on the running system's /dev/kvm.
  KvmProbe probe_kvm() { return *kvm_probe(nullptr); }
  // The same in a child process that has taken WHO's groups, gid and uid: the probe as that
  // user. Fails when the credentials cannot be taken (not running as root).
  Result<KvmProbe> probe_kvm_as(const UserAccess& who) { return kvm_probe(&who); }
  // The 64-bit model-specific register REG of CPU through /dev/cpu/CPU/msr.
  virtual Result<uint64_t> read_msr(unsigned cpu, uint32_t reg) = 0;
  // The last MAX_BYTES of the log PATH of the running system, whatever its size, from a file, a
  // pipe or a FIFO (see read_log_tail); nullopt when PATH does not exist.
  virtual Result<std::optional<LogTail>> read_log(const std::string& path, size_t max_bytes) = 0;
  // The kernel's message buffer as text, one message per line, without timestamps
  // (/dev/kmsg read without blocking, else syslog(2)).
  virtual Result<std::string> kernel_log() = 0;
  // Whether this process runs with root privileges (reading MSRs, loading modules need them).
  virtual bool privileged() = 0;
  // Account names for ids; "" when unknown.
  virtual std::string user_name(uid_t uid) = 0;
  virtual std::string group_name(gid_t gid) = 0;
  // An account the system below "/" knows through NSS (nsswitch.conf: files, and LDAP, SSSD or
  // extrausers where it names them); nullopt when it does not, or for an image (--root) and a
  // chroot, whose accounts are their files. The running system and a container answer.
  virtual std::optional<GroupEntry> system_group(const std::string& name) {
    (void)name;
    return std::nullopt;
  }
  virtual std::optional<SystemUser> system_user(const std::string& name) {
    (void)name;
    return std::nullopt;
  }
  // Whether USER ("" = this process's own credentials) can open PATH (a /dev path of the running
  // kernel) for reading and writing.
  virtual Result<UserAccess> can_open_as(const std::string& user, const std::string& path) = 0;

  // --- Device nodes of the running system (never under --root). NODE is relative to /dev.
  // lstat of /dev/NODE; exists=false when absent.
  virtual Result<FileInfo> device_node(const std::string& node) = 0;
  // Sets owner, group and mode of the character device /dev/NODE directly.
  virtual Result<void> set_device_node(const std::string& node, uid_t uid, gid_t gid,
                                       unsigned mode) = 0;
  // Makes udevd read its rules again ("udevadm control --reload"; libudev has no call for it).
  virtual Result<void> reload_udev_rules() = 0;
  // Sends a "change" uevent to SUBSYSTEM/SYSNAME and waits until udevd has processed it.
  virtual Result<void> udev_change(const std::string& subsystem, const std::string& sysname) = 0;
  // Opens /dev/NODE for reading and writing in a child process running as UID with GID and the
  // supplementary GROUPS: 0 when it opened, else open's errno. Fails when the check cannot be
  // made (not running as root).
  virtual Result<int> open_device_as(const std::string& node, uid_t uid, gid_t gid,
                                     const std::vector<gid_t>& groups) = 0;

  // --- Serialisation of apply and reset runs: an flock on /run/kvmprov on the running system,
  // on the root directory itself under --root. Calls ON_WAIT once when another run holds it,
  // waits up to TIMEOUT, then fails naming the PID that holds it.
  virtual Result<std::unique_ptr<Lock>> lock(
      std::chrono::milliseconds timeout,
      const std::function<void(const std::string&)>& on_wait = {}) = 0;

 protected:
  // module() and module_state(), reading what READ says.
  virtual ModuleFacts module_facts(const std::string& name, const ModuleRead& read) = 0;
  // probe_kvm() when WHO is null, which never fails; else probe_kvm_as(*WHO).
  virtual Result<KvmProbe> kvm_probe(const UserAccess* who) = 0;
};

struct LinuxHostOptions {
  std::string root = "/";         // --root
  ScopeFacts scope;               // for root "/": detect_scope's answer, or running_system (--live)
  std::string kernel_root = "/";  // where /proc, /sys and /dev are read (tests: fixture trees)
  std::string modules_dir;        // libkmod's tree; "" = <kernel_root>/lib/modules/<release>
};

std::unique_ptr<Host> make_linux_host(const LinuxHostOptions& options);
// The running system, below "/". Not make_linux_host({}): GCC 12 at -O3 takes the temporary's
// strings for uninitialised where their destructors are inlined (-Wmaybe-uninitialized).
std::unique_ptr<Host> make_linux_host();

}  // namespace kvmprov
