// SPDX-License-Identifier: MIT
// Model-specific registers that say whether the firmware left VT-x or AMD-V usable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/result.h"
#include "vendor.h"

namespace kvmprov {

constexpr uint32_t kMsrFeatureControl = 0x3A;  // IA32_FEATURE_CONTROL (Intel, Zhaoxin, Centaur)
constexpr uint32_t kMsrVmCr = 0xC0010114;      // VM_CR (AMD, Hygon)

enum class FirmwareVt {
  enabled,   // usable
  disabled,  // the firmware turned it off; only its setup screen can turn it on
  unlocked,  // IA32_FEATURE_CONTROL not locked yet: the kernel enables VMX and locks it
};

struct FirmwareState {
  FirmwareVt vt = FirmwareVt::enabled;
  std::string text;  // the decoded bits, e.g. "locked, VMX outside SMX off, inside SMX off"
};

// IA32_FEATURE_CONTROL: bit 0 lock, bit 1 VMX inside SMX (TXT), bit 2 VMX outside SMX.
FirmwareState decode_feature_control(uint64_t value);
// VM_CR: bit 3 lock, bit 4 SVMDIS.
FirmwareState decode_vm_cr(uint64_t value);

// The register that says whether the firmware left VT usable on a CPU of family F: VM_CR for
// AMD-V, IA32_FEATURE_CONTROL otherwise; its name, and what its value means.
uint32_t vt_msr(VtFamily f);
std::string_view vt_msr_name(VtFamily f);
FirmwareState decode_vt_msr(VtFamily f, uint64_t value);

// "0-1,3" for a sorted list of CPU numbers.
std::string cpu_ranges(const std::vector<unsigned>& cpus);

// What the VT register of family F says across the CPUs read.
struct VtMsrSummary {
  // Each value once, with the CPUs that hold it: "IA32_FEATURE_CONTROL=0x5: locked, ... on CPU
  // 0-1".
  std::string text;
  std::vector<unsigned> disabled;  // the CPUs on which the firmware disabled VT
  bool any_enabled = false;        // some CPU has it usable
};
// VALUES: (CPU, register value), in CPU order.
VtMsrSummary summarise_vt_msrs(VtFamily f,
                               const std::vector<std::pair<unsigned, uint64_t>>& values);

// Reads REG through the msr driver's device file DEVICE (/dev/cpu/N/msr): 8 bytes at offset REG.
Result<uint64_t> read_msr_device(const std::string& device, uint32_t reg);

}  // namespace kvmprov
