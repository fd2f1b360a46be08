// SPDX-License-Identifier: MIT
// Test driver for the libvirt scenarios (tests/vm/libvirt_image.py): gathers the libvirt check's
// inputs on the running system, decides, and prints both as JSON, so the scenarios assert on the
// real libvirt what kvmprov check will say once it carries the item.
#include <sys/utsname.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "host.h"
#include "libvirt.h"

namespace {

nlohmann::json guest_json(const kvmprov::LibvirtGuest& g) {
  return {{"found", g.found},
          {"kvm", g.kvm},
          {"qemu", g.qemu},
          {"emulator", g.emulator},
          {"machines", g.machines}};
}

}  // namespace

int main() {
  using namespace kvmprov;
  utsname u{};
  if (uname(&u) != 0) {
    std::perror("uname");
    return 1;
  }
  auto host = make_linux_host();
  const KvmProbe probe = host->probe_kvm();
  const LibvirtInputs in =
      gather_libvirt_inputs(*host, u.machine, probe.ok(), probe.ok() ? "ok" : "probe-failed");
  const LibvirtCheck c = diagnose_libvirt(in);
  const LibvirtFacts& f = in.facts;
  nlohmann::json out = {{"id", c.item.id},
                        {"state", check_state_name(c.item.state)},
                        {"reason", c.reason},
                        {"detail", c.item.detail},
                        {"hint", c.item.hint},
                        {"inputs",
                         {{"arch", in.arch},
                          {"library", in.library},
                          {"library_error", in.library_error},
                          {"virtqemud_installed", in.virtqemud_installed},
                          {"libvirtd_installed", in.libvirtd_installed},
                          {"virtqemud_socket", in.virtqemud_socket},
                          {"libvirtd_socket", in.libvirtd_socket},
                          {"kvm_usable", in.kvm_usable},
                          {"emulator_present", in.emulator_present},
                          {"qemu_user", in.qemu_user.user},
                          {"qemu_group", in.qemu_user.group},
                          {"qemu_user_can_open", in.qemu_user_can_open.has_value()
                                                     ? nlohmann::json(*in.qemu_user_can_open)
                                                     : nlohmann::json()},
                          {"qemu_user_detail", in.qemu_user_detail},
                          {"device_group", in.device_group},
                          {"connected", f.connected},
                          {"connect_errno", f.connect_errno},
                          {"connect_error", f.connect_error},
                          {"source", f.source},
                          {"guest", guest_json(f.guest)},
                          {"kvm_error", f.kvm_error},
                          {"query_error", f.query_error}}}};
  std::puts(out.dump(2).c_str());
  return 0;
}
