/* SPDX-License-Identifier: MIT */
/* The least any "kvmprov check" can do on a host, for bench/run.sh: start, run the KVM probe
 * (open /dev/kvm, KVM_GET_API_VERSION, KVM_CREATE_VM, KVM_CREATE_VCPU, close) and read the kernel
 * log once with syslog(2). Nothing is parsed or printed; its time is check's floor. */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/klog.h>
#include <unistd.h>

int main(void) {
  int ok = 0;
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm >= 0) {
    int vm = ioctl(kvm, KVM_GET_API_VERSION, 0) == KVM_API_VERSION ? ioctl(kvm, KVM_CREATE_VM, 0)
                                                                    : -1;
    if (vm >= 0) {
      int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
      ok = vcpu >= 0;
      if (vcpu >= 0) close(vcpu);
      close(vm);
    }
    close(kvm);
  }
  int size = klogctl(10, NULL, 0); /* SYSLOG_ACTION_SIZE_BUFFER */
  if (size > 0) {
    char* buf = malloc((size_t)size);
    if (buf != NULL) klogctl(3, buf, size); /* SYSLOG_ACTION_READ_ALL */
    free(buf);
  }
  return ok ? 0 : 1;
}
