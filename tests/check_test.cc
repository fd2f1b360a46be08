// SPDX-License-Identifier: MIT
// check as a whole: the lines in order, every verdict reason from fixture trees (through
// LinuxHost) or injected host state (through FakeHost), the msr load around the firmware reading,
// exact output snapshots, and the real probe on the machine running the tests. The rules behind
// each hint are in check_judge_test.cc.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <utility>

#include "check.h"
#include "check_hosts.h"
#include "libvirt.h"
#include "util/unique_fd.h"

using namespace kvmprov;
using namespace kvmprov::test;

namespace {

// The probe done here with the ioctls themselves: whether a VM and a vCPU could be created, and
// open's errno (0 when /dev/kvm opened).
std::pair<bool, int> independent_probe() {
  UniqueFd kvm(open("/dev/kvm", O_RDWR | O_CLOEXEC));
  if (!kvm.valid()) return {false, errno};
  if (ioctl(kvm.get(), KVM_GET_API_VERSION, 0) != 12) return {false, 0};
  UniqueFd vm(ioctl(kvm.get(), KVM_CREATE_VM, 0));
  if (!vm.valid()) return {false, 0};
  UniqueFd vcpu(ioctl(vm.get(), KVM_CREATE_VCPU, 0));
  return {vcpu.valid(), 0};
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
  Facts states = observe(h, default_profile(), ModuleDetail::state);
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
  CHECK(reasons.size() == 16);
  CHECK(std::find(reasons.begin(), reasons.end(), r.verdict.reason) != reasons.end());
}

TEST_CASE("output snapshot: Intel host with VT-x, msr loaded for the reading and unloaded") {
  FakeHost h = intel_host();
  CheckReport r = run_fake(h);
  CHECK(render_check(r, {}) == slurp(kData + "/check/intel-host.txt"));
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
  h.kernel_.files["/dev/cpu/0/msr"] = h.kernel_.files["/dev/cpu/1/msr"] = "";
  CheckReport r = run_fake(h);
  CHECK(item(r, "firmware").state == CheckState::pass);
  CHECK(h.loads_.empty());
  CHECK(h.unloads_.empty());
}

TEST_CASE("disabled-in-firmware: no vmx flag (the kernel cleared it) and the lock bit set") {
  FakeHost h = intel_host();
  drop_cpu_flag(h, "vmx");
  h.modules_["kvm_intel"].state = ModuleState::absent;
  remove_kvm_node(h);
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
  FakeHost h = amd_host();
  h.modules_["kvm_amd"] = h.modules_["kvm_intel"];
  h.modules_["kvm_amd"].state = ModuleState::absent;
  remove_kvm_node(h);
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
  remove_kvm_node(h);
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
  FakeHost h = pvm_host();
  h.modules_["kvm"].state = ModuleState::builtin;
  h.kernel_.files.erase("/sys/module/kvm_intel/parameters/nested");
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "ok-paravirtual");
  CHECK(r.verdict.usable);
  CHECK(item(r, "kernel").detail.find("kvm_pvm built in") != std::string::npos);
  CHECK(item(r, "nested").state == CheckState::skip);
}

TEST_CASE("a world-writable /dev/kvm works but is named") {
  FakeHost h = intel_host();
  h.kernel_.infos["/dev/kvm"] = char_device(0666, 0, 0);
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
  h.kernel_.infos["/dev/kvm"] = char_device(0600, 0, 0);
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
  unload_kvm(h);
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
  unload_kvm(h);
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "module-not-loaded");
  CHECK(item(r, "kernel").state == CheckState::warn);
  CHECK(item(r, "device").state == CheckState::fail);
  CHECK(item(r, "device").hint == "appears when the KVM modules are loaded");
}

TEST_CASE("without libkmod a module that is not loaded is reported so, with the library's error") {
  const std::string why =
      "library \"libkmod.so.2\" cannot be loaded: libkmod.so.2: cannot open shared object file: "
      "No such file or directory (install libkmod2 or kmod-libs)";
  FakeHost h = intel_host();
  h.modules_["kvm_intel"] = {.name = "kvm_intel", .unknown_because = why};
  remove_kvm_node(h);
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "module-not-loaded");
  CHECK(item(r, "kernel").state == CheckState::warn);
  CHECK(item(r, "kernel").detail.find("kvm_intel not loaded (" + why + ")") != std::string::npos);
}

TEST_CASE("module-not-loaded names the blacklist") {
  FakeHost h = intel_host();
  h.modules_["kvm_intel"].state = ModuleState::absent;
  h.modules_["kvm_intel"].blacklisted_by = "/etc/modprobe.d/no-kvm.conf";
  remove_kvm_node(h);
  CheckReport r = run_fake(h);
  CHECK(r.verdict.reason == "module-not-loaded");
  CHECK(r.verdict.advice.find("/etc/modprobe.d/no-kvm.conf") != std::string::npos);
}

TEST_CASE("the nova-compute log: the hvm error explained, differently when KVM works now") {
  FakeHost h = intel_host();
  h.target_.files["/var/log/nova/nova-compute.log"] =
      "ERROR nova.compute.manager libvirtError: no supported architecture for os type 'hvm'\n";
  CheckReport r = run_fake(h);
  CHECK(item(r, "nova-log").state == CheckState::warn);
  CHECK(item(r, "nova-log").detail ==
        "\"no supported architecture for os type 'hvm'\" 1 time in /var/log/nova/nova-compute.log: "
        "libvirt offered no KVM guest when nova-compute started the guest; it works now: " +
            r.verdict.reason);
  CHECK(r.verdict.usable);
  CHECK(item(r, "nova-log").hint == "KVM and libvirt work now: start the guests again");
  h.target_.files["/tmp/other.log"] = "all fine\n";
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
  CHECK(item(r, "nova-log").detail.ends_with("; cause now: module-missing"));
  CHECK(item(r, "nova-log").hint.starts_with("module-missing: "));
  CHECK(item(r, "nova-log").hint.find("kvmprov apply") == std::string::npos);
}

TEST_CASE("fixture no-dev-kvm: modules loaded but no device node") {
  CheckReport r = run_fixture("no-dev-kvm");
  CHECK(r.verdict.reason == "no-device-node");
  CHECK(item(r, "kernel").state == CheckState::pass);
  // Loading is done: the hint is what makes the node, not another load.
  CHECK(item(r, "device").hint ==
        "the KVM modules are loaded: udevadm trigger, or mount devtmpfs on /dev");
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
  FakeHost pvm = pvm_host();
  reached.insert(run_fake(pvm).verdict.reason);
  FakeHost denied = intel_host();
  reached.insert(run_fake(denied, {.user = "alice"}).verdict.reason);
  FakeHost unprobed = nobody_host();
  reached.insert(run_fake(unprobed, {.user = "root"}).verdict.reason);
  FakeHost unloaded = intel_host();
  unloaded.modules_["kvm_intel"].state = ModuleState::absent;
  remove_kvm_node(unloaded);
  reached.insert(run_fake(unloaded).verdict.reason);
  // libvirt's FAIL causes become the verdict's reason (which libvirt evidence gives each one is
  // libvirt_test's): every one of them, and nothing else, is in the closed set.
  for (std::string_view cause : libvirt_reasons()) {
    // PASS and SKIP (libvirt offers KVM, is not installed, or was not asked) are no cause.
    if (cause == "libvirt-kvm" || cause == "libvirt-not-installed" || cause == "kvm-not-usable")
      continue;
    CheckOptions o;
    o.libvirt = [&](Host&, const Verdict&) {
      return std::pair{CheckItem{.id = "libvirt", .state = CheckState::fail}, std::string(cause)};
    };
    FakeHost h = intel_host();
    reached.insert(run_fake(h, o).verdict.reason);
  }
  std::set<std::string> all(check_reasons().begin(), check_reasons().end());
  CHECK(reached == all);
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

TEST_CASE("--log larger than the whole-file limit: its end is searched, and said so") {
  TempDir dir("kvmprov-log");
  const std::string line = "2024-01-01 INFO nova.compute.manager nothing to see here\n";
  std::string text;
  text.reserve(kLogTailBytes + (2 << 20));
  text += std::string("ERROR early: ") + kNoHvmMessage + "\n";  // beyond the tail
  while (text.size() < kLogTailBytes + (1 << 20)) text += line;
  text += std::string("ERROR libvirtError: ") + kNoHvmMessage + "\n";
  put(dir / "/nova-compute.log", text);
  CheckReport r = run_fixture("modules-missing", {.log_path = dir / "/nova-compute.log"});
  CHECK(item(r, "nova-log").state == CheckState::fail);
  CHECK(item(r, "nova-log")
            .detail.starts_with(std::string("\"") + kNoHvmMessage +
                                "\" 1 time in the last 16 MiB of " + dir.path()));
}

// --- --fact: the overridden facts are the only CPU facts every line and the verdict use.

TEST_CASE("--fact cpu_vendor=amd on an Intel CPU: assumed, not present; no Intel MSR misread") {
  FakeHost h = intel_host();
  h.cpuid_.vendor = "GenuineIntel";
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
  h.kernel_.dirs["/sys/kernel/iommu_groups"] = {};
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
  const auto [usable, open_errno] = independent_probe();
  if (open_errno == ENOENT) {
    MESSAGE("skipped: no /dev/kvm on this machine, nothing to probe");
    return;
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
