// SPDX-License-Identifier: MIT
// The CPU's own word on its vendor and hypervisor, read with CPUID (x86 only; "" elsewhere).
#include <array>
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

// Leaf 0's registers: the highest basic leaf (EAX) and the vendor (EBX, EDX, ECX); EAX is 0 where
// there is no CPUID (an i386 without it).
std::array<unsigned, 4> leaf0() {
  std::array<unsigned, 4> r{};
#if defined(__i386__)
  if (__get_cpuid_max(0, nullptr) == 0) return r;
#endif
  __cpuid(0, r[0], r[1], r[2], r[3]);
  return r;
}

}  // namespace

CpuidIds read_cpuid() {
  // In a guest every CPUID traps to the hypervisor, so each leaf is asked once (__get_cpuid would
  // ask leaf 0 again before each one).
  const auto [max_leaf, vendor_b, vendor_c, vendor_d] = leaf0();
  if (max_leaf == 0) return {};
  // Trimmed like the /proc/cpuinfo field, so the two compare equal (Zhaoxin pads with spaces).
  CpuidIds ids{.vendor = std::string(trim(registers_text(vendor_b, vendor_d, vendor_c)))};
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __cpuid(1, eax, ebx, ecx, edx);
  constexpr unsigned kHypervisorBit = 1U << 31;
  if ((ecx & kHypervisorBit) == 0) return ids;
  // 0x40000000 is outside the basic range by design: the hypervisor range exists only when the
  // hypervisor bit says so, checked above.
  __cpuid(0x40000000, eax, ebx, ecx, edx);
  ids.hypervisor = registers_text(ebx, ecx, edx);
  return ids;
}

#else

CpuidIds read_cpuid() {
  return {};
}

#endif

}  // namespace kvmprov
