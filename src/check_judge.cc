// SPDX-License-Identifier: MIT
// check's judgement of what check_observe read: the lines that explain the CPU, firmware, kernel,
// nested and I/O state around the KVM probe, so the operator knows what to fix. Flags alone
// mislead: a paravirtual KVM works without them, and the kernel clears vmx when the firmware
// locked VT-x off.
#include "check_judge.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "check_arch.h"
#include "check_verdict.h"
#include "kernel_log.h"
#include "module_advice.h"
#include "msr.h"
#include "util/text.h"
#include "version.h"

namespace kvmprov {
namespace {

CheckItem check_cpu(const Facts& facts) {
  const CpuFacts& cpu = facts.cpu;
  const std::string flag(vt_flag(named_vt(cpu.vendor)));
  CheckItem item{.id = "cpu", .title = "CPU"};
  // A forced vendor is not this CPU's: its model name and vendor string would contradict it.
  std::string who = forced(facts, "cpu_vendor")
                        ? fmt::format("{} (--fact cpu_vendor)", vendor_name(cpu.vendor))
                        : fmt::format("{} ({}{}{})", vendor_name(cpu.vendor), cpu.vendor_id,
                                      cpu.model_name.empty() ? "" : ", ", cpu.model_name);
  const std::string shown = has_vt(cpu) ? (cpu.vmx ? "vmx" : "svm") : flag;
  const std::string from = flag_source(facts, shown);
  std::string vt =
      has_vt(cpu) ? fmt::format("\"{}\" flag {}", shown,
                                from.empty() ? "present" : "assumed (" + from + ")")
                  : fmt::format("no \"{}\" flag{}", shown, from.empty() ? "" : " (" + from + ")");
  std::string hv = cpu.hypervisor
                       ? fmt::format("under a hypervisor ({})",
                                     cpu.hypervisor_id.empty() ? "unknown" : cpu.hypervisor_id)
                       : "not under a hypervisor";
  if (forced(facts, "hypervisor")) hv += " (--fact hypervisor)";
  item.detail = fmt::format("{}; {}; {}", who, vt, hv);
  if (cpu.vendor == Vendor::unknown) {
    item.state = CheckState::fail;
    item.hint = "KVM on x86 needs a CPU from Intel, AMD, Hygon, Zhaoxin or Centaur";
  } else if (!has_vt(cpu)) {
    item.state = CheckState::warn;
    item.hint =
        !facts.kvm_provider.empty()
            ? fmt::format("KVM is provided by \"{}\", which needs no VT flag; the probe decides",
                          facts.kvm_provider)
        : cpu.hypervisor
            ? "a guest has VT only when its hypervisor passes it through (nested virtualisation); the probe decides"
            : "absent, or disabled in the firmware (the kernel then clears the flag); see the firmware check";
  }
  return item;
}

// What the MSR reading says: its text into PARTS and the state it shows, or why there is none.
std::string msr_reading(const MsrEvidence& m, Vendor vendor, std::vector<std::string>& parts,
                        std::optional<FirmwareVt>& state) {
  const VtFamily family = named_vt(vendor);
  if (!m.load_error.empty()) return "MSRs not read: cannot load the msr module: " + m.load_error;
  if (m.cpus.empty() || !m.device)
    return "MSRs not read: no /dev/cpu/N/msr (kernel without the msr driver)";
  if (m.failed)
    return fmt::format("MSRs not read: {} on CPU {}: {}", vt_msr_name(family), m.failed->first,
                       std::strerror(m.failed->second));
  const VtMsrSummary s = summarise_vt_msrs(family, m.values);
  parts.push_back(s.text);
  state = s.disabled.empty() ? FirmwareVt::enabled : FirmwareVt::disabled;
  if (!s.disabled.empty() && s.any_enabled)
    parts.push_back(fmt::format("{} disabled on CPU {} only (inconsistent firmware)",
                                vt_name(vendor), cpu_ranges(s.disabled)));
  return "";
}

// The kernel's own verdict, what it logged while enabling VT or loading the vendor module, into
// PARTS. Returns whether it said the firmware disabled VT.
bool kernel_log_verdict(const Result<std::string>& log, std::vector<std::string>& parts) {
  if (!log) {
    parts.push_back("kernel log not read: " + log.error().message);
    return false;
  }
  bool disabled = false;
  std::vector<std::string> said;
  for (const auto& f : scan_kernel_log(*log)) {
    if (f.kind == KernelLogFinding::Kind::firmware_disabled) disabled = true;
    if (std::find(said.begin(), said.end(), f.message) == said.end()) said.push_back(f.message);
  }
  parts.push_back(said.empty() ? "kernel log: no KVM hardware verdict"
                               : "kernel log: \"" + join(said, "\", \"") + "\"");
  return disabled;
}

CheckItem check_firmware(const CheckEvidence& ev, const Facts& facts, const CheckOptions& options,
                         Findings& f) {
  const Vendor vendor = facts.cpu.vendor;
  CheckItem item{.id = "firmware", .title = "firmware"};
  std::vector<std::string> parts;
  std::optional<FirmwareVt> msr_state;
  const MsrGate gate = msr_gate(facts, options.container, ev.msr);
  std::string skip = gate.skip;
  if (skip.empty()) skip = msr_reading(ev.msr, vendor, parts, msr_state);
  if (!ev.msr.unload_error.empty())
    parts.push_back("msr module left loaded: " + ev.msr.unload_error);
  if (!skip.empty()) parts.insert(parts.begin(), skip);
  const bool log_disabled = kernel_log_verdict(ev.kernel_log, parts);

  f.firmware_disabled = msr_state == FirmwareVt::disabled || log_disabled;
  f.firmware_needs_root = gate.needs_root && !msr_state && !log_disabled;
  item.detail = join(parts, "; ");
  if (f.firmware_disabled) {
    item.state = CheckState::fail;
    item.hint = facts.cpu.hypervisor
                    ? "these are the values a hypervisor emulates: it does not pass VT through"
                    : firmware_enable_hint(named_vt(vendor));
  } else if (msr_state) {
    item.state = CheckState::pass;
  } else {
    item.state = CheckState::skip;
    if (f.firmware_needs_root) item.hint = "run as root to read the firmware's VT state";
  }
  return item;
}

std::string module_text(const ModuleFacts& m, const std::string& name) {
  switch (m.state) {
    case ModuleState::live:
      return name + " loaded";
    case ModuleState::builtin:
      return name + " built in";
    case ModuleState::coming:
      return name + " loading";
    case ModuleState::going:
      return name + " unloading";
    case ModuleState::absent:
      break;
  }
  if (!m.found) return name + " missing";
  return name + " not loaded" +
         (m.blacklisted_by.empty() ? "" : " (blacklisted in " + m.blacklisted_by + ")");
}

// The KVM modules' states into PARTS, and which one is missing or not loaded into F.
void kernel_modules(const CheckEvidence& ev, const Facts& facts, const std::string& container,
                    std::vector<std::string>& parts, Findings& f) {
  std::vector<std::string> names = {"kvm"};
  const std::string vendor_module(vendor_kvm_module(facts.cpu.vendor));
  if (!facts.kvm_provider.empty())
    names.push_back(facts.kvm_provider);
  else if (!vendor_module.empty())
    names.push_back(vendor_module);
  for (const auto& name : names) {
    const ModuleFacts& m = ev.modules.at(name);
    parts.push_back(module_text(m, name) +
                    (name == facts.kvm_provider ? " (provides KVM without a vendor module)" : ""));
    if (in_kernel(m.state)) continue;
    if (!m.unknown_because.empty()) {
      // Not loaded, and without libkmod nothing tells whether it could be.
      parts.back() = name + " not loaded (" + m.unknown_because + ")";
    } else if (!m.found) {
      if (f.missing_module.empty()) f.missing_module = name;
      continue;
    }
    if (f.not_loaded_module.empty()) {
      f.not_loaded_module = name;
      f.load_fix = load_fix(facts, m, name, "kvmprov apply", container);
    }
  }
}

CheckItem check_kernel(const CheckEvidence& ev, const Facts& facts, const CheckOptions& options,
                       Findings& f) {
  CheckItem item{.id = "kernel", .title = "kernel"};
  const std::string release = facts.kernel_release;
  std::vector<std::string> parts;
  kernel_modules(ev, facts, options.container, parts, f);
  // The kernel's build configuration, when installed, says whether KVM exists at all.
  if (ev.boot_config && ev.boot_config->find("# CONFIG_KVM is not set") != std::string::npos) {
    f.kernel_has_kvm = false;
    parts.push_back("/boot/config-" + release + ": CONFIG_KVM is not set");
  }
  if (!facts.modules_supported) {
    parts.push_back("kernel without loadable-module support");
    // Nothing can be loaded: a module that is not built in does not exist for this kernel.
    if (!f.missing_module.empty() || !f.not_loaded_module.empty()) f.kernel_has_kvm = false;
  } else if (!ev.modules_dir) {
    parts.push_back(modules_dir(facts) + " missing");
  }
  if (facts.modules_disabled)
    parts.push_back("module loading disabled (kernel.modules_disabled=1)");
  item.detail = join(parts, ", ");

  if (!f.kernel_has_kvm) {
    item.state = CheckState::fail;
    item.hint =
        "this kernel has no KVM: boot a kernel built with CONFIG_KVM (any distribution kernel)";
  } else if (!f.missing_module.empty()) {
    item.state = CheckState::fail;
    item.hint = fmt::format(
        "install the modules package for {} (or reboot into the kernel whose modules are installed)",
        release);
  } else if (!f.not_loaded_module.empty()) {
    item.state = CheckState::warn;
    item.hint = f.load_fix == "kvmprov apply" ? "load the modules: kvmprov apply" : f.load_fix;
  }
  return item;
}

CheckItem check_nested(const CheckEvidence& ev, const Facts& facts) {
  CheckItem item{.id = "nested", .title = "nested virtualisation"};
  const std::string vendor_module(vendor_kvm_module(facts.cpu.vendor));
  if (!is_x86(facts.cpu.arch)) {
    item.state = CheckState::skip;
    item.detail = fmt::format("not supported yet on {}", arch_name(facts.cpu.arch));
    return item;
  }
  if (vendor_module.empty()) {
    item.state = CheckState::skip;
    item.detail = "unknown CPU vendor";
    return item;
  }
  if (!ev.nested) {
    item.state = CheckState::skip;
    item.detail = !facts.kvm_provider.empty()
                      ? fmt::format("KVM is provided by \"{}\", which has no nested parameter",
                                    facts.kvm_provider)
                      : fmt::format("{} not loaded", vendor_module);
    return item;
  }
  const std::string v(trim(*ev.nested));
  const bool on = v == "Y" || v == "y" || v == "1";
  item.detail = fmt::format("{} nested={}: {}", vendor_module, v,
                            on ? "guests can run KVM themselves" : "guests cannot run KVM");
  if (on) return item;
  // The profile as the packages install it; a parameter of a built-in module is set only on
  // the kernel command line, and a reload needs module loading.
  const std::string profile = std::string(KVMPROV_PROFILE_DIR) + "/nested.yaml";
  if (ev.modules.at(vendor_module).state == ModuleState::builtin)
    item.hint = fmt::format(
        "{} is built into the kernel: add {}.nested=1 to the kernel command line, then reboot",
        vendor_module, vendor_module);
  else if (facts.modules_disabled)
    item.hint = fmt::format(
        "to enable: kvmprov --profile {} apply, then reboot (module loading is disabled until the next boot: kernel.modules_disabled=1)",
        profile);
  else
    item.hint = fmt::format(
        "to enable: kvmprov --profile {} apply --allow-reload (when no guest runs)", profile);
  return item;
}

bool has_word(const std::vector<std::string_view>& words, std::string_view word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

// The parameters of the kernel command line CMDLINE that turn the IOMMU off (INTEL: Intel's, else
// AMD's), as they are written; INTEL_ON tells whether intel_iommu=on is there.
std::vector<std::string> iommu_offs(std::string_view cmdline, bool intel, bool& intel_on) {
  std::vector<std::string> offs;
  for (size_t pos = 0; pos < cmdline.size();) {
    const size_t start = cmdline.find_first_not_of(" \t\n", pos);
    if (start == std::string_view::npos) break;
    const size_t end = std::min(cmdline.find_first_of(" \t\n", start), cmdline.size());
    pos = end;
    const std::string_view word = cmdline.substr(start, end - start);
    const size_t eq = word.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view key = word.substr(0, eq);
    std::vector<std::string_view> values;
    for (std::string_view rest = word.substr(eq + 1);;) {
      const size_t comma = rest.find(',');
      values.push_back(rest.substr(0, comma));
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
    if ((key == "iommu" || key == (intel ? "intel_iommu" : "amd_iommu")) && has_word(values, "off"))
      offs.emplace_back(word);
    if (intel && key == "intel_iommu" && has_word(values, "on")) intel_on = true;
  }
  return offs;
}

// How to have the IOMMU the firmware describes (INTEL: a DMAR table, VT-d; else IVRS, AMD-Vi)
// enabled, from the kernel command line and build configuration, with only parameters and values
// the kernel documents: intel_iommu=on exists, amd_iommu has no "on" (that IOMMU is on unless
// amd_iommu=off or iommu=off turns it off).
std::string iommu_fix(const CheckEvidence& ev, bool intel) {
  bool intel_on = false;
  const std::vector<std::string> offs = iommu_offs(ev.cmdline, intel, intel_on);
  if (!offs.empty())
    return fmt::format("remove {} from the kernel command line for device passthrough",
                       join(offs, " and "));
  const std::string option = intel ? "CONFIG_INTEL_IOMMU" : "CONFIG_AMD_IOMMU";
  bool default_on = !intel;
  if (const auto& config = ev.boot_config) {
    if (config->find("# " + option + " is not set") != std::string::npos)
      return fmt::format("this kernel is built without {}: boot one with it for device passthrough",
                         option);
    if (config->find("CONFIG_INTEL_IOMMU_DEFAULT_ON=y") != std::string::npos) default_on = true;
  }
  if (intel && !intel_on && !default_on)
    return "add intel_iommu=on to the kernel command line for device passthrough";
  return fmt::format(
      "the firmware describes an IOMMU ({} table) but the kernel did not enable it: see its log ({})",
      intel ? "DMAR" : "IVRS", intel ? "DMAR" : "AMD-Vi");
}

// The I/O nodes' part of the io line into PARTS, and the fixes for those missing into HINTS.
void io_nodes(const CheckEvidence& ev, const Facts& facts, const std::string& container,
              std::vector<std::string>& parts, std::vector<std::string>& hints) {
  for (const auto& [path, module] : kIoNodes) {
    const NodeEvidence& node = ev.nodes.at(path);
    if (is_char_device(node)) {
      parts.push_back(fmt::format("{} {}", path, owner_text(node)));
      continue;
    }
    parts.push_back(std::string(path) + " missing");
    const ModuleFacts& m = ev.modules.at(module);
    if (in_kernel(m.state) && !container.empty())
      hints.push_back(pass_device_hint(container, path));
    else if (in_kernel(m.state))
      hints.push_back(
          fmt::format("{} is {} but {} is missing: udevadm trigger, or mount devtmpfs on /dev",
                      module, m.state == ModuleState::builtin ? "built in" : "loaded", path));
    else
      hints.push_back(load_fix(facts, m, module,
                               fmt::format("load {} (modprobe {})", module, module), container));
  }
}

CheckItem check_io(const CheckEvidence& ev, const Facts& facts, const std::string& container) {
  CheckItem item{.id = "io", .title = "vhost-net, tun, IOMMU"};
  std::vector<std::string> parts, hints;
  io_nodes(ev, facts, container, parts, hints);
  std::vector<std::string> tables;
  if (ev.dmar) tables.push_back("DMAR");
  if (ev.ivrs) tables.push_back("IVRS");
  // DMAR and IVRS are x86's ACPI tables: elsewhere the kernel's groups alone tell.
  const bool x86 = is_x86(facts.cpu.arch);
  parts.push_back(
      x86 ? fmt::format("IOMMU: {}, {} IOMMU groups",
                        tables.empty() ? "no DMAR/IVRS table" : join(tables, "/") + " table",
                        ev.iommu_groups)
          : fmt::format("IOMMU: {} IOMMU groups", ev.iommu_groups));
  if (ev.iommu_groups == 0) {
    // The table found names the IOMMU, whatever vendor the CPU facts say.
    if (!tables.empty())
      hints.push_back(
          iommu_fix(ev, ev.dmar && (!ev.ivrs || vendor_vt(facts.cpu.vendor) != VtFamily::svm)));
    else
      hints.push_back(
          !x86 ? "no IOMMU groups: device passthrough (VFIO) is unavailable"
          : facts.cpu.hypervisor
              ? "no IOMMU in this guest: device passthrough (VFIO) is unavailable"
              : "no IOMMU: enable VT-d / AMD-Vi in the firmware for device passthrough (VFIO)");
  }
  item.detail = join(parts, "; ");
  item.hint = join(hints, "; ");
  item.state = hints.empty() ? CheckState::pass : CheckState::warn;
  return item;
}

CheckItem check_nova_log(const CheckEvidence& ev, const CheckOptions& options,
                         const Verdict& verdict) {
  CheckItem item{.id = "nova-log", .title = "nova-compute log"};
  const std::string& path = ev.nova_log_path;
  const auto& log = ev.nova_log;
  if (!log || !*log) {
    const bool given = !options.log_path.empty();
    item.state = given ? CheckState::warn : CheckState::skip;
    item.detail = !log ? log.error().message : fmt::format("no \"{}\"", path);
    if (!given) item.hint = "name another log with --log FILE";
    return item;
  }
  const std::string& text = (*log)->text;
  // A log past the bound is searched in its end: what happened since the last restarts.
  const std::string where =
      (*log)->truncated ? fmt::format("the last {} MiB of {}", kLogTailBytes >> 20, path) : path;
  size_t count = 0;
  for (size_t at = text.find(kNoHvmMessage); at != std::string::npos;
       at = text.find(kNoHvmMessage, at + 1))
    ++count;
  if (count == 0) {
    item.detail = fmt::format("no \"{}\" in {}", kNoHvmMessage, where);
    return item;
  }
  // libvirt's words for "no KVM domain for this architecture": its cause is one of the verdict's
  // reasons, and the one that stands in the way now is the verdict's own; no other is guessed.
  item.detail = fmt::format(
      "\"{}\" {} time{} in {}: libvirt offered no KVM guest when nova-compute started the guest{}; {}: {}",
      kNoHvmMessage, count, count == 1 ? "" : "s", where, count == 1 ? "" : "s",
      verdict.usable ? "it works now" : "cause now", verdict.reason);
  item.state = verdict.usable ? CheckState::warn : CheckState::fail;
  item.hint = verdict.usable
                  ? "KVM and libvirt work now: start the guests again"
                  : fmt::format("{}: do what the verdict says, then start the guests again",
                                verdict.reason);
  return item;
}

}  // namespace

MsrGate msr_gate(const Facts& facts, const std::string& container, const MsrEvidence& msr) {
  const Vendor vendor = facts.cpu.vendor;
  // The registers are this CPU's: a vendor forced by --fact reads them only when it is this
  // CPU's kind, since the other kind's register says nothing (or does not exist).
  if (vendor_vt(vendor) == VtFamily::none) return {"MSRs not read: unknown CPU vendor"};
  if (forced(facts, "cpu_vendor") && msr.cpuid_vendor != Vendor::unknown &&
      vendor_vt(msr.cpuid_vendor) != vendor_vt(vendor))
    return {fmt::format("MSRs not read: --fact cpu_vendor={}, but this CPU is {}",
                        vendor_name(vendor), vendor_name(msr.cpuid_vendor))};
  // The msr module would be the host's kernel's to load, and a container's /dev has no /dev/cpu
  // unless the host passes it in.
  if (!container.empty() && !msr.device_before)
    return {fmt::format("MSRs not read: in a container ({}), /dev/cpu/N/msr is not passed in",
                        container)};
  // Checked before root: root could not read them either, so "run as root" would not help.
  if (!facts.modules_supported && !msr.device_before)
    return {"MSRs not read: no msr driver built in, and the kernel cannot load modules"};
  if (!msr.privileged) return {"MSRs not read: reading /dev/cpu/N/msr needs root", true};
  return {};
}

CheckReport judge_kvm(const CheckEvidence& ev, const Facts& facts, const CheckOptions& options) {
  CheckReport r;
  Findings f;
  // Every line and the verdict read the CPU, --fact overrides included, from FACTS alone.
  r.container = options.container;
  if (is_x86(facts.cpu.arch)) {
    r.items.push_back(check_cpu(facts));
    r.items.push_back(check_firmware(ev, facts, options, f));
  } else {
    r.items.push_back(check_cpu_other(facts));
    r.items.push_back(check_firmware_other(ev, facts, f));
  }
  r.items.push_back(check_kernel(ev, facts, options, f));
  r.items.push_back(check_device(ev, facts, options));
  r.items.push_back(check_probe(ev, options));
  r.verdict = decide(ev, f, facts, options);
  return r;
}

void judge_after_probe(CheckReport& r, const CheckEvidence& ev, const Facts& facts,
                       const CheckOptions& options) {
  if (ev.libvirt) {
    const auto& [item, reason] = *ev.libvirt;
    if (item.state == CheckState::fail && r.verdict.usable) {
      r.verdict.usable = false;
      r.verdict.reason = reason;
      r.verdict.advice = fmt::format("the kernel runs KVM guests, but libvirt cannot: {}{}",
                                     item.detail, item.hint.empty() ? "" : " (" + item.hint + ")");
    }
    r.items.push_back(item);
  }
  r.items.push_back(check_nested(ev, facts));
  r.items.push_back(check_io(ev, facts, options.container));
  r.items.push_back(check_nova_log(ev, options, r.verdict));
}

}  // namespace kvmprov
