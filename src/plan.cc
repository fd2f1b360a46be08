// SPDX-License-Identifier: MIT
// observe() reads the host through the seam; make_plan() turns (profile, facts) into actions
// without any I/O, so every decision can be tested on plain data.
#include "plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "devices.h"
#include "kmod.h"
#include "nova.h"
#include "persist.h"
#include "text.h"
#include "udev_rules.h"

namespace kvmprov {

std::string_view action_kind_name(ActionKind k) {
  switch (k) {
    case ActionKind::load_module:
      return "load";
    case ActionKind::reload_module:
      return "reload";
    case ActionKind::kernel_cmdline:
      return "cmdline";
    case ActionKind::write_file:
      return "write";
    case ActionKind::remove_file:
      return "remove";
    case ActionKind::create_group:
      return "group";
    case ActionKind::add_member:
      return "member";
    case ActionKind::node_permissions:
      return "node";
    case ActionKind::access:
      return "access";
    case ActionKind::nova_virt_type:
      return "virt-type";
    case ActionKind::nova_cpu_mode:
      return "cpu-mode";
  }
  return "?";
}

std::string_view status_name(Status s) {
  switch (s) {
    case Status::unchanged:
      return "unchanged";
    case Status::changed:
      return "changed";
    case Status::failed:
      return "failed";
    case Status::skipped:
      return "skipped";
    case Status::pending:
      return "pending";
  }
  return "?";
}

namespace {

bool is_vendor_module(std::string_view name) {
  return name == "kvm_intel" || name == "kvm_amd";
}

// The VT flag a vendor module needs, and whether the CPU reports it.
bool has_vt_for(std::string_view module, const CpuFacts& cpu) {
  if (module == "kvm_intel") return cpu.vmx;
  if (module == "kvm_amd") return cpu.svm;
  return true;
}

// sysfs shows booleans as Y/N, integers as digits; the profile says 1/0, true/false, y/n.
std::string normalise_param(std::string_view value) {
  const std::string_view v = trim(value);
  const std::string lower = ascii_lower(v);
  if (lower == "y" || lower == "yes" || lower == "true" || lower == "on") return "1";
  if (lower == "n" || lower == "no" || lower == "false" || lower == "off") return "0";
  return std::string(v);
}

struct Drift {
  std::string name, have, want;
};

std::vector<Drift> option_drift(const ModuleSpec& spec, const ModuleFacts& mf) {
  std::vector<Drift> drift;
  for (const auto& opt : spec.options) {
    auto it = mf.params.find(opt.name);
    const std::string have(it == mf.params.end() ? std::string_view() : trim(it->second));
    if (it == mf.params.end() || !same_param_value(have, opt.value))
      drift.push_back({opt.name, it == mf.params.end() ? "(not exposed)" : have, opt.value});
  }
  return drift;
}

std::string drift_text(const std::vector<Drift>& drift) {
  std::string out;
  for (const auto& d : drift) {
    if (!out.empty()) out += ", ";
    out += fmt::format("{} is {} (profile: {})", d.name, d.have, d.want);
  }
  return out;
}

std::string options_text(const std::vector<ModuleOption>& options) {
  std::string out;
  for (const auto& o : options) out += fmt::format(" {}={}", o.name, o.value);
  return out;
}

const ModuleFacts& facts_for(const Facts& facts, const std::string& name) {
  static const ModuleFacts kAbsent;
  auto it = facts.modules.find(name);
  return it == facts.modules.end() ? kAbsent : it->second;
}

void plan_module(const ModuleSpec& spec, const Facts& facts, const PlanOptions& options,
                 Plan& plan) {
  const ModuleFacts& mf = facts_for(facts, spec.name);
  Action load{.id = "module:" + spec.name, .kind = ActionKind::load_module, .target = spec.name};
  load.options = spec.options;
  auto drift = option_drift(spec, mf);

  if (!options.live) {
    load.status = Status::skipped;
    load.detail = "not the running system (--root): kernel modules are left alone";
    plan.actions.push_back(std::move(load));
    return;
  }
  switch (mf.state) {
    case ModuleState::live:
      load.status = Status::unchanged;
      load.detail = "loaded";
      plan.actions.push_back(std::move(load));
      if (!drift.empty()) {
        Action reload{
            .id = "reload:" + spec.name, .kind = ActionKind::reload_module, .target = spec.name};
        reload.options = spec.options;
        std::string what = fmt::format("\"{}\" is loaded with {}", spec.name, drift_text(drift));
        if (!options.allow_reload) {
          reload.status = Status::pending;
          reload.detail = what + "; reloading it needs --allow-reload (and no running guests)";
        } else if (mf.refcount > 0 || !mf.holders.empty()) {
          reload.status = Status::pending;
          std::string holders;
          for (const auto& h : mf.holders) holders += (holders.empty() ? "" : ", ") + h;
          reload.detail = fmt::format(
              "{}; not reloading: in use (refcount {}{}{}); stop its guests and run again", what,
              mf.refcount, holders.empty() ? "" : ", holders: ", holders);
        } else {
          reload.status = Status::changed;
          reload.detail = what + "; reloading";
        }
        plan.actions.push_back(std::move(reload));
      }
      return;
    case ModuleState::builtin:
      load.status = Status::unchanged;
      load.detail = "built into the kernel";
      plan.actions.push_back(std::move(load));
      if (!drift.empty()) {
        Action cmdline{
            .id = "cmdline:" + spec.name, .kind = ActionKind::kernel_cmdline, .target = spec.name};
        cmdline.options = spec.options;
        std::string params;
        for (const auto& d : drift) params += fmt::format(" {}.{}={}", spec.name, d.name, d.want);
        cmdline.status = Status::pending;
        cmdline.detail = fmt::format(
            "\"{}\" is built into the kernel and {}; add \"{}\" to the kernel command line and "
            "reboot",
            spec.name, drift_text(drift), params.substr(1));
        plan.actions.push_back(std::move(cmdline));
      }
      return;
    case ModuleState::coming:
    case ModuleState::going:
      load.status = Status::pending;
      load.detail =
          fmt::format("the kernel is {} \"{}\"; run again when it has settled",
                      mf.state == ModuleState::coming ? "loading" : "unloading", spec.name);
      plan.actions.push_back(std::move(load));
      return;
    case ModuleState::absent:
      break;
  }
  if (is_vendor_module(spec.name) && !facts.kvm_provider.empty()) {
    load.status = Status::unchanged;
    load.detail = fmt::format("not needed: KVM is provided by \"{}\"", facts.kvm_provider);
    plan.actions.push_back(std::move(load));
    return;
  }

  std::string modules_dir = "/lib/modules/" + facts.kernel_release;
  load.status = Status::failed;
  if (!facts.modules_supported) {
    load.detail = fmt::format(
        "cannot load \"{}\": kernel {} has no loadable-module support and does not have it built "
        "in (use a kernel with CONFIG_MODULES, or one with {} built in)",
        spec.name, facts.kernel_release, spec.name);
  } else if (!mf.unknown_because.empty()) {
    load.detail = fmt::format("cannot load \"{}\": {}", spec.name, mf.unknown_because);
  } else if (!mf.found) {
    load.detail = fmt::format("cannot load \"{}\": {}", spec.name,
                              explain_load_error(spec.name, ENOENT, facts.cpu, modules_dir, ""));
  } else if (!mf.blacklisted_by.empty()) {
    load.detail =
        fmt::format("cannot load \"{}\": {}", spec.name,
                    explain_load_error(spec.name, 0, facts.cpu, modules_dir, mf.blacklisted_by));
  } else if (facts.modules_disabled) {
    load.detail = fmt::format("cannot load \"{}\": {}", spec.name,
                              explain_load_error(spec.name, EPERM, facts.cpu, modules_dir, ""));
  } else {
    load.status = Status::changed;
    load.detail = spec.options.empty() ? "load" : "load with" + options_text(spec.options);
  }
  plan.actions.push_back(std::move(load));
}

// Whether a boot-time load of SPEC can succeed here: listing a module that cannot load makes
// systemd-modules-load.service fail at every boot.
bool persistable(const ModuleSpec& spec, const Facts& facts, const PlanOptions& options) {
  if (!options.live) return true;
  const ModuleFacts& mf = facts_for(facts, spec.name);
  if (mf.state == ModuleState::live || mf.state == ModuleState::builtin) return true;
  if (is_vendor_module(spec.name) && !facts.kvm_provider.empty()) return false;
  if (!facts.modules_supported || !mf.found || !mf.blacklisted_by.empty()) return false;
  return has_vt_for(spec.name, facts.cpu);
}

}  // namespace

bool same_param_value(std::string_view have, std::string_view want) {
  return normalise_param(have) == normalise_param(want);
}

std::vector<const ModuleSpec*> modules_for_host(const Profile& profile, const Facts& facts) {
  std::vector<const ModuleSpec*> out;
  Vendor v = facts.cpu.vendor;
  for (const auto& m : profile.modules) {
    if (!m.when_vendors.empty() &&
        std::find(m.when_vendors.begin(), m.when_vendors.end(), v) == m.when_vendors.end())
      continue;
    // The other vendor's module can never work here, whatever the profile says.
    if (is_vendor_module(m.name) && v != Vendor::unknown && vendor_kvm_module(v) != m.name)
      continue;
    out.push_back(&m);
  }
  return out;
}

Facts observe(Host& host, const Profile& profile, bool module_details) {
  Facts f;
  if (auto cpuinfo = host.read_kernel_file("/proc/cpuinfo")) f.cpu = parse_cpuinfo(*cpuinfo);
  f.cpu.hypervisor_id = host.cpuid_hypervisor_id();
  // /proc/cpuinfo can be unreadable (hardened /proc) or lack the vendor (non-x86 formats): CPUID
  // answers for the same CPU.
  if (f.cpu.vendor_id.empty()) {
    f.cpu.vendor_id = host.cpuid_vendor_id();
    f.cpu.vendor = vendor_from_id(f.cpu.vendor_id);
  }
  f.kernel_release = host.kernel_release();
  f.modules_supported = host.kernel_path_exists("/proc/modules");
  if (auto disabled = host.read_kernel_file("/proc/sys/kernel/modules_disabled"))
    f.modules_disabled = trim(*disabled) == "1";
  f.systemd = host.has_systemd();
  // Under --root the running kernel's modules say nothing about the image: no kernel action is
  // planned there, so libkmod is not even opened.
  if (host.live()) {
    for (const char* provider : {"kvm_pvm"}) {
      ModuleFacts m = host.module_state(provider);
      if (m.state == ModuleState::live || m.state == ModuleState::builtin)
        f.kvm_provider = provider;
    }
    for (const auto& m : profile.modules)
      f.modules.emplace(m.name, module_details ? host.module(m.name) : host.module_state(m.name));
  }
  for (const char* path : {kModprobeConf, kModulesLoadConf, kEtcModules}) {
    auto content = host.read_file(path);
    // An unreadable file is planned as absent; apply then reports the real error on write.
    f.files[path] = content ? *content : std::nullopt;
  }
  observe_devices(host, profile, f);
  observe_nova(host, profile, f);
  return f;
}

void plan_file(Plan& plan, const std::string& path, const std::optional<std::string>& before,
               const std::optional<std::string>& after, unsigned mode, std::string_view note,
               std::string_view why_removed) {
  if (!before && !after) return;
  Action a{.id = "file:" + path, .target = path};
  a.before = before;
  a.after = after;
  a.mode = mode;
  a.kind = after ? ActionKind::write_file : ActionKind::remove_file;
  if (before == after) {
    a.status = Status::unchanged;
    a.detail = "up to date";
  } else {
    a.status = Status::changed;
    a.detail = !after ? "remove: " + std::string(why_removed) : before ? "update" : "create";
  }
  if (!note.empty()) a.detail += "; " + std::string(note);
  plan.actions.push_back(std::move(a));
}

const std::optional<std::string>& file_facts(const Facts& facts, const std::string& path) {
  static const std::optional<std::string> kAbsent;
  auto it = facts.files.find(path);
  return it == facts.files.end() ? kAbsent : it->second;
}

Plan make_plan(const Profile& profile, const Facts& facts, const PlanOptions& options) {
  Plan plan;
  auto mods = modules_for_host(profile, facts);
  const std::string header = managed_header(profile);

  // Options first, so that anything loading a module after us sees them.
  std::string options_body;
  for (const ModuleSpec* m : mods)
    if (!m->options.empty()) options_body += "options " + m->name + options_text(m->options) + "\n";
  plan_file(plan, kModprobeConf, file_facts(facts, kModprobeConf),
            options_body.empty() ? std::nullopt : std::optional(header + options_body), 0644, "");

  for (const ModuleSpec* m : mods) plan_module(*m, facts, options, plan);

  std::vector<std::string> persisted;
  std::vector<std::string> left_out;
  for (const ModuleSpec* m : mods) {
    if (persistable(*m, facts, options))
      persisted.push_back(m->name);
    else
      left_out.push_back(m->name);
  }
  PersistMode mode = profile.persist;
  if (mode == PersistMode::automatic)
    mode = facts.systemd ? PersistMode::modules_load_d : PersistMode::etc_modules;
  if (persisted.empty()) mode = PersistMode::none;
  std::string note;
  if (!left_out.empty()) {
    std::string names;
    for (const auto& n : left_out) names += (names.empty() ? "\"" : ", \"") + n + "\"";
    note = fmt::format("not listing {}: cannot load on this host", names);
  }

  std::optional<std::string> load_d;
  if (mode == PersistMode::modules_load_d) {
    std::string body = header;
    for (const auto& n : persisted) body += n + "\n";
    load_d = body;
  }
  plan_file(plan, kModulesLoadConf, file_facts(facts, kModulesLoadConf), load_d, 0644,
            mode == PersistMode::modules_load_d ? note : "");

  const auto& etc_before = file_facts(facts, kEtcModules);
  std::optional<std::string> etc_after = etc_before;
  std::string etc_note = mode == PersistMode::etc_modules ? note : "";
  if (mode == PersistMode::etc_modules) {
    etc_after = set_managed_block(etc_before.value_or(""), profile, persisted);
    auto dups = duplicates_outside_block(etc_before.value_or(""), persisted);
    for (const auto& d : dups)
      etc_note += fmt::format("{}\"{}\" is also listed outside kvmprov's block, left as is",
                              etc_note.empty() ? "" : "; ", d);
  } else if (etc_before) {
    etc_after = remove_managed_block(*etc_before);
  }
  if (mode == PersistMode::etc_modules || etc_after != etc_before)
    plan_file(plan, kEtcModules, etc_before, etc_after, 0644, etc_note);
  plan_devices(profile, facts, options, plan);
  plan_nova(profile, facts, options, plan);
  return plan;
}

Plan make_reset_plan(const Facts& facts) {
  Plan plan;
  // observe_devices reads the udev rules file into facts.files.
  for (const char* path : {kModprobeConf, kModulesLoadConf, kUdevRulesFile}) {
    const auto& before = file_facts(facts, path);
    Action a{.id = "file:" + std::string(path), .kind = ActionKind::remove_file, .target = path};
    a.before = before;
    a.status = before ? Status::changed : Status::unchanged;
    a.detail = before ? "kvmprov's own file" : "absent";
    plan.actions.push_back(std::move(a));
  }
  // /etc/modules is shared: only kvmprov's block goes, every other byte stays.
  const auto& before = file_facts(facts, kEtcModules);
  Action a{.id = "file:" + std::string(kEtcModules),
           .kind = ActionKind::write_file,
           .target = kEtcModules};
  a.before = before;
  a.after = before ? std::optional(remove_managed_block(*before)) : std::nullopt;
  if (!before) {
    a.status = Status::unchanged;
    a.detail = "absent";
  } else if (a.after == before) {
    a.status = Status::unchanged;
    a.detail = "no kvmprov block";
  } else {
    a.status = Status::changed;
    a.detail = "remove kvmprov's block, keep the rest";
  }
  plan.actions.push_back(std::move(a));
  return plan;
}

}  // namespace kvmprov
