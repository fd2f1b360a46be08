// SPDX-License-Identifier: MIT
// The CPU's own word on its vendor and hypervisor, read with CPUID (x86 only; "" elsewhere).
#include <cstdint>
#include <cstring>
#include <string>

#include "facts.h"
#include "util/text.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace kvmprov {

#if defined(__x86_64__) || defined(__i386__)

namespace {

// Twelve bytes of CPUID registers as text, trailing NULs dropped.
std::string registers_text(std::uint32_t a, std::uint32_t b, std::uint32_t c) {
  char bytes[12];
  std::memcpy(bytes, &a, 4);
  std::memcpy(bytes + 4, &b, 4);
  std::memcpy(bytes + 8, &c, 4);
  std::size_t len = sizeof bytes;
  while (len > 0 && bytes[len - 1] == '\0') --len;
  return std::string(bytes, len);
}

std::string cpuid_vendor_id() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0) return {};
  // Trimmed like the /proc/cpuinfo field, so the two compare equal (Zhaoxin pads with spaces).
  return std::string(trim(registers_text(ebx, edx, ecx)));
}

std::string cpuid_hypervisor_id() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return {};
  constexpr unsigned kHypervisorBit = 1U << 31;
  if ((ecx & kHypervisorBit) == 0) return {};
  // __get_cpuid refuses leaves above the basic range, and 0x40000000 is outside it by design:
  // the hypervisor range exists only when the hypervisor bit says so, checked above.
  __cpuid(0x40000000, eax, ebx, ecx, edx);
  return registers_text(ebx, ecx, edx);
}

}  // namespace

CpuidIds read_cpuid() {
  return {.vendor = cpuid_vendor_id(), .hypervisor = cpuid_hypervisor_id()};
}

#else

CpuidIds read_cpuid() {
  return {};
}

#endif

}  // namespace kvmprov
