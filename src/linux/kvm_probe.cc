// SPDX-License-Identifier: MIT
// The KVM probe: what decides "usable" is whether the kernel creates a VM and a vCPU, not flags.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

#include "host.h"
#include "util/unique_fd.h"

namespace kvmprov {

namespace {}  // namespace

KvmProbe probe_kvm_device(const std::string& device) {
  KvmProbe p;
  UniqueFd kvm(open(device.c_str(), O_RDWR | O_CLOEXEC));
  if (kvm.get() < 0) {
    p.open_errno = errno;
    return p;
  }
  p.opened = true;
  p.api_version = ioctl(kvm.get(), KVM_GET_API_VERSION, 0);
  if (p.api_version != KVM_API_VERSION) return p;
  UniqueFd vm(ioctl(kvm.get(), KVM_CREATE_VM, 0));
  if (vm.get() < 0) {
    p.vm_errno = errno;
    return p;
  }
  p.vm_created = true;
  UniqueFd vcpu(ioctl(vm.get(), KVM_CREATE_VCPU, 0));
  if (vcpu.get() < 0) {
    p.vcpu_errno = errno;
    return p;
  }
  p.vcpu_created = true;
  return p;
}

}  // namespace kvmprov
