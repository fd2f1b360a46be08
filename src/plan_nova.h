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

// nova.conf is nova's: kvmprov keeps its owner, group and mode, and accepts the directory
// Debian's dbconfig-common gives it (/etc/nova nova:nova 0770).
inline constexpr WriteOptions kNovaConfWrite{.keep_owner = true, .safe_dirs = false};

// The settings nova.conf must hold for SPEC with VIRT_TYPE, in the order they are added.
std::vector<IniSetting> nova_settings(const NovaSpec& spec, const std::string& virt_type);

// Appends, without I/O: the virt_type decision, the CPU mode check and the nova.conf edit.
void plan_nova(const Profile& profile, const Facts& facts, const PlanOptions& options, Plan& plan);

}  // namespace kvmprov
