// SPDX-License-Identifier: MIT
// observe() reads the host through the seam, read only: the CPU, the kernel's modules, kvmprov's
// files, the device rules, accounts and nodes, nova's files and the CPU map. The planners decide
// from what it records, without I/O.
#include "observe.h"

#include <fmt/format.h>

#include <cerrno>
#include <set>

#include "check.h"
#include "persist.h"
#include "udev_rules.h"
#include "util/text.h"

namespace kvmprov {

namespace {

// The CPU the plan is for, when it is this one.
void observe_cpu(Host& host, Facts& f) {
  if (auto cpuinfo = host.kernel().read_or_absent("/proc/cpuinfo")) f.cpu = parse_cpuinfo(*cpuinfo);
  const CpuidIds cpuid = host.cpuid();
  f.cpu.hypervisor_id = cpuid.hypervisor;
  // /proc/cpuinfo can be unreadable (hardened /proc): CPUID answers for the same CPU. Other
  // architectures have no x86 vendor to ask for.
  if (f.cpu.vendor_id.empty() && is_x86(f.cpu.arch)) {
    f.cpu.vendor_id = cpuid.vendor;
    f.cpu.vendor = vendor_from_id(f.cpu.vendor_id);
  }
}

// An image's architecture, from the program its /bin/sh is: an image built on one machine for
// another (arm64 on x86) must not be planned for the build machine's CPU.
void observe_image_arch(Host& host, Facts& f) {
  std::string problem;
  for (const char* shell : {"/bin/sh", "/usr/bin/sh"}) {
    auto program = host.target().read(shell);
    if (!program && problem.empty()) problem = program.error().message;
    if (!program || !*program) continue;
    std::string machine;
    f.cpu.arch = elf_arch(**program, &machine);
    f.arch_evidence = machine.starts_with("not ")
                          ? fmt::format("its {} is not an ELF program", shell)
                          : fmt::format("its {} is built for {}", shell, machine);
    return;
  }
  f.arch_problem = std::move(problem);
}

// Misc devices kvmprov knows; others are looked up in /sys/class/misc.
bool known_misc(const std::string& kernel) {
  static const std::set<std::string> kMisc = {"kvm",  "vhost-net", "vhost-vsock", "tun",
                                              "fuse", "vfio",      "udmabuf",     "loop-control"};
  return kMisc.count(kernel) > 0;
}

std::vector<ConfText> read_conf_files(Host& host, const std::vector<std::string>& dirs,
                                      std::string_view suffix, std::vector<std::string>& notes) {
  std::vector<ConfDir> listing;
  for (const auto& dir : dirs) {
    auto names = host.target().list(dir);
    if (!names) {
      notes.push_back(names.error().message + ", ignoring");
      continue;
    }
    listing.push_back({dir, *names});
  }
  std::vector<ConfText> out;
  for (const auto& path : order_conf_files(listing, suffix)) {
    auto content = host.target().read(path);
    // A file masked by a symlink to /dev/null reads as an error: it holds no rules either way.
    if (!content) {
      notes.push_back(content.error().message + ", ignoring");
      continue;
    }
    if (*content) out.push_back({path, **content});
  }
  return out;
}

// The target's account files, and the accounts NSS adds to them (the running system's or a
// container's own) for the profile's groups, device groups and members.
void observe_accounts(Host& host, const Profile& profile, DeviceFacts& d) {
  if (auto group = host.target().read("/etc/group"))
    d.group_file = *group;
  else
    d.group_file_error = group.error().message;
  if (auto passwd = host.target().read("/etc/passwd"))
    d.passwd_file = *passwd;
  else
    d.notes.push_back(passwd.error().message + ", ignoring");
  const Accounts local = parse_accounts(d.group_file.value_or(""), d.passwd_file.value_or(""));
  std::set<std::string> groups, users;
  for (const auto& g : profile.groups) {
    groups.insert(g.name);
    users.insert(g.members.begin(), g.members.end());
  }
  for (const auto& dev : profile.devices)
    if (!dev.group.empty()) groups.insert(dev.group);
  for (const auto& name : groups)
    if (!local.group(name))
      if (auto g = host.system_group(name)) d.system_groups.push_back(std::move(*g));
  for (const auto& name : users)
    if (auto u = host.system_user(name)) d.system_users.push_back(std::move(*u));
}

// udevd, and the profile's device nodes: their subsystem and, on the running system, their state.
void observe_nodes(Host& host, const Profile& profile, DeviceFacts& d) {
  for (const char* udevd : {"/lib/systemd/systemd-udevd", "/usr/lib/systemd/systemd-udevd",
                            "/sbin/udevd", "/usr/sbin/udevd"}) {
    auto info = host.target().stat(udevd);
    if (info && info->exists) d.udevd_installed = true;
  }
  d.udevd_running = host.live() && host.kernel().exists("/run/udev/control");
  for (const auto& dev : profile.devices) {
    const std::string kernel = device_kernel_name(dev.node);
    if (host.kernel().exists("/sys/class/misc/" + kernel) || known_misc(kernel))
      d.subsystems[dev.node] = "misc";
    if (!host.live()) continue;
    auto info = host.device_node(dev.node);
    if (!info) {
      d.notes.push_back(info.error().message + ", ignoring");
      continue;
    }
    d.nodes[dev.node] = NodeState{.exists = info->exists,
                                  .char_device = info->char_device,
                                  .uid = info->uid,
                                  .gid = info->gid,
                                  .mode = info->mode};
  }
}

ModuleFacts observe_module(Host& host, const ModuleSpec& m, ModuleDetail detail) {
  if (detail == ModuleDetail::state) return host.module_state(m.name);
  if (detail == ModuleDetail::all) return host.module(m.name);
  std::set<std::string> options;
  for (const auto& o : m.options) options.insert(o.name);
  return host.module(m.name, options);
}

}  // namespace

Facts observe_kernel(Host& host, const Profile& profile, ModuleDetail detail) {
  Facts f;
  // The build machine's CPU says nothing about the hosts an image boots on: under --root the CPU
  // is unknown until --fact says what it is.
  f.cpu_known = host.live() || host.scope().scope == Scope::container;
  if (f.cpu_known)
    observe_cpu(host, f);
  else
    observe_image_arch(host, f);
  f.kernel_release = host.kernel_release();
  f.modules_supported = host.kernel().exists("/proc/modules");
  f.modules_dir = host.kernel().exists("/lib/modules/" + f.kernel_release);
  if (auto disabled = host.kernel().read_or_absent("/proc/sys/kernel/modules_disabled"))
    f.modules_disabled = trim(*disabled) == "1";
  f.systemd = host.has_systemd();
  // Under --root the running kernel's modules say nothing about the image: no kernel action is
  // planned there, so libkmod is not even opened.
  // A container sees the host's kernel: what is loaded there is worth saying, never changed.
  if (host.live() || host.scope().scope == Scope::container) {
    for (const char* provider : {"kvm_pvm"}) {
      ModuleFacts m = host.module_state(provider);
      if (in_kernel(m.state)) f.kvm_provider = provider;
    }
    for (const auto& m : profile.modules)
      f.modules.emplace(m.name, observe_module(host, m, detail));
  }
  return f;
}

Facts observe(Host& host, const Profile& profile, ModuleDetail detail) {
  Facts f = observe_kernel(host, profile, detail);
  for (const char* path : {kModprobeConf, kModulesLoadConf})
    f.files[path] = observe_file(host, path);
  f.files[kEtcModules] = observe_file(host, kEtcModules, {.keep_owner = true});
  observe_devices(host, profile, f);
  observe_nova(host, profile, f);
  return f;
}

FileFacts observe_file(Host& host, const std::string& path, const WriteOptions& options) {
  FileFacts f;
  if (auto content = host.target().read(path))
    f.content = std::move(*content);
  else
    f.read_error = content.error().message;
  Refusals refusals = host.target().refusals(path, options);
  if (refusals.write) f.write_refusal = std::move(refusals.write->message);
  if (refusals.remove) f.remove_refusal = std::move(refusals.remove->message);
  return f;
}

void observe_devices(Host& host, const Profile& profile, Facts& f) {
  DeviceFacts& d = f.devices;
  f.files[kUdevRulesFile] = observe_file(host, kUdevRulesFile);
  if (profile.devices.empty() && profile.groups.empty()) return;
  d.udev_rules = read_conf_files(host, udev_rules_dirs(), ".rules", d.notes);
  d.tmpfiles = read_conf_files(host, tmpfiles_dirs(), ".conf", d.notes);
  observe_accounts(host, profile, d);
  if (!profile.groups.empty()) {
    for (const char* file : {"/etc/group", "/etc/gshadow"}) {
      if (auto r = host.target().can_write(file, {.keep_owner = true});
          !r && d.accounts_refusal.empty())
        d.accounts_refusal = r.error().message;
    }
  }
  observe_nodes(host, profile, d);
}

void observe_nova(Host& host, const Profile& profile, Facts& f) {
  if (!profile.nova) return;
  const NovaSpec& spec = *profile.nova;
  for (const auto& entry : spec.config) {
    if (!entry.ends_with('/')) {
      f.nova.config_files.push_back(entry);
      continue;
    }
    // oslo.config reads sorted(glob(DIR/*.conf)); a directory that does not exist holds nothing.
    const std::string dir = entry.substr(0, entry.size() - 1);
    auto names = host.target().list(dir);
    if (!names) {
      f.nova.config_errors.push_back(names.error().message);
      continue;
    }
    for (const auto& name : *names)
      if (name.ends_with(".conf") && !name.starts_with('.'))
        f.nova.config_files.push_back(dir + "/" + name);
  }
  for (const auto& path : f.nova.config_files)
    if (!f.files.count(path)) f.files[path] = observe_file(host, path, kNovaConfWrite);
  if (spec.cpu_mode != NovaCpuMode::custom) return;
  auto map = load_cpu_map(
      spec.cpu_map, [&](const std::string& p) { return host.target().read(p); },
      cpu_map_arch(f.cpu.arch));
  if (map) {
    f.nova.cpu_map = std::move(*map);
  } else {
    f.nova.cpu_map_error = map.error().message;
    f.nova.cpu_map_missing = map.error().code == ENOENT;
  }
}

void observe_kvm_verdict(Host& host, const Profile& profile, Facts& facts) {
  if (!profile.nova || profile.nova->virt_type != NovaVirtType::automatic || facts.nova.kvm ||
      !host.live())
    return;
  // plan promises to change nothing, so the firmware reading loads no msr driver here.
  CheckReport r = run_check(host, facts, {.no_module_loads = true});
  facts.nova.kvm = KvmVerdict{.usable = r.verdict.usable,
                              .reason = r.verdict.reason,
                              .advice = r.verdict.advice,
                              .source = "check"};
}

}  // namespace kvmprov
