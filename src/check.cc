// SPDX-License-Identifier: MIT
// check: decides "usable" by the KVM probe, and explains the flags, modules and device node
// around it so the operator knows what to fix.
#include "check.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cstring>
#include <nlohmann/json.hpp>

namespace kvmprov {

std::string_view check_state_name(CheckState s) {
  switch (s) {
    case CheckState::pass:
      return "PASS";
    case CheckState::warn:
      return "WARN";
    case CheckState::fail:
      return "FAIL";
    case CheckState::skip:
      return "SKIP";
  }
  return "?";
}

namespace {

const ModuleFacts* find_module(const Facts& facts, std::string_view name) {
  auto it = facts.modules.find(std::string(name));
  return it == facts.modules.end() ? nullptr : &it->second;
}

bool has_vt(const CpuFacts& cpu) {
  return cpu.vmx || cpu.svm;
}

}  // namespace

CheckReport run_check(Host& host, const Facts& facts) {
  CheckReport r;
  const CpuFacts& cpu = facts.cpu;
  r.items.push_back({.id = "cpu",
                     .title = "CPU vendor",
                     .state = cpu.vendor == Vendor::unknown ? CheckState::warn : CheckState::pass,
                     .detail = fmt::format("{} ({}{}{})", vendor_name(cpu.vendor), cpu.vendor_id,
                                           cpu.model_name.empty() ? "" : ", ", cpu.model_name),
                     .hint = cpu.vendor == Vendor::unknown ? "KVM needs an x86 CPU from Intel, "
                                                             "AMD, Hygon, Zhaoxin or Centaur"
                                                           : ""});
  std::string_view flag =
      cpu.vendor == Vendor::intel || cpu.vendor == Vendor::zhaoxin || cpu.vendor == Vendor::centaur
          ? "vmx"
          : "svm";
  r.items.push_back(
      {.id = "vt",
       .title = "hardware virtualisation flag",
       .state = has_vt(cpu) ? CheckState::pass : CheckState::warn,
       .detail = has_vt(cpu) ? fmt::format("\"{}\" present", cpu.vmx ? "vmx" : "svm")
                             : fmt::format("no \"{}\" in /proc/cpuinfo", flag),
       .hint = has_vt(cpu) ? "" : "absent, or disabled in the firmware; the probe below decides"});
  r.items.push_back({.id = "hypervisor",
                     .title = "running under a hypervisor",
                     .state = CheckState::pass,
                     .detail = cpu.hypervisor ? fmt::format("yes ({})", cpu.hypervisor_id.empty()
                                                                            ? "unknown"
                                                                            : cpu.hypervisor_id)
                                              : "no"});

  std::string vendor_module(vendor_kvm_module(cpu.vendor));
  for (std::string_view name : {std::string_view("kvm"), std::string_view(vendor_module)}) {
    if (name.empty()) continue;
    const ModuleFacts* m = find_module(facts, name);
    ModuleState s = m ? m->state : ModuleState::absent;
    bool ok = s == ModuleState::live || s == ModuleState::builtin;
    r.items.push_back({.id = "module:" + std::string(name),
                       .title = fmt::format("kernel module {}", name),
                       .state = ok ? CheckState::pass : CheckState::warn,
                       .detail = std::string(module_state_name(s)),
                       .hint = ok ? "" : "load it with \"kvmprov apply\""});
  }

  auto dev = host.stat("/dev/kvm");
  bool node = dev && dev->exists && dev->char_device;
  r.items.push_back(
      {.id = "device",
       .title = "/dev/kvm",
       .state = node ? CheckState::pass : CheckState::fail,
       .detail = node ? fmt::format("uid {} gid {} mode {:04o}", dev->uid, dev->gid, dev->mode)
                      : "missing",
       .hint = node ? "" : "load the KVM modules (kvmprov apply)"});

  KvmProbe probe = host.probe_kvm();
  std::string probe_detail;
  if (!probe.opened)
    probe_detail = fmt::format("cannot open /dev/kvm: {}", std::strerror(probe.open_errno));
  else if (probe.api_version != 12)
    probe_detail = fmt::format("KVM_GET_API_VERSION returned {}, expected 12", probe.api_version);
  else if (!probe.vm_created)
    probe_detail = fmt::format("KVM_CREATE_VM failed: {}", std::strerror(probe.vm_errno));
  else if (!probe.vcpu_created)
    probe_detail = fmt::format("KVM_CREATE_VCPU failed: {}", std::strerror(probe.vcpu_errno));
  else
    probe_detail = "API 12, KVM_CREATE_VM and KVM_CREATE_VCPU succeeded";
  r.items.push_back({.id = "probe",
                     .title = "KVM probe",
                     .state = probe.ok() ? CheckState::pass : CheckState::fail,
                     .detail = probe_detail});

  Verdict& v = r.verdict;
  v.usable = probe.ok();
  v.virt_type = v.usable ? "kvm" : "qemu";
  if (probe.ok()) {
    v.reason = has_vt(cpu) ? "ok" : "ok-paravirtual";
    v.advice = has_vt(cpu) ? "KVM acceleration can be used"
                           : "KVM acceleration can be used (the kernel provides KVM without "
                             "exposing VT flags)";
  } else if (probe.opened || (node && (probe.open_errno == EACCES || probe.open_errno == EPERM))) {
    v.reason = probe.opened ? "kernel-without-kvm" : "permission-denied";
    v.advice = probe.opened ? "/dev/kvm opens but the kernel refuses to create a VM"
                            : "this user cannot open /dev/kvm: add it to the device's group";
  } else if (!has_vt(cpu)) {
    v.reason = cpu.hypervisor ? "nested-without-vt" : "no-hardware-support";
    v.advice = cpu.hypervisor ? "this is a guest whose hypervisor does not pass VT through: "
                                "enable nested virtualisation there, or use QEMU"
                              : "the CPU has no usable VT: use QEMU (virt_type=qemu)";
  } else {
    v.reason = "no-device-node";
    v.advice = "load the KVM modules with \"kvmprov apply\"";
  }
  return r;
}

std::string render_check(const CheckReport& r, const RenderOptions& o) {
  std::string out;
  for (const auto& item : r.items) {
    if (o.quiet && item.state != CheckState::fail) continue;
    const char* color = "";
    if (o.color)
      color = item.state == CheckState::pass   ? "\033[32m"
              : item.state == CheckState::warn ? "\033[33m"
              : item.state == CheckState::fail ? "\033[31m"
                                               : "\033[36m";
    out += fmt::format("{}{}{} {}: {}{}\n", color, check_state_name(item.state),
                       o.color ? "\033[0m" : "", item.title, item.detail,
                       item.hint.empty() ? "" : " (" + item.hint + ")");
  }
  out += fmt::format("verdict: {} ({}): {}; virt_type={}\n",
                     r.verdict.usable ? "usable" : "not usable", r.verdict.reason, r.verdict.advice,
                     r.verdict.virt_type);
  return out;
}

nlohmann::json check_json(const CheckReport& r) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& i : r.items)
    items.push_back({{"id", i.id},
                     {"title", i.title},
                     {"state", check_state_name(i.state)},
                     {"detail", i.detail},
                     {"hint", i.hint}});
  return {{"checks", items},
          {"verdict",
           {{"usable", r.verdict.usable},
            {"reason", r.verdict.reason},
            {"advice", r.verdict.advice},
            {"virt_type", r.verdict.virt_type}}}};
}

}  // namespace kvmprov
