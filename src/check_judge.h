// SPDX-License-Identifier: MIT
// check's judgement: the lines and the verdict from what check_observe read, the facts and the
// options. Pure: no Host, no I/O, so every rule is testable on plain data.
#pragma once

#include <string>

#include "check_items.h"
#include "check_observe.h"

namespace kvmprov {

// The lines up to the KVM probe (cpu, firmware, kernel, device, probe) and the verdict they give.
CheckReport judge_kvm(const CheckEvidence& ev, const Facts& facts, const CheckOptions& options);

// The lines after the probe: libvirt (when EV has its answer; its FAIL becomes REPORT's verdict),
// nested, io and nova-log.
void judge_after_probe(CheckReport& report, const CheckEvidence& ev, const Facts& facts,
                       const CheckOptions& options);

}  // namespace kvmprov
