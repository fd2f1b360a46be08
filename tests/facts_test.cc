// SPDX-License-Identifier: MIT
// Tests for CPU fact parsing (real /proc/cpuinfo samples in tests/data/cpuinfo) and --fact
// overrides.
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>

#include "facts.h"

namespace kvmprov {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string cpuinfo_sample(const std::string& name) {
  const std::string text = read_text(std::string(KVMPROV_TEST_DATA) + "/cpuinfo/" + name);
  REQUIRE_MESSAGE(!text.empty(), "missing sample ", name);
  return text;
}

struct Sample {
  const char* file;
  Vendor vendor;
  const char* vendor_id;
  const char* model_name;
  unsigned cpus;
  bool vmx;
  bool svm;
  bool hypervisor;
};

constexpr Sample kSamples[] = {
    {"qemu-tcg-qemu64.cpuinfo", Vendor::amd, "AuthenticAMD", "QEMU Virtual CPU version 2.5+", 2,
     false, true, true},
    {"qemu-tcg-qemu64-nosvm.cpuinfo", Vendor::amd, "AuthenticAMD", "QEMU Virtual CPU version 2.5+",
     2, false, false, true},
    {"qemu-tcg-EPYC.cpuinfo", Vendor::amd, "AuthenticAMD", "AMD EPYC Processor", 2, false, true,
     true},
    {"qemu-tcg-max.cpuinfo", Vendor::amd, "AuthenticAMD", "QEMU TCG CPU version 2.5+", 2, false,
     true, true},
    {"qemu-tcg-Dhyana.cpuinfo", Vendor::hygon, "HygonGenuine", "Hygon Dhyana Processor", 2, false,
     true, true},
    {"qemu-tcg-Skylake-Client-vmx-requested.cpuinfo", Vendor::intel, "GenuineIntel",
     "Intel Core Processor (Skylake)", 2, false, false, true},
    {"amd-epyc-vm-kvm-pvm.cpuinfo", Vendor::amd, "AuthenticAMD", "AMD EPYC", 2, false, false, true},
    {"intel-xeon-vm-kvm-pvm.cpuinfo", Vendor::intel, "GenuineIntel", "Intel(R) Xeon(R) Processor",
     16, false, false, true},
    // Hand-edited, see tests/data/cpuinfo/README.md.
    {"synthetic-intel-xeon-vmx.cpuinfo", Vendor::intel, "GenuineIntel",
     "Intel(R) Xeon(R) Processor", 16, true, false, false},
};

TEST_CASE("parse_cpuinfo reads each host sample") {
  for (const auto& s : kSamples) {
    CAPTURE(s.file);
    const CpuFacts cpu = parse_cpuinfo(cpuinfo_sample(s.file));
    CHECK(cpu.vendor == s.vendor);
    CHECK(cpu.vendor_id == s.vendor_id);
    CHECK(cpu.model_name == s.model_name);
    CHECK(cpu.cpus == s.cpus);
    CHECK(cpu.vmx == s.vmx);
    CHECK(cpu.svm == s.svm);
    CHECK(cpu.hypervisor == s.hypervisor);
    CHECK(cpu.hypervisor_id.empty());  // /proc/cpuinfo does not carry the signature
  }
}

TEST_CASE("parse_cpuinfo knows the x86 samples as x86") {
  for (const auto& s : kSamples) {
    CAPTURE(s.file);
    CHECK(parse_cpuinfo(cpuinfo_sample(s.file)).arch == CpuArch::x86);
  }
  CHECK(parse_cpuinfo("").arch == CpuArch::unknown);
}

// The arm64, ppc64le and s390x samples of tests/data/hosts (README.md there).
std::string host_sample(const std::string& name) {
  const std::string text = read_text(std::string(KVMPROV_TEST_DATA) + "/hosts/" + name);
  REQUIRE_MESSAGE(!text.empty(), "missing sample ", name);
  return text;
}

TEST_CASE("parse_cpuinfo reads arm64's format: Features as flags, no x86 vendor, no VT") {
  // The el1 sample's Features match the vhe one's: /proc/cpuinfo cannot tell EL2 from EL1.
  for (const char* host : {"vhe", "pkvm", "el1"}) {
    CAPTURE(host);
    const CpuFacts cpu =
        parse_cpuinfo(host_sample(std::string("qemu-tcg-arm64-") + host + ".cpuinfo"));
    CHECK(cpu.arch == CpuArch::arm64);
    CHECK(cpu.vendor == Vendor::unknown);
    CHECK(cpu.vendor_id.empty());
    CHECK(cpu.model_name.empty());
    CHECK(cpu.cpus == 2);
    CHECK(cpu.implementer == "0x00");
    CHECK(cpu.part == "0x051");
    CHECK(cpu.flags.size() == 49);
    CHECK(cpu.flags.contains("sve2"));
    CHECK(cpu.flags.contains("bti"));
    CHECK_FALSE(cpu.vmx);
    CHECK_FALSE(cpu.svm);
    CHECK_FALSE(cpu.hypervisor);
  }
  const CpuFacts a57 = parse_cpuinfo(host_sample("qemu-tcg-arm64-nvhe.cpuinfo"));
  CHECK(a57.arch == CpuArch::arm64);
  CHECK(a57.implementer == "0x41");
  CHECK(a57.part == "0xd07");
  CHECK(a57.flags == std::set<std::string>{"fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2",
                                           "crc32", "cpuid"});
}

TEST_CASE("parse_cpuinfo knows ppc64le and s390x and guesses no x86 vendor") {
  const CpuFacts power = parse_cpuinfo(host_sample("qemu-tcg-ppc64le-powernv9.cpuinfo"));
  CHECK(power.arch == CpuArch::ppc64le);
  CHECK(power.vendor == Vendor::unknown);
  CHECK(power.model_name == "POWER9, altivec supported");
  CHECK(power.cpus == 2);
  CHECK(power.flags.empty());
  CHECK(parse_cpuinfo(host_sample("qemu-tcg-ppc64le-pseries-power8.cpuinfo")).arch ==
        CpuArch::ppc64le);

  const CpuFacts z = parse_cpuinfo(host_sample("qemu-tcg-s390x.cpuinfo"));
  CHECK(z.arch == CpuArch::s390x);
  CHECK(z.vendor == Vendor::unknown);
  CHECK(z.vendor_id.empty());
  CHECK(z.cpus == 2);
  CHECK(z.flags == std::set<std::string>{"esan3", "zarch", "stfle", "msa", "ldisp", "eimm",
                                         "etf3eh", "highgprs", "vx", "vxe", "vxe2"});
  CHECK_FALSE(z.flags.contains("sie"));
}

TEST_CASE("parse_cpuinfo counts a VT flag only when every processor lists it") {
  const std::string_view one_of_two =
      "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx sse\n\n"
      "processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse\n\n";
  const std::string_view both =
      "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu svm\n\n"
      "processor\t: 1\nvendor_id\t: AuthenticAMD\nflags\t\t: svm fpu\n\n";
  // A processor without any flags line proves nothing, so it does not count as having VT.
  const std::string_view missing_flags =
      "processor\t: 0\nflags\t\t: vmx\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n\n";
  for (const std::string_view text : {one_of_two, both, missing_flags}) {
    CAPTURE(text);
    const CpuFacts cpu = parse_cpuinfo(text);
    CHECK(cpu.cpus == 2);
    CHECK_FALSE(cpu.vmx);
  }
  CHECK(parse_cpuinfo(both).svm);
}

TEST_CASE("parse_cpuinfo: repeated flags lines count per CPU, a different one still narrows") {
  std::string text;
  for (int i = 0; i < 256; ++i)
    text += "processor\t: " + std::to_string(i) + "\nflags\t\t: fpu vmx sse avx\n\n";
  CpuFacts cpu = parse_cpuinfo(text);
  CHECK(cpu.cpus == 256);
  CHECK(cpu.vmx);
  CHECK(cpu.flags == std::set<std::string>{"avx", "fpu", "sse", "vmx"});

  // The odd CPU out is in the middle, and the ones after it repeat the common line again.
  text =
      "processor\t: 0\nflags\t\t: fpu vmx sse avx\n\n"
      "processor\t: 1\nflags\t\t: fpu sse hypervisor\n\n"
      "processor\t: 2\nflags\t\t: fpu vmx sse avx\n\n"
      "processor\t: 3\nflags\t\t: fpu vmx sse avx\n\n";
  cpu = parse_cpuinfo(text);
  CHECK(cpu.cpus == 4);
  CHECK_FALSE(cpu.vmx);
  CHECK(cpu.hypervisor);
  CHECK(cpu.flags == std::set<std::string>{"fpu", "sse"});
}

TEST_CASE("parse_cpuinfo matches whole flag words under the exact key") {
  const std::string_view text =
      "processor\t: 0\nflags\t\t: fpu vmxe svmx hypervisorx\n"
      "vmx flags\t: vmx svm hypervisor\n";
  const CpuFacts cpu = parse_cpuinfo(text);
  CHECK(cpu.cpus == 1);
  CHECK_FALSE(cpu.vmx);
  CHECK_FALSE(cpu.svm);
  CHECK_FALSE(cpu.hypervisor);
}

// CPU has no vendor, no model name and no VT-x.
void check_nothing_known(const CpuFacts& cpu) {
  CHECK(cpu.vendor == Vendor::unknown);
  CHECK(cpu.vendor_id.empty());
  CHECK(cpu.model_name.empty());
  CHECK_FALSE(cpu.vmx);
}

TEST_CASE("parse_cpuinfo copes with empty, partial and odd input") {
  SUBCASE("empty") {
    const CpuFacts cpu = parse_cpuinfo("");
    CHECK(cpu.cpus == 0);
    check_nothing_known(cpu);
    CHECK_FALSE(cpu.svm);
    CHECK_FALSE(cpu.hypervisor);
  }
  SUBCASE("blank lines and lines without a colon") {
    const CpuFacts cpu = parse_cpuinfo("\n\n   \nno colon here\n\t\n");
    CHECK(cpu.cpus == 0);
    CHECK(cpu.vendor == Vendor::unknown);
  }
  SUBCASE("flags with no processor line are not evidence") {
    const CpuFacts cpu = parse_cpuinfo("flags : vmx svm hypervisor\n");
    CHECK(cpu.cpus == 0);
    CHECK_FALSE(cpu.vmx);
    CHECK_FALSE(cpu.svm);
  }
  SUBCASE("missing fields") {
    const CpuFacts cpu = parse_cpuinfo("processor\t: 0\n");
    CHECK(cpu.cpus == 1);
    check_nothing_known(cpu);
  }
  SUBCASE("unknown vendor") {
    const CpuFacts cpu = parse_cpuinfo("processor : 0\nvendor_id : VIA VIA VIA \n");
    CHECK(cpu.vendor_id == "VIA VIA VIA");
    CHECK(cpu.vendor == Vendor::unknown);
  }
  SUBCASE("CRLF line ends") {
    const CpuFacts cpu = parse_cpuinfo(
        "processor\t: 0\r\nvendor_id\t: GenuineIntel\r\nmodel name\t: Some CPU\r\n"
        "flags\t\t: fpu vmx\r\n\r\nprocessor\t: 1\r\nflags\t\t: vmx fpu\r\n");
    CHECK(cpu.cpus == 2);
    CHECK(cpu.vendor == Vendor::intel);
    CHECK(cpu.vendor_id == "GenuineIntel");
    CHECK(cpu.model_name == "Some CPU");
    CHECK(cpu.vmx);
  }
  SUBCASE("a whole sample converted to CRLF") {
    std::string text;
    for (const char c : cpuinfo_sample("qemu-tcg-Dhyana.cpuinfo")) {
      if (c == '\n') text += '\r';
      text += c;
    }
    const CpuFacts cpu = parse_cpuinfo(text);
    CHECK(cpu.vendor == Vendor::hygon);
    CHECK(cpu.model_name == "Hygon Dhyana Processor");
    CHECK(cpu.cpus == 2);
    CHECK(cpu.svm);
  }
  SUBCASE("no final newline") {
    const CpuFacts cpu = parse_cpuinfo("processor : 0\nflags : svm");
    CHECK(cpu.svm);
  }
  SUBCASE("very long lines") {
    std::string flags(1 << 20, ' ');
    for (std::size_t i = 0; i + 4 < flags.size(); i += 5) flags.replace(i, 4, "abcd");
    const std::string text = "processor\t: 0\nmodel name\t: " + std::string(1 << 20, 'x') +
                             "\nflags\t\t: " + flags + " svm\n";
    const CpuFacts cpu = parse_cpuinfo(text);
    CHECK(cpu.cpus == 1);
    CHECK(cpu.model_name.size() == std::size_t{1} << 20);
    CHECK(cpu.svm);
    CHECK_FALSE(cpu.vmx);
  }
  SUBCASE("NUL bytes do not stop the parse") {
    using namespace std::string_literals;
    const std::string text = "processor : 0\n\0junk\nflags : vmx\n"s;
    const CpuFacts cpu = parse_cpuinfo(text);
    CHECK(cpu.cpus == 1);
    CHECK(cpu.vmx);
  }
}

TEST_CASE("vendor_from_id maps CPUID vendor strings") {
  CHECK(vendor_from_id("GenuineIntel") == Vendor::intel);
  CHECK(vendor_from_id("AuthenticAMD") == Vendor::amd);
  CHECK(vendor_from_id("HygonGenuine") == Vendor::hygon);
  CHECK(vendor_from_id("  Shanghai  ") == Vendor::zhaoxin);
  CHECK(vendor_from_id("Shanghai") == Vendor::zhaoxin);
  CHECK(vendor_from_id("CentaurHauls") == Vendor::centaur);
  CHECK(vendor_from_id("") == Vendor::unknown);
  CHECK(vendor_from_id("genuineintel") == Vendor::unknown);
  CHECK(vendor_from_id("GenuineIotel") == Vendor::unknown);
  CHECK(vendor_from_id("AMDisbetter!") == Vendor::unknown);
}

TEST_CASE("module_state_name") {
  CHECK(module_state_name(ModuleState::absent) == "absent");
  CHECK(module_state_name(ModuleState::live) == "live");
  CHECK(module_state_name(ModuleState::builtin) == "builtin");
  CHECK(module_state_name(ModuleState::coming) == "coming");
  CHECK(module_state_name(ModuleState::going) == "going");
}

#if defined(__x86_64__) || defined(__i386__)
TEST_CASE("CPUID agrees with /proc/cpuinfo on this machine") {
  const CpuFacts cpu = parse_cpuinfo(read_text("/proc/cpuinfo"));
  REQUIRE(cpu.cpus > 0);
  const std::string vendor_id = read_cpuid().vendor;
  CHECK_FALSE(vendor_id.empty());
  CHECK(vendor_id == cpu.vendor_id);
  CHECK(vendor_from_id(vendor_id) == cpu.vendor);

  const std::string hypervisor_id = read_cpuid().hypervisor;
  CAPTURE(hypervisor_id);
  if (!cpu.hypervisor) CHECK(hypervisor_id.empty());
  CHECK(hypervisor_id.size() <= 12);
  CHECK(hypervisor_id.find('\0') == std::string::npos);
}
#endif

TEST_CASE("fact_keys lists every key override_fact accepts") {
  const auto& keys = fact_keys();
  REQUIRE(keys.size() == 9);
  CHECK(keys[0] == "cpu_vendor");
  for (const auto key : keys) {
    Facts facts;
    const std::string value = key == "cpu_vendor"       ? "intel"
                              : key == "kernel_release" ? "6.1.0"
                                                        : "1";
    CAPTURE(key);
    CHECK(override_fact(facts, std::string(key) + "=" + value).ok());
  }
}

TEST_CASE("override_fact sets each fact and records it once") {
  Facts facts;
  REQUIRE(override_fact(facts, "kernel_release=6.1.0-18-amd64").ok());
  CHECK(facts.kernel_release == "6.1.0-18-amd64");
  REQUIRE(override_fact(facts, "kernel_release=6.18.0+pvm~1_x").ok());
  CHECK(facts.kernel_release == "6.18.0+pvm~1_x");
  REQUIRE(override_fact(facts, "modules_supported=yes").ok());
  CHECK(facts.modules_supported);
  REQUIRE(override_fact(facts, "modules_supported=no").ok());
  CHECK_FALSE(facts.modules_supported);
  REQUIRE(override_fact(facts, "systemd=true").ok());
  CHECK(facts.systemd);
  REQUIRE(override_fact(facts, "vmx=1").ok());
  CHECK(facts.cpu.vmx);
  REQUIRE(override_fact(facts, "svm=TRUE").ok());
  CHECK(facts.cpu.svm);
  CHECK(facts.overridden ==
        std::vector<std::string>{"kernel_release", "modules_supported", "systemd", "vmx", "svm"});
}

TEST_CASE("override_fact hypervisor=false drops the observed signature") {
  Facts facts;
  facts.cpu.hypervisor = true;
  facts.cpu.hypervisor_id = "KVMKVMKVM";
  REQUIRE(override_fact(facts, "hypervisor=0").ok());
  CHECK_FALSE(facts.cpu.hypervisor);
  CHECK(facts.cpu.hypervisor_id.empty());
  REQUIRE(override_fact(facts, "hypervisor=yes").ok());
  CHECK(facts.cpu.hypervisor);
}

TEST_CASE("override_fact cpu_vendor sets the vendor and assumes its VT flag") {
  struct Case {
    const char* value;
    Vendor vendor;
    bool vmx;
    bool svm;
  };
  const Case cases[] = {
      {"intel", Vendor::intel, true, false},     {"amd", Vendor::amd, false, true},
      {"hygon", Vendor::hygon, false, true},     {"zhaoxin", Vendor::zhaoxin, true, false},
      {"centaur", Vendor::centaur, true, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.value);
    Facts facts;
    // Start from the opposite of what the override should produce.
    facts.cpu.vmx = !c.vmx;
    facts.cpu.svm = !c.svm;
    REQUIRE(override_fact(facts, std::string("cpu_vendor=") + c.value).ok());
    CHECK(facts.cpu.vendor == c.vendor);
    CHECK(vendor_from_id(facts.cpu.vendor_id) == c.vendor);
    CHECK(facts.cpu.vmx == c.vmx);
    CHECK(facts.cpu.svm == c.svm);
    CHECK(facts.overridden == std::vector<std::string>{"cpu_vendor"});
  }
}

TEST_CASE("override_fact: an explicit vmx/svm wins over cpu_vendor in either order") {
  // The facts after FIRST, then SECOND.
  const auto overridden = [](const char* first, const char* second) {
    Facts facts;
    REQUIRE(override_fact(facts, first).ok());
    REQUIRE(override_fact(facts, second).ok());
    return facts;
  };
  SUBCASE("cpu_vendor first, or svm first") {
    for (const Facts& facts :
         {overridden("cpu_vendor=amd", "svm=false"), overridden("svm=false", "cpu_vendor=amd")}) {
      CHECK(facts.cpu.vendor == Vendor::amd);
      CHECK_FALSE(facts.cpu.svm);
      CHECK_FALSE(facts.cpu.vmx);
    }
  }
  SUBCASE("only the overridden flag is kept") {
    const Facts facts = overridden("vmx=true", "cpu_vendor=hygon");
    CHECK(facts.cpu.vmx);  // as given
    CHECK(facts.cpu.svm);  // assumed for the vendor
  }
  SUBCASE("vmx first for intel") {
    const Facts facts = overridden("vmx=no", "cpu_vendor=intel");
    CHECK_FALSE(facts.cpu.vmx);
    CHECK_FALSE(facts.cpu.svm);
  }
}

TEST_CASE("override_fact rejects malformed assignments") {
  Facts facts;
  auto r = override_fact(facts, "foo");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "expected KEY=VALUE, got \"foo\"");
  r = override_fact(facts, "=intel");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "expected KEY=VALUE, got \"=intel\"");
  r = override_fact(facts, "");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "expected KEY=VALUE, got \"\"");
  CHECK(facts.overridden.empty());
}

TEST_CASE("override_fact names unknown keys and suggests the nearest") {
  Facts facts;
  auto r = override_fact(facts, "cpu_vendr=intel");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message ==
        "unknown fact \"cpu_vendr\" (did you mean \"cpu_vendor\"?); known facts: cpu_vendor, vmx, "
        "svm, hypervisor, kernel_release, modules_supported, systemd, kvm_usable, cpu_flags");
  r = override_fact(facts, "systemdd=1");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("(did you mean \"systemd\"?)") != std::string::npos);
  r = override_fact(facts, "colour=blue");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message ==
        "unknown fact \"colour\"; known facts: cpu_vendor, vmx, svm, hypervisor, kernel_release, "
        "modules_supported, systemd, kvm_usable, cpu_flags");
  r = override_fact(facts, "VMX=1");  // keys are case-sensitive, but the hint helps
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("unknown fact \"VMX\" (did you mean \"vmx\"?)") == 0);
  CHECK(facts.overridden.empty());
}

TEST_CASE("override_fact rejects invalid values and leaves the facts alone") {
  Facts facts;
  facts.kernel_release = "6.1.0";
  auto r = override_fact(facts, "cpu_vendor=arm");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message ==
        "invalid value \"arm\" for fact \"cpu_vendor\": expected intel, amd, hygon, zhaoxin or "
        "centaur");
  CHECK_FALSE(override_fact(facts, "cpu_vendor=unknown").ok());
  CHECK_FALSE(override_fact(facts, "cpu_vendor=").ok());
  CHECK(facts.cpu.vendor == Vendor::unknown);

  r = override_fact(facts, "vmx=maybe");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message ==
        "invalid value \"maybe\" for fact \"vmx\": expected true, false, yes, no, 1 or 0");
  CHECK_FALSE(override_fact(facts, "systemd=").ok());
  CHECK_FALSE(override_fact(facts, "hypervisor=2").ok());

  CHECK_FALSE(override_fact(facts, "kernel_release=").ok());
  CHECK_FALSE(override_fact(facts, "kernel_release=6.1 0").ok());
  CHECK_FALSE(override_fact(facts, "kernel_release=../../etc").ok());
  CHECK_FALSE(override_fact(facts, "kernel_release=" + std::string(65, '1')).ok());
  CHECK(override_fact(facts, "kernel_release=" + std::string(64, '1')).ok());
  facts.kernel_release = "6.1.0";
  facts.overridden.clear();
  r = override_fact(facts, "kernel_release=6.1\n0");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find('\n') == std::string::npos);
  CHECK(r.error().message.find("\"6.1\\n0\"") != std::string::npos);

  CHECK(facts.kernel_release == "6.1.0");
  CHECK(facts.overridden.empty());
}

TEST_CASE("override_fact keeps messages short whatever the input") {
  Facts facts;
  const auto r = override_fact(facts, "vmx=" + std::string(10000, 'y'));
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.size() < 200);
  CHECK(r.error().message.find("\"...") != std::string::npos);
}

TEST_CASE("each architecture's name, and its part of libvirt's CPU map") {
  const std::pair<CpuArch, std::pair<std::string_view, std::string_view>> kNames[] = {
      {CpuArch::x86, {"x86", "x86"}},
      {CpuArch::arm64, {"arm64", "arm"}},
      {CpuArch::ppc64le, {"ppc64le", "ppc64"}},
      {CpuArch::s390x, {"s390x", "s390"}},
      {CpuArch::unknown, {"unknown", "x86"}}};
  for (const auto& [arch, names] : kNames) {
    CHECK(arch_name(arch) == names.first);
    CHECK(cpu_map_arch(arch) == names.second);
  }
}

}  // namespace
}  // namespace kvmprov

namespace {

// The first 20 bytes of an ELF file: magic, CLASS (1: 32-bit, 2: 64-bit), DATA (1: little-endian,
// 2: big), version, padding, e_type, and e_machine MACHINE in the byte order DATA says.
std::string elf_head(int elf_class, int data, unsigned machine) {
  std::string h = "\177ELF";
  h += static_cast<char>(elf_class);
  h += static_cast<char>(data);
  h += std::string(1, '\x01') + std::string(9, '\0') + std::string("\x02\0", 2);
  const char lo = static_cast<char>(machine & 0xff), hi = static_cast<char>(machine >> 8);
  h += data == 1 ? std::string{lo, hi} : std::string{hi, lo};
  return h;
}

}  // namespace

TEST_CASE("elf_arch names the architecture a program is built for, and guesses no other") {
  struct Case {
    std::string head;
    kvmprov::CpuArch arch;
    std::string machine;
  };
  using kvmprov::CpuArch;
  const Case cases[] = {
      {elf_head(2, 1, 62), CpuArch::x86, "x86-64"},
      {elf_head(1, 1, 3), CpuArch::x86, "i386"},
      {elf_head(2, 1, 183), CpuArch::arm64, "aarch64"},
      {elf_head(2, 1, 21), CpuArch::ppc64le, "ppc64le"},
      {elf_head(2, 2, 22), CpuArch::s390x, "s390x"},
      // Known, but not architectures kvmprov decides for: nothing is guessed.
      {elf_head(2, 2, 21), CpuArch::unknown, "ppc64"},
      {elf_head(1, 1, 40), CpuArch::unknown, "armhf"},
      {elf_head(2, 1, 243), CpuArch::unknown, "riscv64"},
      {elf_head(2, 1, 258), CpuArch::unknown, "loongarch64"},
      {elf_head(2, 1, 0x1234), CpuArch::unknown, "ELF machine 4660"},
      // The right number in the wrong byte order or class is another machine.
      {elf_head(2, 2, 183), CpuArch::unknown, "ELF machine 183"},
      {elf_head(1, 1, 183), CpuArch::unknown, "ELF machine 183"},
      {elf_head(2, 1, 183).substr(0, 19), CpuArch::unknown, "not an ELF file"},
      {elf_head(2, 3, 183), CpuArch::unknown, "not an ELF file"},
      {elf_head(0, 1, 3), CpuArch::unknown, "not an ELF file"},
      {elf_head(3, 1, 62), CpuArch::unknown, "not an ELF file"},
      {"#!/bin/sh\nexec /bin/busybox sh \"$@\"\n", CpuArch::unknown, "not an ELF file"},
      {"", CpuArch::unknown, "not an ELF file"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.machine);
    std::string machine;
    CHECK(kvmprov::elf_arch(c.head, &machine) == c.arch);
    CHECK(machine == c.machine);
  }
}
