// SPDX-License-Identifier: MIT
// What check reads of the host, as plain data for the judgement (check_judge.h). The only part of
// check that takes a Host: the only one that loads (and unloads) the msr driver.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "check_items.h"

namespace kvmprov {

// The device file the msr driver makes for the first CPU: there when the driver is.
inline constexpr const char* kMsrDevice = "/dev/cpu/0/msr";

// The firmware's VT register, as read through /dev/cpu/N/msr, and what allowed the reading.
struct MsrEvidence {
  Vendor cpuid_vendor = Vendor::unknown;  // this CPU's own vendor (CPUID), whatever --fact says
  bool device_before = false;             // kMsrDevice, before anything was loaded
  bool privileged = false;                // this process runs as root
  // Why the msr driver could not be had for the reading; "" when it was there or was loaded.
  std::string load_error;
  std::vector<unsigned> cpus;  // the CPU numbers under /dev/cpu, sorted
  bool device = false;         // kMsrDevice, once the driver was loaded
  // The register of each CPU, in CPU order, up to the first that could not be read.
  std::vector<std::pair<unsigned, uint64_t>> values;
  std::optional<std::pair<unsigned, int>> failed;  // the CPU whose reading failed, and its errno
  std::string unload_error;  // why the driver, loaded for the reading, stays loaded
};

// A device node of the running kernel, with the names of its owner and group.
struct NodeEvidence {
  Result<FileInfo> info = FileInfo{};
  std::string user;   // "" when unknown
  std::string group;  // "" when unknown
};

inline bool is_char_device(const NodeEvidence& n) {
  return n.info && n.info->exists && n.info->char_device;
}

// The device nodes the I/O line names, with the module that creates each.
inline constexpr std::pair<const char*, const char*> kIoNodes[] = {{"/dev/vhost-net", "vhost_net"},
                                                                   {"/dev/net/tun", "tun"}};

// Everything the check lines and the verdict are judged on.
struct CheckEvidence {
  MsrEvidence msr;
  Result<std::string> kernel_log = std::string();  // the kernel's messages
  // kvm, the vendor module, the KVM provider, and the I/O nodes' modules: from the observed
  // facts, else asked of the host.
  std::map<std::string, ModuleFacts> modules;
  std::optional<std::string> boot_config;     // /boot/config-<release>
  bool modules_dir = false;                   // /lib/modules/<release> exists
  std::map<std::string, NodeEvidence> nodes;  // /dev/kvm and the kIoNodes, by path
  // Whether the asked user (--user, else this process) can open /dev/kvm; asked only of a
  // character device. ACCESS_ERROR says why it could not be told.
  std::optional<UserAccess> access;
  std::string access_error;
  KvmProbe probe;
  // Whether the probe ran with the asked user's credentials; when not (another user asked for
  // by someone other than root), PROBE_RUNNER is whom it ran as instead (unset: unknown).
  bool probe_as_asked = true;
  std::optional<UserAccess> probe_runner;
  std::string probe_as_error;  // why it could not run as the asked user, "" when it could
  // CheckOptions::libvirt's answer (its line, its reason code), asked with the kernel's verdict.
  std::optional<std::pair<CheckItem, std::string>> libvirt;
  std::optional<std::string> nested;  // the vendor module's "nested" parameter
  bool dmar = false;                  // the firmware's ACPI tables describe an IOMMU
  bool ivrs = false;
  size_t iommu_groups = 0;
  std::string cmdline;        // /proc/cmdline
  std::string nova_log_path;  // --log FILE, else kDefaultNovaLog
  Result<std::optional<LogTail>> nova_log = std::optional<LogTail>();
};

// Why the firmware's VT register is not to be read (a sentence for the firmware line), "" when
// it may be. Asked by observe before it loads the msr driver, and by the firmware line; a pure
// rule of the judgement (check_judge.cc), declared here because observation asks it first.
struct MsrGate {
  std::string skip;
  bool needs_root = false;  // only for want of root: running as root reads it
};
MsrGate msr_gate(const Facts& facts, const std::string& container, const MsrEvidence& msr);

// Reads all the judgement needs but the libvirt line. Reading the firmware state may load the msr
// module; it is unloaded again when this call loaded it.
CheckEvidence observe_check(Host& host, const Facts& facts, const CheckOptions& options);

// Asks CheckOptions::libvirt, when set, with the kernel's VERDICT, into EV.libvirt.
void observe_libvirt(Host& host, const CheckOptions& options, const Verdict& verdict,
                     CheckEvidence& ev);

}  // namespace kvmprov
