// SPDX-License-Identifier: MIT
// The nova planner against FakeHost and temporary roots: virt_type and the CPU models decided,
// what reports show of nova's files, and every file nova-compute reads converged where it decides.
#include <doctest/doctest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "action_checks.h"
#include "apply.h"
#include "cpu_map.h"
#include "fake_host.h"
#include "plan.h"
#include "plan_nova.h"
#include "report.h"
#include "test_util.h"
#include "util/ini_edit.h"

namespace kvmprov {
namespace {

using test::check_action;
using test::FakeHost;
using test::find;

const std::string kData = KVMPROV_TEST_DATA;

Profile nova_profile(NovaSpec spec) {
  Profile p;
  p.source = "/etc/kvmprov/profile.yaml";
  p.name = "compute";
  p.nova = std::move(spec);
  return p;
}

const std::string kConf = "/etc/nova/nova.conf";

FakeHost nova_host() {
  FakeHost h;
  h.target_.files[kConf] = "[DEFAULT]\n#compute_driver = <None>\n\n[libvirt]\n#virt_type = kvm\n";
  h.kernel_.files["/proc/cpuinfo"] =
      "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 pni sse4_1 sse4_2 vmx\n\n"
      "processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 pni sse4_1 vmx lahf_lm\n\n";
  return h;
}

TEST_CASE("cpuinfo flags are the ones every CPU has") {
  FakeHost h = nova_host();
  CpuFacts cpu = parse_cpuinfo(*h.kernel().read_or_absent("/proc/cpuinfo"));
  CHECK(cpu.flags == std::set<std::string>{"fpu", "sse2", "pni", "sse4_1", "vmx"});
}

TEST_CASE("virt_type auto: kvm when check says usable, qemu with the reason otherwise") {
  FakeHost h = nova_host();
  Profile p = nova_profile({});
  Facts f = observe(h, p);
  f.nova.kvm = KvmVerdict{.usable = true, .reason = "ok", .source = "check"};
  Plan plan = make_plan(p, f, {.live = true});
  const Action* vt = find(plan.actions, "nova:virt_type");
  REQUIRE(vt);
  CHECK(vt->target == "kvm");
  const Action* file = find(plan.actions, "file:" + kConf);
  REQUIRE(file);
  CHECK(file->status == Status::changed);
  CHECK(file->shared);
  CHECK(*file->after ==
        "[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver\n#compute_driver = <None>\n\n"
        "[libvirt]\nvirt_type = kvm\ncpu_mode = host-model\n#virt_type = kvm\n");

  f.nova.kvm = KvmVerdict{.usable = false,
                          .reason = "disabled-in-firmware",
                          .advice = "VT-x is disabled in the firmware",
                          .source = "check"};
  plan = make_plan(p, f, {.live = true});
  vt = find(plan.actions, "nova:virt_type");
  CHECK(vt->target == "qemu");
  CHECK(vt->nova.reason == "disabled-in-firmware");
  CHECK(vt->detail.find("disabled-in-firmware") != std::string::npos);
  RunReport report{.verb = "plan", .profile = &p, .facts = &f, .actions = plan.actions};
  auto json = report_json(report);
  bool seen = false;
  for (const auto& a : json["actions"]) {
    if (a["id"] == "nova:virt_type") {
      CHECK(a["nova"]["virt_type"] == "qemu");
      CHECK(a["nova"]["reason"] == "disabled-in-firmware");
      seen = true;
    }
    if (a["id"] == "file:" + kConf)
      CHECK(a["diff"].get<std::string>().find("+[libvirt] virt_type = qemu") != std::string::npos);
  }
  CHECK(seen);
}

TEST_CASE("virt_type auto with the modules about to be loaded: kvm, unless a load fails") {
  FakeHost h = nova_host();
  h.kernel_.files["/proc/modules"] = "";
  h.available("kvm");
  h.available("kvm_intel");
  Profile p = nova_profile({});
  p.modules = {{.name = "kvm"}, {.name = "kvm_intel"}};
  p.persist = PersistMode::none;
  Facts f = observe(h, p);
  f.nova.kvm = KvmVerdict{.usable = false, .reason = "module-not-loaded", .source = "check"};
  Plan plan = make_plan(p, f, {.live = true});
  CHECK(find(plan.actions, "nova:virt_type")->target == "kvm");
  h.load_errors_["kvm_intel"] = EPERM;
  check_action(apply_plan(h, plan), "file:" + kConf, Status::failed,
               "not done: it depends on \"module:kvm_intel\", which failed");
  CHECK(h.target_.writes.empty());
}

TEST_CASE("under --root auto assumes kvm unless --fact kvm_usable=false") {
  FakeHost h = nova_host();
  h.live_ = false;
  Profile p = nova_profile({});
  Facts f = observe(h, p);
  CHECK(find(make_plan(p, f, {.live = false}).actions, "nova:virt_type")->target == "kvm");
  REQUIRE(override_fact(f, "kvm_usable=false"));
  Plan plan = make_plan(p, f, {.live = false});
  const Action* vt = find(plan.actions, "nova:virt_type");
  CHECK(vt->target == "qemu");
  CHECK(vt->nova.source == "--fact");
}

TEST_CASE("a missing nova.conf is pending, never created") {
  FakeHost h = nova_host();
  h.target_.files.clear();
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm});
  Facts f = observe(h, p);
  check_action(apply_plan(h, make_plan(p, f, {.live = true})), "file:" + kConf, Status::pending,
               "nova.conf not found: install nova-compute first, then run again");
  CHECK(h.target_.writes.empty());
}

TEST_CASE("custom CPU models: checked against the map and this CPU") {
  FakeHost h = nova_host();
  for (const char* name :
       {"index.xml", "x86_features.xml", "x86_Penryn.xml", "x86_Nehalem.xml", "x86_Westmere.xml"})
    h.target_.files[std::string(kCpuMapDir) + "/" + name] =
        test::slurp(kData + "/cpu_map/modern/" + name);
  NovaSpec spec{.virt_type = NovaVirtType::qemu, .cpu_mode = NovaCpuMode::custom};
  spec.cpu_models = {"Penryn"};
  Profile p = nova_profile(spec);
  Facts f = observe(h, p);
  Plan plan = make_plan(p, f, {.live = true});
  CHECK(find(plan.actions, "nova:cpu_mode")->status == Status::unchanged);
  CHECK(find(plan.actions, "file:" + kConf)->after->find("cpu_models = Penryn\n") !=
        std::string::npos);

  p.nova->cpu_models = {"Nehalem"};
  plan = make_plan(p, f, {.live = true});
  const Action* cpu = find(plan.actions, "nova:cpu_mode");
  CHECK(cpu->status == Status::failed);
  CHECK(cpu->detail == "this CPU cannot run \"Nehalem\": it lacks sse4.2 (sse4_2), lahf_lm");
  CHECK(cpu->nova.missing_features == std::vector<std::string>{"Nehalem: sse4.2 (sse4_2) lahf_lm"});
  CHECK(find(plan.actions, "file:" + kConf)->status == Status::failed);
  CHECK(find(plan.actions, "file:" + kConf)->detail ==
        "not written: the CPU models are wrong (see nova:cpu_mode)");

  p.nova->cpu_models = {"Nehalen"};
  plan = make_plan(p, f, {.live = true});
  cpu = find(plan.actions, "nova:cpu_mode");
  CHECK(
      cpu->detail ==
      "unknown CPU model \"Nehalen\" (not in /usr/share/libvirt/cpu_map/index.xml's x86 models) (did you mean "
      "\"Nehalem\"?)");
}

// An arm64 host (the VHE sample's /proc/cpuinfo) with a CPU map of two architectures, each
// with one model: which part of the map is read follows the CPU.
FakeHost arm64_nova_host() {
  FakeHost h = nova_host();
  h.kernel_.files["/proc/cpuinfo"] = test::slurp(kData + "/hosts/qemu-tcg-arm64-vhe.cpuinfo");
  h.target_.files[std::string(kCpuMapDir) + "/index.xml"] =
      "<cpus><arch name='x86'><model name='Nehalem'><feature name='sse2'/></model></arch>"
      "<arch name='arm'><model name='cortex-a57'><vendor name='ARM'/><pvr value='0xd07'/></model>"
      "</arch></cpus>";
  return h;
}

TEST_CASE("aarch64: host-model does not exist there, so nothing is written; passthrough is fine") {
  FakeHost h = arm64_nova_host();
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm, .cpu_mode = NovaCpuMode::host_model});
  Facts f = observe(h, p);
  REQUIRE(f.cpu.arch == CpuArch::arm64);
  Plan plan = make_plan(p, f, {.live = true});
  const Action* cpu = find(plan.actions, "nova:cpu_mode");
  CHECK(cpu->status == Status::failed);
  CHECK(cpu->detail.starts_with("libvirt has no host-model on aarch64"));
  CHECK(cpu->detail.find("use host-passthrough (nova's default on aarch64)") != std::string::npos);
  CHECK(find(plan.actions, "file:" + kConf)->status == Status::failed);
  CHECK(find(plan.actions, "file:" + kConf)->detail ==
        "not written: guests cannot start with cpu_mode host-model here (see nova:cpu_mode)");
  apply_plan(h, plan);
  CHECK(h.target_.files.at(kConf).find("cpu_mode") == std::string::npos);

  p.nova->cpu_mode = NovaCpuMode::host_passthrough;
  plan = make_plan(p, observe(h, p), {.live = true});
  CHECK(find(plan.actions, "nova:cpu_mode")->status == Status::unchanged);
  CHECK(find(plan.actions, "file:" + kConf)->status == Status::changed);
}

TEST_CASE("host-passthrough without KVM: libvirt has no host CPU to pass, so nothing is written") {
  // x86: virt_type qemu with host-passthrough fails; host-model, which TCG offers, does not.
  FakeHost h = nova_host();
  Profile p =
      nova_profile({.virt_type = NovaVirtType::qemu, .cpu_mode = NovaCpuMode::host_passthrough});
  Plan plan = make_plan(p, observe(h, p), {.live = true});
  const Action* cpu = find(plan.actions, "nova:cpu_mode");
  CHECK(cpu->status == Status::failed);
  CHECK(cpu->detail ==
        "libvirt has no host-passthrough without KVM (virt_type qemu: QEMU emulates the CPU), so "
        "nova-compute could not start guests: use host-model (or custom with a model), or make "
        "KVM usable");
  CHECK(find(plan.actions, "file:" + kConf)->detail ==
        "not written: guests cannot start with cpu_mode host-passthrough here (see "
        "nova:cpu_mode)");
  const std::string before = h.target_.files.at(kConf);
  apply_plan(h, plan);
  CHECK(h.target_.files.at(kConf) == before);
  p.nova->cpu_mode = NovaCpuMode::host_model;
  CHECK(find(make_plan(p, observe(h, p), {.live = true}).actions, "nova:cpu_mode")->status ==
        Status::unchanged);
  // With KVM, host-passthrough only warns.
  p.nova->virt_type = NovaVirtType::kvm;
  p.nova->cpu_mode = NovaCpuMode::host_passthrough;
  CHECK(find(make_plan(p, observe(h, p), {.live = true}).actions, "nova:cpu_mode")->status ==
        Status::unchanged);

  // aarch64 without KVM: nova's own default, host-passthrough, cannot work either; the way out
  // is an arm model.
  FakeHost arm = arm64_nova_host();
  Profile unset = nova_profile({.virt_type = NovaVirtType::qemu});
  plan = make_plan(unset, observe(arm, unset), {.live = true});
  cpu = find(plan.actions, "nova:cpu_mode");
  CHECK(cpu->status == Status::failed);
  CHECK(cpu->detail ==
        "libvirt has no host-passthrough without KVM (virt_type qemu: QEMU emulates the CPU); it "
        "is nova's own default on aarch64, as the profile sets no cpu_mode, so nova-compute could "
        "not start guests: set cpu_mode custom with an arm model from libvirt's CPU map "
        "(cortex-a57, ...), or make KVM usable");
}

TEST_CASE("aarch64: a profile without cpu_mode gets nova's own default there, host-passthrough") {
  FakeHost h = arm64_nova_host();
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm});
  REQUIRE_FALSE(p.nova->cpu_mode);
  Plan plan = make_plan(p, observe(h, p), {.live = true});
  const Action* cpu = find(plan.actions, "nova:cpu_mode");
  CHECK(cpu->status == Status::unchanged);
  CHECK(cpu->target == "host-passthrough");
  CHECK(cpu->detail.ends_with(
      "; nova's own default on aarch64, where libvirt has no host-model (the profile sets no "
      "cpu_mode)"));
  apply_plan(h, plan);
  CHECK(h.target_.files.at(kConf).find("cpu_mode = host-passthrough\n") != std::string::npos);
  // The same profile on x86 keeps host-model, nova's default there.
  FakeHost x86 = nova_host();
  plan = make_plan(p, observe(x86, p), {.live = true});
  CHECK(find(plan.actions, "nova:cpu_mode")->target == "host-model");
  CHECK(find(plan.actions, "nova:cpu_mode")->detail ==
        "libvirt picks the CPU map model closest to this CPU and adds its extra features");
}

TEST_CASE("aarch64: custom models are looked up among libvirt's arm models, x86 ones are unknown") {
  FakeHost h = arm64_nova_host();
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm,
                            .cpu_mode = NovaCpuMode::custom,
                            .cpu_models = {"cortex-a57"}});
  Plan plan = make_plan(p, observe(h, p), {.live = true});
  const Action* cpu = find(plan.actions, "nova:cpu_mode");
  CHECK(cpu->status == Status::unchanged);
  CHECK(
      cpu->detail ==
      "known in /usr/share/libvirt/cpu_map/index.xml; features not compared: libvirt's arm models list none");
  CHECK(find(plan.actions, "file:" + kConf)->status == Status::changed);

  p.nova->cpu_models = {"Nehalem"};
  plan = make_plan(p, observe(h, p), {.live = true});
  cpu = find(plan.actions, "nova:cpu_mode");
  CHECK(cpu->status == Status::failed);
  CHECK(cpu->detail ==
        "unknown CPU model \"Nehalem\" (not in /usr/share/libvirt/cpu_map/index.xml's arm models)");

  // The same map on an x86 host: the other way round.
  h.kernel_.files["/proc/cpuinfo"] = nova_host().kernel_.files["/proc/cpuinfo"];
  plan = make_plan(p, observe(h, p), {.live = true});
  CHECK(find(plan.actions, "nova:cpu_mode")->status == Status::unchanged);
  p.nova->cpu_models = {"cortex-a57"};
  plan = make_plan(p, observe(h, p), {.live = true});
  CHECK(
      find(plan.actions, "nova:cpu_mode")
          ->detail.starts_with(
              "unknown CPU model \"cortex-a57\" (not in /usr/share/libvirt/cpu_map/index.xml's x86 models)"));
}

TEST_CASE("host-passthrough warns about live migration; legacy names on request") {
  FakeHost h = nova_host();
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm,
                            .cpu_mode = NovaCpuMode::host_passthrough,
                            .legacy_option_names = true});
  h.target_.files[kConf] = "[libvirt]\ncpu_model = Nehalem\ncpu_models = Nehalem\n";
  Facts f = observe(h, p);
  Plan plan = make_plan(p, f, {.live = true});
  CHECK(find(plan.actions, "nova:cpu_mode")->detail.find("live migration") != std::string::npos);
  CHECK(*find(plan.actions, "file:" + kConf)->after ==
        "[libvirt]\nvirt_type = kvm\ncpu_mode = host-passthrough\n\n[DEFAULT]\n"
        "compute_driver = libvirt.LibvirtDriver\nlibvirt_type = kvm\n"
        "libvirt_cpu_mode = host-passthrough\n");
  apply_plan(h, plan);
  h.target_.writes.clear();
  auto again = apply_plan(h, make_plan(p, observe(h, p), {.live = true}));
  CHECK(find(again, "file:" + kConf)->status == Status::unchanged);
  CHECK(h.target_.writes.empty());
}

// /etc/nova/nova-compute.conf as Debian's nova-compute-kvm ships it (2:26.2.2-1~deb12u5).
const std::string kComputeConf = "/etc/nova/nova-compute.conf";
const std::string kKvmComputeConf =
    "[DEFAULT]\ncompute_driver=libvirt.LibvirtDriver\nneutron_ovs_bridge=br-int\n[libvirt]\n"
    "virt_type=kvm\nvif_driver=nova.virt.libvirt.vif.LibvirtGenericVIFDriver\n"
    "use_virtio_for_bridges=true\n# This may be needed for \n#cpu_mode=host-passthrough\n";

// The value nova-compute reads for SECTION/KEY: the last file in FILES (oslo.config's order)
// that sets it decides.
std::optional<std::string> effective(const FakeHost& h, const std::vector<std::string>& files,
                                     const std::string& section, const std::string& key) {
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    auto f = h.target_.files.find(*it);
    if (f == h.target_.files.end()) continue;
    if (auto v = ini_get(f->second, section, key)) return v;
  }
  return std::nullopt;
}

// Plans with the verdict given, applies, and checks what nova-compute then reads: every managed
// key as the profile wants it, and a second run that changes nothing.
std::vector<Action> converge(FakeHost& h, const Profile& p, bool kvm_usable) {
  Facts f = observe(h, p);
  f.nova.kvm = KvmVerdict{
      .usable = kvm_usable, .reason = kvm_usable ? "ok" : "no-device-node", .source = "check"};
  Plan plan = make_plan(p, f, {.live = true});
  apply_plan(h, plan);
  const std::string virt_type = kvm_usable ? "kvm" : "qemu";
  for (const auto& s : nova_settings(*p.nova, nova_cpu_mode_for(*p.nova, f.cpu.arch), virt_type)) {
    CAPTURE(s.key);
    CHECK(effective(h, f.nova.config_files, s.section, s.key) == s.value);
  }
  h.target_.writes.clear();
  Facts again = observe(h, p);
  again.nova.kvm = f.nova.kvm;
  for (const auto& a : apply_plan(h, make_plan(p, again, {.live = true})))
    if (a.kind == ActionKind::write_file) CHECK(a.status == Status::unchanged);
  CHECK(h.target_.writes.empty());
  return plan.actions;
}

TEST_CASE("nova-compute.conf decides virt_type on Debian: it is corrected where it wins") {
  FakeHost h = nova_host();
  h.target_.files[kComputeConf] = kKvmComputeConf;
  Profile p = nova_profile({});
  std::vector<Action> actions = converge(h, p, false);
  const Action* conf = find(actions, "file:" + kConf);
  const Action* compute = find(actions, "file:" + kComputeConf);
  REQUIRE(conf);
  REQUIRE(compute);
  // The package's file keeps every other byte; virt_type is set where nova-compute reads it.
  CHECK(h.target_.files[kComputeConf] ==
        "[DEFAULT]\ncompute_driver=libvirt.LibvirtDriver\nneutron_ovs_bridge=br-int\n[libvirt]\n"
        "virt_type=qemu\nvif_driver=nova.virt.libvirt.vif.LibvirtGenericVIFDriver\n"
        "use_virtio_for_bridges=true\n# This may be needed for \n#cpu_mode=host-passthrough\n");
  // nova.conf gets only what no later file sets.
  CHECK(h.target_.files[kConf] ==
        "[DEFAULT]\n#compute_driver = <None>\n\n[libvirt]\ncpu_mode = host-model\n#virt_type = "
        "kvm\n");
  CHECK(compute->status == Status::changed);
  CHECK(compute->shared);
  CHECK(
      compute->detail ==
      "update: decides [DEFAULT] compute_driver, [libvirt] virt_type; owner, group and mode kept");
  CHECK(compute->nova.decides ==
        std::vector<std::string>{"[DEFAULT] compute_driver", "[libvirt] virt_type"});
  CHECK(conf->detail ==
        "update: virt_type=qemu, cpu_mode=host-model; decides [libvirt] cpu_mode; owner, group and "
        "mode kept");
  // The excerpt shows the managed keys only, never the package's other lines.
  CHECK(*compute->shown_before ==
        "[DEFAULT] compute_driver = libvirt.LibvirtDriver\n[libvirt] virt_type = kvm\n");
  CHECK(*compute->shown_after ==
        "[DEFAULT] compute_driver = libvirt.LibvirtDriver\n[libvirt] virt_type = qemu\n");
  CHECK(*compute->before == kKvmComputeConf);  // apply writes only over what plan read

  // Converged, a file that decides keys still says so.
  Facts f = observe(h, p);
  f.nova.kvm = KvmVerdict{.usable = false, .reason = "no-device-node", .source = "check"};
  Plan plan = make_plan(p, f, {.live = true});
  CHECK(find(plan.actions, "file:" + kComputeConf)->detail ==
        "up to date: decides [DEFAULT] compute_driver, [libvirt] virt_type");
  CHECK(find(plan.actions, "file:" + kConf)->detail ==
        "up to date (virt_type=qemu, cpu_mode=host-model); decides [libvirt] cpu_mode");
  RunReport report{
      .verb = "plan", .dry_run = true, .profile = &p, .facts = &f, .actions = plan.actions};
  // Kept in a variable: a range-for over a member of a temporary iterates freed memory.
  const nlohmann::json json = report_json(report);
  for (const auto& a : json["actions"])
    if (a["id"] == "file:" + kComputeConf)
      CHECK(a["nova"]["decides"] ==
            nlohmann::json::array({"[DEFAULT] compute_driver", "[libvirt] virt_type"}));

  // And back to kvm when KVM works: the same line again.
  converge(h, p, true);
  CHECK(h.target_.files[kComputeConf] == kKvmComputeConf);
}

TEST_CASE("a later [LIBVIRT] is [libvirt] to nova: its line is the one converged") {
  FakeHost h = nova_host();
  h.target_.files[kConf] = "[libvirt]\nvirt_type = qemu\n";
  h.target_.files[kComputeConf] = "[LIBVIRT]\nvirt_type = kvm\n";
  Profile p = nova_profile({});
  std::vector<Action> actions = converge(h, p, false);
  CHECK(h.target_.files[kComputeConf] == "[LIBVIRT]\nvirt_type = qemu\n");
  CHECK(find(actions, "file:" + kComputeConf)->nova.decides ==
        std::vector<std::string>{"[libvirt] virt_type"});
  // The shadowed line in nova.conf is left as it is: nova-compute does not read it.
  CHECK(h.target_.files[kConf] ==
        "[libvirt]\ncpu_mode = host-model\nvirt_type = qemu\n\n[DEFAULT]\ncompute_driver = "
        "libvirt.LibvirtDriver\n");
}

TEST_CASE("a missing later file is skipped; only the files nova reads get actions") {
  FakeHost h = nova_host();
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm});
  Facts f = observe(h, p);
  CHECK(f.nova.config_files ==
        std::vector<std::string>{"/etc/nova/nova.conf", "/etc/nova/nova-compute.conf"});
  Plan plan = make_plan(p, f, {.live = true});
  CHECK(find(plan.actions, "file:" + kConf)->status == Status::changed);
  CHECK_FALSE(find(plan.actions, "file:" + kComputeConf));
  // A file that neither changes nor decides a key is not listed.
  h.target_.files[kComputeConf] = "[DEFAULT]\ndebug = true\n";
  f = observe(h, p);
  CHECK_FALSE(find(make_plan(p, f, {.live = true}).actions, "file:" + kComputeConf));
  // Without a verdict only nova.conf is shown, pending: which file changes is not known yet.
  h.target_.files[kComputeConf] = kKvmComputeConf;
  p.nova->virt_type = NovaVirtType::automatic;
  plan = make_plan(p, observe(h, p), {.live = true});
  CHECK(find(plan.actions, "file:" + kConf)->status == Status::pending);
  CHECK_FALSE(find(plan.actions, "file:" + kComputeConf));
}

TEST_CASE(
    "config directories: *.conf sorted; read before the files on Debian, after when listed so") {
  const std::string d = "/etc/nova/nova.conf.d";
  FakeHost h = nova_host();
  h.target_.files[kConf] = "[libvirt]\nvirt_type = qemu\n";
  h.target_.files[d + "/20-b.conf"] = "[libvirt]\nvirt_type = lxc\n";
  h.target_.files[d + "/10-a.conf"] = "[libvirt]\ncpu_mode = none\n";
  h.target_.files[d + "/.hidden.conf"] = "[libvirt]\ncpu_mode = custom\n";  // glob leaves it out
  h.target_.files[d + "/30-c.conf.dpkg-old"] = "[libvirt]\ncpu_mode = custom\n";

  // Debian: oslo.config's default directories, then --config-file nova.conf, nova-compute.conf.
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm});
  Facts f = observe(h, p);
  CHECK(f.nova.config_files ==
        std::vector<std::string>{d + "/10-a.conf", d + "/20-b.conf", kConf, kComputeConf});
  std::vector<Action> actions = converge(h, p, true);
  CHECK(h.target_.files[kConf] ==
        "[libvirt]\nvirt_type = kvm\n\n[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver\n");
  // cpu_mode is set only in 10-a.conf: it decides there. 20-b.conf's virt_type is shadowed.
  CHECK(h.target_.files[d + "/10-a.conf"] == "[libvirt]\ncpu_mode = host-model\n");
  CHECK(h.target_.files[d + "/20-b.conf"] == "[libvirt]\nvirt_type = lxc\n");
  CHECK_FALSE(find(actions, "file:" + d + "/20-b.conf"));
  CHECK(find(actions, "file:" + d + "/10-a.conf")->nova.decides ==
        std::vector<std::string>{"[libvirt] cpu_mode"});

  // --config-dir after the files: the directory's files win, so they are the ones changed.
  h = nova_host();
  h.target_.files[kConf] = "[libvirt]\nvirt_type = qemu\n";
  h.target_.files[d + "/20-b.conf"] = "[libvirt]\nvirt_type = lxc\n";
  h.target_.files[d + "/10-a.conf"] = "[libvirt]\nvirt_type = qemu\n";
  p.nova->config = {kConf, d + "/"};
  CHECK(observe(h, p).nova.config_files ==
        std::vector<std::string>{kConf, d + "/10-a.conf", d + "/20-b.conf"});
  actions = converge(h, p, true);
  CHECK(h.target_.files[d + "/20-b.conf"] == "[libvirt]\nvirt_type = kvm\n");
  CHECK(h.target_.files[d + "/10-a.conf"] == "[libvirt]\nvirt_type = qemu\n");
  CHECK(find(actions, "file:" + d + "/20-b.conf")->nova.decides ==
        std::vector<std::string>{"[libvirt] virt_type"});
}

TEST_CASE("a key nova must not read goes from every file that sets it") {
  FakeHost h = nova_host();
  h.target_.files[kConf] = "[libvirt]\ncpu_mode = custom\ncpu_models = Nehalem\n";
  h.target_.files[kComputeConf] = "[Libvirt]\ncpu_model = Penryn\n";
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm});
  std::vector<Action> actions = converge(h, p, true);
  CHECK(h.target_.files[kComputeConf] == "[Libvirt]\n");
  CHECK(find(actions, "file:" + kComputeConf)->detail ==
        "update: removes [libvirt] cpu_model; owner, group and mode kept");
  CHECK(h.target_.files[kConf].find("cpu_models") == std::string::npos);
}

TEST_CASE("RDO: nova-dist.conf under /usr is read and never written") {
  const std::string dist = "/usr/share/nova/nova-dist.conf";
  const std::string dist_text =
      "[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver\n[libvirt]\nvirt_type = qemu\n";
  FakeHost h = nova_host();
  h.target_.files[dist] = dist_text;
  h.target_.files[kConf] = "[DEFAULT]\n";
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm});
  p.nova->config = {dist, kConf, "/etc/nova/nova.conf.d/"};
  std::vector<Action> actions = converge(h, p, true);
  CHECK(h.target_.files[dist] == dist_text);
  // Its compute_driver is right and decides; its virt_type is overridden from nova.conf.
  CHECK(find(actions, "file:" + dist)->status == Status::unchanged);
  CHECK(find(actions, "file:" + dist)->detail == "up to date: decides [DEFAULT] compute_driver");
  CHECK(h.target_.files[kConf] ==
        "[DEFAULT]\n\n[libvirt]\nvirt_type = kvm\ncpu_mode = host-model\n");

  // Read after nova.conf, a file under /usr that decides cannot be corrected: the plan says so.
  h.target_.files[kConf] = "[DEFAULT]\n";
  p.nova->config = {kConf, dist};
  Plan plan = make_plan(p, observe(h, p), {.live = true});
  const Action* late = find(plan.actions, "file:" + dist);
  REQUIRE(late);
  CHECK(late->status == Status::failed);
  CHECK(late->detail ==
        "decides [libvirt] virt_type and is read after \"/etc/nova/nova.conf\", and kvmprov does "
        "not write a package's file under /usr: set it in a file read later");
  h.target_.files[dist] = "[libvirt]\ncpu_models = Nehalem\n";
  plan = make_plan(p, observe(h, p), {.live = true});
  CHECK(find(plan.actions, "file:" + dist)->detail ==
        "sets [libvirt] cpu_models, which must go, and kvmprov does not write a package's file "
        "under /usr: remove it there");
}

TEST_CASE("a file nova-compute reads that cannot be read: nothing is written") {
  FakeHost h = nova_host();
  h.target_.files[kComputeConf] = kKvmComputeConf;
  h.target_.read_errors[kComputeConf] = EACCES;
  Profile p = nova_profile({.virt_type = NovaVirtType::qemu});
  auto done = apply_plan(h, make_plan(p, observe(h, p), {.live = true}));
  const Action* compute = find(done, "file:" + kComputeConf);
  REQUIRE(compute);
  CHECK(compute->status == Status::failed);
  CHECK(compute->detail == "cannot read \"/etc/nova/nova-compute.conf\": Permission denied");
  CHECK(find(done, "file:" + kConf)->detail ==
        "not written: what nova-compute reads is not known whole: cannot read "
        "\"/etc/nova/nova-compute.conf\": Permission denied");
  CHECK(h.target_.writes.empty());
}

TEST_CASE("no CPU map is not wrong CPU models: the plan says which, and where under --root") {
  FakeHost h = nova_host();
  NovaSpec spec{.virt_type = NovaVirtType::kvm, .cpu_mode = NovaCpuMode::custom};
  spec.cpu_models = {"Nehalem"};
  Profile p = nova_profile(spec);
  const std::string no_map =
      "no libvirt CPU map: neither \"/usr/share/libvirt/cpu_map/index.xml\" nor "
      "\"/usr/share/libvirt/cpu_map.xml\" exists (install libvirt, or set nova: cpu_map)";
  Plan plan = make_plan(p, observe(h, p), {.live = true});
  CHECK(find(plan.actions, "nova:cpu_mode")->detail == "cannot check the CPU models: " + no_map);
  CHECK(find(plan.actions, "file:" + kConf)->detail ==
        "not written: the CPU models cannot be checked: no libvirt CPU map (see nova:cpu_mode)");
  h.live_ = false;
  plan = make_plan(p, observe(h, p), {.live = false});
  CHECK(find(plan.actions, "nova:cpu_mode")->detail ==
        "cannot check the CPU models in the image (--root): " + no_map);
  CHECK(find(plan.actions, "file:" + kConf)->detail ==
        "not written: the CPU models cannot be checked: no libvirt CPU map in the image (--root) "
        "(see nova:cpu_mode)");
  h.target_.files[std::string(kCpuMapDir) + "/index.xml"] = "<cpus><arch";
  plan = make_plan(p, observe(h, p), {.live = false});
  CHECK(find(plan.actions, "file:" + kConf)->detail ==
        "not written: the CPU models cannot be checked: the libvirt CPU map cannot be used (see "
        "nova:cpu_mode)");
}

TEST_CASE("a symlinked nova.conf or nova-compute.conf: plan predicts apply's refusal") {
  test::TempDir root("kvmprov-nova");
  test::put(root / "/etc/nova/real.conf", "[libvirt]\nvirt_type = qemu\n");
  test::put(root / "/etc/nova/compute-real.conf", kKvmComputeConf);
  auto host = make_linux_host({.root = root.path()});
  Profile p = nova_profile({.virt_type = NovaVirtType::qemu});
  for (const std::string& link : {kConf, kComputeConf}) {
    CAPTURE(link);
    const std::string other = link == kConf ? kComputeConf : kConf;
    std::filesystem::remove(root / link);
    std::filesystem::remove(root / other);
    test::put(root / other, link == kConf ? kKvmComputeConf : "[libvirt]\n");
    std::filesystem::create_symlink(link == kConf ? "real.conf" : "compute-real.conf", root / link);
    Plan plan = make_plan(p, observe(*host, p), {.live = false});
    const Action* a = find(plan.actions, "file:" + link);
    REQUIRE(a);
    CHECK(a->status == Status::failed);
    CHECK(a->detail.find("symbolic link") != std::string::npos);
    auto done = apply_plan(*host, plan);
    CHECK(find(done, "file:" + link)->status == Status::failed);
    CHECK(std::filesystem::is_symlink(root / link));
    CHECK(test::slurp(root / "/etc/nova/real.conf") == "[libvirt]\nvirt_type = qemu\n");
    CHECK(test::slurp(root / "/etc/nova/compute-real.conf") == kKvmComputeConf);
  }
}

TEST_CASE("a config directory that cannot be listed: nothing is written") {
  test::TempDir root("kvmprov-nova");
  test::put(root / "/etc/nova/nova.conf", "[libvirt]\n");
  std::filesystem::create_symlink("nova.conf.d", root / "/etc/nova/nova.conf.d");  // a loop
  auto host = make_linux_host({.root = root.path()});
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm});
  Facts f = observe(*host, p);
  REQUIRE(f.nova.config_errors.size() == 1);
  CHECK(f.nova.config_errors[0].find("cannot list") == 0);
  auto done = apply_plan(*host, make_plan(p, f, {.live = false}));
  const Action* conf = find(done, "file:" + kConf);
  CHECK(conf->status == Status::failed);
  CHECK(conf->detail ==
        "not written: what nova-compute reads is not known whole: " + f.nova.config_errors[0]);
  CHECK(test::slurp(root / "/etc/nova/nova.conf") == "[libvirt]\n");
}

}  // namespace
}  // namespace kvmprov
