// SPDX-License-Identifier: MIT
// observe: the only reader before apply. Everything the planners decide from is read here,
// through the Host seam, into Facts; the planners then read Facts alone.
#pragma once

#include <string>

#include "atomic_file.h"
#include "facts.h"
#include "host.h"
#include "profile.h"

namespace kvmprov {

// How much observe reads of each of the profile's modules.
enum class ModuleDetail {
  state,    // whether it is loaded or built in (check)
  options,  // and its refcount, holders and the parameters the profile sets (a text report)
  all,      // and every parameter it has (the JSON report lists them)
};

// Reads everything plan() needs for PROFILE through HOST. Read only.
Facts observe(Host& host, const Profile& profile, ModuleDetail detail = ModuleDetail::all);

// The part of observe that is the running kernel's: the CPU, the kernel release, whether modules
// can be loaded, and the states of PROFILE's modules. None of kvmprov's files, the device rules,
// accounts or nova's files are read: check reasons with this alone.
Facts observe_kernel(Host& host, const Profile& profile, ModuleDetail detail = ModuleDetail::all);

// What observe records of a file kvmprov may write (as OPTIONS say) or remove: its content or why
// it cannot be read, and whether apply would refuse to replace or remove it.
FileFacts observe_file(Host& host, const std::string& path, const WriteOptions& options = {});

// Reads what plan_devices needs into FACTS.devices (and kvmprov's rules file into FACTS.files).
void observe_devices(Host& host, const Profile& profile, Facts& facts);

// Reads what plan_nova needs into FACTS.nova: nova.conf and, for cpu_mode custom, the CPU map.
// The KVM verdict for virt_type auto is not read here: it needs check (see main).
void observe_nova(Host& host, const Profile& profile, Facts& facts);

// Runs check for the profile's virt_type: auto and stores its verdict in FACTS.nova.kvm, unless
// --fact kvm_usable already set one or HOST is not the running system. check may load and unload
// the msr module to read the firmware state; it changes nothing else.
void observe_kvm_verdict(Host& host, const Profile& profile, Facts& facts);

}  // namespace kvmprov
