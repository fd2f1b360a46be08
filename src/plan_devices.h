// SPDX-License-Identifier: MIT
// Planning of device permissions and groups: the udev rules file, the groups and their members,
// the live device nodes, and the access check of each member. Pure: facts in, actions out.
#pragma once

#include "action.h"
#include "plan_common.h"

namespace kvmprov {

// The module whose loading creates /dev/NODE ("kvm" for kvm, "tun" for net/tun); "" if unknown.
std::string module_for_node(const std::string& node);

// Appends, without I/O: group and member actions, the rules file, one node_permissions action per
// device, and one access action per (member, device).
void plan_devices(const Profile& profile, const Facts& facts, const PlanOptions& options,
                  Plan& plan);

}  // namespace kvmprov
