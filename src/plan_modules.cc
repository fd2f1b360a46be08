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

// Whether the CPU reports the VT flag a vendor module needs (any other module needs none).
bool has_vt_for(std::string_view module, const CpuFacts& cpu) {
  const VtFamily vt = module_vt(module);
  return vt == VtFamily::none || (vt == VtFamily::vmx ? cpu.vmx : cpu.svm);
}

// Whether which CPU the machine has decides about M: a vendor KVM module, or a `when`.
bool by_vendor(const ModuleSpec& m) {
  return is_vendor_module(m.name) || !m.when_vendors.empty();
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
  std::vector<std::string> parts;
  for (const auto& d : drift)
    parts.push_back(fmt::format("{} is {} (profile: {})", d.name, d.have, d.want));
  return join(parts, ", ");
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

// Why a vendor module is not needed here: another backend provides KVM. "" when none does.
std::string provided_by(const ModuleSpec& spec, const Facts& facts) {
  if (!is_vendor_module(spec.name) || facts.kvm_provider.empty()) return "";
  return fmt::format("not needed: KVM is provided by \"{}\"", facts.kvm_provider);
}

// An action of KIND on SPEC's module, with the profile's options, its id PREFIX + the name.
Action module_action(std::string_view prefix, ActionKind kind, const ModuleSpec& spec) {
  Action a{.id = std::string(prefix) + spec.name, .kind = kind, .target = spec.name};
  a.options = spec.options;
  return a;
}

// In a container the kernel is the host's: what it has loaded is visible, and the rest is for the
// host.
void plan_in_container(Action& load, const ModuleSpec& spec, const ModuleFacts& mf,
                       const std::vector<Drift>& drift, const Facts& facts,
                       const PlanOptions& options) {
  const std::string provider = provided_by(spec, facts);
  if (in_kernel(mf.state)) {
    load.status = Status::unchanged;
    load.detail = mf.state == ModuleState::live ? "loaded (by the host)" : "built into the kernel";
  } else if (!provider.empty()) {
    load.status = Status::unchanged;
    load.detail = provider;
  } else {
    load.status = Status::skipped;
    load.detail = fmt::format("{}: the host must load \"{}\" (modules belong to its kernel)",
                              not_live_reason(options), spec.name);
  }
  if (!drift.empty())
    load.detail += fmt::format("; {} (only the host can change that)", drift_text(drift));
}

// A loaded module whose options drift: reloaded only with --allow-reload and when nothing uses it.
Action reload_action(const ModuleSpec& spec, const ModuleFacts& mf, const std::vector<Drift>& drift,
                     const PlanOptions& options) {
  Action reload = module_action("reload:", ActionKind::reload_module, spec);
  const std::string what = fmt::format("\"{}\" is loaded with {}", spec.name, drift_text(drift));
  if (!options.allow_reload) {
    reload.status = Status::pending;
    reload.detail = what + "; reloading it needs --allow-reload (and no running guests)";
  } else if (mf.refcount > 0 || !mf.holders.empty()) {
    reload.status = Status::pending;
    reload.detail = fmt::format(
        "{}; not reloading: in use (refcount {}{}{}); stop its guests and run again", what,
        mf.refcount, mf.holders.empty() ? "" : ", holders: ", join(mf.holders, ", "));
  } else {
    reload.status = Status::changed;
    reload.detail = what + "; reloading";
  }
  return reload;
}

// A built-in module whose options drift: only the kernel command line can set them.
Action cmdline_action(const ModuleSpec& spec, const std::vector<Drift>& drift) {
  Action cmdline = module_action("cmdline:", ActionKind::kernel_cmdline, spec);
  std::vector<std::string> params;
  for (const auto& d : drift) params.push_back(fmt::format("{}.{}={}", spec.name, d.name, d.want));
  cmdline.status = Status::pending;
  cmdline.detail = fmt::format(
      "\"{}\" is built into the kernel and {}; add \"{}\" to the kernel command line and reboot",
      spec.name, drift_text(drift), join(params, " "));
  return cmdline;
}

// Why the absent module SPEC cannot be loaded here; nullopt when a load can work.
std::optional<std::string> cannot_load(const ModuleSpec& spec, const ModuleFacts& mf,
                                       const Facts& facts) {
  const std::string modules_dir = "/lib/modules/" + facts.kernel_release;
  if (!facts.modules_supported)
    return fmt::format(
        "kernel {} has no loadable-module support and does not have it built in (use a kernel with CONFIG_MODULES, or one with {} built in)",
        facts.kernel_release, spec.name);
  if (!mf.unknown_because.empty()) return mf.unknown_because;
  if (!mf.found) return explain_load_error(spec.name, ENOENT, facts.cpu, modules_dir, "");
  if (!mf.blacklisted_by.empty())
    return explain_load_error(spec.name, 0, facts.cpu, modules_dir, mf.blacklisted_by);
  if (facts.modules_disabled)
    return explain_load_error(spec.name, EPERM, facts.cpu, modules_dir, "");
  return std::nullopt;
}

// An absent module: loaded, unless another backend provides KVM or the load cannot work.
void plan_absent(Action& load, const ModuleSpec& spec, const ModuleFacts& mf, const Facts& facts) {
  if (std::string provider = provided_by(spec, facts); !provider.empty()) {
    load.status = Status::unchanged;
    load.detail = std::move(provider);
  } else if (auto why = cannot_load(spec, mf, facts)) {
    load.status = Status::failed;
    load.detail = fmt::format("cannot load \"{}\": {}", spec.name, *why);
  } else {
    load.status = Status::changed;
    load.detail = spec.options.empty() ? "load" : "load with" + options_text(spec.options);
  }
}

void plan_module(const ModuleSpec& spec, const Facts& facts, const PlanOptions& options,
                 Plan& plan) {
  const ModuleFacts& mf = facts_for(facts, spec.name);
  Action load = module_action("module:", ActionKind::load_module, spec);
  const std::vector<Drift> drift = option_drift(spec, mf);
  std::optional<Action> follow_up;  // a reload or the kernel command line, after the load
  if (options.scope == Scope::container && !options.live) {
    plan_in_container(load, spec, mf, drift, facts, options);
  } else if (!options.live) {
    load.status = Status::skipped;
    load.detail = not_live_reason(options) + ": kernel modules are left alone";
  } else if (in_kernel(mf.state)) {
    const bool live = mf.state == ModuleState::live;
    load.status = Status::unchanged;
    load.detail = live ? "loaded" : "built into the kernel";
    if (!drift.empty())
      follow_up = live ? reload_action(spec, mf, drift, options) : cmdline_action(spec, drift);
  } else if (mf.state == ModuleState::coming || mf.state == ModuleState::going) {
    load.status = Status::pending;
    load.detail = fmt::format("the kernel is {} \"{}\"; run again when it has settled",
                              mf.state == ModuleState::coming ? "loading" : "unloading", spec.name);
  } else {
    plan_absent(load, spec, mf, facts);
  }
  plan.actions.push_back(std::move(load));
  if (follow_up) plan.actions.push_back(std::move(*follow_up));
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
  if (in_kernel(mf.state)) return std::nullopt;
  if (std::string provider = provided_by(spec, facts); !provider.empty()) return provider;
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

// The vendors whose CPUs use the KVM module MODULE, in vendor.h's order.
std::vector<Vendor> vendors_of_module(std::string_view module) {
  std::vector<Vendor> out;
  for (const VendorInfo& row : known_vendors())
    if (row.kvm_module == module) out.push_back(row.vendor);
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
  if (!by_vendor(m)) return Fit::yes;
  // Vendor modules and vendors are x86's: another architecture's KVM is "kvm" itself. An image's
  // architecture is known from its programs even when its CPU is not.
  if (!is_x86(facts.cpu.arch)) {
    const std::string what =
        facts.arch_evidence.empty()
            ? fmt::format("this CPU is {}", arch_name(facts.cpu.arch))
            : fmt::format("the image is {} ({})", arch_name(facts.cpu.arch), facts.arch_evidence);
    *why = is_vendor_module(m.name)
               ? fmt::format("an x86 KVM module; {}, whose KVM needs no vendor module", what)
               : fmt::format("for {} CPUs (\"when\"); {}", vendors_text(m.when_vendors), what);
    return Fit::other_cpu;
  }
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
                       vendors_text(vendors_of_module(m.name)), cpu);
    return Fit::other_cpu;
  }
  return Fit::yes;
}

// The profile's modules, sorted by whether they are for this machine.
struct ModuleSort {
  std::vector<const ModuleSpec*> fit;     // for this host: loaded and persisted
  std::vector<const ModuleSpec*> unsure;  // an image's vendor modules: options only
  std::vector<Action> other_cpu;          // the others' load actions, skipped with why
  std::string options;                    // modprobe.d lines of every module not ruled out
};

ModuleSort sort_modules(const Profile& profile, const Facts& facts) {
  ModuleSort s;
  for (const ModuleSpec& m : profile.modules) {
    std::string why;
    const Fit fit = module_fit(m, facts, &why);
    if (fit == Fit::yes) s.fit.push_back(&m);
    if (fit == Fit::cpu_unknown) s.unsure.push_back(&m);
    // An image whose CPU is not known gets every vendor's options: a module that never loads
    // never reads them.
    if (fit != Fit::other_cpu && !m.options.empty())
      s.options += "options " + m.name + options_text(m.options) + "\n";
    if (fit != Fit::yes) {
      Action a{.id = "module:" + m.name, .kind = ActionKind::load_module, .target = m.name};
      a.status = Status::skipped;
      a.detail = why;
      s.other_cpu.push_back(std::move(a));
    }
  }
  return s;
}

// What the boot list holds: where it is kept, the modules it lists, and why the others are not.
struct BootList {
  PersistMode mode = PersistMode::none;
  std::vector<std::string> modules;
  std::string note;  // "not listing "a", "b": why; ..."
};

BootList boot_list(const Profile& profile, const Facts& facts, const PlanOptions& options,
                   const ModuleSort& sorted) {
  BootList list;
  // Modules left out, grouped by why.
  std::vector<std::pair<std::string, std::vector<std::string>>> left_out;
  for (const ModuleSpec* m : sorted.fit) {
    const std::optional<std::string> why = not_persistable(*m, facts, options);
    if (!why) {
      list.modules.push_back(m->name);
      continue;
    }
    auto it = std::find_if(left_out.begin(), left_out.end(),
                           [&](const auto& group) { return group.first == *why; });
    if (it == left_out.end()) it = left_out.insert(left_out.end(), {*why, {}});
    it->second.push_back("\"" + m->name + "\"");
  }
  if (!sorted.unsure.empty()) {
    std::vector<std::string> names;
    for (const ModuleSpec* m : sorted.unsure) names.push_back("\"" + m->name + "\"");
    left_out.emplace_back("the image's CPU is not known (see their load actions)", names);
  }
  list.mode = profile.persist;
  if (list.mode == PersistMode::automatic)
    list.mode = facts.systemd ? PersistMode::modules_load_d : PersistMode::etc_modules;
  if (list.modules.empty()) list.mode = PersistMode::none;
  std::vector<std::string> notes;
  for (const auto& [why, names] : left_out)
    notes.push_back(fmt::format("not listing {}: {}", join(names, ", "), why));
  list.note = join(notes, "; ");
  return list;
}

// /etc/modules is shared: kvmprov's block is set or removed, every other byte stays.
void plan_etc_modules(const Profile& profile, const Facts& facts, const BootList& list,
                      Plan& plan) {
  const bool listed_here = list.mode == PersistMode::etc_modules;
  // A copy: a reference returned for a temporary path argument looks dangling to GCC 14.
  const FileFacts etc = file_facts(facts, kEtcModules);
  const std::optional<std::string>& before = etc.content;
  FileChange change{.shared = true, .note = listed_here ? list.note : ""};
  std::optional<std::string> after = before;
  if (listed_here || before) {
    auto edited = listed_here ? set_managed_block(before.value_or(""), profile, list.modules)
                              : remove_managed_block(*before);
    if (edited)
      after = std::move(*edited);
    else
      change.error = edited.error().message;
  }
  if (listed_here) {
    for (const auto& d : duplicates_outside_block(before.value_or(""), list.modules))
      change.note += fmt::format("{}\"{}\" is also listed outside kvmprov's block, left as is",
                                 change.note.empty() ? "" : "; ", d);
  }
  if (listed_here || after != before || !etc.read_error.empty() || !change.error.empty())
    plan_file(plan, kEtcModules, etc, after, change);
}

}  // namespace

bool same_param_value(std::string_view have, std::string_view want) {
  return normalise_param(have) == normalise_param(want);
}

bool depends_on_cpu_vendor(const Profile& profile) {
  return std::any_of(profile.modules.begin(), profile.modules.end(), by_vendor);
}

std::vector<const ModuleSpec*> modules_for_host(const Profile& profile, const Facts& facts) {
  return sort_modules(profile, facts).fit;
}

void plan_modules(const Profile& profile, const Facts& facts, const PlanOptions& options,
                  Plan& plan) {
  const std::string header = managed_header(profile);
  ModuleSort sorted = sort_modules(profile, facts);
  // Options first, so that anything loading a module after us sees them.
  plan_file(plan, kModprobeConf, file_facts(facts, kModprobeConf),
            sorted.options.empty() ? std::nullopt : std::optional(header + sorted.options));
  for (const ModuleSpec* m : sorted.fit) plan_module(*m, facts, options, plan);
  for (Action& a : sorted.other_cpu) plan.actions.push_back(std::move(a));

  const BootList list = boot_list(profile, facts, options, sorted);
  std::optional<std::string> load_d;
  if (list.mode == PersistMode::modules_load_d) {
    std::string body = header;
    for (const auto& n : list.modules) body += n + "\n";
    load_d = body;
  }
  plan_file(plan, kModulesLoadConf, file_facts(facts, kModulesLoadConf), load_d,
            {.note = list.mode == PersistMode::modules_load_d ? list.note : ""});
  plan_etc_modules(profile, facts, list, plan);
}

}  // namespace kvmprov
