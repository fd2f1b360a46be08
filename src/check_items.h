// SPDX-License-Identifier: MIT
// check's vocabulary: the lines, the verdict, the report and the options, shared by its stages
// (check_observe, check_judge, report_check) and its callers.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "facts.h"
#include "host.h"
#include "report.h"

namespace kvmprov {

enum class CheckState { pass, warn, fail, skip };
std::string_view check_state_name(CheckState s);  // "PASS", "WARN", "FAIL", "SKIP"

// One of the eight checks, in order: cpu, firmware, kernel, device, probe, nested, io, nova-log.
struct CheckItem {
  std::string id;     // stable, one of the above
  std::string title;  // what was checked
  CheckState state = CheckState::pass;
  std::string detail;  // what was found; for SKIP, why it was skipped
  std::string hint;    // what to do; "" when nothing is
};

struct Verdict {
  bool usable = false;
  // ok, ok-paravirtual, no-hardware-support, disabled-in-firmware, nested-without-vt,
  // module-missing, module-not-loaded, no-device-node, permission-denied, not-probed,
  // kernel-without-kvm; or, when the kernel runs KVM guests but libvirt cannot, the libvirt
  // item's cause (libvirt-daemon-not-running, qemu-emulator-missing, libvirt-capabilities-stale,
  // qemu-user-cannot-open-kvm, libvirt-error). virt_type stays "kvm" then: the kernel can, and
  // nova should use it once libvirt is put right.
  std::string reason;
  std::string advice;     // one line
  std::string virt_type;  // "kvm" or "qemu"
};

struct CheckReport {
  std::vector<CheckItem> items;
  Verdict verdict;
  std::string container;  // CheckOptions::container
};

// The verdict's closed set of reason codes, in the order the decision tries them after the probe.
const std::vector<std::string_view>& check_reasons();

// The --fact keys check reasons with (the CPU's vendor, VT flags and hypervisor, module
// support). The others describe what check observes of the running kernel itself or decides
// (kvm_usable), so a run of check given one of them would contradict it.
const std::vector<std::string_view>& check_fact_keys();

struct CheckOptions {
  // --user NAME: the user the /dev/kvm line, the probe and the verdict are about; "" = this
  // process. The probe runs as NAME only as root (or when NAME is this process's user).
  std::string user;
  std::string log_path;  // --log FILE (absolute); "" = kDefaultNovaLog when it exists
  // Never load a module (msr) for the firmware reading: for callers that promise to change
  // nothing, such as plan deciding virt_type: auto.
  bool no_module_loads = false;
  // The container manager check runs under ("docker", "lxc", ...; see detect_scope), "" when
  // none: the kernel, its modules and /dev/kvm are then the host's, so no module is loaded and
  // every hint says what to do on the host or to the container.
  std::string container;
  // The libvirt item (src/libvirt.h), asked after the probe with the verdict so far: its line, and
  // its reason code. A FAIL makes the verdict "not usable" for that reason. Unset: no libvirt
  // item (plan and apply, which decide virt_type: auto from the kernel alone).
  std::function<std::pair<CheckItem, std::string>(Host&, const Verdict&)> libvirt;
};

constexpr const char* kDefaultNovaLog = "/var/log/nova/nova-compute.log";
// How much of the end of the nova-compute log is searched: such logs grow past any whole-file
// limit before rotation, and their end holds the recent guest starts.
constexpr size_t kLogTailBytes = size_t{16} << 20;
// What libvirt logs when a guest asks for KVM while the modules are not loaded.
constexpr const char* kNoHvmMessage = "no supported architecture for os type 'hvm'";

}  // namespace kvmprov
