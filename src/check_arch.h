// SPDX-License-Identifier: MIT
// check's CPU and firmware lines for CPUs other than x86 (judge_kvm's, check_judge.h): arm64's
// EL2 from the kernel log in place of VT flags and the firmware's VT lock; ppc64le's and s390x's
// CPU lines are not supported yet, and the probe alone decides. Pure.
#pragma once

#include "check_verdict.h"

namespace kvmprov {

// The CPU line: the architecture and what /proc/cpuinfo names of the CPU.
CheckItem check_cpu_other(const Facts& facts);

// The firmware line: on arm64 the exception level the kernel was started at and KVM's mode there
// (F.arch_mode), or why KVM cannot run (F.arch_cause); on s390x the kernel's word on SIE.
CheckItem check_firmware_other(const CheckEvidence& ev, const Facts& facts, Findings& f);

}  // namespace kvmprov
