// SPDX-License-Identifier: MIT
// Where kvmprov runs: the running system, an image, a chroot or a container. Plain data, read by
// the planners; detect_scope (in the Linux wing) finds it.
#pragma once

#include <string>

namespace kvmprov {

// Where kvmprov runs, which decides whether kernel and device actions are taken.
enum class Scope {
  running_system,  // "/" of the running system: everything
  image,           // --root DIR: the image's files; kernel, devices and the CPU are not its own
  chroot,          // "/" is not the root of PID 1 (an image build): as --root /
  container,       // its own files; the kernel and the device nodes are the host's
};

// What detect_scope found, and how.
struct ScopeFacts {
  Scope scope = Scope::running_system;
  std::string container;  // Scope::container: "docker", "podman", "lxc", "systemd-nspawn", ...
  std::string evidence;   // what said so: "/ is not the root of PID 1", "/.dockerenv exists", ...
};

// Where a run on the root directory of KERNEL_ROOT ("/" on a real machine) is: a chroot when
// that root is not PID 1's (the test ischroot(1) and systemd make) or when there is no /proc (the
// running kernel cannot be seen: an image build's chroot before /proc is mounted), a container
// when the container managers' markers say so (/run/systemd/container, /.dockerenv,
// /run/.containerenv, PID 1's "container=" environment), else the running system. A root
// directory PID 1's that this process may not examine (not root) counts as the running system.
ScopeFacts detect_scope(const std::string& kernel_root);

}  // namespace kvmprov
