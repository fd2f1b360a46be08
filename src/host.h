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
#include <string>
#include <string_view>
#include <vector>

#include "accounts.h"
#include "atomic_file.h"
#include "facts.h"
#include "kernel_log.h"
#include "profile.h"
#include "util/result.h"

namespace kvmprov {

// Where kvmprov runs, which decides whether kernel and device actions are taken.
enum class Scope {
  running_system,  // "/" of the running system: everything
  image,           // --root DIR: the image's files; kernel, devices and the CPU are not its own
  chroot,          // "/" is not the root of PID 1 (an image build): as --root /
  container,       // its own files; the kernel and the device nodes are the host's
};

// What detect_scope found, and how.
struct ScopeFacts {
  Scope scope = Scope::running_system;
  std::string container;  // Scope::container: "docker", "podman", "lxc", "systemd-nspawn", ...
  std::string evidence;   // what said so: "/ is not the root of PID 1", "/.dockerenv exists", ...
};

// Where a run on the root directory of KERNEL_ROOT ("/" on a real machine) is: a chroot when
// that root is not PID 1's (the test ischroot(1) and systemd make) or when there is no /proc (the
// running kernel cannot be seen: an image build's chroot before /proc is mounted), a container
// when the container managers' markers say so (/run/systemd/container, /.dockerenv,
// /run/.containerenv, PID 1's "container=" environment), else the running system. A root
// directory PID 1's that this process may not examine (not root) counts as the running system.
ScopeFacts detect_scope(const std::string& kernel_root);

struct FileInfo {
  bool exists = false;
  bool regular = false;
  bool directory = false;
  bool symlink = false;  // the path itself is a symlink (lstat)
  bool char_device = false;
  unsigned mode = 0;  // permission bits (07777)
  uid_t uid = 0;
  gid_t gid = 0;
  long long mtime_ns = 0;
};

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

  // --- Files of the target system. Paths are absolute as seen there ("/etc/modules").
  // Content of a regular file; nullopt when it does not exist.
  virtual Result<std::optional<std::string>> read_file(const std::string& path) = 0;
  // Replaces PATH atomically with CONTENT (see replace_file in atomic_file.h: OPTIONS give the
  // mode, whether an existing shared file keeps its owner, group and mode, and the content that
  // may be replaced), creating missing parent directories (0755) for a file kvmprov owns.
  // Returns false, touching nothing, when PATH already holds exactly CONTENT. Never follows a
  // symlink at PATH.
  virtual Result<bool> write_file(const std::string& path, std::string_view content,
                                  const WriteOptions& options) = 0;
  // Removes PATH, which must still hold EXPECTED when that is set. Returns false when it did not
  // exist.
  virtual Result<bool> remove_file(const std::string& path, const Expected& expected) = 0;
  // Whether write_file(PATH, ..., OPTIONS) or remove_file(PATH) would refuse, without changing
  // anything: the one decision plan and apply share.
  virtual Result<void> can_write(const std::string& path, const WriteOptions& options) = 0;
  virtual Result<void> can_remove(const std::string& path) = 0;
  // Removes the temporaries a killed run left beside PATH; never one a live run is writing.
  virtual void remove_stale_temporaries(const std::string& path) = 0;
  // lstat of PATH; exists=false when absent.
  virtual Result<FileInfo> stat(const std::string& path) = 0;
  // Whether an executable systemd is installed in the target (for persist: auto under --root).
  virtual bool has_systemd() = 0;
  // Names of the entries of directory DIR, sorted; empty when DIR does not exist.
  virtual Result<std::vector<std::string>> list_dir(const std::string& dir) = 0;

  // --- Users and groups of the target system, changed through the shadow tools (with --root).
  // Creates group NAME (a system group when SYSTEM).
  virtual Result<void> create_group(const std::string& name, bool system) = 0;
  // Adds USER to the supplementary members of GROUP.
  virtual Result<void> add_group_member(const std::string& group, const std::string& user) = 0;

  // --- The running kernel (never under --root).
  // Content of a /proc or /sys file; nullopt when absent.
  virtual std::optional<std::string> read_kernel_file(const std::string& path) = 0;
  virtual bool kernel_path_exists(const std::string& path) = 0;
  virtual std::string kernel_release() = 0;
  virtual std::string cpuid_hypervisor_id() = 0;
  // The CPU vendor string from CPUID ("" when not x86): the cross-check for /proc/cpuinfo.
  virtual std::string cpuid_vendor_id() = 0;
  // State of one module (name normalised) through libkmod, with /sys facts.
  virtual ModuleFacts module(const std::string& name) = 0;
  // The same without parameters, refcount and holders: for callers that need only the state
  // (whether a provider is there, what check reports), which spares a read per parameter.
  virtual ModuleFacts module_state(const std::string& name) {
    ModuleFacts m = module(name);
    m.params.clear();
    m.refcount = 0;
    m.holders.clear();
    return m;
  }
  // Loads NAME and its dependencies honouring blacklists, passing OPTIONS to NAME.
  virtual Result<void> load_module(const std::string& name,
                                   const std::vector<ModuleOption>& options) = 0;
  virtual Result<void> unload_module(const std::string& name) = 0;
  // Runs probe_kvm_device on the running system's /dev/kvm.
  virtual KvmProbe probe_kvm() = 0;
  // The same in a child process that has taken WHO's groups, gid and uid: the probe as that
  // user. Fails when the credentials cannot be taken (not running as root).
  virtual Result<KvmProbe> probe_kvm_as(const UserAccess& who) = 0;
  // stat (following symlinks) of a /dev, /proc or /sys path of the running kernel.
  virtual Result<FileInfo> kernel_stat(const std::string& path) = 0;
  // Entry names of a /dev, /proc or /sys directory, sorted; nullopt when it does not exist.
  virtual std::optional<std::vector<std::string>> list_kernel_dir(const std::string& path) = 0;
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
};

struct LinuxHostOptions {
  std::string root = "/";         // --root
  ScopeFacts scope;               // for root "/": detect_scope's answer, or running_system (--live)
  std::string kernel_root = "/";  // where /proc, /sys and /dev are read (tests: fixture trees)
  std::string modules_dir;        // libkmod's tree; "" = <kernel_root>/lib/modules/<release>
};

std::unique_ptr<Host> make_linux_host(const LinuxHostOptions& options);

}  // namespace kvmprov
