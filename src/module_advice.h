// SPDX-License-Identifier: MIT
// What to tell the operator when a module does not load or the firmware has VT turned off: the
// one home of that advice, pure (facts in, one line out), for the planner, apply and check.
#pragma once

#include <string>
#include <string_view>

#include "facts.h"
#include "vendor.h"

namespace kvmprov {

// Where the file a blacklist came from is the kernel command line (modprobe.blacklist=).
inline constexpr std::string_view kKernelCommandLine = "/proc/cmdline";

// "enable Intel Virtualization Technology (VT-x) in the firmware setup, then power the machine
// off and on", or the AMD wording.
std::string firmware_enable_hint(VtFamily vt);

// Operator-facing cause for a failed load of MODULE with errno ERR, given the CPU facts:
// "module 'kvm_intel' not found in /lib/modules/6.1.0-27-amd64", "no hardware support ...",
// "VT-x is disabled in the firmware ...", "module loading is disabled ...", "blacklisted in FILE".
std::string explain_load_error(const std::string& module, int err, const CpuFacts& cpu,
                               const std::string& modules_dir, const std::string& blacklisted_by);

}  // namespace kvmprov
