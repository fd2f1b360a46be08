// SPDX-License-Identifier: MIT
// check: observe the host (check_observe.cc), then judge what was read (check_judge.cc); and the
// closed sets of names the lines and the verdict use.
#include "check.h"

#include <iterator>

#include "check_judge.h"
#include "check_observe.h"

namespace kvmprov {

std::string_view check_state_name(CheckState s) {
  static constexpr std::string_view kNames[] = {"PASS", "WARN", "FAIL", "SKIP"};
  const auto i = static_cast<size_t>(s);
  return i < std::size(kNames) ? kNames[i] : "?";
}

const std::vector<std::string_view>& check_reasons() {
  // In the order the decision tries them after the probe.
  static const std::vector<std::string_view> kReasons = {
      "ok", "ok-paravirtual", "permission-denied", "not-probed", "disabled-in-firmware",
      "nested-without-vt", "no-hardware-support", "kernel-without-kvm", "module-missing",
      "module-not-loaded", "no-device-node",
      // The kernel runs KVM guests, libvirt cannot.
      "libvirt-daemon-not-running", "qemu-emulator-missing", "libvirt-capabilities-stale",
      "qemu-user-cannot-open-kvm", "libvirt-error"};
  return kReasons;
}

const std::vector<std::string_view>& check_fact_keys() {
  static const std::vector<std::string_view> kKeys = {"cpu_vendor", "vmx", "svm", "hypervisor",
                                                      "modules_supported"};
  return kKeys;
}

CheckReport run_check(Host& host, const Facts& facts, const CheckOptions& options) {
  CheckEvidence ev = observe_check(host, facts, options);
  CheckReport report = judge_kvm(ev, facts, options);
  // libvirt is asked with the kernel's verdict, so it is read once that is judged.
  observe_libvirt(host, options, report.verdict, ev);
  judge_after_probe(report, ev, facts, options);
  return report;
}

}  // namespace kvmprov
