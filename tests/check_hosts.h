// SPDX-License-Identifier: MIT
// The hosts check's tests run on: FakeHost scenarios built from one working Intel host, the
// fixture trees of tests/data/check through LinuxHost, and the ways to look into a report.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "check.h"
#include "fake_host.h"
#include "plan.h"
#include "test_util.h"

namespace kvmprov::test {

inline const std::string kData = KVMPROV_TEST_DATA;

inline const Profile& default_profile() {
  static const ParseResult parsed =
      parse_profile(default_profile_text(), std::string(kDefaultProfileSource));
  return *parsed.profile;
}

inline const CheckItem& item(const CheckReport& r, std::string_view id) {
  for (const auto& i : r.items)
    if (i.id == id) return i;
  FAIL("no check item " << id);
  static CheckItem none;
  return none;
}

// Asserts line ID of R whole: its STATE, DETAIL and HINT.
inline void check_line(const CheckReport& r, std::string_view id, CheckState state,
                       std::string_view detail, std::string_view hint) {
  const CheckItem& i = item(r, id);
  CHECK(i.state == state);
  CHECK(i.detail == detail);
  CHECK(i.hint == hint);
}

inline std::vector<std::string> ids(const CheckReport& r) {
  std::vector<std::string> out;
  for (const auto& i : r.items) out.push_back(i.id);
  return out;
}

inline CheckReport run_fixture(const std::string& name, CheckOptions options = {}) {
  auto host = make_linux_host({.kernel_root = kData + "/check/" + name});
  Facts facts = observe(*host, default_profile());
  // CPUID is no file: a fixture names its hypervisor in cpuid-hypervisor-id (none: bare metal),
  // so the result does not depend on the machine the tests run on.
  std::ifstream id(kData + "/check/" + name + "/cpuid-hypervisor-id");
  facts.cpu.hypervisor_id.clear();
  std::getline(id, facts.cpu.hypervisor_id);
  if (options.log_path.empty()) options.log_path = kData + "/check/" + name + "/nova-compute.log";
  return run_check(*host, facts, options);
}

inline FileInfo char_device(unsigned mode, uid_t uid, gid_t gid) {
  FileInfo info;
  info.exists = info.char_device = true;
  info.mode = mode;
  info.uid = uid;
  info.gid = gid;
  return info;
}

inline KvmProbe probe_ok() {
  return {.opened = true, .api_version = 12, .vm_created = true, .vcpu_created = true};
}

// An account that cannot open /dev/kvm: as itself, and not by the mode bits of root:kvm 0660.
inline UserAccess refused_user(const std::string& name, uid_t id) {
  return {.user = name,
          .uid = id,
          .gid = id,
          .groups = {id},
          .open_errno = EACCES,
          .opened_as_user = true};
}

// A can open /dev/kvm now.
inline void let_open(UserAccess& a) {
  a.can_open = true;
  a.open_errno = 0;
}

// A bare-metal Intel host with VT-x, KVM loaded, /dev/kvm root:kvm 0660, two CPUs.
inline FakeHost intel_host() {
  FakeHost h;
  h.kernel_.files["/proc/cpuinfo"] = slurp(kData + "/cpuinfo/synthetic-intel-xeon-vmx.cpuinfo");
  h.kernel_.files["/proc/modules"] = "";
  h.kernel_.files["/lib/modules/" + h.release_] = "";
  h.kernel_.files["/sys/module/kvm_intel/parameters/nested"] = "Y\n";
  for (const char* m : {"kvm", "kvm_intel", "vhost_net"}) {
    h.available(m);
    h.modules_[m].state = ModuleState::live;
  }
  h.available("msr");
  h.kernel_.dirs["/dev/cpu"] = {"0", "1"};
  h.kernel_.dirs["/sys/kernel/iommu_groups"] = {"0", "1", "2"};
  h.kernel_.files["/sys/firmware/acpi/tables/DMAR"] = "";
  h.msrs_[{0, 0x3A}] = h.msrs_[{1, 0x3A}] = 0x5;
  h.kernel_.infos["/dev/kvm"] = char_device(0660, 0, 108);
  h.kernel_.infos["/dev/vhost-net"] = char_device(0660, 0, 108);
  h.kernel_.infos["/dev/net/tun"] = char_device(0666, 0, 0);
  h.user_names_[0] = "root";
  h.user_names_[1000] = "alice";
  h.group_names_[0] = "root";
  h.group_names_[108] = "kvm";
  h.accounts_[""] = {.user = "root", .can_open = true, .opened_as_user = true};
  h.accounts_["alice"] = refused_user("alice", 1000);
  h.probe_ = probe_ok();
  return h;
}

// Takes FLAG out of H's /proc/cpuinfo, as a kernel that cleared it (or a CPU without it) shows.
inline void drop_cpu_flag(FakeHost& h, const std::string& flag) {
  std::string& cpuinfo = h.kernel_.files["/proc/cpuinfo"];
  const std::string word = " " + flag + " ";
  for (size_t at; (at = cpuinfo.find(word)) != std::string::npos;)
    cpuinfo.erase(at, word.size() - 1);
}

// The Intel host's twin with a bare-metal AMD EPYC (svm, no hypervisor flag).
inline FakeHost amd_host() {
  FakeHost h = intel_host();
  h.kernel_.files["/proc/cpuinfo"] = slurp(kData + "/cpuinfo/qemu-tcg-EPYC.cpuinfo");
  drop_cpu_flag(h, "hypervisor");
  return h;
}

// A guest without VT flags whose kernel provides KVM through kvm_pvm, built in.
inline FakeHost pvm_host() {
  FakeHost h = intel_host();
  h.kernel_.files["/proc/cpuinfo"] = slurp(kData + "/cpuinfo/amd-epyc-vm-kvm-pvm.cpuinfo");
  h.modules_["kvm_pvm"] = {.name = "kvm_pvm", .state = ModuleState::builtin, .found = true};
  return h;
}

// No /dev/kvm, so the probe cannot open it.
inline void remove_kvm_node(FakeHost& h) {
  h.kernel_.infos.erase("/dev/kvm");
  h.probe_ = {.open_errno = ENOENT};
}

// kvm and kvm_intel not loaded, and so no /dev/kvm.
inline void unload_kvm(FakeHost& h) {
  h.modules_["kvm"].state = h.modules_["kvm_intel"].state = ModuleState::absent;
  remove_kvm_node(h);
}

inline CheckReport run_fake(FakeHost& h, const CheckOptions& options = {}) {
  Facts facts = observe(h, default_profile());
  return run_check(h, facts, options);
}

// The hint of line ID when check runs on H.
inline std::string hint_of(FakeHost& h, std::string_view id, const CheckOptions& options = {}) {
  return item(run_fake(h, options), id).hint;
}

// The Intel host as "nobody" sees it: not root, not in group kvm, so /dev/kvm (root:kvm 0660)
// does not open for it; root can open it by the mode bits.
inline FakeHost nobody_host() {
  FakeHost h = intel_host();
  h.privileged_ = false;
  h.user_names_[65534] = "nobody";
  h.accounts_[""] = refused_user("nobody", 65534);
  h.accounts_["root"] = {.user = "root", .uid = 0, .gid = 0, .groups = {0}, .can_open = true};
  h.accounts_["alice"].opened_as_user = false;
  h.probe_ = {.open_errno = EACCES};
  return h;
}

}  // namespace kvmprov::test
