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
#include "plan_common.h"
#include "profile.h"

namespace kvmprov {

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
