// SPDX-License-Identifier: MIT
// check's verdict: "usable" is the probe's answer about the asked user (--user, else this
// process), whom the /dev/kvm and probe lines are about too; otherwise the first cause the lines
// found, in the order a fix has to follow (firmware before kernel before device node).
#include "check_verdict.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "accounts.h"
#include "util/text.h"

namespace kvmprov {
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

// Whom the verdict is about: the user ACCESS names, else the --user name ("" for this
// process).
std::string asked_user(const CheckEvidence& ev, const CheckOptions& options) {
  return ev.access ? user_label(*ev.access) : options.user;
}

// Whom the probe ran as when not as the asked user.
std::string probe_runner(const CheckEvidence& ev) {
  return ev.probe_runner ? user_label(*ev.probe_runner) : std::string("this process");
}

// Whether opening /dev/kvm failed for lack of permission (not because it is missing).
bool denied(const KvmProbe& p) {
  return !p.opened && (p.open_errno == EACCES || p.open_errno == EPERM);
}

// How A's user, who cannot open /dev/kvm (NODE), gets to: the one fix the /dev/kvm line and the
// verdict give. A refusal the mode bits do not explain (root's, or a member's of the group) is not
// cured by a group.
std::string access_fix(const NodeEvidence& node, const UserAccess& a) {
  const std::string user = user_label(a);
  const FileInfo& info = *node.info;
  if (a.opened_as_user && may_open_rw(a.uid, a.groups, info.uid, info.gid, info.mode))
    return fmt::format(
        "its mode bits let \"{}\" open it, so an ACL, a security module (SELinux, AppArmor) or a device cgroup refuses it: see the audit log",
        user);
  const std::string group = node.group.empty() ? std::to_string(info.gid) : node.group;
  if ((info.mode & 0060) == 0060 && info.gid != 0)
    return fmt::format("add {} to group \"{}\" (usermod -aG {} {}), then log in again", user, group,
                       group, user);
  return fmt::format(
      "let udev give it group \"kvm\" and mode 0660 (systemd's default rules do; kvmprov apply with a devices: entry for kvm), then add {} to that group",
      user);
}

// The /dev/kvm line when the node is there and a character device.
CheckItem device_access(const CheckEvidence& ev, const CheckOptions& options, CheckItem item) {
  const NodeEvidence& node = ev.nodes.at("/dev/kvm");
  if (!ev.access) {
    item.state = CheckState::fail;
    item.detail = owner_text(node) + "; " + ev.access_error;
    return item;
  }
  const UserAccess& a = *ev.access;
  std::string who =
      fmt::format("user \"{}\"{}", user_label(a), options.user.empty() ? " (running kvmprov)" : "");
  std::string how = a.opened_as_user ? "" : " (from the mode bits)";
  if (a.can_open) {
    item.detail = fmt::format("{}; {} can open it{}", owner_text(node), who, how);
    // Allowed (CI runners want it), but every local user can then run guests.
    if ((node.info->mode & 0006) == 0006) {
      item.state = CheckState::warn;
      item.hint =
          "world-writable: every local user can create VMs; use group kvm and 0660 unless this is meant";
    }
    return item;
  }
  item.state = CheckState::fail;
  item.detail = fmt::format("{}; {} cannot open it: {}{}", owner_text(node), who,
                            std::strerror(a.open_errno), how);
  item.hint = access_fix(node, a);
  return item;
}

Verdict verdict(const char* reason, std::string advice) {
  return {.reason = reason, .advice = std::move(advice)};
}

// The verdict the asked user's access and the probe give, in order: usable, refused, or not
// probed; nullopt when they leave the cause to the rest of the evidence.
std::optional<Verdict> probe_verdict(const CheckEvidence& ev, const Findings& f, const Facts& facts,
                                     const CheckOptions& options) {
  // The verdict is about one user: the /dev/kvm line's (--user NAME, else this process). With
  // --user, only an answer about that user can make it "usable" for them, and a probe refused
  // to someone else says nothing about them.
  const bool node = is_char_device(ev.nodes.at("/dev/kvm"));
  const bool user_denied = node && ev.access && !ev.access->can_open;
  const bool user_unknown = !options.user.empty() && node && !ev.access;
  const bool probe_denied = node && denied(ev.probe);
  const std::string asked = asked_user(ev, options);
  if (ev.probe.ok() && !user_denied && !user_unknown) {
    const std::string provider = facts.kvm_provider.empty() ? "" : " (" + facts.kvm_provider + ")";
    const std::string arch(arch_name(facts.cpu.arch));
    Verdict v =
        !is_x86(facts.cpu.arch)
            ? verdict("ok", fmt::format("KVM acceleration can be used ({}{})", arch,
                                        f.arch_mode.empty() ? "" : ", " + f.arch_mode))
        : has_vt(facts.cpu)
            ? verdict("ok", "KVM acceleration can be used")
            : verdict(
                  "ok-paravirtual",
                  fmt::format(
                      "KVM acceleration can be used: the kernel provides KVM{} without VT flags {}",
                      provider, vt_source(facts)));
    v.usable = true;
    return v;
  }
  if (user_denied || (probe_denied && ev.probe_as_asked && !user_unknown)) {
    const std::string owner = owner_text(ev.nodes.at("/dev/kvm"));
    return verdict("permission-denied",
                   ev.access ? fmt::format("{} cannot open /dev/kvm ({}): {}", asked, owner,
                                           access_fix(ev.nodes.at("/dev/kvm"), *ev.access))
                             : fmt::format("{} cannot open /dev/kvm ({})", asked, owner));
  }
  if (user_unknown)
    return verdict("not-probed", fmt::format("could not tell whether \"{}\" can open /dev/kvm: {}",
                                             asked, ev.access_error));
  if (probe_denied)
    return verdict(
        "not-probed",
        fmt::format(
            "the KVM probe could not run as \"{}\": kvmprov runs as \"{}\", who cannot open /dev/kvm; run as root to probe as another user",
            asked, probe_runner(ev)));
  return std::nullopt;
}

// The kernel's part of an unusable KVM: KVM itself, its modules, its device node.
Verdict module_verdict(const Findings& f, const Facts& facts, const CheckOptions& options) {
  if (!f.kernel_has_kvm)
    return verdict(
        "kernel-without-kvm",
        "the running kernel has no KVM: boot a kernel built with CONFIG_KVM, such as the distribution's");
  if (!f.missing_module.empty())
    return verdict(
        "module-missing",
        fmt::format(
            "module \"{}\" is not in {}: install the modules package for the running kernel, or reboot into the installed one",
            f.missing_module, modules_dir(facts)));
  if (!f.not_loaded_module.empty())
    return verdict(
        "module-not-loaded",
        f.load_fix == "kvmprov apply"
            ? fmt::format("load the KVM modules: kvmprov apply (module \"{}\" is not loaded)",
                          f.not_loaded_module)
            : fmt::format("module \"{}\" is not loaded: {}", f.not_loaded_module, f.load_fix));
  if (!options.container.empty())
    return verdict("no-device-node", "the KVM modules are loaded but /dev/kvm is missing: " +
                                         pass_device_hint(options.container, "/dev/kvm"));
  return verdict(
      "no-device-node",
      "the KVM modules are loaded but /dev/kvm is missing: udevadm trigger, or mount devtmpfs on /dev");
}

// The cause of an unusable KVM on a CPU other than x86, which has no VT flag or lock to blame.
Verdict other_cause_verdict(const CheckEvidence& ev, const Findings& f, const Facts& facts,
                            const CheckOptions& options) {
  if (!f.arch_cause.empty()) return verdict("no-hardware-support", f.arch_cause);
  if (is_char_device(ev.nodes.at("/dev/kvm")) && ev.probe.opened)
    return verdict(
        "kernel-without-kvm",
        fmt::format("/dev/kvm opens but the kernel refuses to create a {} ({}): see the kernel log",
                    ev.probe.api_version != 12 ? "VM (API version)" : "VM",
                    std::strerror(ev.probe.vm_created ? ev.probe.vcpu_errno : ev.probe.vm_errno)));
  return module_verdict(f, facts, options);
}

// The cause of an unusable KVM, the first in the order a fix has to follow.
Verdict cause_verdict(const CheckEvidence& ev, const Findings& f, const Facts& facts,
                      const CheckOptions& options) {
  if (!is_x86(facts.cpu.arch)) return other_cause_verdict(ev, f, facts, options);
  const CpuFacts& cpu = facts.cpu;
  const bool vt = has_vt(cpu);
  const bool no_provider = facts.kvm_provider.empty();
  if (cpu.hypervisor && !vt && no_provider && can_nest(cpu.hypervisor_id))
    // In a guest the "firmware" registers are the hypervisor's emulation: the cause is there.
    return verdict(
        "nested-without-vt",
        "this is a guest whose hypervisor does not pass VT through: enable nested virtualisation on the host (kvm_intel/kvm_amd nested=1 and a guest CPU model with vmx/svm), or use virt_type=qemu");
  if (f.firmware_disabled)
    return verdict(
        "disabled-in-firmware",
        fmt::format(
            "{} is disabled in the firmware: enable it in the firmware setup, then power the machine off and on",
            vt_name(cpu.vendor)));
  if (is_char_device(ev.nodes.at("/dev/kvm")) && ev.probe.opened)
    // The device opens but the kernel refuses a VM: the kernel's KVM cannot run here.
    return verdict(
        "kernel-without-kvm",
        fmt::format(
            "/dev/kvm opens but the kernel refuses to create a {} ({}): another hypervisor may hold VT, see the kernel log",
            ev.probe.api_version != 12 ? "VM (API version)" : "VM",
            std::strerror(ev.probe.vm_created ? ev.probe.vcpu_errno : ev.probe.vm_errno)));
  if (!vt && no_provider)
    return verdict(
        "no-hardware-support",
        fmt::format(
            "this CPU has no usable {}: use virt_type=qemu{}", vt_name(cpu.vendor),
            f.firmware_needs_root ? " (run as root to rule out VT disabled in the firmware)" : ""));
  return module_verdict(f, facts, options);
}

}  // namespace

namespace {

// Whether module NAME is built in or loaded.
bool module_in_kernel(const CheckEvidence& ev, const std::string& name) {
  const auto it = ev.modules.find(name);
  return it != ev.modules.end() && in_kernel(it->second.state);
}

// What to do about a missing /dev/kvm: load the modules only while one that creates it is missing.
// Off x86 there is no vendor module, so kvm in the kernel without the node means KVM did not start.
std::string missing_device_hint(const CheckEvidence& ev, const Facts& facts,
                                const CheckOptions& options) {
  if (!options.container.empty()) return pass_device_hint(options.container, "/dev/kvm");
  if (!module_in_kernel(ev, "kvm")) return "appears when the KVM modules are loaded";
  if (!is_x86(facts.cpu.arch))
    return "KVM is in the kernel but did not start: see the firmware line";
  if (module_in_kernel(ev, "kvm_intel") || module_in_kernel(ev, "kvm_amd"))
    return "the KVM modules are loaded: udevadm trigger, or mount devtmpfs on /dev";
  return "appears when the KVM modules are loaded";
}

}  // namespace

CheckItem check_device(const CheckEvidence& ev, const Facts& facts, const CheckOptions& options) {
  CheckItem item{.id = "device", .title = "/dev/kvm"};
  const NodeEvidence& node = ev.nodes.at("/dev/kvm");
  if (!node.info) {
    item.state = CheckState::fail;
    item.detail = node.info.error().message;
    return item;
  }
  if (!node.info->exists) {
    item.state = CheckState::fail;
    item.detail = "missing";
    item.hint = missing_device_hint(ev, facts, options);
    return item;
  }
  if (!node.info->char_device) {
    item.state = CheckState::fail;
    item.detail = owner_text(node) + ", not a character device";
    item.hint = "remove it; the kernel's devtmpfs creates the real node (c 10:232)";
    return item;
  }
  return device_access(ev, options, std::move(item));
}

CheckItem check_probe(const CheckEvidence& ev, const CheckOptions& options) {
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
  const std::string asked = asked_user(ev, options);
  if (ev.probe_as_asked) {
    item.detail = !options.user.empty() && is_char_device(ev.nodes.at("/dev/kvm"))
                      ? fmt::format("as \"{}\": {}", asked, result)
                      : result;
  } else if (!ev.probe_as_error.empty()) {
    item.detail = fmt::format("as \"{}\" (running kvmprov), not as \"{}\" ({}): {}",
                              probe_runner(ev), asked, ev.probe_as_error, result);
  } else if (denied(p)) {
    // This process's refusal says nothing of the asked user nor of the kernel.
    item.state = CheckState::skip;
    item.detail = fmt::format(
        "not run as \"{}\": kvmprov runs as \"{}\", who cannot open /dev/kvm ({}), and only root can take another user's credentials",
        asked, probe_runner(ev), std::strerror(p.open_errno));
    hints.push_back("run as root to probe as another user");
  } else {
    item.detail = fmt::format("as \"{}\" (running kvmprov), not as \"{}\": {}", probe_runner(ev),
                              asked, result);
    hints.push_back("run as root to probe as another user");
  }
  item.hint = join(hints, "; ");
  return item;
}

Verdict decide(const CheckEvidence& ev, const Findings& f, const Facts& facts,
               const CheckOptions& options) {
  std::optional<Verdict> v = probe_verdict(ev, f, facts, options);
  if (!v) v = cause_verdict(ev, f, facts, options);
  v->virt_type = v->usable ? "kvm" : "qemu";
  return *v;
}

bool has_vt(const CpuFacts& cpu) {
  return cpu.vmx || cpu.svm;
}

VtFamily named_vt(Vendor v) {
  return vendor_vt(v) == VtFamily::svm ? VtFamily::svm : VtFamily::vmx;
}

std::string vt_name(Vendor v) {
  const VtFamily f = named_vt(v);
  return fmt::format("{}{}", vt_title(f), f == VtFamily::svm ? " (SVM)" : "");
}

bool forced(const Facts& facts, std::string_view key) {
  return std::find(facts.overridden.begin(), facts.overridden.end(), key) != facts.overridden.end();
}

// Forcing cpu_vendor assumes its vendor's flag unless the flag itself is forced too.
std::string flag_source(const Facts& facts, std::string_view flag) {
  if (forced(facts, flag)) return "--fact " + std::string(flag);
  if (forced(facts, "cpu_vendor")) return "--fact cpu_vendor";
  return "";
}

std::string modules_dir(const Facts& facts) {
  return "/lib/modules/" + facts.kernel_release;
}

std::string owner_text(const NodeEvidence& node) {
  const FileInfo& info = *node.info;
  return fmt::format("{}:{} {:04o}", node.user.empty() ? std::to_string(info.uid) : node.user,
                     node.group.empty() ? std::to_string(info.gid) : node.group, info.mode);
}

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

}  // namespace kvmprov
