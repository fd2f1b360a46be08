// SPDX-License-Identifier: MIT
// The planners' shared steps: why a run leaves the kernel alone, and one file planned from its
// observed content to the content the profile wants.
#include "plan_common.h"

#include "persist.h"

namespace kvmprov {

std::string not_live_reason(const PlanOptions& options) {
  if (options.live) return "";
  switch (options.scope) {
    case Scope::chroot:
      return "running in a chroot";
    case Scope::container:
      return "in a container (" + (options.container.empty() ? "unknown" : options.container) + ")";
    case Scope::running_system:
    case Scope::image:
      break;
  }
  return "not the running system (--root)";
}

void plan_file(Plan& plan, const std::string& path, const FileFacts& facts,
               const std::optional<std::string>& after, const FileChange& how) {
  const std::optional<std::string>& before = facts.content;
  Action a{.id = "file:" + path, .target = path};
  a.mode = how.mode;
  a.shared = how.shared;
  a.kind = after || how.shared ? ActionKind::write_file : ActionKind::remove_file;
  const auto fail = [&](const std::string& why) {
    a.status = Status::failed;
    a.detail = why;
    plan.actions.push_back(std::move(a));
  };
  if (!facts.read_error.empty()) return fail(facts.read_error);
  if (!how.error.empty()) return fail(how.error);
  if (!before && !after) return;
  a.before = before;
  a.after = after;
  if (how.shared) {
    a.shown_before = before ? std::optional(managed_block_excerpt(*before)) : std::nullopt;
    a.shown_after = after ? std::optional(managed_block_excerpt(*after)) : std::nullopt;
  }
  if (before == after) {
    a.status = Status::unchanged;
    a.detail = "up to date";
  } else if (after && !facts.write_refusal.empty()) {
    return fail(facts.write_refusal);
  } else if (!after && !facts.remove_refusal.empty()) {
    return fail(facts.remove_refusal);
  } else {
    a.status = Status::changed;
    a.detail = !after ? "remove: " + how.why_removed : before ? "update" : "create";
  }
  if (!how.note.empty()) a.detail += "; " + how.note;
  plan.actions.push_back(std::move(a));
}

const FileFacts& file_facts(const Facts& facts, const std::string& path) {
  static const FileFacts kAbsent;
  auto it = facts.files.find(path);
  return it == facts.files.end() ? kAbsent : it->second;
}

}  // namespace kvmprov
