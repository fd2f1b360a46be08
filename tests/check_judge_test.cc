// SPDX-License-Identifier: MIT
// check's judgement, rule by rule: one user per run (the /dev/kvm line, the probe and the verdict
// are about the same user), and hints that fit the host (a load it can do, kernel parameters it
// has, installed paths, a container's part), through FakeHost; and the judgement on plain evidence.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "check.h"
#include "check_hosts.h"
#include "check_judge.h"
#include "check_observe.h"
#include "linux/user_access.h"
#include "version.h"

using namespace kvmprov;
using namespace kvmprov::test;

// --- One user per run: the /dev/kvm line, the probe and the verdict are about the same user.

TEST_CASE("--user root asked by a user who cannot open /dev/kvm: not probed, root not blamed") {
  FakeHost h = nobody_host();
  CheckReport r = run_fake(h, {.user = "root"});
  CHECK(item(r, "device").state == CheckState::pass);
  CHECK(item(r, "device").detail ==
        "root:kvm 0660; user \"root\" can open it (from the mode bits)");
  check_line(r, "probe", CheckState::skip,
             "not run as \"root\": kvmprov runs as \"nobody\", who cannot open /dev/kvm "
             "(Permission denied), and only root can take another user's credentials",
             "run as root to probe as another user");
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
  let_open(h.accounts_[""]);
  h.probe_ = probe_ok();
  let_open(h.accounts_["alice"]);
  CheckReport r = run_fake(h, {.user = "alice"});
  CHECK(h.probed_as_.empty());
  // The kernel works, and alice may open the node by its bits: usable for alice.
  CHECK(r.verdict.usable);
  CHECK(r.verdict.reason == "ok");
  check_line(r, "probe", CheckState::pass,
             "as \"nobody\" (running kvmprov), not as \"alice\": API 12, KVM_CREATE_VM and "
             "KVM_CREATE_VCPU succeeded",
             "run as root to probe as another user");
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
  let_open(h.accounts_["alice"]);
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
  TempDir dir("kvmprov-probe");
  put(dir / "/rootonly", "");
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
  h.kernel_.files.erase("/proc/modules");
  h.modules_["vhost_net"].state = ModuleState::absent;
  h.kernel_.infos.erase("/dev/vhost-net");
  CheckReport r = run_fake(h);
  CHECK(item(r, "io").state == CheckState::warn);
  CHECK(item(r, "io").hint.find("modprobe") == std::string::npos);
  CHECK(item(r, "io").hint.starts_with(
      "this kernel cannot load modules and has no vhost_net built in: boot a kernel with it built "
      "in or with module support"));
}

TEST_CASE("a module that is missing, blacklisted, or loaded without its node gets that fix") {
  FakeHost h = intel_host();
  h.kernel_.infos.erase("/dev/vhost-net");
  h.kernel_.infos.erase("/dev/net/tun");
  h.modules_["vhost_net"].state = ModuleState::absent;
  h.modules_["vhost_net"].blacklisted_by = "/etc/modprobe.d/no-vhost.conf";
  CHECK(hint_of(h, "io") ==
        "\"vhost_net\" is blacklisted in /etc/modprobe.d/no-vhost.conf: remove that entry, then "
        "load vhost_net (modprobe vhost_net); \"tun\" is not in /lib/modules/6.1.0-test-amd64: "
        "install the modules package for 6.1.0-test-amd64");
  h.modules_["vhost_net"] = {.name = "vhost_net", .state = ModuleState::live, .found = true};
  h.available("tun");
  CHECK(hint_of(h, "io") ==
        "vhost_net is loaded but /dev/vhost-net is missing: udevadm trigger, or mount devtmpfs on "
        "/dev; load tun (modprobe tun)");
}

TEST_CASE("in a container: no module loaded, and every fix is the host's or the container's") {
  // The kernel and its modules are the host's: msr is not loaded for the firmware reading, a
  // module that is not loaded is the host's to load, and a missing node is the container's to
  // be given. Each manager gets its own way of passing a device in.
  FakeHost h = intel_host();
  unload_kvm(h);
  h.kernel_.infos.erase("/dev/vhost-net");
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
  h.kernel_.files["/proc/sys/kernel/modules_disabled"] = "1\n";
  unload_kvm(h);
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
  remove_kvm_node(h);
  CheckReport r = run_fake(h);
  CHECK(item(r, "kernel").hint ==
        "install kmod's library (libkmod2 or kmod-libs), then kvmprov apply");
  CHECK(r.verdict.advice.ends_with(item(r, "kernel").hint));
}

TEST_CASE("IOMMU hints use only documented kernel parameters, by the firmware's table") {
  FakeHost h = amd_host();
  h.kernel_.files.erase("/sys/firmware/acpi/tables/DMAR");
  h.kernel_.files["/sys/firmware/acpi/tables/IVRS"] = "";
  h.kernel_.dirs["/sys/kernel/iommu_groups"] = {};
  const std::string hint = hint_of(h, "io");
  // amd_iommu has no "on": the AMD IOMMU is on unless something turned it off.
  CHECK(hint.find("amd_iommu=on") == std::string::npos);
  CHECK(hint ==
        "the firmware describes an IOMMU (IVRS table) but the kernel did not enable it: see its "
        "log (AMD-Vi)");
  h.kernel_.files["/proc/cmdline"] = "BOOT_IMAGE=/vmlinuz root=/dev/sda1 amd_iommu=off quiet\n";
  CHECK(hint_of(h, "io") ==
        "remove amd_iommu=off from the kernel command line for device passthrough");
  h.kernel_.files["/proc/cmdline"] = "root=/dev/sda1 iommu=off\n";
  CHECK(hint_of(h, "io") == "remove iommu=off from the kernel command line for device passthrough");
  h.kernel_.files["/proc/cmdline"] = "root=/dev/sda1\n";
  h.kernel_.files["/boot/config-" + h.release_] = "CONFIG_KVM=m\n# CONFIG_AMD_IOMMU is not set\n";
  CHECK(hint_of(h, "io") ==
        "this kernel is built without CONFIG_AMD_IOMMU: boot one with it for device passthrough");
}

TEST_CASE("intel_iommu=on is advised only when the kernel lacks it and does not default to it") {
  FakeHost h = intel_host();
  h.kernel_.dirs["/sys/kernel/iommu_groups"] = {};
  CHECK(hint_of(h, "io") == "add intel_iommu=on to the kernel command line for device passthrough");
  h.kernel_.files["/proc/cmdline"] = "root=/dev/sda1 intel_iommu=on,igfx_off\n";
  CHECK(hint_of(h, "io").find("intel_iommu=on") == std::string::npos);
  h.kernel_.files["/proc/cmdline"] = "root=/dev/sda1 intel_iommu=off\n";
  CHECK(hint_of(h, "io") ==
        "remove intel_iommu=off from the kernel command line for device passthrough");
  h.kernel_.files["/proc/cmdline"] = "root=/dev/sda1\n";
  h.kernel_.files["/boot/config-" + h.release_] =
      "CONFIG_INTEL_IOMMU=y\nCONFIG_INTEL_IOMMU_DEFAULT_ON=y\n";
  CHECK(hint_of(h, "io").find("intel_iommu=on") == std::string::npos);
}

TEST_CASE("run as root is advised only where root could read the firmware's state") {
  FakeHost h = intel_host();
  h.privileged_ = false;
  h.kernel_.files.erase("/proc/modules");
  CheckReport r = run_fake(h);
  CHECK(item(r, "firmware").state == CheckState::skip);
  CHECK(item(r, "firmware")
            .detail.starts_with(
                "MSRs not read: no msr driver built in, and the kernel cannot load modules"));
  CHECK(item(r, "firmware").hint.empty());
  // Bare metal without VT: root could not rule out the firmware either.
  drop_cpu_flag(h, "vmx");
  remove_kvm_node(h);
  r = run_fake(h);
  CHECK(r.verdict.reason == "no-hardware-support");
  CHECK(r.verdict.advice.find("run as root") == std::string::npos);
  h.kernel_.files["/proc/modules"] = "";
  r = run_fake(h);
  CHECK(item(r, "firmware").hint == "run as root to read the firmware's VT state");
  CHECK(r.verdict.advice.ends_with("(run as root to rule out VT disabled in the firmware)"));
}

TEST_CASE(
    "the nested hint names the installed profile, or the command line for a built-in module") {
  FakeHost h = intel_host();
  h.kernel_.files["/sys/module/kvm_intel/parameters/nested"] = "N\n";
  const std::string installed = std::string(KVMPROV_PROFILE_DIR) + "/nested.yaml";
  CHECK(installed.starts_with("/"));
  CHECK(hint_of(h, "nested") ==
        "to enable: kvmprov --profile " + installed + " apply --allow-reload (when no guest runs)");
  h.modules_["kvm_intel"].state = ModuleState::builtin;
  CHECK(hint_of(h, "nested") ==
        "kvm_intel is built into the kernel: add kvm_intel.nested=1 to the kernel command line, "
        "then reboot");
}

TEST_CASE("the nova-compute log's hint follows the verdict's reason") {
  FakeHost h = intel_host();
  h.target_.files["/var/log/nova/nova-compute.log"] = std::string("x ") + kNoHvmMessage + "\n";
  h.kernel_.infos["/dev/kvm"] = char_device(0600, 0, 0);
  CheckReport r = run_fake(h, {.user = "alice"});
  CHECK(r.verdict.reason == "permission-denied");
  CHECK(item(r, "nova-log").detail.ends_with("; cause now: permission-denied"));
  CHECK(item(r, "nova-log").hint ==
        "permission-denied: do what the verdict says, then start the guests again");
}

// --- The judgement on plain evidence: no host needed.

TEST_CASE("the msr gate: why the firmware's register is not read, in the order it asks") {
  Facts facts;
  facts.cpu.vendor = Vendor::intel;
  facts.modules_supported = true;
  MsrEvidence m{.cpuid_vendor = Vendor::intel, .privileged = true};
  CHECK(msr_gate(facts, "", m).skip.empty());
  m.privileged = false;
  CHECK(msr_gate(facts, "", m).skip == "MSRs not read: reading /dev/cpu/N/msr needs root");
  CHECK(msr_gate(facts, "", m).needs_root);
  facts.modules_supported = false;
  CHECK(msr_gate(facts, "", m).skip ==
        "MSRs not read: no msr driver built in, and the kernel cannot load modules");
  CHECK_FALSE(msr_gate(facts, "", m).needs_root);
  m.device_before = true;  // built in: only root stands in the way
  CHECK(msr_gate(facts, "", m).needs_root);
  m.device_before = false;
  CHECK(msr_gate(facts, "lxc", m).skip ==
        "MSRs not read: in a container (lxc), /dev/cpu/N/msr is not passed in");
  facts.cpu.vendor = Vendor::amd;
  facts.overridden = {"cpu_vendor"};
  CHECK(msr_gate(facts, "lxc", m).skip ==
        "MSRs not read: --fact cpu_vendor=amd, but this CPU is intel");
  facts.cpu.vendor = Vendor::unknown;
  CHECK(msr_gate(facts, "lxc", m).skip == "MSRs not read: unknown CPU vendor");
}

TEST_CASE("the same evidence judged twice gives the same report, and reads nothing more") {
  FakeHost h = intel_host();
  const Facts facts = observe(h, default_profile());
  const CheckEvidence ev = observe_check(h, facts, {});
  const FakeHost after_observe = h;
  std::string json[2];
  for (std::string& j : json) {
    CheckReport r = judge_kvm(ev, facts, {});
    judge_after_probe(r, ev, facts, {});
    j = check_json(r).dump();
  }
  CHECK(json[0] == json[1]);
  CHECK(json[0] == check_json(run_fake(h)).dump());
  CHECK(after_observe.loads_ == std::vector<std::string>{"msr"});
  CHECK(after_observe.unloads_ == std::vector<std::string>{"msr"});
}
