// SPDX-License-Identifier: MIT
// What the libvirt check decides on, read from the running system through the Host.
#include <cstring>

#include "libvirt.h"
#include "util/text.h"

namespace kvmprov {
namespace {

bool exists(Host& host, const std::string& path) {
  auto info = host.target().stat(path);
  return info.ok() && info->exists;
}

// What the compiler built for, in libvirt's names.
constexpr const char* kBuildArch =
#if defined(__x86_64__)
    "x86_64";
#elif defined(__aarch64__)
    "aarch64";
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
    "ppc64le";
#elif defined(__s390x__)
    "s390x";
#elif defined(__i386__)
    "i686";
#else
    "";
#endif

}  // namespace

std::string libvirt_arch(Host& host) {
  const std::string arch(trim(host.kernel().read_or_absent("/proc/sys/kernel/arch").value_or("")));
  return arch.empty() ? kBuildArch : arch;
}

std::optional<Action> libvirt_followup(Host& host, const std::vector<Action>& done,
                                       LibvirtQuery query) {
  if (!host.live() || !changes_kvm_access(done)) return std::nullopt;
  const KvmProbe probe = host.probe_kvm();
  return libvirt_after_apply(diagnose_libvirt(gather_libvirt_inputs(
      host, libvirt_arch(host), probe.ok(), probe.ok() ? "ok" : "probe-failed", query)));
}

std::pair<CheckItem, std::string> libvirt_item(Host& host, const Verdict& verdict,
                                               LibvirtQuery query) {
  LibvirtCheck c = diagnose_libvirt(
      gather_libvirt_inputs(host, libvirt_arch(host), verdict.usable, verdict.reason, query));
  return {std::move(c.item), std::move(c.reason)};
}

LibvirtInputs gather_libvirt_inputs(Host& host, const std::string& arch, bool kvm_usable,
                                    const std::string& kvm_reason, LibvirtQuery query) {
  LibvirtInputs in;
  in.arch = arch;
  in.kvm_usable = kvm_usable;
  in.kvm_reason = kvm_reason;
  in.virtqemud_installed = exists(host, "/usr/sbin/virtqemud");
  in.libvirtd_installed = exists(host, "/usr/sbin/libvirtd");
  in.virtqemud_socket = exists(host, kVirtqemudSocket);
  in.libvirtd_socket = exists(host, kLibvirtdSocket);
  in.emulator_present = exists(host, qemu_binary(arch));
  // libvirt is asked only when its answer can change the outcome.
  if (kvm_usable && (in.virtqemud_installed || in.libvirtd_installed)) {
    auto facts = query(kLibvirtUri, arch);
    in.library = facts.ok();
    if (facts.ok())
      in.facts = std::move(*facts);
    else
      in.library_error = facts.error().message;
  } else {
    in.library = true;  // not asked: the decision does not depend on it
  }
  // Nor does it depend on the QEMU user where no daemon is installed or KVM is not usable
  // (diagnose_libvirt skips first); looking the user up can load NSS modules.
  if (!kvm_usable || !(in.virtqemud_installed || in.libvirtd_installed)) return in;

  auto conf = host.target().read(kQemuConf);
  if (conf.ok() && conf->has_value()) {
    auto parsed = parse_qemu_conf(**conf, kQemuConf);
    if (parsed.ok()) {
      in.qemu_user = std::move(*parsed);
    } else {
      in.qemu_user_detail = parsed.error().message;
      return in;
    }
  }
  if (auto node = host.kernel().stat("/dev/kvm"); node.ok() && node->exists)
    in.device_group = host.group_name(node->gid);
  auto access = host.can_open_as(in.qemu_user.user, "/dev/kvm");
  if (!access.ok()) {
    in.qemu_user_detail = access.error().message;
  } else {
    in.qemu_user_can_open = access->can_open;
    if (!access->can_open) in.qemu_user_detail = std::strerror(access->open_errno);
  }
  return in;
}

}  // namespace kvmprov
