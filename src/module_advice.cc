// SPDX-License-Identifier: MIT
#include "module_advice.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "vendor.h"

namespace kvmprov {

namespace {

// Advice for the KVM vendor modules when the kernel says the hardware cannot do it.
std::optional<std::string> explain_kvm_vendor(const std::string& module, int err,
                                              const CpuFacts& cpu) {
  const VtFamily vt = module_vt(module);
  const bool intel = vt == VtFamily::vmx;
  std::string quoted = "module \"" + module + "\": ";
  if (err == EBUSY) {
    return quoted +
           "the CPU's virtualization extensions are held by another hypervisor (stop VirtualBox or VMware and unload their kernel modules, e.g. vboxdrv or vmmon)";
  }
  if (err != ENODEV && err != EOPNOTSUPP && err != EIO) return std::nullopt;
  std::string_view wanted = vendor_kvm_module(cpu.vendor);
  if (!wanted.empty() && wanted != module) {
    std::string id = cpu.vendor_id.empty() ? "" : " (\"" + cpu.vendor_id + "\")";
    return quoted + "no hardware support: it is the module for " +
           (intel ? "Intel VT-x" : "AMD-V") + " and this CPU is " +
           std::string(vendor_title(cpu.vendor)) + id + " (load \"" + std::string(wanted) +
           "\" instead)";
  }
  bool flag = intel ? cpu.vmx : cpu.svm;
  if (flag || (intel && err == EIO)) {
    return quoted + fmt::format("{} is disabled in the firmware (enable \"{}\" and power-cycle)",
                                vt_title(vt), vt_firmware_setting(vt));
  }
  std::string missing = intel ? "VT-x (\"vmx\")" : "AMD-V (\"svm\")";
  if (cpu.hypervisor) {
    return quoted + "no hardware support: the CPU does not report " + missing +
           "; this machine is a virtual machine, enable nested virtualization on its host (run \"kvmprov check\")";
  }
  return quoted + "no hardware support: the CPU does not report " + missing +
         "; it is absent, or disabled in the firmware (run \"kvmprov check\")";
}

}  // namespace

std::string firmware_enable_hint(VtFamily vt) {
  return fmt::format("enable {} ({}) in the firmware setup, then power the machine off and on",
                     vt_firmware_setting(vt), vt_title(vt));
}

std::string explain_load_error(const std::string& module, int err, const CpuFacts& cpu,
                               const std::string& modules_dir, const std::string& blacklisted_by) {
  std::string name = normalise_module_name(module);
  std::string quoted = "module \"" + name + "\"";
  if (err == EEXIST) return quoted + " is already loaded";
  if (!blacklisted_by.empty()) {
    if (blacklisted_by == kKernelCommandLine) {
      return quoted + " is blacklisted on the kernel command line (remove \"" + name +
             "\" from modprobe.blacklist= and reboot)";
    }
    return quoted + " is blacklisted in " + blacklisted_by + " (remove the \"blacklist " + name +
           "\" line)";
  }
  if (err == ENOENT) {
    std::string release = modules_dir;
    while (release.size() > 1 && release.back() == '/') release.pop_back();
    release = release.substr(release.rfind('/') + 1);
    if (release.empty()) release = "$(uname -r)";
    return quoted + " not found in " + modules_dir +
           " (install the kernel's modules package, e.g. linux-image-" + release +
           " on Debian or linux-modules-" + release + " on Ubuntu, or linux-image-amd64)";
  }
  if (is_vendor_module(name)) {
    if (auto why = explain_kvm_vendor(name, err, cpu)) return *why;
  }
  switch (err) {
    case EPERM:
      return quoted +
             ": module loading is disabled (kernel.modules_disabled=1, kernel lockdown, or an unsigned module under Secure Boot), or kvmprov is not running as root";
    case EKEYREJECTED:
    case ENOKEY:
    case EBADMSG:
      return quoted +
             ": its signature was rejected (use the distribution's signed modules, or enroll the signing key with mokutil)";
    case ENOEXEC:
      return quoted +
             ": invalid module format, built for another kernel (install the modules package matching the running kernel)";
    case EINVAL:
      return quoted +
             ": the kernel rejected it with an invalid argument, usually an unknown parameter or a bad value (check the module options and \"dmesg\")";
    default:
      break;
  }
  return quoted + " could not be loaded: " + std::strerror(err) + " (see \"dmesg\")";
}

}  // namespace kvmprov
