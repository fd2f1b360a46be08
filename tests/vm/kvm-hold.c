// SPDX-License-Identifier: MIT
// Stands in for a running guest: creates a VM through /dev/kvm and keeps it in a child that waits
// forever, so the vendor module (kvm_amd, kvm_intel) is in use. The parent prints the child's PID
// and exits only once the VM exists, so the caller needs no sleep to know the module is held.
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void) {
  int kvm = open("/dev/kvm", O_RDWR);
  if (kvm < 0) {
    perror("kvm-hold: open /dev/kvm");
    return 1;
  }
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) {
    perror("kvm-hold: KVM_CREATE_VM");
    return 1;
  }
  pid_t child = fork();
  if (child < 0) {
    perror("kvm-hold: fork");
    return 1;
  }
  if (child == 0) {
    for (;;) pause();
  }
  printf("%d\n", (int)child);
  return 0;
}
