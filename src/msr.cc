// SPDX-License-Identifier: MIT
// MSR reading and decoding: on current kernels a firmware-locked VT-x also clears the vmx flag,
// so only these registers (or the kernel log) tell "disabled" from "absent".
#include "msr.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include "util/text.h"

namespace kvmprov {

FirmwareState decode_feature_control(uint64_t value) {
  const bool locked = value & 1;
  const bool inside_smx = value & 2;
  const bool outside_smx = value & 4;
  FirmwareState s;
  s.text = fmt::format("{}, VMX outside SMX {}, inside SMX {}", locked ? "locked" : "not locked",
                       outside_smx ? "on" : "off", inside_smx ? "on" : "off");
  if (!locked)
    s.vt = FirmwareVt::unlocked;
  else if (!outside_smx)
    s.vt = FirmwareVt::disabled;
  return s;
}

FirmwareState decode_vm_cr(uint64_t value) {
  const bool locked = value & 8;
  const bool svmdis = value & 16;
  FirmwareState s;
  s.text = fmt::format("SVMDIS {}, {}", svmdis ? "set" : "clear", locked ? "locked" : "not locked");
  if (svmdis) s.vt = FirmwareVt::disabled;
  return s;
}

uint32_t vt_msr(VtFamily f) {
  return f == VtFamily::svm ? kMsrVmCr : kMsrFeatureControl;
}

std::string_view vt_msr_name(VtFamily f) {
  return f == VtFamily::svm ? "VM_CR" : "IA32_FEATURE_CONTROL";
}

FirmwareState decode_vt_msr(VtFamily f, uint64_t value) {
  return f == VtFamily::svm ? decode_vm_cr(value) : decode_feature_control(value);
}

std::string cpu_ranges(const std::vector<unsigned>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += j == i ? fmt::format("{}", cpus[i]) : fmt::format("{}-{}", cpus[i], cpus[j]);
    i = j + 1;
  }
  return out;
}

VtMsrSummary summarise_vt_msrs(VtFamily f,
                               const std::vector<std::pair<unsigned, uint64_t>>& values) {
  VtMsrSummary s;
  std::map<std::string, std::vector<unsigned>> by_text;  // decoded state -> CPUs
  for (const auto& [cpu, value] : values) {
    const FirmwareState st = decode_vt_msr(f, value);
    by_text[fmt::format("{:#x}: {}", value, st.text)].push_back(cpu);
    if (st.vt == FirmwareVt::disabled)
      s.disabled.push_back(cpu);
    else
      s.any_enabled = true;
  }
  std::vector<std::string> texts;
  for (const auto& [text, on] : by_text)
    texts.push_back(fmt::format("{}={} on CPU {}", vt_msr_name(f), text, cpu_ranges(on)));
  s.text = join(texts, ", ");
  return s;
}

Result<uint64_t> read_msr_device(const std::string& device, uint32_t reg) {
  const std::string context = fmt::format("cannot read MSR {:#x} from \"{}\"", reg, device);
  int fd = open(device.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno_error(context);
  uint64_t value = 0;
  ssize_t n;
  do {
    n = pread(fd, &value, sizeof value, static_cast<off_t>(reg));
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  close(fd);
  if (n < 0) return errno_error(context, err);  // EIO: the CPU does not implement it
  if (n != static_cast<ssize_t>(sizeof value)) return Error{EIO, context + ": short read"};
  return value;
}

}  // namespace kvmprov
