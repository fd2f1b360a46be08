// SPDX-License-Identifier: MIT
// check: every verdict reason from fixture trees (through LinuxHost) or injected host state
// (through FakeHost), exact output snapshots, and the real probe on the machine running the tests.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "check.h"
#include "fake_host.h"
#include "kernel_log.h"
#include "linux/user_access.h"
#include "plan.h"
#include "test_util.h"
#include "version.h"

using namespace kvmprov;
using kvmprov::test::FakeHost;
using kvmprov::test::slurp;

namespace {

const std::string kData = KVMPROV_TEST_DATA;

const Profile& default_profile() {
  static const ParseResult parsed =
      parse_profile(default_profile_text(), std::string(kDefaultProfileSource));
  return *parsed.profile;
}

const CheckItem& item(const CheckReport& r, std::string_view id) {
  for (const auto& i : r.items)
    if (i.id == id) return i;
  FAIL("no check item " << id);
  static CheckItem none;
  return none;
}

CheckReport run_fixture(const std::string& name, CheckOptions options = {}) {
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

FileInfo char_device(unsigned mode, uid_t uid, gid_t gid) {
  FileInfo info;
  info.exists = info.char_device = true;
  info.mode = mode;
  info.uid = uid;
  info.gid = gid;
  return info;
}

KvmProbe probe_ok() {
  return {.opened = true, .api_version = 12, .vm_created = true, .vcpu_created = true};
}

// A bare-metal Intel host with VT-x, KVM loaded, /dev/kvm root:kvm 0660, two CPUs.
FakeHost intel_host() {
  FakeHost h;
  h.kernel_files_["/proc/cpuinfo"] = slurp(kData + "/cpuinfo/synthetic-intel-xeon-vmx.cpuinfo");
  h.kernel_files_["/proc/modules"] = "";
  h.kernel_files_["/lib/modules/" + h.release_] = "";
  h.kernel_files_["/sys/module/kvm_intel/parameters/nested"] = "Y\n";
  for (const char* m : {"kvm", "kvm_intel", "vhost_net"}) {
    h.available(m);
    h.modules_[m].state = ModuleState::live;
  }
  h.available("msr");
  h.kernel_dirs_["/dev/cpu"] = {"0", "1"};
  h.kernel_dirs_["/sys/kernel/iommu_groups"] = {"0", "1", "2"};
  h.kernel_files_["/sys/firmware/acpi/tables/DMAR"] = "";
  h.msrs_[{0, 0x3A}] = h.msrs_[{1, 0x3A}] = 0x5;
  h.kernel_stats_["/dev/kvm"] = char_device(0660, 0, 108);
  h.kernel_stats_["/dev/vhost-net"] = char_device(0660, 0, 108);
  h.kernel_stats_["/dev/net/tun"] = char_device(0666, 0, 0);
  h.user_names_[0] = "root";
  h.user_names_[1000] = "alice";
  h.group_names_[0] = "root";
  h.group_names_[108] = "kvm";
  h.accounts_[""] = {.user = "root", .can_open = true, .opened_as_user = true};
  h.accounts_["alice"] = {.user = "alice",
                          .uid = 1000,
                          .gid = 1000,
                          .groups = {1000},
                          .open_errno = EACCES,
                          .opened_as_user = true};
  h.probe_ = probe_ok();
  return h;
}

CheckReport run_fake(FakeHost& h, const CheckOptions& options = {}) {
  Facts facts = observe(h, default_profile());
  return run_check(h, facts, options);
}

// The Intel host as "nobody" sees it: not root, not in group kvm, so /dev/kvm (root:kvm 0660)
// does not open for it; root can open it by the mode bits.
FakeHost nobody_host() {
  FakeHost h = intel_host();
  h.privileged_ = false;
  h.user_names_[65534] = "nobody";
  h.accounts_[""] = {.user = "nobody",
                     .uid = 65534,
                     .gid = 65534,
                     .groups = {65534},
                     .open_errno = EACCES,
                     .opened_as_user = true};
  h.accounts_["root"] = {.user = "root", .uid = 0, .gid = 0, .groups = {0}, .can_open = true};
  h.accounts_["alice"].opened_as_user = false;
  h.probe_ = {.open_errno = EACCES};
  return h;
}

std::vector<std::string> ids(const CheckReport& r) {
  std::vector<std::string> out;
  for (const auto& i : r.items) out.push_back(i.id);
  return out;
}

}  // namespace

TEST_CASE("check observes module states only: no parameters, refcount or holders") {
  FakeHost h = intel_host();
  h.modules_["kvm_intel"].params["nested"] = "Y";
  h.modules_["kvm"].refcount = 1;
  h.modules_["kvm"].holders = {"kvm_intel"};
  Facts full = observe(h, default_profile());
  CHECK(full.modules.at("kvm_intel").params.at("nested") == "Y");
  CHECK(full.modules.at("kvm").holders == std::vector<std::string>{"kvm_intel"});
  Facts states = observe(h, default_profile(), /*module_details=*/false);
  CHECK(states.modules.at("kvm_intel").state == ModuleState::live);
  CHECK(states.modules.at("kvm_intel").params.empty());
  CHECK(states.modules.at("kvm").refcount == 0);
  CHECK(states.modules.at("kvm").holders.empty());
}

TEST_CASE("eight checks in order, and a reason from the closed set") {
  FakeHost h = intel_host();
  CheckReport r = run_fake(h);
  CHECK(ids(r) == std::vector<std::string>{"cpu", "firmware", "kernel", "device", "probe", "nested",
                                           "io", "nova-log"});
  CHECK(r.verdict.usable);
  CHECK(r.verdict.reason == "ok");
  CHECK(r.verdict.virt_type == "kvm");
  const auto& reasons = check_reasons();
  CHECK(reasons.size() == 11);
  CHECK(std::find(reasons.begin(), reasons.end(), r.verdict.reason) != reasons.end());
}

TEST_CASE("output snapshot: Intel host with VT-x, msr loaded for the reading and unloaded") {
  FakeHost h = intel_host();
  CheckReport r = run_fake(h);
  CHECK(render_check(r, {}) ==
        "PASS CPU: intel (GenuineIntel, Intel(R) Xeon(R) Processor); \"vmx\" flag "
        "present; not under a hypervisor\n"
        "PASS firmware: IA32_FEATURE_CONTROL=0x5: locked, VMX outside SMX on, inside SMX off on "
        "CPU 0-1; kernel log: no KVM hardware verdict\n"
        "PASS kernel: kvm loaded, kvm_intel loaded\n"
        "PASS /dev/kvm: root:kvm 0660; user \"root\" (running kvmprov) can open it\n"
        "PASS KVM probe: API 12, KVM_CREATE_VM and KVM_CREATE_VCPU succeeded\n"
        "PASS nested virtualisation: kvm_intel nested=Y: guests can run KVM themselves\n"
        "PASS vhost-net, tun, IOMMU: /dev/vhost-net root:kvm 0660; /dev/net/tun root:root 0666; "
        "IOMMU: DMAR table, 3 IOMMU groups\n"
        "SKIP nova-compute log: no \"/var/log/nova/nova-compute.log\"\n"
        "     hint: name another log with --log FILE\n"
        "verdict: usable (ok): KVM acceleration can be used; virt_type=kvm\n");
  CHECK(h.loads_ == std::vector<std::string>{"msr"});
  CHECK(h.unloads_ == std::vector<std::string>{"msr"});
}

TEST_CASE("JSON snapshot: --user who is not in the device's group") {
  FakeHost h = intel_host();
  CheckReport r = run_fake(h, {.user = "alice"});
  nlohmann::json j = check_json(r);
  CHECK(j["checks"].size() == 8);
  CHECK(j["checks"][3].dump() ==
        R"({"detail":"root:kvm 0660; user \"alice\" cannot open it: Permission denied",)"
        R"("hint":"add alice to group \"kvm\" (usermod -aG kvm alice), then log in again",)"
        R"("id":"device","state":"FAIL","title":"/dev/kvm"})");
  CHECK(j["verdict"].dump() ==
        R"({"advice":"alice cannot open /dev/kvm (root:kvm 0660): add alice to group \"kvm\" )"
        R"((usermod -aG kvm alice), then log in again","exit_status":1,)"
        R"("reason":"permission-denied","usable":false,)"
        R"("virt_type":"qemu"})");
  for (const auto& c : j["checks"]) {
    CHECK(c.contains("id"));
    CHECK(c.contains("title"));
    CHECK(c.contains("detail"));
    CHECK(c.contains("hint"));
    CHECK(std::set<std::string>{"PASS", "WARN", "FAIL", "SKIP"}.count(c["state"]) == 1);
  }
}

TEST_CASE("no_module_loads: the firmware step does not load msr") {
  FakeHost h = intel_host();
  CheckReport r = run_fake(h, {.no_module_loads = true});
  CHECK(h.loads_.empty());
  CHECK(item(r, "firmware").detail.find("this run loads no module") != std::string::npos);
}

TEST_CASE("msr already present: read on every CPU, not loaded, not unloaded") {
  FakeHost h = intel_host();
  h.kernel_files_["/dev/cpu/0/msr"] = h.kernel_files_["/dev/cpu/1/msr"] = "";
  CheckReport r = run_fake(h);
  CHECK(item(r, "firmware").state == CheckState::pass);
  CHECK(h.loads_.empty());
  CHECK(h.unloads_.empty());
}

TEST_CASE("disabled-in-firmware: no vmx flag (the kernel cleared it) and the lock bit set") {
  FakeHost h = intel_host();
  std::string cpuinfo = h.kernel_files_["/proc/cpuinfo"];
  for (size_t at; (at = cpuinfo.find(" vmx ")) != std::string::npos;) cpuinfo.erase(at, 4);
  h.kernel_files_["/proc/cpuinfo"] = cpuinfo;
  h.modules_["kvm_intel"].state = ModuleState::absent;
  h.kernel_stats_.erase("/dev/kvm");
  h.probe_ = {.open_errno = ENOENT};
  h.msrs_[{0, 0x3A}] = h.msrs_[{1, 0x3A}] = 0x1;
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "disabled-in-firmware");
  CHECK_FALSE(r.verdict.usable);
  CHECK(r.verdict.virt_type == "qemu");
  CHECK(item(r, "firmware").state == CheckState::fail);
  CHECK(item(r, "firmware").detail.find("locked, VMX outside SMX off") != std::string::npos);
  CHECK(h.unloads_ == std::vector<std::string>{"msr"});
}

TEST_CASE("disabled-in-firmware on AMD: SVMDIS in VM_CR, one CPU differing is named") {
  FakeHost h = intel_host();
  h.kernel_files_["/proc/cpuinfo"] = slurp(kData + "/cpuinfo/qemu-tcg-EPYC.cpuinfo");
  // Bare metal for this case: drop the hypervisor flag.
  std::string& cpuinfo = h.kernel_files_["/proc/cpuinfo"];
  for (size_t at; (at = cpuinfo.find(" hypervisor")) != std::string::npos;) cpuinfo.erase(at, 11);
  h.modules_["kvm_amd"] = h.modules_["kvm_intel"];
  h.modules_["kvm_amd"].state = ModuleState::absent;
  h.kernel_stats_.erase("/dev/kvm");
  h.probe_ = {.open_errno = ENOENT};
  h.msrs_[{0, 0xC0010114}] = 0x18;
  h.msrs_[{1, 0xC0010114}] = 0x0;
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "disabled-in-firmware");
  CHECK(item(r, "firmware").detail.find("AMD-V (SVM) disabled on CPU 0 only") != std::string::npos);
}

TEST_CASE("without root the firmware check is skipped with the reason, and nothing is loaded") {
  FakeHost h = intel_host();
  h.privileged_ = false;
  CheckReport r = run_fake(h);
  CHECK(item(r, "firmware").state == CheckState::skip);
  CHECK(item(r, "firmware").detail.find("needs root") != std::string::npos);
  CHECK(h.loads_.empty());
}

TEST_CASE("the kernel log's verdict counts when the MSRs cannot be read") {
  FakeHost h = intel_host();
  h.privileged_ = false;
  h.kernel_log_ = "x86/cpu: VMX (outside TXT) disabled by BIOS\n";
  h.probe_ = {.open_errno = ENOENT};
  h.kernel_stats_.erase("/dev/kvm");
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "disabled-in-firmware");
  CHECK(item(r, "firmware").state == CheckState::fail);
}

TEST_CASE("an unreadable kernel log is named, not fatal") {
  FakeHost h = intel_host();
  h.kernel_log_.reset();
  CheckReport r = run_fake(h);
  CHECK(item(r, "firmware").detail.find("kernel log not read") != std::string::npos);
  CHECK(r.verdict.reason == "ok");
}

TEST_CASE("ok-paravirtual: the probe works without VT flags (kvm_pvm)") {
  FakeHost h = intel_host();
  h.kernel_files_["/proc/cpuinfo"] = slurp(kData + "/cpuinfo/amd-epyc-vm-kvm-pvm.cpuinfo");
  h.modules_["kvm_pvm"] = {.name = "kvm_pvm", .state = ModuleState::builtin, .found = true};
  h.modules_["kvm"].state = ModuleState::builtin;
  h.kernel_files_.erase("/sys/module/kvm_intel/parameters/nested");
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "ok-paravirtual");
  CHECK(r.verdict.usable);
  CHECK(item(r, "kernel").detail.find("kvm_pvm built in") != std::string::npos);
  CHECK(item(r, "nested").state == CheckState::skip);
}

TEST_CASE("a world-writable /dev/kvm works but is named") {
  FakeHost h = intel_host();
  h.kernel_stats_["/dev/kvm"] = char_device(0666, 0, 0);
  CheckReport r = run_fake(h);
  CHECK(r.verdict.usable);
  CHECK(item(r, "device").state == CheckState::warn);
  CHECK(item(r, "device").hint.starts_with("world-writable"));
}

TEST_CASE("permission-denied: this process cannot open /dev/kvm") {
  FakeHost h = intel_host();
  h.privileged_ = false;
  h.accounts_[""] = {.user = "bob", .uid = 1001, .open_errno = EACCES, .opened_as_user = true};
  h.probe_ = {.open_errno = EACCES};
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "permission-denied");
  CHECK_FALSE(r.verdict.usable);
  CHECK(r.verdict.advice.find("add bob to group \"kvm\"") != std::string::npos);
}

TEST_CASE("permission-denied for a mode 0600 device names udev, not a group") {
  FakeHost h = intel_host();
  h.kernel_stats_["/dev/kvm"] = char_device(0600, 0, 0);
  CheckReport r = run_fake(h, {.user = "alice"});
  CHECK(r.verdict.reason == "permission-denied");
  CHECK(r.verdict.advice.find("udev") != std::string::npos);
}

TEST_CASE("kernel-without-kvm: /dev/kvm opens but KVM_CREATE_VM fails") {
  FakeHost h = intel_host();
  h.probe_ = {.opened = true, .api_version = 12, .vm_errno = EBUSY};
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "kernel-without-kvm");
  CHECK(item(r, "probe").detail == "KVM_CREATE_VM failed: Device or resource busy");
}

TEST_CASE("for the journal: FAIL lines and a verdict of not usable at <3>, WARN at <4>") {
  FakeHost h = intel_host();
  h.modules_["kvm"].state = h.modules_["kvm_intel"].state = ModuleState::absent;
  h.kernel_stats_.erase("/dev/kvm");
  h.probe_ = {.open_errno = ENOENT};
  CheckReport r = run_fake(h);
  const std::string text = render_check(r, {.journal = true});
  CHECK(text.find("\n<4>WARN kernel: ") != std::string::npos);
  CHECK(text.find("\n<3>FAIL /dev/kvm: missing\n") != std::string::npos);
  CHECK(text.find("\n<3>verdict: not usable (module-not-loaded)") != std::string::npos);
  CHECK(text.find("\n     hint: ") != std::string::npos);  // continuation lines: no prefix
  CHECK(text.find("<5>") == std::string::npos);
  CHECK(render_check(r, {}).find('<') == std::string::npos);
}

TEST_CASE("module-not-loaded: VT present, modules on disk but not loaded") {
  FakeHost h = intel_host();
  h.modules_["kvm"].state = h.modules_["kvm_intel"].state = ModuleState::absent;
  h.kernel_stats_.erase("/dev/kvm");
  h.probe_ = {.open_errno = ENOENT};
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "module-not-loaded");
  CHECK(item(r, "kernel").state == CheckState::warn);
  CHECK(item(r, "device").state == CheckState::fail);
}

TEST_CASE("without libkmod a module that is not loaded is reported so, with the library's error") {
  const std::string why =
      "library \"libkmod.so.2\" cannot be loaded: libkmod.so.2: cannot open shared object file: "
      "No such file or directory (install libkmod2 or kmod-libs)";
  FakeHost h = intel_host();
  h.modules_["kvm_intel"] = {.name = "kvm_intel", .unknown_because = why};
  h.kernel_stats_.erase("/dev/kvm");
  h.probe_ = {.open_errno = ENOENT};
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "module-not-loaded");
  CHECK(item(r, "kernel").state == CheckState::warn);
  CHECK(item(r, "kernel").detail.find("kvm_intel not loaded (" + why + ")") != std::string::npos);
}

TEST_CASE("module-not-loaded names the blacklist") {
  FakeHost h = intel_host();
  h.modules_["kvm_intel"].state = ModuleState::absent;
  h.modules_["kvm_intel"].blacklisted_by = "/etc/modprobe.d/no-kvm.conf";
  h.kernel_stats_.erase("/dev/kvm");
  h.probe_ = {.open_errno = ENOENT};
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "module-not-loaded");
  CHECK(r.verdict.advice.find("/etc/modprobe.d/no-kvm.conf") != std::string::npos);
}

TEST_CASE("the nova-compute log: the hvm error explained, differently when KVM works now") {
  FakeHost h = intel_host();
  h.files_["/var/log/nova/nova-compute.log"] =
      "ERROR nova.compute.manager libvirtError: no supported architecture for os type 'hvm'\n";
  CheckReport r = run_fake(h);
  CHECK(item(r, "nova-log").state == CheckState::warn);
  CHECK(item(r, "nova-log").detail.find("KVM modules were not loaded when the guest started") !=
        std::string::npos);
  CHECK(item(r, "nova-log").hint.find("restart libvirtd and nova-compute") != std::string::npos);
  h.files_["/tmp/other.log"] = "all fine\n";
  r = run_fake(h, {.log_path = "/tmp/other.log"});
  CHECK(item(r, "nova-log").state == CheckState::pass);
  r = run_fake(h, {.log_path = "/tmp/missing.log"});
  CHECK(item(r, "nova-log").state == CheckState::warn);
}

// --- Fixture trees through LinuxHost (kernel_root): /proc, /sys, /dev and kernel log snapshots.

TEST_CASE("fixture intel-firmware-disabled: the kernel log says VMX disabled by BIOS") {
  CheckReport r = run_fixture("intel-firmware-disabled");
  CHECK(r.verdict.reason == "disabled-in-firmware");
  CHECK(item(r, "firmware").state == CheckState::fail);
  CHECK(item(r, "firmware").detail.find("VMX (outside TXT) disabled by BIOS") != std::string::npos);
  CHECK(item(r, "cpu").detail.find("no \"vmx\" flag") != std::string::npos);
}

TEST_CASE("fixture amd-guest-nosvm: a guest without svm is nested-without-vt") {
  CheckReport r = run_fixture("amd-guest-nosvm");
  CHECK(r.verdict.reason == "nested-without-vt");
  CHECK(item(r, "firmware").detail.find("has_svm: svm not available") != std::string::npos);
  CHECK(item(r, "probe").state == CheckState::fail);
}

TEST_CASE("a guest of an emulator (QEMU TCG) without svm has no hardware support") {
  auto host = make_linux_host({.kernel_root = kData + "/check/amd-guest-nosvm"});
  Facts facts = observe(*host, default_profile());
  facts.cpu.hypervisor_id = "TCGTCGTCGTCG";
  CheckReport r = run_check(*host, facts, {.log_path = "/nonexistent"});
  CHECK(r.verdict.reason == "no-hardware-support");
  CHECK(r.verdict.virt_type == "qemu");
}

TEST_CASE("fixture intel-no-vmx: bare metal without vmx is no-hardware-support") {
  CheckReport r = run_fixture("intel-no-vmx");
  CHECK(r.verdict.reason == "no-hardware-support");
  CHECK(r.verdict.virt_type == "qemu");
}

TEST_CASE("fixture no-kvm-kernel: no module support and no kvm built in") {
  CheckReport r = run_fixture("no-kvm-kernel");
  CHECK(r.verdict.reason == "kernel-without-kvm");
  CHECK(item(r, "kernel").detail.find("kernel without loadable-module support") !=
        std::string::npos);
}

TEST_CASE("fixture modules-missing: /lib/modules/<release> not installed; nova log explained") {
  CheckReport r = run_fixture("modules-missing");
  CHECK(r.verdict.reason == "module-missing");
  CHECK(r.verdict.advice.find("/lib/modules/6.1.0-test-amd64") != std::string::npos);
  CHECK(item(r, "nova-log").state == CheckState::fail);
  // The log's line points at the verdict's cause (the modules package), not at another fix.
  CHECK(item(r, "nova-log").hint.find("(module-missing)") != std::string::npos);
  CHECK(item(r, "nova-log").hint.find("kvmprov apply") == std::string::npos);
}

TEST_CASE("fixture no-dev-kvm: modules loaded but no device node") {
  CheckReport r = run_fixture("no-dev-kvm");
  CHECK(r.verdict.reason == "no-device-node");
  CHECK(item(r, "kernel").state == CheckState::pass);
  CHECK(item(r, "nested").detail == "kvm_intel nested=Y: guests can run KVM themselves");
  CHECK(item(r, "io").detail.find("DMAR table, 0 IOMMU groups") != std::string::npos);
  CHECK(item(r, "io").hint.find("intel_iommu=on") != std::string::npos);
}

TEST_CASE("every reason code is reached by a test above") {
  std::set<std::string> reached;
  for (const char* f : {"intel-firmware-disabled", "amd-guest-nosvm", "intel-no-vmx",
                        "no-kvm-kernel", "modules-missing", "no-dev-kvm"})
    reached.insert(run_fixture(f).verdict.reason);
  FakeHost ok = intel_host();
  reached.insert(run_fake(ok).verdict.reason);
  FakeHost pvm = intel_host();
  pvm.kernel_files_["/proc/cpuinfo"] = slurp(kData + "/cpuinfo/amd-epyc-vm-kvm-pvm.cpuinfo");
  pvm.modules_["kvm_pvm"] = {.name = "kvm_pvm", .state = ModuleState::builtin, .found = true};
  reached.insert(run_fake(pvm).verdict.reason);
  FakeHost denied = intel_host();
  reached.insert(run_fake(denied, {.user = "alice"}).verdict.reason);
  FakeHost unprobed = nobody_host();
  reached.insert(run_fake(unprobed, {.user = "root"}).verdict.reason);
  FakeHost unloaded = intel_host();
  unloaded.modules_["kvm_intel"].state = ModuleState::absent;
  unloaded.kernel_stats_.erase("/dev/kvm");
  unloaded.probe_ = {.open_errno = ENOENT};
  reached.insert(run_fake(unloaded).verdict.reason);
  std::set<std::string> all(check_reasons().begin(), check_reasons().end());
  CHECK(reached == all);
}

// --- One user per run: the /dev/kvm line, the probe and the verdict are about the same user.

TEST_CASE("--user root asked by a user who cannot open /dev/kvm: not probed, root not blamed") {
  FakeHost h = nobody_host();
  CheckReport r = run_fake(h, {.user = "root"});
  CHECK(item(r, "device").state == CheckState::pass);
  CHECK(item(r, "device").detail ==
        "root:kvm 0660; user \"root\" can open it (from the mode bits)");
  CHECK(item(r, "probe").state == CheckState::skip);
  CHECK(item(r, "probe").detail ==
        "not run as \"root\": kvmprov runs as \"nobody\", who cannot open /dev/kvm (Permission "
        "denied), and only root can take another user's credentials");
  CHECK(item(r, "probe").hint == "run as root to probe as another user");
  CHECK_FALSE(r.verdict.usable);
  CHECK(r.verdict.reason == "not-probed");
  CHECK(r.verdict.advice ==
        "the KVM probe could not run as \"root\": kvmprov runs as \"nobody\", who cannot open "
        "/dev/kvm; run as root to probe as another user");
  for (const auto& i : r.items) CHECK(i.hint.find("group") == std::string::npos);
  CHECK(r.verdict.virt_type == "qemu");
}

TEST_CASE("--user asked by a user who can open /dev/kvm: the caller's probe, named as such") {
  FakeHost h = nobody_host();
  h.accounts_[""].open_errno = 0;
  h.accounts_[""].can_open = true;
  h.probe_ = probe_ok();
  h.accounts_["alice"].can_open = true;
  h.accounts_["alice"].open_errno = 0;
  CheckReport r = run_fake(h, {.user = "alice"});
  CHECK(item(r, "probe").state == CheckState::pass);
  CHECK(item(r, "probe").detail ==
        "as \"nobody\" (running kvmprov), not as \"alice\": API 12, KVM_CREATE_VM and "
        "KVM_CREATE_VCPU succeeded");
  CHECK(item(r, "probe").hint == "run as root to probe as another user");
  CHECK(r.verdict.usable);
  // The kernel works, and alice may open the node by its bits: usable for alice.
  CHECK(r.verdict.reason == "ok");
  CHECK(h.probed_as_.empty());
}

TEST_CASE("--user as root: the probe runs as that user, so the probe line and the verdict agree") {
  FakeHost h = intel_host();
  CheckReport r = run_fake(h, {.user = "alice"});
  CHECK(h.probed_as_ == std::vector<std::string>{"alice"});
  CHECK(item(r, "probe").state == CheckState::fail);
  CHECK(item(r, "probe").detail == "as \"alice\": cannot open /dev/kvm: Permission denied");
  CHECK(r.verdict.reason == "permission-denied");
  CHECK(r.verdict.advice.starts_with("alice cannot open /dev/kvm"));

  h.accounts_["alice"].groups.push_back(108);
  h.accounts_["alice"].can_open = true;
  h.accounts_["alice"].open_errno = 0;
  r = run_fake(h, {.user = "alice"});
  CHECK(item(r, "probe").detail ==
        "as \"alice\": API 12, KVM_CREATE_VM and KVM_CREATE_VCPU succeeded");
  CHECK(item(r, "probe").hint.empty());
  CHECK(r.verdict.reason == "ok");
}

TEST_CASE("--user naming the running user: probed as this process, no other user is named") {
  FakeHost h = intel_host();
  h.privileged_ = false;
  h.accounts_[""] = {.user = "alice",
                     .uid = 1000,
                     .gid = 1000,
                     .groups = {1000, 108},
                     .can_open = true,
                     .opened_as_user = true};
  h.accounts_["alice"] = h.accounts_[""];
  h.accounts_["alice"].opened_as_user = false;
  CheckReport r = run_fake(h, {.user = "alice"});
  CHECK(h.probed_as_.empty());
  CHECK(item(r, "probe").detail ==
        "as \"alice\": API 12, KVM_CREATE_VM and KVM_CREATE_VCPU succeeded");
  CHECK(r.verdict.reason == "ok");
}

TEST_CASE("root refused /dev/kvm: the advice names what refuses it, never a group for root") {
  FakeHost h = intel_host();
  h.accounts_[""] = {.user = "root", .open_errno = EACCES, .opened_as_user = true};
  h.probe_ = {.open_errno = EACCES};
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "permission-denied");
  CHECK(r.verdict.advice ==
        "root cannot open /dev/kvm (root:kvm 0660): its mode bits let \"root\" open it, so an "
        "ACL, a security module (SELinux, AppArmor) or a device cgroup refuses it: see the audit "
        "log");
  CHECK(item(r, "device").hint == r.verdict.advice.substr(r.verdict.advice.find("): ") + 3));
  CHECK(r.verdict.advice.find("usermod") == std::string::npos);
}

TEST_CASE("a member of the device's group refused on open is not told to join it") {
  FakeHost h = intel_host();
  h.accounts_["alice"].groups.push_back(108);
  CheckReport r = run_fake(h, {.user = "alice"});
  CHECK(r.verdict.reason == "permission-denied");
  CHECK(r.verdict.advice.find("security module") != std::string::npos);
  CHECK(item(r, "device").hint.find("usermod") == std::string::npos);
}

TEST_CASE("probe_as: opens with the user's credentials, in a child" *
          doctest::skip(geteuid() != 0)) {
  kvmprov::test::TempDir dir("kvmprov-probe");
  kvmprov::test::put(dir / "/rootonly", "");
  REQUIRE(chmod((dir / "/rootonly").c_str(), 0600) == 0);
  const UserAccess nobody{.user = "nobody", .uid = 65534, .gid = 65534, .groups = {65534}};
  auto refused = probe_as(nobody, dir / "/rootonly");
  REQUIRE(refused);
  CHECK_FALSE(refused->opened);
  CHECK(refused->open_errno == EACCES);
  // /dev/null opens for anyone, and is no KVM device.
  auto opened = probe_as(nobody, "/dev/null");
  REQUIRE(opened);
  CHECK(opened->opened);
  CHECK(opened->api_version == -1);
  CHECK_FALSE(opened->ok());
  const UserAccess root{.user = "root"};
  auto as_root = probe_as(root, dir / "/rootonly");
  REQUIRE(as_root);
  CHECK(as_root->opened);
}

// --- Hints that fit the host: a load it can do, kernel parameters it has, installed paths.

TEST_CASE("a kernel without module support is never told to modprobe") {
  FakeHost h = intel_host();
  h.kernel_files_.erase("/proc/modules");
  h.modules_["vhost_net"].state = ModuleState::absent;
  h.kernel_stats_.erase("/dev/vhost-net");
  CheckReport r = run_fake(h);
  CHECK(item(r, "io").state == CheckState::warn);
  CHECK(item(r, "io").hint.find("modprobe") == std::string::npos);
  CHECK(item(r, "io").hint.starts_with(
      "this kernel cannot load modules and has no vhost_net built in: boot a kernel with it built "
      "in or with module support"));
}

TEST_CASE("a module that is missing, blacklisted, or loaded without its node gets that fix") {
  FakeHost h = intel_host();
  h.kernel_stats_.erase("/dev/vhost-net");
  h.kernel_stats_.erase("/dev/net/tun");
  h.modules_["vhost_net"].state = ModuleState::absent;
  h.modules_["vhost_net"].blacklisted_by = "/etc/modprobe.d/no-vhost.conf";
  CheckReport r = run_fake(h);
  CHECK(item(r, "io").hint ==
        "\"vhost_net\" is blacklisted in /etc/modprobe.d/no-vhost.conf: remove that entry, then "
        "load vhost_net (modprobe vhost_net); \"tun\" is not in /lib/modules/6.1.0-test-amd64: "
        "install the modules package for 6.1.0-test-amd64");
  h.modules_["vhost_net"] = {.name = "vhost_net", .state = ModuleState::live, .found = true};
  h.available("tun");
  r = run_fake(h);
  CHECK(item(r, "io").hint ==
        "vhost_net is loaded but /dev/vhost-net is missing: udevadm trigger, or mount devtmpfs on "
        "/dev; load tun (modprobe tun)");
}

TEST_CASE("the libvirt item follows the probe; its FAIL becomes the verdict, virt_type stays kvm") {
  FakeHost h = intel_host();
  int calls = 0;
  Verdict seen;
  CheckState state = CheckState::fail;
  CheckOptions o;
  o.libvirt = [&](Host&, const Verdict& v) {
    ++calls;
    seen = v;
    CheckItem item{.id = "libvirt",
                   .title = "libvirt offers KVM guests (qemu:///system)",
                   .state = state,
                   .detail = "no libvirt daemon listens on \"/run/libvirt/libvirt-sock-ro\"",
                   .hint = "start it: systemctl enable --now libvirtd.service"};
    return std::pair{item, std::string("libvirt-daemon-not-running")};
  };
  CheckReport r = run_fake(h, o);
  CHECK(calls == 1);
  // Asked with the kernel's verdict.
  CHECK(seen.usable);
  CHECK(seen.reason == "ok");
  CHECK(ids(r) == std::vector<std::string>{"cpu", "firmware", "kernel", "device", "probe",
                                           "libvirt", "nested", "io", "nova-log"});
  CHECK_FALSE(r.verdict.usable);
  CHECK(r.verdict.reason == "libvirt-daemon-not-running");
  CHECK(r.verdict.virt_type == "kvm");
  CHECK(r.verdict.advice ==
        "the kernel runs KVM guests, but libvirt cannot: no libvirt daemon listens on "
        "\"/run/libvirt/libvirt-sock-ro\" (start it: systemctl enable --now libvirtd.service)");
  CHECK(check_json(r)["verdict"]["exit_status"] == 1);

  // PASS and SKIP leave the kernel's verdict.
  for (CheckState other : {CheckState::pass, CheckState::skip}) {
    state = other;
    r = run_fake(h, o);
    CHECK(r.verdict.usable);
    CHECK(r.verdict.reason == "ok");
  }
  // Without the option (plan and apply deciding virt_type: auto), no item and no question.
  calls = 0;
  r = run_fake(h);
  CHECK(calls == 0);
  const std::vector<std::string> without = ids(r);
  CHECK(std::find(without.begin(), without.end(), "libvirt") == without.end());
}

TEST_CASE("in a container: no module loaded, and every fix is the host's or the container's") {
  // The kernel and its modules are the host's: msr is not loaded for the firmware reading, a
  // module that is not loaded is the host's to load, and a missing node is the container's to
  // be given. Each manager gets its own way of passing a device in.
  FakeHost h = intel_host();
  h.modules_["kvm"].state = h.modules_["kvm_intel"].state = ModuleState::absent;
  h.kernel_stats_.erase("/dev/kvm");
  h.kernel_stats_.erase("/dev/vhost-net");
  h.probe_ = {.open_errno = ENOENT};
  CheckReport r = run_fake(h, {.container = "docker"});
  CHECK(h.loads_.empty());
  CHECK(item(r, "firmware").state == CheckState::skip);
  CHECK(item(r, "firmware")
            .detail.starts_with(
                "MSRs not read: in a container (docker), /dev/cpu/N/msr is not passed in"));
  CHECK(r.verdict.reason == "module-not-loaded");
  CHECK(r.verdict.advice ==
        "module \"kvm\" is not loaded: in a container (docker), modules are the host's: load kvm "
        "on the host (modprobe kvm) and list it in the host's /etc/modules-load.d");
  CHECK(item(r, "kernel").hint == r.verdict.advice.substr(r.verdict.advice.find("in a")));
  CHECK(r.verdict.advice.find("kvmprov apply") == std::string::npos);
  CHECK(check_json(r)["container"] == "docker");

  // Loaded on the host, not passed in.
  h.modules_["kvm"].state = h.modules_["kvm_intel"].state = ModuleState::live;
  h.modules_["vhost_net"].state = ModuleState::live;
  r = run_fake(h, {.container = "podman"});
  CHECK(r.verdict.reason == "no-device-node");
  CHECK(r.verdict.advice ==
        "the KVM modules are loaded but /dev/kvm is missing: in a container (podman), device "
        "nodes are the host's: pass /dev/kvm in (podman run --device /dev/kvm)");
  CHECK(item(r, "device").hint ==
        "in a container (podman), device nodes are the host's: pass /dev/kvm in (podman run "
        "--device /dev/kvm)");
  CHECK(
      item(r, "io").hint.starts_with("in a container (podman), device nodes are the host's: "
                                     "pass /dev/vhost-net in (podman run --device "
                                     "/dev/vhost-net)"));
  r = run_fake(h, {.container = "systemd-nspawn"});
  CHECK(item(r, "device").hint.ends_with("(systemd-nspawn --bind=/dev/kvm)"));
  r = run_fake(h, {.container = "lxc"});
  CHECK(item(r, "device").hint.find("lxc.mount.entry = /dev/kvm dev/kvm none bind,create=file") !=
        std::string::npos);
  CHECK(h.loads_.empty());

  // Not in a container: the host's own fixes, and "container" is null in the JSON.
  r = run_fake(h);
  CHECK(r.verdict.advice.find("udevadm trigger") != std::string::npos);
  CHECK(check_json(r)["container"].is_null());
}

TEST_CASE("module loading disabled until reboot: no line advises a load now") {
  FakeHost h = intel_host();
  h.kernel_files_["/proc/sys/kernel/modules_disabled"] = "1\n";
  h.modules_["kvm"].state = h.modules_["kvm_intel"].state = ModuleState::absent;
  h.kernel_stats_.erase("/dev/kvm");
  h.probe_ = {.open_errno = ENOENT};
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "module-not-loaded");
  const std::string fix =
      "module loading is disabled until the next boot (kernel.modules_disabled=1): list kvm in "
      "/etc/modules-load.d (kvmprov apply does for its profile's modules), then reboot";
  CHECK(item(r, "kernel").hint == fix);
  CHECK(r.verdict.advice == "module \"kvm\" is not loaded: " + fix);
}

TEST_CASE("without libkmod the load fix installs it first") {
  FakeHost h = intel_host();
  h.modules_["kvm_intel"] = {.name = "kvm_intel", .unknown_because = "libkmod is missing"};
  h.kernel_stats_.erase("/dev/kvm");
  h.probe_ = {.open_errno = ENOENT};
  CheckReport r = run_fake(h);
  CHECK(item(r, "kernel").hint ==
        "install kmod's library (libkmod2 or kmod-libs), then kvmprov apply");
  CHECK(r.verdict.advice.ends_with(item(r, "kernel").hint));
}

TEST_CASE("IOMMU hints use only documented kernel parameters, by the firmware's table") {
  FakeHost h = intel_host();
  h.kernel_files_["/proc/cpuinfo"] = slurp(kData + "/cpuinfo/qemu-tcg-EPYC.cpuinfo");
  std::string& cpuinfo = h.kernel_files_["/proc/cpuinfo"];
  for (size_t at; (at = cpuinfo.find(" hypervisor")) != std::string::npos;) cpuinfo.erase(at, 11);
  h.kernel_files_.erase("/sys/firmware/acpi/tables/DMAR");
  h.kernel_files_["/sys/firmware/acpi/tables/IVRS"] = "";
  h.kernel_dirs_["/sys/kernel/iommu_groups"] = {};
  CheckReport r = run_fake(h);
  // amd_iommu has no "on": the AMD IOMMU is on unless something turned it off.
  CHECK(item(r, "io").hint.find("amd_iommu=on") == std::string::npos);
  CHECK(item(r, "io").hint ==
        "the firmware describes an IOMMU (IVRS table) but the kernel did not enable it: see its "
        "log (AMD-Vi)");
  h.kernel_files_["/proc/cmdline"] = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 amd_iommu=off quiet\n";
  r = run_fake(h);
  CHECK(item(r, "io").hint ==
        "remove amd_iommu=off from the kernel command line for device passthrough");
  h.kernel_files_["/proc/cmdline"] = "root=/dev/sda1 iommu=off\n";
  r = run_fake(h);
  CHECK(item(r, "io").hint ==
        "remove iommu=off from the kernel command line for device passthrough");
  h.kernel_files_["/proc/cmdline"] = "root=/dev/sda1\n";
  h.kernel_files_["/boot/config-" + h.release_] = "CONFIG_KVM=m\n# CONFIG_AMD_IOMMU is not set\n";
  r = run_fake(h);
  CHECK(item(r, "io").hint ==
        "this kernel is built without CONFIG_AMD_IOMMU: boot one with it for device passthrough");
}

TEST_CASE("intel_iommu=on is advised only when the kernel lacks it and does not default to it") {
  FakeHost h = intel_host();
  h.kernel_dirs_["/sys/kernel/iommu_groups"] = {};
  CheckReport r = run_fake(h);
  CHECK(item(r, "io").hint ==
        "add intel_iommu=on to the kernel command line for device passthrough");
  h.kernel_files_["/proc/cmdline"] = "root=/dev/sda1 intel_iommu=on,igfx_off\n";
  r = run_fake(h);
  CHECK(item(r, "io").hint.find("intel_iommu=on") == std::string::npos);
  h.kernel_files_["/proc/cmdline"] = "root=/dev/sda1 intel_iommu=off\n";
  r = run_fake(h);
  CHECK(item(r, "io").hint ==
        "remove intel_iommu=off from the kernel command line for device passthrough");
  h.kernel_files_["/proc/cmdline"] = "root=/dev/sda1\n";
  h.kernel_files_["/boot/config-" + h.release_] =
      "CONFIG_INTEL_IOMMU=y\nCONFIG_INTEL_IOMMU_DEFAULT_ON=y\n";
  r = run_fake(h);
  CHECK(item(r, "io").hint.find("intel_iommu=on") == std::string::npos);
}

TEST_CASE("run as root is advised only where root could read the firmware's state") {
  FakeHost h = intel_host();
  h.privileged_ = false;
  h.kernel_files_.erase("/proc/modules");
  CheckReport r = run_fake(h);
  CHECK(item(r, "firmware").state == CheckState::skip);
  CHECK(item(r, "firmware")
            .detail.starts_with(
                "MSRs not read: no msr driver built in, and the kernel cannot load modules"));
  CHECK(item(r, "firmware").hint.empty());
  // Bare metal without VT: root could not rule out the firmware either.
  std::string& cpuinfo = h.kernel_files_["/proc/cpuinfo"];
  for (size_t at; (at = cpuinfo.find(" vmx ")) != std::string::npos;) cpuinfo.erase(at, 4);
  h.kernel_stats_.erase("/dev/kvm");
  h.probe_ = {.open_errno = ENOENT};
  r = run_fake(h);
  CHECK(r.verdict.reason == "no-hardware-support");
  CHECK(r.verdict.advice.find("run as root") == std::string::npos);
  h.kernel_files_["/proc/modules"] = "";
  r = run_fake(h);
  CHECK(item(r, "firmware").hint == "run as root to read the firmware's VT state");
  CHECK(r.verdict.advice.ends_with("(run as root to rule out VT disabled in the firmware)"));
}

TEST_CASE(
    "the nested hint names the installed profile, or the command line for a built-in module") {
  FakeHost h = intel_host();
  h.kernel_files_["/sys/module/kvm_intel/parameters/nested"] = "N\n";
  CheckReport r = run_fake(h);
  const std::string installed = std::string(KVMPROV_PROFILE_DIR) + "/nested.yaml";
  CHECK(installed.starts_with("/"));
  CHECK(item(r, "nested").hint ==
        "to enable: kvmprov --profile " + installed + " apply --allow-reload (when no guest runs)");
  h.modules_["kvm_intel"].state = ModuleState::builtin;
  r = run_fake(h);
  CHECK(item(r, "nested").hint ==
        "kvm_intel is built into the kernel: add kvm_intel.nested=1 to the kernel command line, "
        "then reboot");
}

TEST_CASE("the nova-compute log's hint follows the verdict's reason") {
  FakeHost h = intel_host();
  h.files_["/var/log/nova/nova-compute.log"] = std::string("x ") + kNoHvmMessage + "\n";
  h.kernel_stats_["/dev/kvm"] = char_device(0600, 0, 0);
  CheckReport r = run_fake(h, {.user = "alice"});
  CHECK(r.verdict.reason == "permission-denied");
  CHECK(item(r, "nova-log").hint ==
        "KVM is not usable now (permission-denied): do what the verdict says, then restart "
        "libvirtd and nova-compute");
}

// --- --log: the end of a log of any size, from a file or a stream.

TEST_CASE("log_tail keeps whole lines of the last bytes") {
  CHECK(log_tail("a\nbb\n", 10).text == "a\nbb\n");
  CHECK_FALSE(log_tail("a\nbb\n", 10).truncated);
  // Cut inside "first": that line is dropped whole.
  LogTail t = log_tail("first line\nsecond\n", 10);
  CHECK(t.truncated);
  CHECK(t.text == "second\n");
  // Cut just after a newline: the next line is whole and kept.
  CHECK(log_tail("first\nsecond\n", 7).text == "second\n");
  // One line longer than the bound is kept as it is.
  CHECK(log_tail("abcdefghij", 4).text == "ghij");
}

TEST_CASE("--log larger than the whole-file limit: its end is searched, and said so") {
  kvmprov::test::TempDir dir("kvmprov-log");
  const std::string line = "2024-01-01 INFO nova.compute.manager nothing to see here\n";
  std::string text;
  text.reserve(kLogTailBytes + (2 << 20));
  text += std::string("ERROR early: ") + kNoHvmMessage + "\n";  // beyond the tail
  while (text.size() < kLogTailBytes + (1 << 20)) text += line;
  text += std::string("ERROR libvirtError: ") + kNoHvmMessage + "\n";
  kvmprov::test::put(dir / "/nova-compute.log", text);
  CheckReport r = run_fixture("modules-missing", {.log_path = dir / "/nova-compute.log"});
  CHECK(item(r, "nova-log").state == CheckState::fail);
  CHECK(item(r, "nova-log")
            .detail.starts_with(std::string("\"") + kNoHvmMessage +
                                "\" 1 time in the last 16 MiB of " + dir.path()));
}

TEST_CASE("--log from a pipe: read to its end, its tail kept in bounded memory") {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  std::thread writer([fd = fds[1]] {
    const std::string filler(1 << 16, 'x');
    std::string chunk;
    for (int i = 0; i < 8; ++i) chunk += filler.substr(0, (1 << 16) - 1) + "\n";
    for (size_t written = 0; written < kLogTailBytes + (4 << 20); written += chunk.size())
      if (write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) break;
    const std::string last = std::string("ERROR ") + kNoHvmMessage + "\n";
    (void)!write(fd, last.data(), last.size());
    close(fd);
  });
  auto tail = read_log_tail("/proc/self/fd/" + std::to_string(fds[0]), kLogTailBytes);
  writer.join();
  close(fds[0]);
  REQUIRE(tail);
  REQUIRE(*tail);
  CHECK((*tail)->truncated);
  CHECK((*tail)->text.size() <= kLogTailBytes);
  CHECK((*tail)->text.ends_with(std::string("ERROR ") + kNoHvmMessage + "\n"));
  CHECK((*tail)->text.front() == 'x');
}

TEST_CASE("--log naming a FIFO without a writer reads as empty instead of hanging") {
  kvmprov::test::TempDir dir("kvmprov-fifo");
  REQUIRE(mkfifo((dir / "/log").c_str(), 0600) == 0);
  auto tail = read_log_tail(dir / "/log", kLogTailBytes);
  REQUIRE(tail);
  REQUIRE(*tail);
  CHECK((*tail)->text.empty());
  auto missing = read_log_tail(dir / "/none", kLogTailBytes);
  REQUIRE(missing);
  CHECK_FALSE(*missing);
  auto directory = read_log_tail(dir.path(), kLogTailBytes);
  REQUIRE_FALSE(directory);
  CHECK(directory.error().message == "cannot read \"" + dir.path() + "\": Is a directory");
}

// --- --fact: the overridden facts are the only CPU facts every line and the verdict use.

TEST_CASE("--fact cpu_vendor=amd on an Intel CPU: assumed, not present; no Intel MSR misread") {
  FakeHost h = intel_host();
  h.cpuid_vendor_ = "GenuineIntel";
  Facts facts = observe(h, default_profile());
  REQUIRE(override_fact(facts, "cpu_vendor=amd"));
  CheckReport r = run_check(h, facts);
  CHECK(item(r, "cpu").detail ==
        "amd (--fact cpu_vendor); \"svm\" flag assumed (--fact cpu_vendor); not under a "
        "hypervisor");
  CHECK(item(r, "firmware")
            .detail.starts_with("MSRs not read: --fact cpu_vendor=amd, but this CPU is intel"));
  CHECK(h.loads_.empty());
  CHECK(r.verdict.reason == "ok");
  for (const auto& i : r.items) {
    CHECK(i.detail.find("present") == std::string::npos);
    CHECK(i.detail.find("without VT") == std::string::npos);
  }
  // The DMAR table says Intel's IOMMU, whatever the forced vendor.
  h.kernel_dirs_["/sys/kernel/iommu_groups"] = {};
  r = run_check(h, facts);
  CHECK(item(r, "io").hint ==
        "add intel_iommu=on to the kernel command line for device passthrough");
}

TEST_CASE("--fact vmx=false on a working host: the paravirtual verdict names the fact") {
  FakeHost h = intel_host();
  Facts facts = observe(h, default_profile());
  REQUIRE(override_fact(facts, "vmx=false"));
  CheckReport r = run_check(h, facts);
  CHECK(item(r, "cpu").detail.find("no \"vmx\" flag (--fact vmx)") != std::string::npos);
  CHECK(r.verdict.reason == "ok-paravirtual");
  CHECK(r.verdict.advice ==
        "KVM acceleration can be used: the kernel provides KVM without VT flags (--fact vmx)");
}

TEST_CASE("check names the facts it reasons with") {
  for (std::string_view key : check_fact_keys())
    CHECK(std::find(fact_keys().begin(), fact_keys().end(), key) != fact_keys().end());
  CHECK(std::find(check_fact_keys().begin(), check_fact_keys().end(), "kvm_usable") ==
        check_fact_keys().end());
}

// --- The real machine: the test issues the ioctls itself and expects the same verdict.

TEST_CASE("the real probe on this machine agrees with an independent one") {
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0 && errno == ENOENT) {
    MESSAGE("skipped: no /dev/kvm on this machine, nothing to probe");
    return;
  }
  const int open_errno = kvm < 0 ? errno : 0;
  bool usable = false;
  if (kvm >= 0) {
    if (ioctl(kvm, KVM_GET_API_VERSION, 0) == 12) {
      int vm = ioctl(kvm, KVM_CREATE_VM, 0);
      if (vm >= 0) {
        int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
        usable = vcpu >= 0;
        if (vcpu >= 0) close(vcpu);
        close(vm);
      }
    }
    close(kvm);
  }
  std::string flags;
  std::istringstream cpuinfo(slurp("/proc/cpuinfo"));
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("flags", 0) == 0) {
      flags = line + " ";
      break;
    }
  const bool vt =
      flags.find(" vmx ") != std::string::npos || flags.find(" svm ") != std::string::npos;

  auto host = make_linux_host({});
  CheckReport r = run_check(*host, observe(*host, default_profile()));
  MESSAGE("this machine: " << r.verdict.reason << " (" << r.verdict.advice << ")");
  CHECK(r.verdict.usable == usable);
  CHECK(r.verdict.virt_type == (usable ? "kvm" : "qemu"));
  if (usable) CHECK(r.verdict.reason == (vt ? "ok" : "ok-paravirtual"));
  if (open_errno == EACCES) CHECK(r.verdict.reason == "permission-denied");
}
