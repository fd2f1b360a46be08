// SPDX-License-Identifier: MIT
// check's reading of the host: every call check makes through the Host is here, in the order the
// lines use them, so the judgement (check_judge.cc) is a function of plain data.
#include "check_observe.h"

#include <algorithm>
#include <cctype>

#include "msr.h"

namespace kvmprov {
namespace {

// The CPU numbers under /dev/cpu, sorted.
std::vector<unsigned> cpu_numbers(Host& host) {
  std::vector<unsigned> cpus;
  auto names = host.kernel().list("/dev/cpu");
  if (!names) return cpus;
  for (const auto& name : *names)
    if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit))
      cpus.push_back(static_cast<unsigned>(std::stoul(name)));
  std::sort(cpus.begin(), cpus.end());
  return cpus;
}

// Has the msr driver there for the reading: loads it unless it is there or this run loads no
// module. Returns whether it loaded it (and so must unload it); a failure goes to M.load_error.
bool load_msr(Host& host, const CheckOptions& options, MsrEvidence& m) {
  if (m.device_before) return false;
  const ModuleFacts msr = host.module_state("msr");
  if (msr.state != ModuleState::absent) return false;
  if (options.no_module_loads) {
    m.load_error = "the msr driver is not loaded, and this run loads no module";
    return false;
  }
  auto r = host.load_module("msr", {});
  if (!r) m.load_error = r.error().message;
  return r.ok();
}

// Reads the VT register of every CPU, stopping at the first that fails.
void read_msrs(Host& host, uint32_t reg, MsrEvidence& m) {
  for (unsigned cpu : m.cpus) {
    auto value = host.read_msr(cpu, reg);
    if (!value) {
      m.failed = std::pair{cpu, value.error().code};
      return;
    }
    m.values.emplace_back(cpu, *value);
  }
}

// Reads the firmware's VT register on every CPU, loading the msr driver for the duration.
MsrEvidence observe_msr(Host& host, const Facts& facts, const CheckOptions& options) {
  MsrEvidence m;
  m.cpuid_vendor = vendor_from_id(host.cpuid().vendor);
  m.device_before = host.kernel().exists(kMsrDevice);
  m.privileged = host.privileged();
  if (!msr_gate(facts, options.container, m).skip.empty()) return m;
  const bool loaded = load_msr(host, options, m);
  m.cpus = cpu_numbers(host);
  m.device = host.kernel().exists(kMsrDevice);
  if (m.load_error.empty() && !m.cpus.empty() && m.device)
    read_msrs(host, vt_msr(vendor_vt(facts.cpu.vendor)), m);
  if (loaded) {
    if (auto r = host.unload_module("msr"); !r) m.unload_error = r.error().message;
  }
  return m;
}

// The module's state as check sees it: from the observed facts, else asked of the host.
ModuleFacts module_facts(Host& host, const Facts& facts, const std::string& name) {
  auto it = facts.modules.find(name);
  return it != facts.modules.end() ? it->second : host.module_state(name);
}

void observe_modules(Host& host, const Facts& facts, CheckEvidence& ev) {
  std::vector<std::string> names = {"kvm", std::string(vendor_kvm_module(facts.cpu.vendor)),
                                    facts.kvm_provider};
  for (const auto& [path, module] : kIoNodes) names.emplace_back(module);
  for (const auto& name : names)
    if (!name.empty() && !ev.modules.count(name))
      ev.modules[name] = module_facts(host, facts, name);
}

NodeEvidence observe_node(Host& host, const std::string& path) {
  NodeEvidence n{.info = host.kernel().stat(path)};
  if (n.info && n.info->exists) {
    n.user = host.user_name(n.info->uid);
    n.group = host.group_name(n.info->gid);
  }
  return n;
}

// Runs the probe as the user the verdict is about: this process without --user (or when --user
// names this process's uid), else in a child that took that user's credentials, which needs
// root. Without root it runs as this process, and the evidence says so.
void observe_probe(Host& host, const CheckOptions& options, CheckEvidence& ev) {
  if (options.user.empty() || !is_char_device(ev.nodes.at("/dev/kvm"))) {
    // Without a usable node the result is the node's, whoever asks.
    ev.probe = host.probe_kvm();
    return;
  }
  auto self = host.can_open_as("", "/dev/kvm");
  if (!ev.access) ev.probe_as_error = ev.access_error;
  if (self && ev.access && self->uid == ev.access->uid) {
    ev.probe = host.probe_kvm();
    return;
  }
  if (ev.access && host.privileged()) {
    auto p = host.probe_kvm_as(*ev.access);
    if (p) {
      ev.probe = *p;
      return;
    }
    ev.probe_as_error = p.error().message;
  }
  ev.probe = host.probe_kvm();
  ev.probe_as_asked = false;
  if (self) ev.probe_runner = *self;
}

// /dev/kvm, who may open it, and the probe.
void observe_device(Host& host, const CheckOptions& options, CheckEvidence& ev) {
  const NodeEvidence& node = ev.nodes["/dev/kvm"] = observe_node(host, "/dev/kvm");
  if (is_char_device(node)) {
    auto access = host.can_open_as(options.user, "/dev/kvm");
    if (access)
      ev.access = *access;
    else
      ev.access_error = access.error().message;
  }
  observe_probe(host, options, ev);
}

// The I/O nodes and the IOMMU: the firmware's tables, the kernel's groups and command line.
void observe_io(Host& host, CheckEvidence& ev) {
  for (const auto& [path, module] : kIoNodes) ev.nodes[path] = observe_node(host, path);
  ev.dmar = host.kernel().exists("/sys/firmware/acpi/tables/DMAR");
  ev.ivrs = host.kernel().exists("/sys/firmware/acpi/tables/IVRS");
  auto groups = host.kernel().list("/sys/kernel/iommu_groups");
  ev.iommu_groups = groups ? groups->size() : 0;
  ev.cmdline = host.kernel().read_or_absent("/proc/cmdline").value_or("");
}

}  // namespace

CheckEvidence observe_check(Host& host, const Facts& facts, const CheckOptions& options) {
  CheckEvidence ev;
  ev.msr = observe_msr(host, facts, options);
  ev.kernel_log = host.kernel_log();
  observe_modules(host, facts, ev);
  ev.boot_config = host.kernel().read_or_absent("/boot/config-" + facts.kernel_release);
  ev.modules_dir = host.kernel().exists("/lib/modules/" + facts.kernel_release);
  observe_device(host, options, ev);
  const std::string vendor_module(vendor_kvm_module(facts.cpu.vendor));
  if (!vendor_module.empty())
    ev.nested = host.kernel().read_or_absent("/sys/module/" + vendor_module + "/parameters/nested");
  observe_io(host, ev);
  ev.nova_log_path = options.log_path.empty() ? kDefaultNovaLog : options.log_path;
  ev.nova_log = host.read_log(ev.nova_log_path, kLogTailBytes);
  return ev;
}

void observe_libvirt(Host& host, const CheckOptions& options, const Verdict& verdict,
                     CheckEvidence& ev) {
  // The kernel runs KVM guests; whether libvirt (and so nova) can is the next link.
  if (options.libvirt) ev.libvirt = options.libvirt(host, verdict);
}

}  // namespace kvmprov
