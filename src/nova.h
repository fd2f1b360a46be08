// SPDX-License-Identifier: MIT
// OpenStack Compute: observation and planning of nova.conf's hypervisor settings.
#pragma once

#include <string>
#include <vector>

#include "host.h"
#include "plan.h"
#include "util/ini_edit.h"

namespace kvmprov {

// Reads what plan_nova needs into FACTS.nova: nova.conf and, for cpu_mode custom, the CPU map.
// The KVM verdict for virt_type auto is not read here: it needs check (see main).
void observe_nova(Host& host, const Profile& profile, Facts& facts);

// Runs check for the profile's virt_type: auto and stores its verdict in FACTS.nova.kvm, unless
// --fact kvm_usable already set one or HOST is not the running system. check may load and unload
// the msr module to read the firmware state; it changes nothing else.
void observe_kvm_verdict(Host& host, const Profile& profile, Facts& facts);

// The settings nova.conf must hold for SPEC with VIRT_TYPE, in the order they are added.
std::vector<IniSetting> nova_settings(const NovaSpec& spec, const std::string& virt_type);

// Appends, without I/O: the virt_type decision, the CPU mode check and the nova.conf edit.
void plan_nova(const Profile& profile, const Facts& facts, const PlanOptions& options, Plan& plan);

}  // namespace kvmprov
