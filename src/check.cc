// SPDX-License-Identifier: MIT
// check: decides "usable" by the KVM probe, and explains the CPU, firmware, kernel and device
// node around it so the operator knows what to fix. Flags alone mislead: a paravirtual KVM works
// without them, and the kernel clears vmx when the firmware locked VT-x off.
#include "check.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>

#include "accounts.h"
#include "kernel_log.h"
#include "module_advice.h"
#include "msr.h"
#include "util/text.h"
#include "version.h"

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

const std::vector<std::string_view>& check_reasons() {
  static const std::vector<std::string_view> kReasons = {
      "ok",
      "ok-paravirtual",
      "permission-denied",
      "not-probed",
      "disabled-in-firmware",
      "nested-without-vt",
      "no-hardware-support",
      "kernel-without-kvm",
      "module-missing",
      "module-not-loaded",
      "no-device-node",
  };
  return kReasons;
}

const std::vector<std::string_view>& check_fact_keys() {
  static const std::vector<std::string_view> kKeys = {"cpu_vendor", "vmx", "svm", "hypervisor",
                                                      "modules_supported"};
  return kKeys;
}

namespace {

// Whether the hypervisor named by a CPUID signature runs on hardware VT and can pass it through
// to its guests. An emulator (QEMU's TCG) or an unknown one cannot be asked for it, so a guest of
// one without VT is a CPU without hardware support.
bool can_nest(std::string_view hypervisor_id) {
  for (std::string_view id : {"KVMKVMKVM", "Microsoft Hv", "VMwareVMware", "XenVMMXenVMM",
                              "VBoxVBoxVBox", "bhyve bhyve", "ACRNACRNACRN"})
    if (hypervisor_id == id) return true;
  return false;
}

bool is_intel_like(Vendor v) {
  return vendor_vt(v) == VtFamily::vmx;
}

bool is_amd_like(Vendor v) {
  return vendor_vt(v) == VtFamily::svm;
}

bool has_vt(const CpuFacts& cpu) {
  return cpu.vmx || cpu.svm;
}

bool ready(ModuleState s) {
  return s == ModuleState::live || s == ModuleState::builtin;
}

// "0-1,3" for a sorted list of CPU numbers.
std::string cpu_ranges(const std::vector<unsigned>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += j == i ? fmt::format("{}", cpus[i]) : fmt::format("{}-{}", cpus[i], cpus[j]);
    i = j + 1;
  }
  return out;
}

std::string vt_name(Vendor v) {
  return is_amd_like(v) ? "AMD-V (SVM)" : "VT-x";
}

bool forced(const Facts& facts, std::string_view key) {
  return std::find(facts.overridden.begin(), facts.overridden.end(), key) != facts.overridden.end();
}

// The --fact a CPU flag (vmx or svm) comes from, "" when /proc/cpuinfo reported it: forcing
// cpu_vendor assumes its vendor's flag unless the flag itself is forced too.
std::string flag_source(const Facts& facts, std::string_view flag) {
  if (forced(facts, flag)) return "--fact " + std::string(flag);
  if (forced(facts, "cpu_vendor")) return "--fact cpu_vendor";
  return "";
}

// Where the VT flags check reasons with come from: "in /proc/cpuinfo", or the --fact that set
// them, so that no line calls an assumed flag "present" or an overridden one "in /proc/cpuinfo".
std::string vt_source(const Facts& facts) {
  std::vector<std::string> from;
  for (std::string_view flag : {"vmx", "svm"})
    if (std::string f = flag_source(facts, flag);
        !f.empty() && std::find(from.begin(), from.end(), f) == from.end())
      from.push_back(f);
  return from.empty() ? "in /proc/cpuinfo" : "(" + join(from, ", ") + ")";
}

// A user as the lines name it: the account name, else the uid.
std::string user_label(const UserAccess& a) {
  return a.user.empty() ? std::to_string(a.uid) : a.user;
}

// The module's state as check sees it: from the observed facts, else asked of the host.
ModuleFacts module_facts(Host& host, const Facts& facts, const std::string& name) {
  auto it = facts.modules.find(name);
  return it != facts.modules.end() ? it->second : host.module_state(name);
}

// How to get MODULE, which is not loaded, loaded on this host: the one fix the kernel and I/O
// lines and the verdict give, so that none advises a load this host cannot do. HOW is the load
// that works when nothing stands in the way ("kvmprov apply", "modprobe vhost_net").
std::string load_fix(const Facts& facts, const ModuleFacts& m, const std::string& name,
                     const std::string& how, const std::string& container) {
  // Modules in a container are the host's kernel's: loading them is the host's part.
  if (!container.empty() && facts.modules_supported && !facts.modules_disabled)
    return fmt::format(
        "in a container ({}), modules are the host's: load {} on the host (modprobe {}) and list it in the host's /etc/modules-load.d",
        container, name, name);
  if (!facts.modules_supported)
    return fmt::format(
        "this kernel cannot load modules and has no {} built in: boot a kernel with it built in or with module support",
        name);
  if (facts.modules_disabled)
    return fmt::format(
        "module loading is disabled until the next boot (kernel.modules_disabled=1): list {} in /etc/modules-load.d (kvmprov apply does for its profile's modules), then reboot",
        name);
  if (!m.unknown_because.empty())
    return fmt::format("install kmod's library (libkmod2 or kmod-libs), then {}", how);
  if (!m.found)
    return fmt::format("\"{}\" is not in /lib/modules/{}: install the modules package for {}", name,
                       facts.kernel_release, facts.kernel_release);
  if (!m.blacklisted_by.empty())
    return fmt::format("\"{}\" is blacklisted in {}: remove that entry, then {}", name,
                       m.blacklisted_by, how);
  return how;
}

// "root:kvm 0660" (numeric ids when the names are unknown).
std::string owner_text(Host& host, const FileInfo& info) {
  std::string user = host.user_name(info.uid);
  std::string group = host.group_name(info.gid);
  return fmt::format("{}:{} {:04o}", user.empty() ? std::to_string(info.uid) : user,
                     group.empty() ? std::to_string(info.gid) : group, info.mode);
}

// How a container gets the host's device node PATH: the one way each manager has.
std::string pass_device_hint(const std::string& container, const std::string& path) {
  std::string how;
  if (container == "docker" || container == "podman")
    how = fmt::format("{} run --device {}", container, path);
  else if (container == "systemd-nspawn")
    how = fmt::format("systemd-nspawn --bind={}", path);
  else if (container.starts_with("lxc"))
    how = fmt::format(
        "lxc.mount.entry = {} {} none bind,create=file and a lxc.cgroup2.devices.allow line for it",
        path, path.substr(1));
  else
    how = "the container manager's device option";
  return fmt::format("in a container ({}), device nodes are the host's: pass {} in ({})", container,
                     path, how);
}

// What the checks found, for the verdict.
struct Evidence {
  CpuFacts cpu;
  std::string vt_source;  // vt_source()
  std::string provider;   // kvm_pvm, "" if none
  bool firmware_disabled = false;
  bool firmware_needs_root = false;  // skipped only for want of root: running as root reads it
  bool kernel_has_kvm = true;
  std::string missing_module;     // a needed module with no file under /lib/modules/<release>
  std::string not_loaded_module;  // a needed module that could be loaded but is not
  std::string blacklisted_by;
  std::string load_fix;   // load_fix() for not_loaded_module
  std::string container;  // CheckOptions::container
  std::string modules_dir;
  bool node = false;
  FileInfo node_info;
  std::string node_owner;
  std::string node_group;
  KvmProbe probe;
  std::optional<UserAccess> access;  // for --user, or this process
  std::string access_error;          // why ACCESS could not be had for --user
  bool user_given = false;
  std::string asked;  // whom the verdict is about: the --user name, or this process's user
  // Whether the probe ran with the asked user's credentials; when not (another user asked for
  // by someone other than root), PROBE_RUNNER names whom it ran as instead.
  bool probe_as_asked = true;
  std::string probe_runner;
  std::string probe_as_error;  // why it could not run as the asked user, "" when it could
};

// Whether opening /dev/kvm failed for lack of permission (not because it is missing).
bool denied(const KvmProbe& p) {
  return !p.opened && (p.open_errno == EACCES || p.open_errno == EPERM);
}

CheckItem check_cpu(const Facts& facts) {
  const CpuFacts& cpu = facts.cpu;
  const std::string flag = is_amd_like(cpu.vendor) ? "svm" : "vmx";
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

// Reads the firmware's VT register on every CPU, loading the msr driver for the duration.
CheckItem check_firmware(Host& host, const Facts& facts, const CheckOptions& options,
                         Evidence& ev) {
  const Vendor vendor = facts.cpu.vendor;
  CheckItem item{.id = "firmware", .title = "firmware"};
  std::vector<std::string> parts;
  std::optional<FirmwareVt> msr_state;
  std::string msr_skip;

  // The registers are this CPU's: a vendor forced by --fact reads them only when it is this
  // CPU's kind, since the other kind's register says nothing (or does not exist).
  const Vendor actual = vendor_from_id(host.cpuid_vendor_id());
  if (!is_intel_like(vendor) && !is_amd_like(vendor)) {
    msr_skip = "MSRs not read: unknown CPU vendor";
  } else if (forced(facts, "cpu_vendor") && actual != Vendor::unknown &&
             is_amd_like(actual) != is_amd_like(vendor)) {
    msr_skip = fmt::format("MSRs not read: --fact cpu_vendor={}, but this CPU is {}",
                           vendor_name(vendor), vendor_name(actual));
  } else if (!options.container.empty() && !host.kernel_path_exists("/dev/cpu/0/msr")) {
    // The msr module would be the host's kernel's to load, and a container's /dev has no
    // /dev/cpu unless the host passes it in.
    msr_skip = fmt::format("MSRs not read: in a container ({}), /dev/cpu/N/msr is not passed in",
                           options.container);
  } else if (!facts.modules_supported && !host.kernel_path_exists("/dev/cpu/0/msr")) {
    // Checked before root: root could not read them either, so "run as root" would not help.
    msr_skip = "MSRs not read: no msr driver built in, and the kernel cannot load modules";
  } else if (!host.privileged()) {
    msr_skip = "MSRs not read: reading /dev/cpu/N/msr needs root";
    ev.firmware_needs_root = true;
  } else {
    const uint32_t reg = is_amd_like(vendor) ? kMsrVmCr : kMsrFeatureControl;
    const char* reg_name = is_amd_like(vendor) ? "VM_CR" : "IA32_FEATURE_CONTROL";
    bool loaded_msr = false;
    std::string load_error;
    if (!host.kernel_path_exists("/dev/cpu/0/msr")) {
      ModuleFacts msr = host.module_state("msr");
      if (msr.state == ModuleState::absent && options.no_module_loads) {
        load_error = "the msr driver is not loaded, and this run loads no module";
      } else if (msr.state == ModuleState::absent) {
        if (auto r = host.load_module("msr", {}); r)
          loaded_msr = true;
        else
          load_error = r.error().message;
      }
    }
    std::vector<unsigned> cpus;
    for (const auto& name : host.list_kernel_dir("/dev/cpu").value_or(std::vector<std::string>{}))
      if (!name.empty() && std::all_of(name.begin(), name.end(), ::isdigit))
        cpus.push_back(static_cast<unsigned>(std::stoul(name)));
    std::sort(cpus.begin(), cpus.end());
    if (!load_error.empty()) {
      msr_skip = "MSRs not read: cannot load the msr module: " + load_error;
    } else if (cpus.empty() || !host.kernel_path_exists("/dev/cpu/0/msr")) {
      msr_skip = "MSRs not read: no /dev/cpu/N/msr (kernel without the msr driver)";
    } else {
      std::map<std::string, std::vector<unsigned>> by_text;  // decoded state -> CPUs
      std::vector<unsigned> disabled;
      bool any_enabled = false;
      for (unsigned cpu : cpus) {
        auto value = host.read_msr(cpu, reg);
        if (!value) {
          msr_skip = fmt::format("MSRs not read: {} on CPU {}: {}", reg_name, cpu,
                                 std::strerror(value.error().code));
          by_text.clear();
          break;
        }
        FirmwareState st =
            is_amd_like(vendor) ? decode_vm_cr(*value) : decode_feature_control(*value);
        by_text[fmt::format("{:#x}: {}", *value, st.text)].push_back(cpu);
        if (st.vt == FirmwareVt::disabled)
          disabled.push_back(cpu);
        else
          any_enabled = true;
      }
      if (msr_skip.empty()) {
        std::vector<std::string> texts;
        for (const auto& [text, on] : by_text)
          texts.push_back(fmt::format("{}={} on CPU {}", reg_name, text, cpu_ranges(on)));
        parts.push_back(join(texts, ", "));
        msr_state = disabled.empty() ? FirmwareVt::enabled : FirmwareVt::disabled;
        if (!disabled.empty() && any_enabled)
          parts.push_back(fmt::format("{} disabled on CPU {} only (inconsistent firmware)",
                                      vt_name(vendor), cpu_ranges(disabled)));
      }
    }
    if (loaded_msr) {
      if (auto r = host.unload_module("msr"); !r)
        parts.push_back("msr module left loaded: " + r.error().message);
    }
  }
  if (!msr_skip.empty()) parts.insert(parts.begin(), msr_skip);

  // The kernel's own verdict: what it logged while enabling VT or loading the vendor module.
  std::vector<std::string> log_disabled;
  auto log = host.kernel_log();
  if (!log) {
    parts.push_back("kernel log not read: " + log.error().message);
  } else {
    std::vector<std::string> said;
    for (const auto& f : scan_kernel_log(*log)) {
      if (f.kind == KernelLogFinding::Kind::firmware_disabled) log_disabled.push_back(f.message);
      if (std::find(said.begin(), said.end(), f.message) == said.end()) said.push_back(f.message);
    }
    parts.push_back(said.empty() ? "kernel log: no KVM hardware verdict"
                                 : "kernel log: \"" + join(said, "\", \"") + "\"");
  }

  ev.firmware_disabled = msr_state == FirmwareVt::disabled || !log_disabled.empty();
  ev.firmware_needs_root = ev.firmware_needs_root && !msr_state && log_disabled.empty();
  item.detail = join(parts, "; ");
  if (ev.firmware_disabled) {
    item.state = CheckState::fail;
    item.hint = facts.cpu.hypervisor
                    ? "these are the values a hypervisor emulates: it does not pass VT through"
                    : firmware_enable_hint(is_amd_like(vendor) ? VtFamily::svm : VtFamily::vmx);
  } else if (msr_state) {
    item.state = CheckState::pass;
  } else {
    item.state = CheckState::skip;
    if (ev.firmware_needs_root) item.hint = "run as root to read the firmware's VT state";
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

CheckItem check_kernel(Host& host, const Facts& facts, Evidence& ev) {
  CheckItem item{.id = "kernel", .title = "kernel"};
  const std::string release = facts.kernel_release;
  ev.modules_dir = "/lib/modules/" + release;
  std::vector<std::string> names = {"kvm"};
  const std::string vendor_module(vendor_kvm_module(facts.cpu.vendor));
  if (!facts.kvm_provider.empty())
    names.push_back(facts.kvm_provider);
  else if (!vendor_module.empty())
    names.push_back(vendor_module);

  std::vector<std::string> parts;
  for (const auto& name : names) {
    const ModuleFacts m = module_facts(host, facts, name);
    parts.push_back(module_text(m, name) +
                    (name == facts.kvm_provider ? " (provides KVM without a vendor module)" : ""));
    if (ready(m.state)) continue;
    if (!m.unknown_because.empty()) {
      // Not loaded, and without libkmod nothing tells whether it could be.
      parts.back() = name + " not loaded (" + m.unknown_because + ")";
    } else if (!m.found) {
      if (ev.missing_module.empty()) ev.missing_module = name;
      continue;
    }
    if (ev.not_loaded_module.empty()) {
      ev.not_loaded_module = name;
      ev.blacklisted_by = m.blacklisted_by;
      ev.load_fix = load_fix(facts, m, name, "kvmprov apply", ev.container);
    }
  }
  // The kernel's build configuration, when installed, says whether KVM exists at all.
  if (auto config = host.read_kernel_file("/boot/config-" + release)) {
    if (config->find("# CONFIG_KVM is not set") != std::string::npos) {
      ev.kernel_has_kvm = false;
      parts.push_back("/boot/config-" + release + ": CONFIG_KVM is not set");
    }
  }
  if (!facts.modules_supported) {
    parts.push_back("kernel without loadable-module support");
    // Nothing can be loaded: a module that is not built in does not exist for this kernel.
    if (!ev.missing_module.empty() || !ev.not_loaded_module.empty()) ev.kernel_has_kvm = false;
  } else if (!host.kernel_path_exists(ev.modules_dir)) {
    parts.push_back(ev.modules_dir + " missing");
  }
  if (facts.modules_disabled)
    parts.push_back("module loading disabled (kernel.modules_disabled=1)");
  item.detail = join(parts, ", ");

  if (!ev.kernel_has_kvm) {
    item.state = CheckState::fail;
    item.hint =
        "this kernel has no KVM: boot a kernel built with CONFIG_KVM (any distribution kernel)";
  } else if (!ev.missing_module.empty()) {
    item.state = CheckState::fail;
    item.hint = fmt::format(
        "install the modules package for {} (or reboot into the kernel whose modules are installed)",
        release);
  } else if (!ev.not_loaded_module.empty()) {
    item.state = CheckState::warn;
    item.hint = ev.load_fix == "kvmprov apply" ? "load the modules: kvmprov apply" : ev.load_fix;
  }
  return item;
}

// How A's user, who cannot open /dev/kvm, gets to: the one fix the /dev/kvm line and the
// verdict give. A refusal the mode bits do not explain (root's, or a member's of the group) is
// not cured by a group.
std::string access_fix(const Evidence& ev, const UserAccess& a) {
  const std::string user = user_label(a);
  if (a.opened_as_user &&
      may_open_rw(a.uid, a.groups, ev.node_info.uid, ev.node_info.gid, ev.node_info.mode))
    return fmt::format(
        "its mode bits let \"{}\" open it, so an ACL, a security module (SELinux, AppArmor) or a device cgroup refuses it: see the audit log",
        user);
  if ((ev.node_info.mode & 0060) == 0060 && ev.node_info.gid != 0)
    return fmt::format("add {} to group \"{}\" (usermod -aG {} {}), then log in again", user,
                       ev.node_group, ev.node_group, user);
  return fmt::format(
      "let udev give it group \"kvm\" and mode 0660 (systemd's default rules do; kvmprov apply with a devices: entry for kvm), then add {} to that group",
      user);
}

CheckItem check_device(Host& host, const CheckOptions& options, Evidence& ev) {
  CheckItem item{.id = "device", .title = "/dev/kvm"};
  ev.user_given = !options.user.empty();
  ev.asked = options.user;
  auto info = host.kernel_stat("/dev/kvm");
  if (!info) {
    item.state = CheckState::fail;
    item.detail = info.error().message;
    return item;
  }
  if (!info->exists) {
    item.state = CheckState::fail;
    item.detail = "missing";
    item.hint = options.container.empty() ? "appears when the KVM modules are loaded"
                                          : pass_device_hint(options.container, "/dev/kvm");
    return item;
  }
  ev.node_info = *info;
  ev.node_owner = owner_text(host, *info);
  ev.node_group = host.group_name(info->gid);
  if (ev.node_group.empty()) ev.node_group = std::to_string(info->gid);
  if (!info->char_device) {
    item.state = CheckState::fail;
    item.detail = ev.node_owner + ", not a character device";
    item.hint = "remove it; the kernel's devtmpfs creates the real node (c 10:232)";
    return item;
  }
  ev.node = true;
  auto access = host.can_open_as(options.user, "/dev/kvm");
  if (!access) {
    item.state = CheckState::fail;
    item.detail = ev.node_owner + "; " + access.error().message;
    ev.access_error = access.error().message;
    return item;
  }
  ev.access = *access;
  const UserAccess& a = *access;
  ev.asked = user_label(a);
  std::string who =
      fmt::format("user \"{}\"{}", ev.asked, ev.user_given ? "" : " (running kvmprov)");
  std::string how = a.opened_as_user ? "" : " (from the mode bits)";
  if (a.can_open) {
    item.detail = fmt::format("{}; {} can open it{}", ev.node_owner, who, how);
    // Allowed (CI runners want it), but every local user can then run guests.
    if ((info->mode & 0006) == 0006) {
      item.state = CheckState::warn;
      item.hint =
          "world-writable: every local user can create VMs; use group kvm and 0660 unless this is meant";
    }
    return item;
  }
  item.state = CheckState::fail;
  item.detail = fmt::format("{}; {} cannot open it: {}{}", ev.node_owner, who,
                            std::strerror(a.open_errno), how);
  item.hint = access_fix(ev, a);
  return item;
}

// Runs the probe as the user the verdict is about: this process without --user (or when --user
// names this process's uid), else in a child that took that user's credentials, which needs
// root. Without root it runs as this process, and the probe line says so.
void run_probe(Host& host, Evidence& ev) {
  if (!ev.user_given || !ev.node) {
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
  ev.probe_runner = self ? user_label(*self) : std::string("this process");
}

CheckItem check_probe(const Evidence& ev) {
  CheckItem item{.id = "probe", .title = "KVM probe"};
  const KvmProbe& p = ev.probe;
  std::string result;
  if (!p.opened)
    result = fmt::format("cannot open /dev/kvm: {}", std::strerror(p.open_errno));
  else if (p.api_version != 12)
    result = fmt::format("KVM_GET_API_VERSION returned {}, expected 12", p.api_version);
  else if (!p.vm_created)
    result = fmt::format("KVM_CREATE_VM failed: {}", std::strerror(p.vm_errno));
  else if (!p.vcpu_created)
    result = fmt::format("KVM_CREATE_VCPU failed: {}", std::strerror(p.vcpu_errno));
  else
    result = "API 12, KVM_CREATE_VM and KVM_CREATE_VCPU succeeded";
  item.state = p.ok() ? CheckState::pass : CheckState::fail;
  std::vector<std::string> hints;
  if (p.opened && !p.ok()) hints.push_back("see the kernel log (dmesg) for KVM's reason");
  if (ev.probe_as_asked) {
    item.detail =
        ev.user_given && ev.node ? fmt::format("as \"{}\": {}", ev.asked, result) : result;
  } else if (!ev.probe_as_error.empty()) {
    item.detail = fmt::format("as \"{}\" (running kvmprov), not as \"{}\" ({}): {}",
                              ev.probe_runner, ev.asked, ev.probe_as_error, result);
  } else if (denied(p)) {
    // This process's refusal says nothing of the asked user nor of the kernel.
    item.state = CheckState::skip;
    item.detail = fmt::format(
        "not run as \"{}\": kvmprov runs as \"{}\", who cannot open /dev/kvm ({}), and only root can take another user's credentials",
        ev.asked, ev.probe_runner, std::strerror(p.open_errno));
    hints.push_back("run as root to probe as another user");
  } else {
    item.detail = fmt::format("as \"{}\" (running kvmprov), not as \"{}\": {}", ev.probe_runner,
                              ev.asked, result);
    hints.push_back("run as root to probe as another user");
  }
  item.hint = join(hints, "; ");
  return item;
}

CheckItem check_nested(Host& host, const Facts& facts) {
  CheckItem item{.id = "nested", .title = "nested virtualisation"};
  const std::string vendor_module(vendor_kvm_module(facts.cpu.vendor));
  if (vendor_module.empty()) {
    item.state = CheckState::skip;
    item.detail = "unknown CPU vendor";
    return item;
  }
  auto value = host.read_kernel_file("/sys/module/" + vendor_module + "/parameters/nested");
  if (!value) {
    item.state = CheckState::skip;
    item.detail = !facts.kvm_provider.empty()
                      ? fmt::format("KVM is provided by \"{}\", which has no nested parameter",
                                    facts.kvm_provider)
                      : fmt::format("{} not loaded", vendor_module);
    return item;
  }
  const std::string v(trim(*value));
  const bool on = v == "Y" || v == "y" || v == "1";
  item.detail = fmt::format("{} nested={}: {}", vendor_module, v,
                            on ? "guests can run KVM themselves" : "guests cannot run KVM");
  if (on) return item;
  // The profile as the packages install it; a parameter of a built-in module is set only on
  // the kernel command line, and a reload needs module loading.
  const std::string profile = std::string(KVMPROV_PROFILE_DIR) + "/nested.yaml";
  if (module_facts(host, facts, vendor_module).state == ModuleState::builtin)
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

// How to have the IOMMU the firmware describes (INTEL: a DMAR table, VT-d; else IVRS, AMD-Vi)
// enabled, from the kernel command line and build configuration, with only parameters and values
// the kernel documents: intel_iommu=on exists, amd_iommu has no "on" (that IOMMU is on unless
// amd_iommu=off or iommu=off turns it off).
std::string iommu_fix(Host& host, const Facts& facts, bool intel) {
  const std::string cmdline = host.read_kernel_file("/proc/cmdline").value_or("");
  std::vector<std::string> offs;
  bool intel_on = false;
  for (size_t pos = 0; pos < cmdline.size();) {
    const size_t start = cmdline.find_first_not_of(" \t\n", pos);
    if (start == std::string::npos) break;
    size_t end = cmdline.find_first_of(" \t\n", start);
    if (end == std::string::npos) end = cmdline.size();
    pos = end;
    const std::string_view word(cmdline.data() + start, end - start);
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
  if (!offs.empty())
    return fmt::format("remove {} from the kernel command line for device passthrough",
                       join(offs, " and "));
  const std::string option = intel ? "CONFIG_INTEL_IOMMU" : "CONFIG_AMD_IOMMU";
  bool default_on = !intel;
  if (auto config = host.read_kernel_file("/boot/config-" + facts.kernel_release)) {
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

CheckItem check_io(Host& host, const Facts& facts, const std::string& container) {
  CheckItem item{.id = "io", .title = "vhost-net, tun, IOMMU"};
  std::vector<std::string> parts, hints;
  for (const auto& [path, module] :
       {std::pair<std::string, std::string>{"/dev/vhost-net", "vhost_net"},
        {"/dev/net/tun", "tun"}}) {
    auto info = host.kernel_stat(path);
    if (info && info->exists && info->char_device) {
      parts.push_back(fmt::format("{} {}", path, owner_text(host, *info)));
      continue;
    }
    parts.push_back(path + " missing");
    const ModuleFacts m = module_facts(host, facts, module);
    if (ready(m.state) && !container.empty())
      hints.push_back(pass_device_hint(container, path));
    else if (ready(m.state))
      hints.push_back(
          fmt::format("{} is {} but {} is missing: udevadm trigger, or mount devtmpfs on /dev",
                      module, m.state == ModuleState::builtin ? "built in" : "loaded", path));
    else
      hints.push_back(load_fix(facts, m, module,
                               fmt::format("load {} (modprobe {})", module, module), container));
  }
  const bool dmar = host.kernel_path_exists("/sys/firmware/acpi/tables/DMAR");
  const bool ivrs = host.kernel_path_exists("/sys/firmware/acpi/tables/IVRS");
  std::vector<std::string> tables;
  if (dmar) tables.push_back("DMAR");
  if (ivrs) tables.push_back("IVRS");
  auto groups = host.list_kernel_dir("/sys/kernel/iommu_groups");
  const size_t n = groups ? groups->size() : 0;
  parts.push_back(fmt::format("IOMMU: {}, {} IOMMU groups",
                              tables.empty() ? "no DMAR/IVRS table" : join(tables, "/") + " table",
                              n));
  if (n == 0) {
    // The table found names the IOMMU, whatever vendor the CPU facts say.
    if (!tables.empty())
      hints.push_back(iommu_fix(host, facts, dmar && (!ivrs || !is_amd_like(facts.cpu.vendor))));
    else
      hints.push_back(
          facts.cpu.hypervisor
              ? "no IOMMU in this guest: device passthrough (VFIO) is unavailable"
              : "no IOMMU: enable VT-d / AMD-Vi in the firmware for device passthrough (VFIO)");
  }
  item.detail = join(parts, "; ");
  item.hint = join(hints, "; ");
  item.state = hints.empty() ? CheckState::pass : CheckState::warn;
  return item;
}

CheckItem check_nova_log(Host& host, const CheckOptions& options, const Verdict& verdict) {
  CheckItem item{.id = "nova-log", .title = "nova-compute log"};
  const std::string path = options.log_path.empty() ? kDefaultNovaLog : options.log_path;
  auto log = host.read_log(path, kLogTailBytes);
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
  item.detail = fmt::format(
      "\"{}\" {} time{} in {}: the KVM modules were not loaded when the guest{} started",
      kNoHvmMessage, count, count == 1 ? "" : "s", where, count == 1 ? "" : "s");
  item.state = verdict.usable ? CheckState::warn : CheckState::fail;
  // The verdict names what stands in the way now; this line does not guess another cause.
  item.hint =
      verdict.usable
          ? "KVM works now: restart libvirtd and nova-compute, then start the guests again"
          : fmt::format(
                "KVM is not usable now ({}): do what the verdict says, then restart libvirtd and nova-compute",
                verdict.reason);
  return item;
}

Verdict decide(const Evidence& ev) {
  Verdict v;
  const CpuFacts& cpu = ev.cpu;
  const bool vt = has_vt(cpu);
  // The verdict is about one user: the /dev/kvm line's (--user NAME, else this process). With
  // --user, only an answer about that user can make it "usable" for them, and a probe refused
  // to someone else says nothing about them.
  const bool user_denied = ev.node && ev.access && !ev.access->can_open;
  const bool user_unknown = ev.user_given && ev.node && !ev.access;
  const bool probe_denied = ev.node && denied(ev.probe);
  auto set = [&v](const char* reason, std::string advice) {
    v.reason = reason;
    v.advice = std::move(advice);
  };
  if (ev.probe.ok() && !user_denied && !user_unknown) {
    v.usable = true;
    if (vt)
      set("ok", "KVM acceleration can be used");
    else
      set("ok-paravirtual",
          fmt::format("KVM acceleration can be used: the kernel provides KVM{} without VT flags {}",
                      ev.provider.empty() ? "" : " (" + ev.provider + ")", ev.vt_source));
  } else if (user_denied || (probe_denied && ev.probe_as_asked && !user_unknown)) {
    set("permission-denied",
        ev.access ? fmt::format("{} cannot open /dev/kvm ({}): {}", ev.asked, ev.node_owner,
                                access_fix(ev, *ev.access))
                  : fmt::format("{} cannot open /dev/kvm ({})", ev.asked, ev.node_owner));
  } else if (user_unknown) {
    set("not-probed", fmt::format("could not tell whether \"{}\" can open /dev/kvm: {}", ev.asked,
                                  ev.access_error));
  } else if (probe_denied) {
    set("not-probed",
        fmt::format(
            "the KVM probe could not run as \"{}\": kvmprov runs as \"{}\", who cannot open /dev/kvm; run as root to probe as another user",
            ev.asked, ev.probe_runner));
  } else if (cpu.hypervisor && !vt && ev.provider.empty() && can_nest(cpu.hypervisor_id)) {
    // In a guest the "firmware" registers are the hypervisor's emulation: the cause is there.
    set("nested-without-vt",
        "this is a guest whose hypervisor does not pass VT through: enable nested virtualisation on the host (kvm_intel/kvm_amd nested=1 and a guest CPU model with vmx/svm), or use virt_type=qemu");
  } else if (ev.firmware_disabled) {
    set("disabled-in-firmware",
        fmt::format(
            "{} is disabled in the firmware: enable it in the firmware setup, then power the machine off and on",
            vt_name(cpu.vendor)));
  } else if (ev.node && ev.probe.opened) {
    // The device opens but the kernel refuses a VM: the kernel's KVM cannot run here.
    set("kernel-without-kvm",
        fmt::format(
            "/dev/kvm opens but the kernel refuses to create a {} ({}): another hypervisor may hold VT, see the kernel log",
            ev.probe.api_version != 12 ? "VM (API version)" : "VM",
            std::strerror(ev.probe.vm_created ? ev.probe.vcpu_errno : ev.probe.vm_errno)));
  } else if (!vt && ev.provider.empty()) {
    set("no-hardware-support",
        fmt::format("this CPU has no usable {}: use virt_type=qemu{}", vt_name(cpu.vendor),
                    ev.firmware_needs_root
                        ? " (run as root to rule out VT disabled in the firmware)"
                        : ""));
  } else if (!ev.kernel_has_kvm) {
    set("kernel-without-kvm",
        "the running kernel has no KVM: boot a kernel built with CONFIG_KVM, such as the distribution's");
  } else if (!ev.missing_module.empty()) {
    set("module-missing",
        fmt::format(
            "module \"{}\" is not in {}: install the modules package for the running kernel, or reboot into the installed one",
            ev.missing_module, ev.modules_dir));
  } else if (!ev.not_loaded_module.empty()) {
    set("module-not-loaded",
        ev.load_fix == "kvmprov apply"
            ? fmt::format("load the KVM modules: kvmprov apply (module \"{}\" is not loaded)",
                          ev.not_loaded_module)
            : fmt::format("module \"{}\" is not loaded: {}", ev.not_loaded_module, ev.load_fix));
  } else if (!ev.container.empty()) {
    set("no-device-node", "the KVM modules are loaded but /dev/kvm is missing: " +
                              pass_device_hint(ev.container, "/dev/kvm"));
  } else {
    set("no-device-node",
        "the KVM modules are loaded but /dev/kvm is missing: udevadm trigger, or mount devtmpfs on /dev");
  }
  v.virt_type = v.usable ? "kvm" : "qemu";
  return v;
}

}  // namespace

CheckReport run_check(Host& host, const Facts& facts, const CheckOptions& options) {
  CheckReport r;
  Evidence ev;
  // Every line and the verdict read the CPU, --fact overrides included, from FACTS alone.
  ev.cpu = facts.cpu;
  ev.vt_source = vt_source(facts);
  ev.provider = facts.kvm_provider;
  ev.container = options.container;
  r.container = options.container;
  r.items.push_back(check_cpu(facts));
  r.items.push_back(check_firmware(host, facts, options, ev));
  r.items.push_back(check_kernel(host, facts, ev));
  r.items.push_back(check_device(host, options, ev));
  run_probe(host, ev);
  r.items.push_back(check_probe(ev));
  r.verdict = decide(ev);
  if (options.libvirt) {
    // The kernel runs KVM guests; whether libvirt (and so nova) can is the next link.
    auto [item, reason] = options.libvirt(host, r.verdict);
    if (item.state == CheckState::fail && r.verdict.usable) {
      r.verdict.usable = false;
      r.verdict.reason = reason;
      r.verdict.advice = fmt::format("the kernel runs KVM guests, but libvirt cannot: {}{}",
                                     item.detail, item.hint.empty() ? "" : " (" + item.hint + ")");
    }
    r.items.push_back(std::move(item));
  }
  r.items.push_back(check_nested(host, facts));
  r.items.push_back(check_io(host, facts, options.container));
  r.items.push_back(check_nova_log(host, options, r.verdict));
  return r;
}

}  // namespace kvmprov
