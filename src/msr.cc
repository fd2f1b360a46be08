// SPDX-License-Identifier: MIT
// MSR reading and decoding: on current kernels a firmware-locked VT-x also clears the vmx flag,
// so only these registers (or the kernel log) tell "disabled" from "absent".
#include "msr.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>

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
