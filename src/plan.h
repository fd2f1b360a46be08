// SPDX-License-Identifier: MIT
// Observation and the pure planner: (Profile, Facts) -> Plan, a printable list of actions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "action.h"
#include "facts.h"
#include "host.h"
#include "observe.h"
#include "persist.h"
#include "profile.h"

namespace kvmprov {

struct PlanOptions {
  bool live = true;            // kernel and device actions allowed (Scope::running_system)
  bool allow_reload = false;   // --allow-reload
  Scope scope = Scope::image;  // why not, when not live
  std::string container;       // Scope::container: which ("docker", "lxc", ...)
};

// Why kernel and device actions are not taken ("not the running system (--root)", "running in a
// chroot", "in a container (docker)"); "" when they are.
std::string not_live_reason(const PlanOptions& options);

// How plan_file plans one file.
struct FileChange {
  unsigned mode = 0644;
  bool shared = false;  // see Action::shared
  std::string note;     // added to the detail
  std::string why_removed = "no longer needed by the profile";
  std::string error;  // why the new content could not be made: the action fails with it
};

// A write_file or remove_file action taking PATH from what FACTS saw to AFTER (nullopt: absent),
// or none when both are absent. A file that could not be read is never taken for an absent one:
// the action fails naming the file and the cause; so does one apply would refuse to replace or
// remove (a symlink, a directory, a FIFO), so that plan predicts every refusal of apply.
void plan_file(Plan& plan, const std::string& path, const FileFacts& facts,
               const std::optional<std::string>& after, const FileChange& how = {});
// What observe saw of PATH; an absent file when it was not observed.
const FileFacts& file_facts(const Facts& facts, const std::string& path);

// Whether which modules PROFILE loads depends on the CPU's vendor (a vendor KVM module, or a
// module with `when: cpu_vendor`): an image whose CPU is not known is then planned for any vendor.
bool depends_on_cpu_vendor(const Profile& profile);

// Decides, without I/O, what apply must do.
Plan make_plan(const Profile& profile, const Facts& facts, const PlanOptions& options);

// Decides, without I/O, what `reset` must do: remove every file kvmprov owns and its block in
// /etc/modules, nothing else. Loaded modules and groups stay as they are.
Plan make_reset_plan(const Facts& facts);

// The modules of PROFILE that apply to this CPU vendor (vendor modules of other vendors and
// `when` mismatches are left out).
std::vector<const ModuleSpec*> modules_for_host(const Profile& profile, const Facts& facts);

// Whether a module parameter as sysfs shows it (HAVE, e.g. "Y\n") is the profile's value (WANT,
// e.g. "1"): booleans compare as Y/N = 1/0 = true/false, trailing whitespace is ignored.
bool same_param_value(std::string_view have, std::string_view want);

}  // namespace kvmprov
