// SPDX-License-Identifier: MIT
// CPU facts from /proc/cpuinfo text, module state names, and --fact overrides: pure, no I/O.
#include <algorithm>
#include <cstdlib>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "facts.h"
#include "util/text.h"

namespace kvmprov {

namespace {

constexpr std::string_view kBlanks = " \t\r\n\v\f";

// The "flags" lines of one "processor" block (one, on every kernel seen).
struct ProcessorFlags {
  std::vector<std::string_view> lines;
};

std::set<std::string> split_flags(std::string_view flags) {
  std::set<std::string> out;
  std::size_t pos = 0;
  while (pos < flags.size()) {
    pos = flags.find_first_not_of(kBlanks, pos);
    if (pos == std::string_view::npos) break;
    auto end = flags.find_first_of(kBlanks, pos);
    if (end == std::string_view::npos) end = flags.size();
    out.emplace(flags.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

// A /proc/cpuinfo line's "key : value", both trimmed; an empty key for a line without a colon.
std::pair<std::string_view, std::string_view> cpuinfo_field(std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return {};
  return {trim(line.substr(0, colon)), trim(line.substr(colon + 1))};
}

// The architecture whose /proc/cpuinfo format TEXT has: the first key only one format uses.
CpuArch cpuinfo_arch(std::string_view text) {
  for (const std::string_view line : lines(text)) {
    const auto [key, value] = cpuinfo_field(line);
    if (key.empty()) continue;
    if (key == "flags" || key == "model name" || key == "cpu family") return CpuArch::x86;
    if (key == "vendor_id") return value == "IBM/S390" ? CpuArch::s390x : CpuArch::x86;
    if (key == "CPU implementer" || key == "Features") return CpuArch::arm64;
    if (key == "# processors" || key == "features") return CpuArch::s390x;
    if ((key == "cpu" && value.starts_with("POWER")) || key == "timebase" || key == "MMU")
      return CpuArch::ppc64le;
  }
  return CpuArch::unknown;
}

// What the other formats say: the CPU's name and the features every CPU lists (arm64 has a
// "Features" line per processor, s390x one "features" line for all).
void parse_other_cpuinfo(std::string_view text, CpuFacts& cpu) {
  std::optional<std::set<std::string>> common;
  for (const std::string_view line : lines(text)) {
    const auto [key, value] = cpuinfo_field(line);
    if (key.empty()) continue;
    if ((key == "Features" && cpu.arch == CpuArch::arm64) ||
        (key == "features" && cpu.arch == CpuArch::s390x)) {
      std::set<std::string> all = split_flags(value);
      if (!common)
        common = std::move(all);
      else
        std::erase_if(*common, [&](const std::string& f) { return !all.contains(f); });
    } else if (key == "CPU implementer" && cpu.implementer.empty()) {
      cpu.implementer = std::string(value);
    } else if (key == "CPU part" && cpu.part.empty()) {
      cpu.part = std::string(value);
    } else if (key == "cpu" && cpu.arch == CpuArch::ppc64le && cpu.model_name.empty()) {
      cpu.model_name = std::string(value);
    } else if (key == "# processors" && cpu.cpus == 0) {
      cpu.cpus = static_cast<unsigned>(std::strtoul(std::string(value).c_str(), nullptr, 10));
    }
  }
  if (common) cpu.flags = std::move(*common);
}

CpuFacts parse_x86_cpuinfo(std::string_view text) {
  CpuFacts cpu;
  // Every field belongs to the "processor" block it follows; lines before the first one are
  // ignored. A flag counts only when every block lists it, because KVM needs VT on each CPU it
  // runs vCPUs on, and a block without a "flags" line proves nothing.
  std::optional<ProcessorFlags> current;
  std::optional<ProcessorFlags> previous;
  unsigned with_vmx = 0;
  unsigned with_svm = 0;
  bool block_vmx = false;
  bool block_svm = false;
  const auto finish_block = [&] {
    if (!current) return;
    // Machines repeat one flags line on every CPU: a block with the same text as the one before
    // counts the same, and only a different one is split and intersected (hosts have hundreds).
    if (!previous || current->lines != previous->lines) {
      std::set<std::string> all;
      for (std::string_view line : current->lines) all.merge(split_flags(line));
      block_vmx = all.contains("vmx");
      block_svm = all.contains("svm");
      // One CPU saying it runs under a hypervisor is enough: the whole machine is a guest.
      cpu.hypervisor = cpu.hypervisor || all.contains("hypervisor");
      // A guest CPU model has to run on every CPU, so only flags they all have count.
      if (!previous) {
        cpu.flags = std::move(all);
      } else {
        std::erase_if(cpu.flags, [&](const std::string& f) { return !all.contains(f); });
      }
    }
    with_vmx += block_vmx ? 1U : 0U;
    with_svm += block_svm ? 1U : 0U;
    previous = std::move(current);
    current.reset();
  };

  for (const std::string_view line : lines(text)) {
    const auto [key, value] = cpuinfo_field(line);
    if (key.empty()) continue;

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
      current->lines.push_back(value);
    }
  }
  finish_block();

  cpu.vmx = cpu.cpus > 0 && with_vmx == cpu.cpus;
  cpu.svm = cpu.cpus > 0 && with_svm == cpu.cpus;
  cpu.vendor = vendor_from_id(cpu.vendor_id);
  return cpu;
}

// Each architecture's name, and its name in libvirt's CPU map.
struct ArchNames {
  CpuArch arch;
  std::string_view name, cpu_map;
};
constexpr ArchNames kArchNames[] = {{CpuArch::x86, "x86", "x86"},
                                    {CpuArch::arm64, "arm64", "arm"},
                                    {CpuArch::ppc64le, "ppc64le", "ppc64"},
                                    {CpuArch::s390x, "s390x", "s390"}};

}  // namespace

std::string_view arch_name(CpuArch a) {
  for (const ArchNames& n : kArchNames)
    if (n.arch == a) return n.name;
  return "unknown";
}

std::string_view cpu_map_arch(CpuArch a) {
  for (const ArchNames& n : kArchNames)
    if (n.arch == a) return n.cpu_map;
  return "x86";
}

bool is_x86(CpuArch a) {
  return a == CpuArch::x86 || a == CpuArch::unknown;
}

CpuArch elf_arch(std::string_view head, std::string* machine) {
  // e_ident: magic, class (1: 32-bit, 2: 64-bit), data (1: little-endian, 2: big); e_machine at 18.
  if (head.size() < 20 || !head.starts_with("\177ELF") || (head[4] != 1 && head[4] != 2) ||
      (head[5] != 1 && head[5] != 2)) {
    *machine = "not an ELF file";
    return CpuArch::unknown;
  }
  const bool is64 = head[4] == 2;
  const bool little = head[5] == 1;
  const auto byte = [&](std::size_t i) {
    return static_cast<unsigned>(static_cast<unsigned char>(head[i]));
  };
  const unsigned em = little ? byte(18) | byte(19) << 8 : byte(18) << 8 | byte(19);
  struct Known {
    unsigned em;
    bool is64, little;
    std::string_view name;
    CpuArch arch;
  };
  static constexpr Known kKnown[] = {{62, true, true, "x86-64", CpuArch::x86},
                                     {3, false, true, "i386", CpuArch::x86},
                                     {183, true, true, "aarch64", CpuArch::arm64},
                                     {21, true, true, "ppc64le", CpuArch::ppc64le},
                                     {22, true, false, "s390x", CpuArch::s390x},
                                     {40, false, true, "armhf", CpuArch::unknown},
                                     {243, true, true, "riscv64", CpuArch::unknown},
                                     {21, true, false, "ppc64", CpuArch::unknown},
                                     {258, true, true, "loongarch64", CpuArch::unknown}};
  for (const Known& k : kKnown) {
    if (k.em == em && k.is64 == is64 && k.little == little) {
      *machine = std::string(k.name);
      return k.arch;
    }
  }
  *machine = "ELF machine " + std::to_string(em);
  return CpuArch::unknown;
}

CpuFacts parse_cpuinfo(std::string_view text) {
  CpuFacts cpu = parse_x86_cpuinfo(text);
  cpu.arch = cpuinfo_arch(text);
  if (!is_x86(cpu.arch)) parse_other_cpuinfo(text, cpu);
  return cpu;
}

std::string_view module_state_name(ModuleState s) {
  static constexpr std::pair<ModuleState, std::string_view> kNames[] = {
      {ModuleState::absent, "absent"},
      {ModuleState::live, "live"},
      {ModuleState::builtin, "builtin"},
      {ModuleState::coming, "coming"},
      {ModuleState::going, "going"}};
  for (const auto& [state, name] : kNames)
    if (state == s) return name;
  return "absent";
}

namespace {

constexpr std::string_view kCpuVendor = "cpu_vendor";
constexpr std::string_view kVmx = "vmx";
constexpr std::string_view kSvm = "svm";
constexpr std::string_view kHypervisor = "hypervisor";
constexpr std::string_view kKernelRelease = "kernel_release";
constexpr std::string_view kModulesSupported = "modules_supported";
constexpr std::string_view kSystemd = "systemd";
constexpr std::string_view kKvmUsable = "kvm_usable";
constexpr std::string_view kCpuFlags = "cpu_flags";

// The kernel's limit for utsname.release, less its NUL.
constexpr std::size_t kMaxKernelRelease = 64;
// Longer user input is cut in messages so that one bad argument cannot flood the terminal.
constexpr std::size_t kMaxQuoted = 80;

std::string known_facts_list() {
  std::string out;
  for (const auto key : fact_keys()) {
    if (!out.empty()) out += ", ";
    out += key;
  }
  return out;
}

Error unknown_fact(std::string_view key) {
  std::string message = "unknown fact " + quote(key, kMaxQuoted);
  // Case is ignored for the hint only, so that "VMX" earns one while keys stay case-sensitive.
  if (const auto hint = closest_word(ascii_lower(key), fact_keys()))
    message += " (did you mean " + quote(*hint, kMaxQuoted) + "?)";
  message += "; known facts: " + known_facts_list();
  return Error{0, std::move(message)};
}

Error invalid_value(std::string_view key, std::string_view value, std::string_view expected) {
  return Error{0, "invalid value " + quote(value, kMaxQuoted) + " for fact " +
                      quote(key, kMaxQuoted) + ": expected " + std::string(expected)};
}

std::optional<bool> parse_bool(std::string_view value) {
  const std::string lower = ascii_lower(value);
  if (lower == "true" || lower == "yes" || lower == "1") return true;
  if (lower == "false" || lower == "no" || lower == "0") return false;
  return std::nullopt;
}

bool valid_kernel_release(std::string_view s) {
  if (s.empty() || s.size() > kMaxKernelRelease) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '+' || c == '~' || c == '-';
  });
}

bool valid_cpu_flag(std::string_view flag) {
  return !flag.empty() && flag.size() <= 64 && std::all_of(flag.begin(), flag.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
  });
}

bool is_overridden(const Facts& facts, std::string_view key) {
  return std::find(facts.overridden.begin(), facts.overridden.end(), key) != facts.overridden.end();
}

Result<void> override_cpu_vendor(Facts& facts, std::string_view value) {
  const auto vendor = parse_vendor(value);
  if (!vendor || *vendor == Vendor::unknown) {
    return invalid_value(kCpuVendor, value, "intel, amd, hygon, zhaoxin or centaur");
  }
  // Every vendor it names makes x86 CPUs: an image built for another architecture has none.
  if (!facts.arch_evidence.empty() && !is_x86(facts.cpu.arch)) {
    return Error{0,
                 "fact \"cpu_vendor\" names an x86 CPU, but the image is " +
                     std::string(arch_name(facts.cpu.arch)) + " (" + facts.arch_evidence +
                     "): leave --fact cpu_vendor out for this image, or give --root an x86 image"};
  }
  facts.cpu.vendor = *vendor;
  facts.cpu.vendor_id = std::string(vendor_id_of(*vendor));
  facts.cpu.arch = CpuArch::x86;  // every vendor it names makes x86 CPUs
  facts.cpu_known = true;
  // Image builds force the vendor of the target host, whose VT state the build machine cannot
  // see, so assume the vendor's VT extension is there. An explicit vmx= or svm= override wins
  // whichever order the two were given in: those always set their flag, and this one leaves
  // alone a flag already overridden.
  const bool intel_like =
      *vendor == Vendor::intel || *vendor == Vendor::zhaoxin || *vendor == Vendor::centaur;
  if (!is_overridden(facts, kVmx)) facts.cpu.vmx = intel_like;
  if (!is_overridden(facts, kSvm)) facts.cpu.svm = !intel_like;
  return {};
}

// The target's flags for an image build: "fpu,sse2,pclmulqdq,...", as /proc/cpuinfo names them.
Result<void> override_cpu_flags(Facts& facts, std::string_view value) {
  std::set<std::string> flags;
  std::size_t start = 0;
  while (start <= value.size()) {
    std::size_t end = value.find(',', start);
    if (end == std::string_view::npos) end = value.size();
    const std::string_view flag = value.substr(start, end - start);
    if (!valid_cpu_flag(flag)) {
      return invalid_value(
          kCpuFlags, value,
          "comma-separated /proc/cpuinfo flags such as fpu,sse2,pclmulqdq (a-z 0-9 _ .)");
    }
    flags.emplace(flag);
    start = end + 1;
  }
  facts.cpu.flags = std::move(flags);
  return {};
}

// The keys that take true, false, yes, no, 1 or 0.
Result<void> override_flag(Facts& facts, std::string_view key, std::string_view value) {
  const auto flag = parse_bool(value);
  if (!flag) return invalid_value(key, value, "true, false, yes, no, 1 or 0");
  if (key == kVmx) {
    facts.cpu.vmx = *flag;
  } else if (key == kSvm) {
    facts.cpu.svm = *flag;
  } else if (key == kHypervisor) {
    facts.cpu.hypervisor = *flag;
    // A signature from the real machine would contradict a forced "not a guest".
    if (!*flag) facts.cpu.hypervisor_id.clear();
  } else if (key == kModulesSupported) {
    facts.modules_supported = *flag;
  } else if (key == kSystemd) {
    facts.systemd = *flag;
  } else if (key == kKvmUsable) {
    facts.nova.kvm = KvmVerdict{.usable = *flag,
                                .reason = *flag ? "ok" : "overridden",
                                .advice = *flag ? "" : "--fact kvm_usable=false",
                                .source = "--fact"};
  }
  return {};
}

Result<void> override_value(Facts& facts, std::string_view key, std::string_view value) {
  if (key == kCpuVendor) return override_cpu_vendor(facts, value);
  if (key == kCpuFlags) return override_cpu_flags(facts, value);
  if (key != kKernelRelease) return override_flag(facts, key, value);
  if (!valid_kernel_release(value)) {
    return invalid_value(
        key, value,
        "a kernel release such as 6.1.0-18-amd64, 1 to 64 characters from A-Z a-z 0-9 . _ + ~ -");
  }
  facts.kernel_release = std::string(value);
  return {};
}

}  // namespace

const std::vector<std::string_view>& fact_keys() {
  static const std::vector<std::string_view> kKeys = {
      kCpuVendor,        kVmx,     kSvm,       kHypervisor, kKernelRelease,
      kModulesSupported, kSystemd, kKvmUsable, kCpuFlags,
  };
  return kKeys;
}

Result<void> override_fact(Facts& facts, std::string_view assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return Error{0, "expected KEY=VALUE, got " + quote(assignment, kMaxQuoted)};
  }
  const std::string_view key = assignment.substr(0, eq);
  const std::string_view value = assignment.substr(eq + 1);
  if (std::find(fact_keys().begin(), fact_keys().end(), key) == fact_keys().end())
    return unknown_fact(key);
  if (auto applied = override_value(facts, key, value); !applied) return applied;
  if (!is_overridden(facts, key)) facts.overridden.emplace_back(key);
  return {};
}

}  // namespace kvmprov
