// SPDX-License-Identifier: MIT
// The plan stage's front: make_plan runs every planner over what observe() read, make_reset_plan
// plans what `reset` undoes. The planners themselves live in plan_*.h; none includes this file.
#pragma once

#include "action.h"
#include "facts.h"
#include "observe.h"
#include "persist.h"
#include "plan_common.h"
#include "plan_devices.h"
#include "plan_modules.h"
#include "plan_nova.h"
#include "profile.h"

namespace kvmprov {

// Decides, without I/O, what apply must do: modules, then devices, then nova.
Plan make_plan(const Profile& profile, const Facts& facts, const PlanOptions& options);

// Decides, without I/O, what `reset` must do: remove every file kvmprov owns and its block in
// /etc/modules, nothing else. Loaded modules and groups stay as they are.
Plan make_reset_plan(const Facts& facts);

}  // namespace kvmprov
