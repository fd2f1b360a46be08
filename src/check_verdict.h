// SPDX-License-Identifier: MIT
// check's verdict, the two lines about the user it is about (/dev/kvm, the probe), and the words
// and fixes the other lines share with it so that no two disagree. Pure, as all of check's
// judgement (check_judge.h); used by check_judge.cc only.
#pragma once

#include <string>
#include <string_view>

#include "check.h"
#include "check_observe.h"

namespace kvmprov {

// What the lines up to the probe found that the verdict rests on, beyond the evidence itself.
struct Findings {
  bool firmware_disabled = false;
  bool firmware_needs_root = false;  // skipped only for want of root: running as root reads it
  bool kernel_has_kvm = true;
  std::string missing_module;     // a needed module with no file under /lib/modules/<release>
  std::string not_loaded_module;  // a needed module that could be loaded but is not
  std::string load_fix;           // load_fix() for not_loaded_module
  // Not x86 (check_arch.h): why the CPU cannot run KVM, from the kernel log ("" when it does not
  // say), and the mode KVM runs in ("VHE mode"; "" when unknown).
  std::string arch_cause;
  std::string arch_mode;
};

// The /dev/kvm line and the probe line: the two about the user the verdict is about.
CheckItem check_device(const CheckEvidence& ev, const Facts& facts, const CheckOptions& options);
CheckItem check_probe(const CheckEvidence& ev, const CheckOptions& options);

// The verdict on KVM itself (before libvirt): usable by the probe, else the first cause found.
Verdict decide(const CheckEvidence& ev, const Findings& f, const Facts& facts,
               const CheckOptions& options);

bool has_vt(const CpuFacts& cpu);
// The extension the lines name for V: AMD-V for an AMD-like vendor, else VT-x (unknown too).
VtFamily named_vt(Vendor v);
// "VT-x", or "AMD-V (SVM)".
std::string vt_name(Vendor v);
// Whether --fact set KEY.
bool forced(const Facts& facts, std::string_view key);
// The --fact a CPU flag (vmx or svm) comes from, "" when /proc/cpuinfo reported it.
std::string flag_source(const Facts& facts, std::string_view flag);
// "/lib/modules/<release>".
std::string modules_dir(const Facts& facts);

// "root:kvm 0660" (numeric ids when the names are unknown).
std::string owner_text(const NodeEvidence& node);

// How to get MODULE, which is not loaded, loaded on this host: the one fix the kernel and I/O
// lines and the verdict give, so that none advises a load this host cannot do. HOW is the load
// that works when nothing stands in the way ("kvmprov apply", "modprobe vhost_net").
std::string load_fix(const Facts& facts, const ModuleFacts& m, const std::string& name,
                     const std::string& how, const std::string& container);
// How a container gets the host's device node PATH: the one way each manager has.
std::string pass_device_hint(const std::string& container, const std::string& path);

}  // namespace kvmprov
