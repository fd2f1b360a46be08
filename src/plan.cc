// SPDX-License-Identifier: MIT
// make_plan() runs the planners over (profile, facts) without any I/O, so every decision can be
// tested on plain data; make_reset_plan() plans what reset undoes.
#include "plan.h"

#include "persist.h"
#include "udev_rules.h"

namespace kvmprov {

Plan make_plan(const Profile& profile, const Facts& facts, const PlanOptions& options) {
  Plan plan;
  // One action for each module, and a few for the files, groups and nodes: no regrowth on the way.
  plan.actions.reserve(profile.modules.size() + 4 * profile.devices.size() + 16);
  plan_modules(profile, facts, options, plan);
  plan_devices(profile, facts, options, plan);
  plan_nova(profile, facts, options, plan);
  return plan;
}

Plan make_reset_plan(const Facts& facts) {
  Plan plan;
  // observe_devices reads the udev rules file into facts.files.
  for (const char* path : {kModprobeConf, kModulesLoadConf, kUdevRulesFile}) {
    const FileFacts f = file_facts(facts, path);
    if (!f.content && f.read_error.empty()) {
      Action a{.id = "file:" + std::string(path), .kind = ActionKind::remove_file, .target = path};
      a.detail = "absent";
      plan.actions.push_back(std::move(a));
      continue;
    }
    plan_file(plan, path, f, std::nullopt);
    if (Action& a = plan.actions.back(); a.status == Status::changed)
      a.detail = "kvmprov's own file";
  }
  // /etc/modules is shared: only kvmprov's block goes, every other byte stays.
  const FileFacts etc = file_facts(facts, kEtcModules);
  if (!etc.content && etc.read_error.empty()) {
    Action a{.id = "file:" + std::string(kEtcModules),
             .kind = ActionKind::write_file,
             .target = kEtcModules};
    a.detail = "absent";
    plan.actions.push_back(std::move(a));
    return plan;
  }
  FileChange change{.shared = true};
  std::optional<std::string> after;
  if (etc.content) {
    auto edited = remove_managed_block(*etc.content);
    if (edited)
      after = std::move(*edited);
    else
      change.error = edited.error().message;
  }
  plan_file(plan, kEtcModules, etc, after, change);
  Action& a = plan.actions.back();
  if (a.status == Status::unchanged) a.detail = "no kvmprov block";
  if (a.status == Status::changed) a.detail = "remove kvmprov's block, keep the rest";
  return plan;
}

}  // namespace kvmprov
