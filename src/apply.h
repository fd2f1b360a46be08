// SPDX-License-Identifier: MIT
// apply: the only writer. Runs a Plan through the Host and records what happened.
#pragma once

#include "action.h"
#include "facts.h"
#include "host.h"

namespace kvmprov {

struct Summary {
  int changed = 0;
  int unchanged = 0;
  int failed = 0;
  int skipped = 0;
  int pending = 0;
};
Summary summarize(const std::vector<Action>& actions);

// Removes the temporaries a killed run left beside every file kvmprov manages (FACTS.files) or
// PLAN writes or removes: after any complete apply none is left, even where it writes nothing.
void sweep_stale_temporaries(Host& host, const Facts& facts, const Plan& plan);

// Runs every action with status `changed`; the others are carried over as they are. One failed
// action does not stop the others. Returns the actions with their final status and detail.
std::vector<Action> apply_plan(Host& host, const Plan& plan);

// Carries out one create_group, add_member, node_permissions or access action (devices_apply.cc).
void apply_device_action(Host& host, Action& action);

}  // namespace kvmprov
