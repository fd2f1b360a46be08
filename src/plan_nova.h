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

// The cpu_mode nova-compute is given: the profile's, or nova's own default for ARCH.
NovaCpuMode nova_cpu_mode_for(const NovaSpec& spec, CpuArch arch);
// The settings nova.conf must hold for SPEC with CPU_MODE and VIRT_TYPE, in the order they are
// added.
std::vector<IniSetting> nova_settings(const NovaSpec& spec, NovaCpuMode cpu_mode,
                                      const std::string& virt_type);

// Appends, without I/O: the virt_type decision, the CPU mode check and the nova.conf edit.
void plan_nova(const Profile& profile, const Facts& facts, const PlanOptions& options, Plan& plan);

}  // namespace kvmprov
