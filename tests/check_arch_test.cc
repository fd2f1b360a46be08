// SPDX-License-Identifier: MIT
// Tests for the facts, the plan and check on arm64, ppc64le and s390x, each from a real sample of
// tests/data/hosts (README.md there): its /proc/cpuinfo and kernel log, and the /dev/kvm node,
// modules and probe its .sysfs transcript reports.
#include <doctest/doctest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "action_checks.h"
#include "check_hosts.h"
#include "kernel_log.h"

namespace kvmprov::test {
namespace {

// The probe as the transcript's KVMPROBE lines report it (the first VM type, type 0).
KvmProbe transcript_probe(const std::string& sysfs) {
  KvmProbe p;
  const auto errno_after = [&](const std::string& marker) {
    const size_t at = sysfs.find(marker);
    return at == std::string::npos ? 0 : std::atoi(sysfs.c_str() + at + marker.size());
  };
  p.opened = sysfs.find("KVMPROBE open(/dev/kvm) OK") != std::string::npos;
  if (!p.opened) p.open_errno = errno_after("KVMPROBE open(/dev/kvm) FAIL errno=");
  p.api_version = errno_after("KVMPROBE KVM_GET_API_VERSION = ");
  p.vm_created = sysfs.find("KVMPROBE KVM_CREATE_VM(type=0 default) OK") != std::string::npos;
  if (p.opened && !p.vm_created)
    p.vm_errno = errno_after("KVMPROBE KVM_CREATE_VM(type=0 default) FAIL errno=");
  p.vcpu_created = sysfs.find("KVMPROBE   KVM_CREATE_VCPU(0) OK") != std::string::npos;
  return p;
}

// The host of sample NAME, running as root. KVM is built in where /sys/module lists kvm while
// /proc/modules lists nothing (arm64), loaded where /proc/modules lists it, else a module file
// that is not loaded.
FakeHost sample_host(const std::string& name) {
  const std::string base = kData + "/hosts/" + name;
  const std::string sysfs = slurp(base + ".sysfs");
  REQUIRE(!sysfs.empty());
  FakeHost h;
  h.kernel_.files["/proc/cpuinfo"] = slurp(base + ".cpuinfo");
  h.kernel_log_ = slurp(base + ".kvm-dmesg");
  h.kernel_.files["/proc/modules"] = "";
  h.kernel_.files["/lib/modules/" + h.release_] = "";
  h.available("kvm");
  h.available("vhost_net");
  if (sysfs.find(" Live ") != std::string::npos)
    h.modules_["kvm"].state = ModuleState::live;
  else if (sysfs.find("grep -i kvm\nkvm\n") != std::string::npos)
    h.modules_["kvm"].state = ModuleState::builtin;
  if (sysfs.find("\ncrw") != std::string::npos)
    h.kernel_.infos["/dev/kvm"] = char_device(0600, 0, 0);
  h.user_names_[0] = "root";
  h.group_names_[0] = "root";
  h.accounts_[""] = {.user = "root", .can_open = true, .opened_as_user = true};
  h.probe_ = transcript_probe(sysfs);
  return h;
}

struct Outcome {
  Facts facts;
  Plan plan;
  CheckReport report;
};

Outcome run_sample(const std::string& name) {
  CAPTURE(name);
  FakeHost h = sample_host(name);
  Outcome o;
  o.facts = observe(h, default_profile());
  o.plan = make_plan(default_profile(), o.facts, {.live = true});
  o.report = run_check(h, o.facts, {});
  return o;
}

// No x86 vendor module is loaded or listed: each is skipped, as another CPU's.
void check_no_vendor_module(const Outcome& o, const std::string& arch) {
  for (const char* module : {"kvm_intel", "kvm_amd"}) {
    check_action(o.plan.actions, std::string("module:") + module, Status::skipped,
                 "an x86 KVM module; this CPU is " + arch + ", whose KVM needs no vendor module");
    for (const Action& a : o.plan.actions) {
      CAPTURE(a.id);
      CHECK(a.after.value_or("").find(module) == std::string::npos);
    }
  }
}

const char* const kArm64Cpu =
    "arm64 (CPU implementer 0x00, part 0x051): /proc/cpuinfo does not say whether virtualisation is available; the kernel log does (firmware line)";

}  // namespace

TEST_CASE("arm64 with EL2: built-in kvm, no vendor module, usable, the mode named") {
  struct Case {
    const char* host;
    const char* cpu;
    const char* firmware;
    const char* advice;
  };
  const Case cases[] = {
      {"qemu-tcg-arm64-vhe", kArm64Cpu,
       "started at EL2, KVM in VHE mode: \"CPU: All CPU(s) started at EL2\", \"kvm [1]: VHE mode initialized successfully\"",
       "KVM acceleration can be used (arm64, VHE mode)"},
      {"qemu-tcg-arm64-nvhe",
       "arm64 (CPU implementer 0x41, part 0xd07): /proc/cpuinfo does not say whether virtualisation is available; the kernel log does (firmware line)",
       "started at EL2, KVM in nVHE mode: \"CPU: All CPU(s) started at EL2\", \"kvm [1]: Hyp mode initialized successfully\"",
       "KVM acceleration can be used (arm64, nVHE mode)"},
      {"qemu-tcg-arm64-pkvm", kArm64Cpu,
       "started at EL2, KVM in protected nVHE mode: \"CPU: All CPU(s) started at EL2\", \"kvm [1]: Protected nVHE mode initialized successfully\"",
       "KVM acceleration can be used (arm64, protected nVHE mode)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.host);
    const Outcome o = run_sample(c.host);
    CHECK(o.facts.cpu.arch == CpuArch::arm64);
    CHECK(o.facts.cpu.vendor == Vendor::unknown);
    CHECK(o.facts.cpu.vendor_id.empty());
    check_action(o.plan.actions, "module:kvm", Status::unchanged, "built into the kernel");
    check_no_vendor_module(o, "arm64");
    check_line(o.report, "cpu", CheckState::pass, c.cpu, "");
    check_line(o.report, "firmware", CheckState::pass, c.firmware, "");
    check_line(o.report, "kernel", CheckState::pass, "kvm built in", "");
    check_line(o.report, "probe", CheckState::pass,
               "API 12, KVM_CREATE_VM and KVM_CREATE_VCPU succeeded", "");
    check_line(o.report, "nested", CheckState::skip, "not supported yet on arm64", "");
    CHECK(o.report.verdict.usable);
    CHECK(o.report.verdict.reason == "ok");
    CHECK(o.report.verdict.advice == c.advice);
    CHECK(o.report.verdict.virt_type == "kvm");
  }
}

TEST_CASE("arm64: a kernel log line with quotes and a terminal escape is quoted, never passed on") {
  // The verdict quotes the line that says EL1, or KVM's own where the log has lost the first.
  struct Case {
    std::string log, shown;
  };
  for (const Case& c : {
           Case{"kvm [1]: HYP mode not available \"\x1b]0;owned\x07\"\n",
                R"("kvm [1]: HYP mode not available \"\x1b]0;owned\x07\"")"},
           Case{"CPU\x1b[31m: All CPU(s) started at EL1\nkvm [1]: HYP mode not available\n",
                R"("CPU\x1b[31m: All CPU(s) started at EL1")"},
       }) {
    FakeHost h = sample_host("qemu-tcg-arm64-el1");
    h.kernel_log_ = c.log;
    const Facts facts = observe(h, default_profile());
    const CheckReport report = run_check(h, facts, {});
    CAPTURE(c.shown);
    CHECK_FALSE(report.verdict.usable);
    CHECK(report.verdict.advice.find(c.shown) != std::string::npos);
    CHECK(report.verdict.advice.find('\x1b') == std::string::npos);
    for (const CheckItem& item : report.items) {
      CAPTURE(item.id);
      CHECK(item.detail.find('\x1b') == std::string::npos);
      CHECK(item.detail.find('\x07') == std::string::npos);
    }
  }
}

TEST_CASE("arm64 started at EL1: not usable, and why, from the kernel log") {
  const Outcome o = run_sample("qemu-tcg-arm64-el1");
  CHECK(o.facts.cpu.arch == CpuArch::arm64);
  check_action(o.plan.actions, "module:kvm", Status::unchanged, "built into the kernel");
  check_no_vendor_module(o, "arm64");
  const std::string hint =
      "boot with EL2 enabled: on a VM, a host that offers nested virtualisation; on a server, firmware that starts the kernel at EL2";
  check_line(o.report, "cpu", CheckState::pass, kArm64Cpu, "");
  check_line(
      o.report, "firmware", CheckState::fail,
      "started at EL1, no EL2 for KVM: \"CPU: All CPU(s) started at EL1\", \"kvm [1]: HYP mode not available\"",
      hint);
  check_line(o.report, "kernel", CheckState::pass, "kvm built in", "");
  // kvm is built in: no load is left that would create the node.
  check_line(o.report, "device", CheckState::fail, "missing",
             "KVM is in the kernel but did not start: see the firmware line");
  check_line(o.report, "probe", CheckState::fail, "cannot open /dev/kvm: No such file or directory",
             "");
  CHECK_FALSE(o.report.verdict.usable);
  CHECK(o.report.verdict.reason == "no-hardware-support");
  CHECK(
      o.report.verdict.advice ==
      "the kernel was started at EL1 (\"CPU: All CPU(s) started at EL1\"), so the firmware or the hypervisor below it did not hand over EL2 (boot with EL2 enabled: on a VM, a host that offers nested virtualisation; on a server, firmware that starts the kernel at EL2)");
  CHECK(o.report.verdict.virt_type == "qemu");
  // Nothing x86 is judged: no VT flag, no VT lock, no vendor module.
  for (const CheckItem& i : o.report.items) {
    CAPTURE(i.id);
    for (const char* word : {"VT-x", "AMD-V", "vmx", "MSR", "kvm_intel", "kvm_amd"}) {
      CHECK(i.detail.find(word) == std::string::npos);
      CHECK(i.hint.find(word) == std::string::npos);
    }
  }
}

TEST_CASE("ppc64le: CPU items not supported yet, the probe decides") {
  const Outcome o = run_sample("qemu-tcg-ppc64le-powernv9");
  CHECK(o.facts.cpu.arch == CpuArch::ppc64le);
  CHECK(o.facts.cpu.vendor == Vendor::unknown);
  check_action(o.plan.actions, "module:kvm", Status::unchanged, "loaded");
  check_no_vendor_module(o, "ppc64le");
  check_line(
      o.report, "cpu", CheckState::skip,
      "ppc64le (POWER9, altivec supported): the CPU checks for ppc64le are not supported yet; the probe decides",
      "");
  check_line(o.report, "firmware", CheckState::skip,
             "the firmware checks for ppc64le are not supported yet", "");
  check_line(o.report, "kernel", CheckState::pass, "kvm loaded", "");
  CHECK(o.report.verdict.usable);
  CHECK(o.report.verdict.reason == "ok");
  CHECK(o.report.verdict.advice == "KVM acceleration can be used (ppc64le)");

  // A guest partition without nesting: /dev/kvm opens, but no VM can be made.
  const Outcome guest = run_sample("qemu-tcg-ppc64le-pseries-power9");
  CHECK_FALSE(guest.report.verdict.usable);
  CHECK(guest.report.verdict.reason == "kernel-without-kvm");
  CHECK(
      guest.report.verdict.advice ==
      "/dev/kvm opens but the kernel refuses to create a VM (Invalid argument): see the kernel log");
}

TEST_CASE("s390x without SIE: not usable, the kernel's reason quoted") {
  const Outcome o = run_sample("qemu-tcg-s390x");
  CHECK(o.facts.cpu.arch == CpuArch::s390x);
  CHECK(o.facts.cpu.vendor == Vendor::unknown);
  check_no_vendor_module(o, "s390x");
  check_line(o.report, "cpu", CheckState::skip,
             "s390x: the CPU checks for s390x are not supported yet; the probe decides", "");
  check_line(
      o.report, "firmware", CheckState::fail,
      "the firmware checks for s390x are not supported yet; kernel log: \"kvm-s390: SIE is not available\"",
      "the CPU (or the hypervisor below it) does not offer SIE to this kernel");
  CHECK_FALSE(o.report.verdict.usable);
  CHECK(o.report.verdict.reason == "no-hardware-support");
  CHECK(
      o.report.verdict.advice ==
      "the kernel says \"kvm-s390: SIE is not available\": the CPU, or the hypervisor below it, does not offer SIE to this kernel (on a VM, a host that offers nested virtualisation)");
}

TEST_CASE("scan_arch_kvm_log reads each sample's EL2 or SIE lines") {
  const auto scan = [](const std::string& host) {
    return scan_arch_kvm_log(slurp(kData + "/hosts/" + host + ".kvm-dmesg"));
  };
  const ArchKvmLog el1 = scan("qemu-tcg-arm64-el1");
  CHECK(el1.no_el2);
  CHECK(el1.mode.empty());
  CHECK(el1.kvm == "kvm [1]: HYP mode not available");
  CHECK(scan("qemu-tcg-arm64-vhe").mode == "VHE");
  CHECK(scan("qemu-tcg-arm64-nvhe").mode == "nVHE");
  CHECK(scan("qemu-tcg-arm64-pkvm").mode == "protected nVHE");
  CHECK_FALSE(scan("qemu-tcg-arm64-pkvm").no_el2);
  CHECK(scan("qemu-tcg-s390x").no_sie);
  const ArchKvmLog none = scan("qemu-tcg-ppc64le-powernv9");
  CHECK(none.kvm.empty());
  CHECK(none.started.empty());
  // A later kernel's wording for nVHE.
  CHECK(scan_arch_kvm_log("kvm [1]: Hyp nVHE mode initialized successfully\n").mode == "nVHE");
}

}  // namespace kvmprov::test
