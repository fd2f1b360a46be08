// SPDX-License-Identifier: MIT
// The logs check reads: the kernel's own verdicts about KVM, found in its message buffer
// (/dev/kmsg or syslog(2)), and the end of a service's log (nova-compute's), whatever its size.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace kvmprov {

// One line of the kernel log that says something about KVM's hardware support.
struct KernelLogFinding {
  enum class Kind {
    firmware_disabled,      // "VMX (outside TXT) disabled by BIOS", "kvm: disabled by bios", ...
    no_hardware_support,    // "kvm: no hardware support for 'kvm_intel'", "svm not available"
    wrong_vendor,           // "has_svm: not amd or hygon": the other vendor's module was tried
    vendor_already_loaded,  // "already loaded vendor module 'kvm_amd'"
  };
  Kind kind;
  std::string message;  // the kernel's line, as it logged it
};

// Messages of a kernel log, one per line, without priority, sequence or timestamp. Accepts
// /dev/kmsg records ("6,339,5140900,-;text" with " KEY=VALUE" continuation lines), syslog(2) text
// ("<6>[    5.1] text") and dmesg output ("[    5.1] text").
std::string kernel_log_messages(std::string_view raw);

// Every line of MESSAGES that is a KVM hardware verdict, in log order.
std::vector<KernelLogFinding> scan_kernel_log(std::string_view messages);

// What the kernel log says of KVM's hardware where no CPU flag does: arm64's exception level
// (EL2 is where KVM runs) and the mode KVM took there, s390x's SIE.
struct ArchKvmLog {
  std::string started;  // "CPU: All CPU(s) started at EL2", as logged; "" when not found
  // KVM's own word, as logged: "kvm [1]: VHE mode initialized successfully", "kvm [1]: HYP mode
  // not available", "kvm-s390: SIE is not available"; "" when it said none of these.
  std::string kvm;
  std::string mode;     // arm64: "VHE", "nVHE" or "protected nVHE"; "" when not initialised
  bool no_el2 = false;  // arm64: the CPUs started at EL1, or KVM found no HYP mode
  bool no_sie = false;  // s390x: the CPU offers no SIE, KVM's instruction
};
ArchKvmLog scan_arch_kvm_log(std::string_view messages);

// Reads the kernel log: with SYSLOG_FIRST (the running system) through syslog(2)
// (SYSLOG_ACTION_READ_ALL) and, when that fails, from KMSG; without, from KMSG alone. KMSG, a
// character device (/dev/kmsg), is read record by record without blocking; a regular file (a
// snapshot in a test tree) whole. Returns kernel_log_messages().
Result<std::string> read_kernel_log(const std::string& kmsg, bool syslog_first);

// The end of a log: at most a bound's worth of its last lines.
struct LogTail {
  std::string text;
  bool truncated = false;  // earlier lines were left out
};

// The last MAX_BYTES of TEXT, starting at a line: a line cut by the bound is left out whole, so
// a message is never counted from half of it. A text within the bound is returned as it is.
LogTail log_tail(std::string_view text, size_t max_bytes);

// The last MAX_BYTES of the log at PATH (symlinks followed, so /dev/stdin works), as log_tail
// keeps them: a regular file is read from that far before its end, whatever its size; a pipe,
// FIFO or character device is read to its end keeping only its tail, so memory stays bounded. A
// FIFO without a writer reads as empty. nullopt when PATH does not exist.
Result<std::optional<LogTail>> read_log_tail(const std::string& path, size_t max_bytes);

}  // namespace kvmprov
