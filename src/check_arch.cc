// SPDX-License-Identifier: MIT
// check's lines for arm64, ppc64le and s390x: their /proc/cpuinfo says nothing of
// virtualisation, so arm64's verdict rests on the kernel log (was EL2 handed over, and in which
// mode KVM took it) and the probe; the others' CPU items wait for samples to be judged on.
#include "check_arch.h"

#include <fmt/format.h>

#include "kernel_log.h"
#include "util/text.h"

namespace kvmprov {
namespace {

// The lines of LOG the firmware line quotes, as quote() shows a host's bytes.
std::string quoted(const ArchKvmLog& log) {
  std::vector<std::string> said;
  for (const std::string& line : {log.started, log.kvm})
    if (!line.empty()) said.push_back(quote(line));
  return join(said, ", ");
}

CheckItem arm64_firmware(const ArchKvmLog& log, Findings& f) {
  CheckItem item{.id = "firmware", .title = "firmware (EL2)"};
  if (log.no_el2) {
    // The cause names the line that says EL1 when the log still holds it, else KVM's own.
    const std::string& line =
        log.started.ends_with("started at EL1") || log.kvm.empty() ? log.started : log.kvm;
    item.state = CheckState::fail;
    item.detail = "started at EL1, no EL2 for KVM: " + quoted(log);
    item.hint =
        "boot with EL2 enabled: on a VM, a host that offers nested virtualisation; on a server, firmware that starts the kernel at EL2";
    f.arch_cause = fmt::format(
        "the kernel was started at EL1 ({}), so the firmware or the hypervisor below it did not hand over EL2 ({})",
        quote(line), item.hint);
  } else if (!log.mode.empty()) {
    item.detail = fmt::format("started at EL2, KVM in {} mode: {}", log.mode, quoted(log));
    f.arch_mode = log.mode + " mode";
  } else if (!log.started.empty()) {
    item.state = CheckState::warn;
    item.detail = "KVM did not say it initialised: " + quoted(log);
    item.hint = "see the kernel log for KVM's reason (dmesg | grep kvm)";
  } else {
    item.state = CheckState::skip;
    item.detail = "kernel log: no \"started at EL\" or KVM mode line (the log may have wrapped)";
  }
  return item;
}

}  // namespace

CheckItem check_cpu_other(const Facts& facts) {
  const CpuFacts& cpu = facts.cpu;
  const std::string arch(arch_name(cpu.arch));
  CheckItem item{.id = "cpu", .title = "CPU"};
  if (cpu.arch == CpuArch::arm64) {
    item.detail = fmt::format(
        "arm64 (CPU implementer {}, part {}): /proc/cpuinfo does not say whether virtualisation is available; the kernel log does (firmware line)",
        cpu.implementer.empty() ? "unknown" : cpu.implementer,
        cpu.part.empty() ? "unknown" : cpu.part);
    return item;
  }
  item.state = CheckState::skip;
  item.detail = fmt::format("{}{}: the CPU checks for {} are not supported yet; the probe decides",
                            arch, cpu.model_name.empty() ? "" : " (" + cpu.model_name + ")", arch);
  return item;
}

CheckItem check_firmware_other(const CheckEvidence& ev, const Facts& facts, Findings& f) {
  if (!ev.kernel_log) {
    return {.id = "firmware",
            .title = "firmware",
            .state = CheckState::skip,
            .detail = "kernel log not read: " + ev.kernel_log.error().message};
  }
  const ArchKvmLog log = scan_arch_kvm_log(*ev.kernel_log);
  if (facts.cpu.arch == CpuArch::arm64) return arm64_firmware(log, f);
  const std::string arch(arch_name(facts.cpu.arch));
  CheckItem item{.id = "firmware", .title = "firmware", .state = CheckState::skip};
  item.detail = fmt::format("the firmware checks for {} are not supported yet", arch);
  if (log.no_sie) {
    // The kernel's own verdict: reported as it said it, whatever the CPU lines do not judge.
    item.state = CheckState::fail;
    item.detail += "; kernel log: " + quoted(log);
    item.hint = "the CPU (or the hypervisor below it) does not offer SIE to this kernel";
    f.arch_cause = fmt::format(
        "the kernel says {}: the CPU, or the hypervisor below it, does not offer SIE to this kernel (on a VM, a host that offers nested virtualisation)",
        quote(log.kvm));
  }
  return item;
}

}  // namespace kvmprov
