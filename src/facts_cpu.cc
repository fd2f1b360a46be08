// SPDX-License-Identifier: MIT
// CPU facts from /proc/cpuinfo and CPUID, and module state names.
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "facts.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace kvmprov {

namespace {

constexpr std::string_view kBlanks = " \t\r\n\v\f";

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(kBlanks);
  return s.substr(first, last - first + 1);
}

// True when the whitespace-separated list `flags` holds `flag` as a whole word.
bool has_flag(std::string_view flags, std::string_view flag) {
  std::size_t pos = 0;
  while (pos < flags.size()) {
    pos = flags.find_first_not_of(kBlanks, pos);
    if (pos == std::string_view::npos) break;
    auto end = flags.find_first_of(kBlanks, pos);
    if (end == std::string_view::npos) end = flags.size();
    if (flags.substr(pos, end - pos) == flag) return true;
    pos = end;
  }
  return false;
}

// What one "processor" block of /proc/cpuinfo said about the flags we care about.
struct ProcessorFlags {
  bool vmx = false;
  bool svm = false;
};

}  // namespace

CpuFacts parse_cpuinfo(std::string_view text) {
  CpuFacts cpu;
  // Every field belongs to the "processor" block it follows; lines before the first one are
  // ignored. A flag counts only when every block lists it, because KVM needs VT on each CPU it
  // runs vCPUs on, and a block without a "flags" line proves nothing.
  std::optional<ProcessorFlags> current;
  unsigned with_vmx = 0;
  unsigned with_svm = 0;
  const auto finish_block = [&] {
    if (!current) return;
    with_vmx += current->vmx ? 1U : 0U;
    with_svm += current->svm ? 1U : 0U;
  };

  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;

    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = trim(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));

    if (key == "processor") {
      finish_block();
      current = ProcessorFlags{};
      ++cpu.cpus;
      continue;
    }
    if (!current) continue;
    if (key == "vendor_id") {
      if (cpu.vendor_id.empty()) cpu.vendor_id = std::string(value);
    } else if (key == "model name") {
      if (cpu.model_name.empty()) cpu.model_name = std::string(value);
    } else if (key == "flags") {
      current->vmx = current->vmx || has_flag(value, "vmx");
      current->svm = current->svm || has_flag(value, "svm");
      // One CPU saying it runs under a hypervisor is enough: the whole machine is a guest.
      cpu.hypervisor = cpu.hypervisor || has_flag(value, "hypervisor");
    }
  }
  finish_block();

  cpu.vmx = cpu.cpus > 0 && with_vmx == cpu.cpus;
  cpu.svm = cpu.cpus > 0 && with_svm == cpu.cpus;
  cpu.vendor = vendor_from_id(cpu.vendor_id);
  return cpu;
}

Vendor vendor_from_id(std::string_view vendor_id) {
  // Zhaoxin pads its CPUID string ("  Shanghai  "); parse_cpuinfo trims field values, so
  // both spellings have to map.
  const std::string_view id = trim(vendor_id);
  if (id == "GenuineIntel") return Vendor::intel;
  if (id == "AuthenticAMD") return Vendor::amd;
  if (id == "HygonGenuine") return Vendor::hygon;
  if (id == "Shanghai") return Vendor::zhaoxin;
  if (id == "CentaurHauls") return Vendor::centaur;
  return Vendor::unknown;
}

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

}  // namespace

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

#else

std::string cpuid_vendor_id() {
  return {};
}
std::string cpuid_hypervisor_id() {
  return {};
}

#endif

std::string_view module_state_name(ModuleState s) {
  switch (s) {
    case ModuleState::absent:
      return "absent";
    case ModuleState::live:
      return "live";
    case ModuleState::builtin:
      return "builtin";
    case ModuleState::coming:
      return "coming";
    case ModuleState::going:
      return "going";
  }
  return "absent";
}

}  // namespace kvmprov
