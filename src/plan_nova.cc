// SPDX-License-Identifier: MIT
// OpenStack Compute: which virt_type nova gets (KVM when check says it works, else plain QEMU),
// whether the custom CPU models exist and can run here, and the nova.conf edit that says so.
#include "plan_nova.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "cpu_map.h"
#include "persist.h"
#include "util/text.h"

namespace kvmprov {

namespace {

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
          "auto: {} says {} now, and this run loads the KVM modules first; nova.conf is not written if a load fails",
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
        "auto: an image's KVM cannot be probed (--root): assuming kvm; --fact kvm_usable=false writes qemu";
  } else {
    a.status = Status::pending;
    a.detail = "auto: no KVM verdict was made on this run";
  }
  a.target = t.virt_type.empty() ? "?" : t.virt_type;
  return a;
}

// What A (nova:cpu_mode) says of a mode other than custom: whether guests can start with it,
// given the VIRT_TYPE decided for nova ("" when it is not decided yet).
void check_named_cpu_mode(const NovaSpec& spec, NovaCpuMode mode, const std::string& virt_type,
                          bool arm64, Action& a) {
  switch (mode) {
    case NovaCpuMode::host_model:
      if (arm64) {
        a.status = Status::failed;
        a.detail =
            "libvirt has no host-model on aarch64 (no CPU map model describes an arm64 host CPU), so nova-compute could not start guests: use host-passthrough (nova's default on aarch64) or custom with an arm model from libvirt's CPU map";
        return;
      }
      a.detail = "libvirt picks the CPU map model closest to this CPU and adds its extra features";
      return;
    case NovaCpuMode::host_passthrough:
      // Measured: libvirt 9.0's domain capabilities for TCG say host-passthrough supported='no'
      // (tests/data/libvirt/intel-domcapabilities-qemu.xml); QEMU has no host CPU to pass.
      if (virt_type == "qemu") {
        a.status = Status::failed;
        a.detail = fmt::format(
            "libvirt has no host-passthrough without KVM (virt_type qemu: QEMU emulates the CPU){}, so nova-compute could not start guests: {}",
            spec.cpu_mode
                ? ""
                : "; it is nova's own default on aarch64, as the profile sets no cpu_mode",
            arm64
                ? "set cpu_mode custom with an arm model from libvirt's CPU map (cortex-a57, ...), or make KVM usable"
                : "use host-model (or custom with a model), or make KVM usable");
        return;
      }
      a.detail =
          "warning: guests see this host's CPU exactly; live migration then needs hosts with identical CPUs (model, stepping and microcode)";
      if (!spec.cpu_mode)
        a.detail +=
            "; nova's own default on aarch64, where libvirt has no host-model (the profile sets no cpu_mode)";
      return;
    case NovaCpuMode::none:
      a.detail = "QEMU's default CPU model";
      return;
    case NovaCpuMode::custom:
      return;
  }
}

// Whether guests can start with cpu_mode MODE, given the VIRT_TYPE decided for nova ("" when
// it is not decided yet): for custom, whether libvirt knows the models and this CPU runs them.
Action check_cpu_mode(const NovaSpec& spec, NovaCpuMode mode, const std::string& virt_type,
                      const Facts& facts, const PlanOptions& options) {
  Action a{.id = "nova:cpu_mode", .kind = ActionKind::nova_cpu_mode};
  a.target = std::string(nova_cpu_mode_name(mode));
  a.status = Status::unchanged;
  a.nova.cpu_mode = a.target;
  a.nova.cpu_models = spec.cpu_models;
  const bool arm64 = facts.cpu.arch == CpuArch::arm64;
  if (mode != NovaCpuMode::custom) {
    check_named_cpu_mode(spec, mode, virt_type, arm64, a);
    return a;
  }
  a.target += " " + join(spec.cpu_models, ",");
  if (!facts.nova.cpu_map) {
    a.status = Status::failed;
    a.detail = fmt::format("cannot check the CPU models{}: {}",
                           options.live ? "" : " in the image (--root)", facts.nova.cpu_map_error);
    return a;
  }
  const CpuMap& map = *facts.nova.cpu_map;
  // Under --root the CPU here is the build machine's, not the target's. libvirt's arm models
  // list no features: there is nothing to compare.
  const bool compare =
      (options.live || overridden(facts, "cpu_flags")) && !facts.cpu.flags.empty() && !arm64;
  std::vector<std::string> problems, notes;
  for (const auto& model : spec.cpu_models) {
    ModelCheck c = check_cpu_model(map, model, facts.cpu.flags);
    if (!c.found) {
      problems.push_back(fmt::format(
          "unknown CPU model \"{}\" (not in {}'s {} models){}", model, map.source, map.arch,
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
  a.detail = fmt::format(
      "{} in {}{}", spec.cpu_models.size() == 1 ? "known" : "all known", map.source,
      compare ? "; this CPU has every feature they need"
      : arm64 ? "; features not compared: libvirt's arm models list none"
      : !facts.cpu_known || (!options.live && !overridden(facts, "cpu_flags"))
          ? "; features not compared: --root is not the target's CPU (give --fact cpu_flags=...)"
          : "; features not compared: this CPU's flags are unknown");
  if (!notes.empty()) a.detail += "; " + join(notes, "; ");
  return a;
}

// A package's defaults under /usr (RDO's nova-dist.conf) are replaced on every upgrade and are
// read-only on image-based systems: kvmprov reads them and never writes them.
bool package_default(const std::string& path) {
  return path.starts_with("/usr/");
}

struct NovaFileChange {
  std::vector<IniSetting> edits;
  std::optional<std::string> after;
  std::vector<std::string> decides;  // "[libvirt] virt_type": the keys nova-compute takes from here
  std::vector<std::string> removes;
  std::string problem;  // why this file keeps a line nova-compute must not read
};

struct NovaConvergence {
  std::vector<std::string> paths;  // each file once, in the order nova-compute first reads it
  std::map<std::string, NovaFileChange> files;
};

// Where each managed key is converged. nova-compute takes a key from the last file that sets it
// (ORDER is oslo.config's), so the key is set in that file: the file that decides keeps deciding,
// the one-line change lands where an operator or a package put the value (Debian's
// nova-compute.conf from nova-compute-kvm or -qemu is corrected in place, not silently defeated
// from nova.conf), and no line anyone wrote is deleted. A key no file sets is added to MAIN. Only
// a package's default under /usr is never written: a key it decides wrongly is set in MAIN, which
// must be read after it. A key to remove goes from every file that sets it.
NovaConvergence converge_nova(const std::vector<std::string>& order, const std::string& main,
                              const std::vector<IniSetting>& settings, const Facts& facts) {
  NovaConvergence c;
  std::map<std::string, std::size_t> last_read;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (!last_read.count(order[i])) c.paths.push_back(order[i]);
    last_read[order[i]] = i;
  }
  const auto content = [&](const std::string& path) -> const std::optional<std::string>& {
    return file_facts(facts, path).content;
  };
  const auto sets = [&](const std::optional<std::string>& text, const IniSetting& s) {
    return text && ini_get(*text, s.section, s.key).has_value();
  };
  const auto add_problem = [&](const std::string& path, const std::string& problem) {
    std::string& p = c.files[path].problem;
    p += (p.empty() ? "" : "; ") + problem;
  };
  for (const auto& s : settings) {
    const std::string label = "[" + s.section + "] " + s.key;
    if (!s.value) {
      for (const auto& path : c.paths) {
        if (!sets(content(path), s)) continue;
        if (package_default(path)) {
          add_problem(
              path,
              fmt::format(
                  "sets {}, which must go, and kvmprov does not write a package's file under /usr: remove it there",
                  label));
        } else {
          c.files[path].edits.push_back(s);
          c.files[path].removes.push_back(label);
        }
      }
      continue;
    }
    std::optional<std::string> winner;
    for (auto it = order.rbegin(); it != order.rend() && !winner; ++it)
      if (sets(content(*it), s)) winner = *it;
    if (winner && package_default(*winner) &&
        ini_get(*content(*winner), s.section, s.key) == s.value)
      continue;  // already what nova-compute reads
    if (winner && package_default(*winner) && last_read[main] < last_read[*winner]) {
      add_problem(
          *winner,
          fmt::format(
              "decides {} and is read after \"{}\", and kvmprov does not write a package's file under /usr: set it in a file read later",
              label, main));
      continue;
    }
    c.files[winner && !package_default(*winner) ? *winner : main].edits.push_back(s);
  }
  for (const auto& path : c.paths) {
    NovaFileChange& f = c.files[path];
    f.after = content(path);
    if (f.after && !f.edits.empty()) f.after = ini_apply(*f.after, f.edits);
  }
  for (const auto& s : settings) {
    if (!s.value) continue;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      if (!sets(c.files[*it].after, s)) continue;
      c.files[*it].decides.push_back("[" + s.section + "] " + s.key);
      break;
    }
  }
  return c;
}

// Why no file may be written even though its own edit is fine, or "" when they may: the CPU mode
// cannot work here, the CPU models are wrong or cannot be checked (CHECKED is nova:cpu_mode's
// status, MODE the one planned), or part of what
// nova-compute reads (PATHS, a directory) could not be read.
std::string why_not_written(Status checked, NovaCpuMode mode, const Facts& facts,
                            const PlanOptions& options, const std::vector<std::string>& paths) {
  if (checked == Status::failed && mode != NovaCpuMode::custom)
    return fmt::format("not written: guests cannot start with cpu_mode {} here (see nova:cpu_mode)",
                       nova_cpu_mode_name(mode));
  if (checked == Status::failed && facts.nova.cpu_map)
    return "not written: the CPU models are wrong (see nova:cpu_mode)";
  if (checked == Status::failed) {
    const std::string map = !facts.nova.cpu_map_missing ? "the libvirt CPU map cannot be used"
                            : options.live              ? "no libvirt CPU map"
                                           : "no libvirt CPU map in the image (--root)";
    return "not written: the CPU models cannot be checked: " + map + " (see nova:cpu_mode)";
  }
  const std::string prefix = "not written: what nova-compute reads is not known whole: ";
  if (!facts.nova.config_errors.empty()) return prefix + facts.nova.config_errors.front();
  for (const auto& path : paths)
    if (const FileFacts& f = file_facts(facts, path); !f.read_error.empty())
      return prefix + f.read_error;
  return "";
}

// What every file action of plan_nova shares.
struct NovaFiles {
  std::string main;                      // nova_main_config: the file keys no other file sets go to
  std::vector<IniSetting> settings;      // what nova-compute must read
  std::string what;                      // "virt_type=kvm, cpu_mode=host-model", for nova.conf
  NovaTarget target;                     // the decisions, in every file action
  std::vector<std::string> requires_ok;  // the module loads a predicted "kvm" depends on

  Action action(const std::string& path) const {
    Action file{.id = "file:" + path, .kind = ActionKind::write_file, .target = path};
    file.shared = kNovaConfWrite.keep_owner;
    file.safe_dirs = kNovaConfWrite.safe_dirs;
    file.requires_ok = requires_ok;
    file.nova = target;
    return file;
  }

  // Reports show the managed keys only: the rest of nova's files holds passwords.
  void show(Action& file) const {
    if (file.before) file.shown_before = ini_excerpt(*file.before, settings);
    if (file.after) file.shown_after = ini_excerpt(*file.after, settings);
  }
};

// nova.conf when nothing is written: it cannot be read, it does not exist, or no virt_type was
// decided (DECISION says why).
Action main_not_written(const NovaFiles& nf, const FileFacts& conf, const std::string& decision) {
  Action file = nf.action(nf.main);
  if (!conf.read_error.empty()) {
    file.status = Status::failed;
    file.detail = conf.read_error;
  } else if (!conf.content) {
    // kvmprov edits nova's file; it does not invent one without the package's other settings.
    file.status = Status::pending;
    file.detail = "nova.conf not found: install nova-compute first, then run again";
  } else {
    file.status = Status::pending;
    file.detail = "not written: " + decision;
    file.before = file.after = conf.content;
    nf.show(file);
  }
  return file;
}

// The action for PATH, one of the files nova-compute reads, edited as CHANGE says; nullopt for
// one that neither changes nor decides a key and has nothing wrong. NOT_WRITTEN: why no file may
// be written (see why_not_written), or "".
std::optional<Action> file_action(const NovaFiles& nf, const std::string& path, const FileFacts& f,
                                  const NovaFileChange& change, const std::string& not_written) {
  const bool is_main = path == nf.main;
  const bool changes = change.after != f.content;
  if (!is_main && !changes && change.decides.empty() && f.read_error.empty() &&
      change.problem.empty())
    return std::nullopt;
  Action file = nf.action(path);
  file.nova.decides = change.decides;
  file.before = f.content;
  file.after = change.after;
  std::vector<std::string> keys;
  if (!change.decides.empty()) keys.push_back("decides " + join(change.decides, ", "));
  if (!change.removes.empty()) keys.push_back("removes " + join(change.removes, ", "));
  if (!f.read_error.empty()) {
    file.status = Status::failed;
    file.detail = f.read_error;
  } else if (!change.problem.empty()) {
    file.status = Status::failed;
    file.detail = change.problem;
  } else if (!not_written.empty() && (changes || is_main)) {
    file.status = Status::failed;
    file.detail = not_written;
  } else if (!changes) {
    file.status = Status::unchanged;
    file.detail = is_main ? join({"up to date (" + nf.what + ")", join(keys, "; ")}, "; ")
                          : "up to date: " + join(keys, "; ");
  } else if (!f.write_refusal.empty()) {
    file.status = Status::failed;
    file.detail = f.write_refusal;
  } else {
    file.status = Status::changed;
    file.detail = "update: " + join({is_main ? nf.what : "", join(keys, "; ")}, "; ") +
                  "; owner, group and mode kept";
  }
  nf.show(file);
  return file;
}

}  // namespace

NovaCpuMode nova_cpu_mode_for(const NovaSpec& spec, CpuArch arch) {
  if (spec.cpu_mode) return *spec.cpu_mode;
  return arch == CpuArch::arm64 ? NovaCpuMode::host_passthrough : NovaCpuMode::host_model;
}

std::vector<IniSetting> nova_settings(const NovaSpec& spec, NovaCpuMode cpu_mode,
                                      const std::string& virt_type) {
  const bool custom = cpu_mode == NovaCpuMode::custom;
  const std::string mode(nova_cpu_mode_name(cpu_mode));
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
  NovaFiles nf;
  Action vt = decide_virt_type(spec, facts, options, plan, nf.requires_ok);
  const NovaCpuMode mode = nova_cpu_mode_for(spec, facts.cpu.arch);
  Action cpu = check_cpu_mode(spec, mode, vt.nova.virt_type, facts, options);
  cpu.nova.virt_type = vt.nova.virt_type;
  nf.main = nova_main_config(spec);
  nf.settings = nova_settings(spec, mode, vt.nova.virt_type);
  nf.what =
      fmt::format("virt_type={}, cpu_mode={}{}",
                  vt.nova.virt_type.empty() ? "?" : vt.nova.virt_type, cpu.nova.cpu_mode,
                  spec.cpu_models.empty() ? "" : ", cpu_models=" + join(spec.cpu_models, ","));
  nf.target = vt.nova;
  nf.target.cpu_mode = cpu.nova.cpu_mode;
  nf.target.cpu_models = spec.cpu_models;
  const Status decided = vt.status, checked = cpu.status;
  const std::string decision = vt.detail;
  plan.actions.push_back(std::move(vt));
  plan.actions.push_back(std::move(cpu));

  const FileFacts& conf = file_facts(facts, nf.main);
  if (!conf.read_error.empty() || !conf.content || decided != Status::unchanged) {
    plan.actions.push_back(main_not_written(nf, conf, decision));
    return;
  }
  NovaConvergence c = converge_nova(facts.nova.config_files, nf.main, nf.settings, facts);
  const std::string not_written = why_not_written(checked, mode, facts, options, c.paths);
  for (const auto& path : c.paths) {
    if (auto file = file_action(nf, path, file_facts(facts, path), c.files[path], not_written))
      plan.actions.push_back(std::move(*file));
  }
}

}  // namespace kvmprov
