// SPDX-License-Identifier: MIT
// Planning of kernel modules: the options file, each module's load (or reload, or kernel command
// line), and the boot list in modules-load.d or /etc/modules. Pure: facts in, actions out.
#pragma once

#include <string_view>
#include <vector>

#include "action.h"
#include "plan_common.h"

namespace kvmprov {

// Appends, without I/O: the modprobe.d options file, one action per module of the profile (a
// load, or why none; a reload or the kernel command line where its options drift), and the boot
// list in modules-load.d or kvmprov's block in /etc/modules.
void plan_modules(const Profile& profile, const Facts& facts, const PlanOptions& options,
                  Plan& plan);

// Whether which modules PROFILE loads depends on the CPU's vendor (a vendor KVM module, or a
// module with `when: cpu_vendor`): an image whose CPU is not known is then planned for any vendor.
bool depends_on_cpu_vendor(const Profile& profile);

// The modules of PROFILE that apply to this CPU vendor (vendor modules of other vendors and
// `when` mismatches are left out).
std::vector<const ModuleSpec*> modules_for_host(const Profile& profile, const Facts& facts);

// Whether a module parameter as sysfs shows it (HAVE, e.g. "Y\n") is the profile's value (WANT,
// e.g. "1"): booleans compare as Y/N = 1/0 = true/false, trailing whitespace is ignored.
bool same_param_value(std::string_view have, std::string_view want);

}  // namespace kvmprov
