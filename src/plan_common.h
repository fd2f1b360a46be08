// SPDX-License-Identifier: MIT
// What every planner shares: the options of the run (live or not, and why not) and how one file
// is planned from what observe saw of it. Pure: nothing here takes a Host.
#pragma once

#include <optional>
#include <string>

#include "action.h"
#include "facts.h"
#include "scope.h"

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

}  // namespace kvmprov
