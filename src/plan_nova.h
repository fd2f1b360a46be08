// SPDX-License-Identifier: MIT
// Planning of OpenStack Compute's hypervisor settings: the virt_type decision, the CPU mode check
// and the edits of the files nova-compute reads. Pure: facts in, actions out.
#pragma once

#include <string>
#include <vector>

#include "action.h"
#include "plan_common.h"
#include "util/ini_edit.h"

namespace kvmprov {

// The settings nova.conf must hold for SPEC with VIRT_TYPE, in the order they are added.
std::vector<IniSetting> nova_settings(const NovaSpec& spec, const std::string& virt_type);

// Appends, without I/O: the virt_type decision, the CPU mode check and the nova.conf edit.
void plan_nova(const Profile& profile, const Facts& facts, const PlanOptions& options, Plan& plan);

}  // namespace kvmprov
