// SPDX-License-Identifier: MIT
// Tests for CPU fact parsing (real /proc/cpuinfo samples in tests/data/cpuinfo) and --fact
// overrides.
#include <doctest/doctest.h>

#include <fstream>
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

TEST_CASE("parse_cpuinfo counts a VT flag only when every processor lists it") {
  const std::string_view one_of_two =
      "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx sse\n\n"
      "processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse\n\n";
  CpuFacts cpu = parse_cpuinfo(one_of_two);
  CHECK(cpu.cpus == 2);
  CHECK_FALSE(cpu.vmx);

  const std::string_view both =
      "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu svm\n\n"
      "processor\t: 1\nvendor_id\t: AuthenticAMD\nflags\t\t: svm fpu\n\n";
  cpu = parse_cpuinfo(both);
  CHECK(cpu.cpus == 2);
  CHECK(cpu.svm);
  CHECK_FALSE(cpu.vmx);

  // A processor without any flags line proves nothing, so it does not count as having VT.
  const std::string_view missing_flags =
      "processor\t: 0\nflags\t\t: vmx\n\nprocessor\t: 1\nvendor_id\t: GenuineIntel\n\n";
  cpu = parse_cpuinfo(missing_flags);
  CHECK(cpu.cpus == 2);
  CHECK_FALSE(cpu.vmx);
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

TEST_CASE("parse_cpuinfo copes with empty, partial and odd input") {
  SUBCASE("empty") {
    const CpuFacts cpu = parse_cpuinfo("");
    CHECK(cpu.cpus == 0);
    CHECK(cpu.vendor == Vendor::unknown);
    CHECK(cpu.vendor_id.empty());
    CHECK(cpu.model_name.empty());
    CHECK_FALSE(cpu.vmx);
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
    CHECK(cpu.vendor == Vendor::unknown);
    CHECK(cpu.vendor_id.empty());
    CHECK(cpu.model_name.empty());
    CHECK_FALSE(cpu.vmx);
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
  const std::string vendor_id = cpuid_vendor_id();
  CHECK_FALSE(vendor_id.empty());
  CHECK(vendor_id == cpu.vendor_id);
  CHECK(vendor_from_id(vendor_id) == cpu.vendor);

  const std::string hypervisor_id = cpuid_hypervisor_id();
  CAPTURE(hypervisor_id);
  if (!cpu.hypervisor) CHECK(hypervisor_id.empty());
  CHECK(hypervisor_id.size() <= 12);
  CHECK(hypervisor_id.find('\0') == std::string::npos);
}
#endif

}  // namespace
}  // namespace kvmprov
