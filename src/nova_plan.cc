// SPDX-License-Identifier: MIT
// OpenStack Compute: which virt_type nova gets (KVM when check says it works, else plain QEMU),
// whether the custom CPU models exist and can run here, and the nova.conf edit that says so.
#include <fmt/format.h>

#include <algorithm>

#include "check.h"
#include "cpu_map.h"
#include "nova.h"
#include "text.h"

namespace kvmprov {

namespace {

// nova.conf is nova's: kvmprov keeps its owner, group and mode, and accepts the directory
// Debian's dbconfig-common gives it (/etc/nova nova:nova 0770).
constexpr WriteOptions kNovaConfWrite{.keep_owner = true, .safe_dirs = false};

bool overridden(const Facts& facts, std::string_view key) {
  return std::find(facts.overridden.begin(), facts.overridden.end(), key) != facts.overridden.end();
}

// The virt_type decision. REQUIRES gets the module loads a predicted "kvm" depends on.
Action decide_virt_type(const NovaSpec& spec, const Facts& facts, const PlanOptions& options,
                        const Plan& plan, std::vector<std::string>& requires_ok) {
  Action a{.id = "nova:virt_type", .kind = ActionKind::nova_virt_type};
  a.status = Status::unchanged;
  NovaTarget& t = a.nova;
  if (spec.virt_type != NovaVirtType::automatic) {
    t.virt_type = std::string(nova_virt_type_name(spec.virt_type));
    t.source = "profile";
    a.detail = "set by the profile";
  } else if (facts.nova.kvm) {
    const KvmVerdict& k = *facts.nova.kvm;
    t.reason = k.reason;
    t.source = k.source;
    std::vector<std::string> loads;
    bool load_fails = false;
    for (const auto& p : plan.actions) {
      if (p.kind != ActionKind::load_module) continue;
      if (p.status == Status::changed) loads.push_back(p.id);
      if (p.status == Status::failed) load_fails = true;
    }
    if (k.usable) {
      t.virt_type = "kvm";
      a.detail = fmt::format("auto: KVM is usable ({} {})", k.source, k.reason);
    } else if ((k.reason == "module-not-loaded" || k.reason == "no-device-node") &&
               !loads.empty() && !load_fails) {
      // Writing qemu now and kvm on the next run would make every first run wrong.
      t.virt_type = "kvm";
      requires_ok = loads;
      a.detail = fmt::format(
          "auto: {} says {} now, and this run loads the KVM modules first; nova.conf is not "
          "written if a load fails",
          k.source, k.reason);
    } else {
      t.virt_type = "qemu";
      a.detail = fmt::format("auto: KVM is not usable here ({} {}){}; falling back to plain QEMU",
                             k.source, k.reason, k.advice.empty() ? "" : ": " + k.advice);
    }
  } else if (!options.live) {
    t.virt_type = "kvm";
    t.source = "--root";
    a.detail =
        "auto: an image's KVM cannot be probed (--root): assuming kvm; --fact kvm_usable=false "
        "writes qemu";
  } else {
    a.status = Status::pending;
    a.detail = "auto: no KVM verdict was made on this run";
  }
  a.target = t.virt_type.empty() ? "?" : t.virt_type;
  return a;
}

Action check_cpu_mode(const NovaSpec& spec, const Facts& facts, const PlanOptions& options) {
  Action a{.id = "nova:cpu_mode", .kind = ActionKind::nova_cpu_mode};
  a.target = std::string(nova_cpu_mode_name(spec.cpu_mode));
  a.status = Status::unchanged;
  a.nova.cpu_mode = a.target;
  a.nova.cpu_models = spec.cpu_models;
  switch (spec.cpu_mode) {
    case NovaCpuMode::host_model:
      a.detail = "libvirt picks the CPU map model closest to this CPU and adds its extra features";
      return a;
    case NovaCpuMode::host_passthrough:
      a.detail =
          "warning: guests see this host's CPU exactly; live migration then needs hosts with "
          "identical CPUs (model, stepping and microcode)";
      return a;
    case NovaCpuMode::none:
      a.detail = "QEMU's default CPU model";
      return a;
    case NovaCpuMode::custom:
      break;
  }
  a.target += " " + join(spec.cpu_models, ",");
  if (!facts.nova.cpu_map) {
    a.status = Status::failed;
    a.detail = "cannot check the CPU models: " + facts.nova.cpu_map_error;
    return a;
  }
  const CpuMap& map = *facts.nova.cpu_map;
  // Under --root the CPU here is the build machine's, not the target's.
  const bool compare = (options.live || overridden(facts, "cpu_flags")) && !facts.cpu.flags.empty();
  std::vector<std::string> problems, notes;
  for (const auto& model : spec.cpu_models) {
    ModelCheck c = check_cpu_model(map, model, facts.cpu.flags);
    if (!c.found) {
      problems.push_back(fmt::format(
          "unknown CPU model \"{}\" (not in {}){}", model, map.source,
          c.suggestion.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", c.suggestion)));
      continue;
    }
    if (compare && !c.missing.empty()) {
      problems.push_back(
          fmt::format("this CPU cannot run \"{}\": it lacks {}", model, join(c.missing, ", ")));
      a.nova.missing_features.push_back(model + ": " + join(c.missing, " "));
    }
    if (!c.unchecked.empty())
      notes.push_back(fmt::format("\"{}\" also needs {} (not shown in /proc/cpuinfo, not checked)",
                                  model, join(c.unchecked, ", ")));
  }
  if (!problems.empty()) {
    a.status = Status::failed;
    a.detail = join(problems, "; ");
    return a;
  }
  a.detail =
      fmt::format("{} in {}{}", spec.cpu_models.size() == 1 ? "known" : "all known", map.source,
                  compare ? "; this CPU has every feature they need"
                  : !facts.cpu_known || (!options.live && !overridden(facts, "cpu_flags"))
                      ? "; features not compared: --root is not the target's CPU (give --fact "
                        "cpu_flags=...)"
                      : "; features not compared: this CPU's flags are unknown");
  if (!notes.empty()) a.detail += "; " + join(notes, "; ");
  return a;
}

}  // namespace

void observe_nova(Host& host, const Profile& profile, Facts& f) {
  if (!profile.nova) return;
  const NovaSpec& spec = *profile.nova;
  f.files[spec.config] = observe_file(host, spec.config, kNovaConfWrite);
  if (spec.cpu_mode != NovaCpuMode::custom) return;
  auto map = load_cpu_map(spec.cpu_map, [&](const std::string& p) { return host.read_file(p); });
  if (map)
    f.nova.cpu_map = std::move(*map);
  else
    f.nova.cpu_map_error = map.error().message;
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

std::vector<IniSetting> nova_settings(const NovaSpec& spec, const std::string& virt_type) {
  const bool custom = spec.cpu_mode == NovaCpuMode::custom;
  const std::string mode(nova_cpu_mode_name(spec.cpu_mode));
  std::vector<IniSetting> s = {
      {"DEFAULT", "compute_driver", "libvirt.LibvirtDriver"},
      {"libvirt", "virt_type", virt_type},
      {"libvirt", "cpu_mode", mode},
      {"libvirt", "cpu_models", custom ? std::optional(join(spec.cpu_models, ",")) : std::nullopt},
      // The deprecated name of cpu_models: nova reads it when cpu_models is absent.
      {"libvirt", "cpu_model", std::nullopt},
  };
  if (spec.legacy_option_names) {
    s.push_back({"DEFAULT", "libvirt_type", virt_type});
    s.push_back({"DEFAULT", "libvirt_cpu_mode", mode});
    // The pre-Grizzly option named a single model.
    s.push_back({"DEFAULT", "libvirt_cpu_model",
                 custom ? std::optional(spec.cpu_models.front()) : std::nullopt});
  }
  return s;
}

void plan_nova(const Profile& profile, const Facts& facts, const PlanOptions& options, Plan& plan) {
  if (!profile.nova) return;
  const NovaSpec& spec = *profile.nova;
  std::vector<std::string> requires_ok;
  Action vt = decide_virt_type(spec, facts, options, plan, requires_ok);
  Action cpu = check_cpu_mode(spec, facts, options);
  cpu.nova.virt_type = vt.nova.virt_type;

  Action file{.id = "file:" + spec.config, .kind = ActionKind::write_file, .target = spec.config};
  file.shared = kNovaConfWrite.keep_owner;
  file.safe_dirs = kNovaConfWrite.safe_dirs;
  file.requires_ok = requires_ok;
  file.nova = vt.nova;
  file.nova.cpu_mode = cpu.nova.cpu_mode;
  file.nova.cpu_models = spec.cpu_models;
  const std::string what =
      fmt::format("virt_type={}, cpu_mode={}{}",
                  vt.nova.virt_type.empty() ? "?" : vt.nova.virt_type, cpu.nova.cpu_mode,
                  spec.cpu_models.empty() ? "" : ", cpu_models=" + join(spec.cpu_models, ","));
  const FileFacts& conf = file_facts(facts, spec.config);
  const std::vector<IniSetting> settings = nova_settings(spec, vt.nova.virt_type);
  if (!conf.read_error.empty()) {
    file.status = Status::failed;
    file.detail = conf.read_error;
  } else if (!conf.content) {
    // kvmprov edits nova's file; it does not invent one without the package's other settings.
    file.status = Status::pending;
    file.detail = "nova.conf not found: install nova-compute first, then run again";
  } else {
    file.before = conf.content;
    if (vt.status == Status::unchanged) file.after = ini_apply(*conf.content, settings);
    if (vt.status != Status::unchanged) {
      file.status = Status::pending;
      file.detail = "not written: " + vt.detail;
      file.after = file.before;
    } else if (cpu.status == Status::failed) {
      file.status = Status::failed;
      file.detail = "not written: the CPU models are wrong (see nova:cpu_mode)";
    } else if (file.before == file.after) {
      file.status = Status::unchanged;
      file.detail = "up to date (" + what + ")";
    } else if (!conf.write_refusal.empty()) {
      file.status = Status::failed;
      file.detail = conf.write_refusal;
    } else {
      file.status = Status::changed;
      file.detail = "update: " + what + "; owner, group and mode kept";
    }
    // Reports show the managed keys only: the rest of nova.conf holds passwords.
    file.shown_before = ini_excerpt(*file.before, settings);
    file.shown_after = ini_excerpt(*file.after, settings);
  }
  plan.actions.push_back(std::move(vt));
  plan.actions.push_back(std::move(cpu));
  plan.actions.push_back(std::move(file));
}

}  // namespace kvmprov
