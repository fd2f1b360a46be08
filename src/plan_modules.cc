// SPDX-License-Identifier: MIT
// Planning of kernel modules: which of the profile's modules are for this machine, the options
// file, each module's load (or reload, or kernel command line), and the boot list in
// modules-load.d or /etc/modules.
#include "plan_modules.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>

#include "module_advice.h"
#include "persist.h"
#include "util/text.h"

namespace kvmprov {

namespace {

// The VT flag a vendor module needs, and whether the CPU reports it.
bool has_vt_for(std::string_view module, const CpuFacts& cpu) {
  switch (module_vt(module)) {
    case VtFamily::vmx:
      return cpu.vmx;
    case VtFamily::svm:
      return cpu.svm;
    case VtFamily::none:
      break;
  }
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

  if (options.scope == Scope::container && !options.live) {
    // The kernel is the host's: what it has loaded is visible, and the rest is for the host.
    if (mf.state == ModuleState::live || mf.state == ModuleState::builtin) {
      load.status = Status::unchanged;
      load.detail =
          mf.state == ModuleState::live ? "loaded (by the host)" : "built into the kernel";
    } else if (is_vendor_module(spec.name) && !facts.kvm_provider.empty()) {
      load.status = Status::unchanged;
      load.detail = fmt::format("not needed: KVM is provided by \"{}\"", facts.kvm_provider);
    } else {
      load.status = Status::skipped;
      load.detail = fmt::format("{}: the host must load \"{}\" (modules belong to its kernel)",
                                not_live_reason(options), spec.name);
    }
    if (!drift.empty())
      load.detail += fmt::format("; {} (only the host can change that)", drift_text(drift));
    plan.actions.push_back(std::move(load));
    return;
  }
  if (!options.live) {
    load.status = Status::skipped;
    load.detail = not_live_reason(options) + ": kernel modules are left alone";
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
            "\"{}\" is built into the kernel and {}; add \"{}\" to the kernel command line and reboot",
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
        "cannot load \"{}\": kernel {} has no loadable-module support and does not have it built in (use a kernel with CONFIG_MODULES, or one with {} built in)",
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
// systemd-modules-load.service fail at every boot. nullopt when it can, else why not.
std::optional<std::string> not_persistable(const ModuleSpec& spec, const Facts& facts,
                                           const PlanOptions& options) {
  if (!options.live && options.scope != Scope::container) return std::nullopt;
  const ModuleFacts& mf = facts_for(facts, spec.name);
  // modprobe finds a built-in module through modules.builtin; without the directory it fails
  // ("Module kvm not found"), and there is nothing to load anyway.
  if (mf.state == ModuleState::builtin && !facts.modules_dir)
    return "built into the kernel, and modprobe cannot find it without /lib/modules/" +
           facts.kernel_release;
  if (mf.state == ModuleState::live || mf.state == ModuleState::builtin) return std::nullopt;
  if (is_vendor_module(spec.name) && !facts.kvm_provider.empty())
    return "not needed: KVM is provided by \"" + facts.kvm_provider + "\"";
  if (!facts.modules_supported || !mf.found || !mf.blacklisted_by.empty() ||
      !has_vt_for(spec.name, facts.cpu))
    return "cannot load on this host";
  return std::nullopt;
}

// The vendors a module is for, as a reader says them: "intel", "amd or hygon".
std::string vendors_text(const std::vector<Vendor>& vendors) {
  std::string out;
  for (size_t i = 0; i < vendors.size(); ++i) {
    if (i > 0) out += i + 1 == vendors.size() ? " or " : ", ";
    out += vendor_name(vendors[i]);
  }
  return out;
}

// Whether module M is for the machine the plan is for.
enum class Fit {
  yes,
  other_cpu,    // its `when` or its vendor rules it out: planned as skipped, with why
  cpu_unknown,  // an image whose CPU is not known: which vendor's module loads is left to boot
};

Fit module_fit(const ModuleSpec& m, const Facts& facts, std::string* why) {
  const Vendor v = facts.cpu.vendor;
  const bool by_vendor = is_vendor_module(m.name) || !m.when_vendors.empty();
  if (!by_vendor) return Fit::yes;
  if (!facts.cpu_known) {
    *why =
        is_vendor_module(m.name)
            ? "the image's CPU is not known (--root): udev loads the vendor's KVM module at boot from the CPU's modalias, so it is not listed; its options are written; --fact cpu_vendor=... lists it"
            : "the image's CPU is not known (--root) and its \"when\" names a CPU vendor: not listed; its options are written; --fact cpu_vendor=... decides";
    return Fit::cpu_unknown;
  }
  const std::string cpu =
      v == Vendor::unknown ? std::string("of an unknown vendor") : std::string(vendor_name(v));
  if (!m.when_vendors.empty() &&
      std::find(m.when_vendors.begin(), m.when_vendors.end(), v) == m.when_vendors.end()) {
    *why = fmt::format("for {} CPUs (\"when\"); this CPU is {}", vendors_text(m.when_vendors), cpu);
    return Fit::other_cpu;
  }
  // The other vendor's module can never work here, whatever the profile says.
  if (is_vendor_module(m.name) && v != Vendor::unknown && vendor_kvm_module(v) != m.name) {
    *why = fmt::format("the KVM module of {} CPUs; this CPU is {}",
                       m.name == "kvm_intel" ? "intel, zhaoxin or centaur" : "amd or hygon", cpu);
    return Fit::other_cpu;
  }
  return Fit::yes;
}

}  // namespace

bool same_param_value(std::string_view have, std::string_view want) {
  return normalise_param(have) == normalise_param(want);
}

bool depends_on_cpu_vendor(const Profile& profile) {
  return std::any_of(profile.modules.begin(), profile.modules.end(), [](const ModuleSpec& m) {
    return is_vendor_module(m.name) || !m.when_vendors.empty();
  });
}

std::vector<const ModuleSpec*> modules_for_host(const Profile& profile, const Facts& facts) {
  std::vector<const ModuleSpec*> out;
  std::string why;
  for (const auto& m : profile.modules)
    if (module_fit(m, facts, &why) == Fit::yes) out.push_back(&m);
  return out;
}

void plan_modules(const Profile& profile, const Facts& facts, const PlanOptions& options,
                  Plan& plan) {
  const std::string header = managed_header(profile);
  std::vector<const ModuleSpec*> mods;    // for this host: loaded and persisted
  std::vector<const ModuleSpec*> unsure;  // an image's vendor modules: options only

  // Options first, so that anything loading a module after us sees them. An image whose CPU is
  // not known gets every vendor's options: a module that never loads never reads them.
  std::string options_body;
  std::vector<Action> other_cpu;
  for (const ModuleSpec& m : profile.modules) {
    std::string why;
    const Fit fit = module_fit(m, facts, &why);
    if (fit == Fit::yes) mods.push_back(&m);
    if (fit == Fit::cpu_unknown) unsure.push_back(&m);
    if (fit != Fit::other_cpu && !m.options.empty())
      options_body += "options " + m.name + options_text(m.options) + "\n";
    if (fit != Fit::yes) {
      Action a{.id = "module:" + m.name, .kind = ActionKind::load_module, .target = m.name};
      a.status = Status::skipped;
      a.detail = why;
      other_cpu.push_back(std::move(a));
    }
  }
  plan_file(plan, kModprobeConf, file_facts(facts, kModprobeConf),
            options_body.empty() ? std::nullopt : std::optional(header + options_body));

  for (const ModuleSpec* m : mods) plan_module(*m, facts, options, plan);
  for (Action& a : other_cpu) plan.actions.push_back(std::move(a));

  // Modules left out of the boot list, grouped by why.
  std::vector<std::string> persisted;
  std::vector<std::pair<std::string, std::vector<std::string>>> left_out;
  for (const ModuleSpec* m : mods) {
    const std::optional<std::string> why = not_persistable(*m, facts, options);
    if (!why) {
      persisted.push_back(m->name);
      continue;
    }
    auto it = std::find_if(left_out.begin(), left_out.end(),
                           [&](const auto& group) { return group.first == *why; });
    if (it == left_out.end()) it = left_out.insert(left_out.end(), {*why, {}});
    it->second.push_back("\"" + m->name + "\"");
  }
  if (!unsure.empty()) {
    std::vector<std::string> names;
    for (const ModuleSpec* m : unsure) names.push_back("\"" + m->name + "\"");
    left_out.emplace_back("the image's CPU is not known (see their load actions)", names);
  }
  PersistMode mode = profile.persist;
  if (mode == PersistMode::automatic)
    mode = facts.systemd ? PersistMode::modules_load_d : PersistMode::etc_modules;
  if (persisted.empty()) mode = PersistMode::none;
  std::vector<std::string> notes;
  for (const auto& [why, names] : left_out)
    notes.push_back(fmt::format("not listing {}: {}", join(names, ", "), why));
  const std::string note = join(notes, "; ");

  std::optional<std::string> load_d;
  if (mode == PersistMode::modules_load_d) {
    std::string body = header;
    for (const auto& n : persisted) body += n + "\n";
    load_d = body;
  }
  plan_file(plan, kModulesLoadConf, file_facts(facts, kModulesLoadConf), load_d,
            {.note = mode == PersistMode::modules_load_d ? note : ""});

  // /etc/modules is shared: kvmprov's block is set or removed, every other byte stays.
  // A copy: a reference returned for a temporary path argument looks dangling to GCC 14.
  const FileFacts etc = file_facts(facts, kEtcModules);
  const std::optional<std::string>& etc_before = etc.content;
  FileChange etc_change{.shared = true, .note = mode == PersistMode::etc_modules ? note : ""};
  std::optional<std::string> etc_after = etc_before;
  if (mode == PersistMode::etc_modules || etc_before) {
    auto edited = mode == PersistMode::etc_modules
                      ? set_managed_block(etc_before.value_or(""), profile, persisted)
                      : remove_managed_block(*etc_before);
    if (edited)
      etc_after = std::move(*edited);
    else
      etc_change.error = edited.error().message;
  }
  if (mode == PersistMode::etc_modules) {
    for (const auto& d : duplicates_outside_block(etc_before.value_or(""), persisted))
      etc_change.note += fmt::format("{}\"{}\" is also listed outside kvmprov's block, left as is",
                                     etc_change.note.empty() ? "" : "; ", d);
  }
  if (mode == PersistMode::etc_modules || etc_after != etc_before || !etc.read_error.empty() ||
      !etc_change.error.empty())
    plan_file(plan, kEtcModules, etc, etc_after, etc_change);
}

}  // namespace kvmprov
