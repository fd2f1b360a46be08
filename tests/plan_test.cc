// SPDX-License-Identifier: MIT
// The planner and apply against FakeHost: which actions, in which state, and that a second run
// changes nothing.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>

#include "action_checks.h"
#include "apply.h"
#include "fake_host.h"
#include "persist.h"
#include "plan.h"

namespace kvmprov {
namespace {

using namespace test;  // FakeHost and the action checks

Profile default_profile(PersistMode persist = PersistMode::automatic) {
  Profile p;
  p.source = "/etc/kvmprov/profile.yaml";
  p.name = "kvm-host";
  p.modules = {{.name = "kvm"},
               {.name = "kvm_intel", .when_vendors = {Vendor::intel}},
               {.name = "kvm_amd", .when_vendors = {Vendor::amd, Vendor::hygon}},
               {.name = "vhost_net"}};
  p.persist = persist;
  return p;
}

// An AMD host with systemd whose kernel can load every module of the default profile.
FakeHost amd_host() {
  FakeHost h;
  h.systemd_ = true;
  h.kernel_.files["/proc/cpuinfo"] =
      "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: QEMU Virtual CPU\n"
      "flags\t\t: fpu svm lm\n\n";
  h.kernel_.files["/proc/modules"] = "";
  for (const char* m : {"kvm", "kvm_intel", "kvm_amd", "vhost_net"}) h.available(m);
  return h;
}

// The default profile asking nested=1 of MODULE, which H has in STATE showing nested as SHOWN.
Profile nested_on(FakeHost& h, const std::string& module, ModuleState state,
                  const std::string& shown) {
  h.modules_[module].state = state;
  h.modules_[module].params["nested"] = shown;
  Profile p = default_profile();
  for (auto& m : p.modules)
    if (m.name == module) m.options = {{"nested", "1"}};
  return p;
}

std::vector<Action> run(FakeHost& h, const Profile& p, bool allow_reload = false) {
  Facts f = observe(h, p);
  Plan plan = make_plan(p, f, {.live = h.live(), .allow_reload = allow_reload});
  return apply_plan(h, plan);
}

const std::string kHeader =
    "# Managed by kvmprov from profile \"kvm-host\" (/etc/kvmprov/profile.yaml).\n"
    "# Changes here are overwritten: edit the profile and run \"kvmprov apply\".\n";

TEST_CASE("amd host with systemd: loads kvm, kvm_amd, vhost_net and lists them in modules-load.d") {
  FakeHost h = amd_host();
  Profile p = default_profile();
  Facts f = observe(h, p);
  Plan plan = make_plan(p, f, {.live = true});

  // The other vendor's module is said to be left out, not silently dropped.
  CHECK(ids_and_status(plan.actions) ==
        std::vector<std::string>{"module:kvm=changed", "module:kvm_amd=changed",
                                 "module:vhost_net=changed", "module:kvm_intel=skipped",
                                 "file:/etc/modules-load.d/kvmprov.conf=changed"});
  CHECK(find(plan.actions, "module:kvm_intel")->detail ==
        "for intel CPUs (\"when\"); this CPU is amd");

  auto done = apply_plan(h, plan);
  CHECK(h.loads_ == std::vector<std::string>{"kvm", "kvm_amd", "vhost_net"});
  CHECK(h.target_.files.at(kModulesLoadConf) == kHeader + "kvm\nkvm_amd\nvhost_net\n");
  CHECK(summarize(done).changed == 4);

  // The second run changes nothing and writes nothing.
  h.target_.writes.clear();
  h.loads_.clear();
  auto again = run(h, p);
  CHECK(summarize(again).changed == 0);
  CHECK(summarize(again).unchanged == 4);
  CHECK(summarize(again).skipped == 1);
  CHECK(h.target_.writes.empty());
  CHECK(h.loads_.empty());
}

TEST_CASE("intel host: kvm_intel with options, never kvm_amd even if the profile has no when") {
  FakeHost h = amd_host();
  h.kernel_.files["/proc/cpuinfo"] = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t: vmx\n";
  Profile p = default_profile();
  p.modules[1].options = {{"nested", "1"}};
  p.modules[2].when_vendors.clear();  // kvm_amd without `when`
  auto done = run(h, p);
  CHECK(h.loads_ == std::vector<std::string>{"kvm", "kvm_intel", "vhost_net"});
  CHECK(h.target_.files.at(kModprobeConf) == kHeader + "options kvm_intel nested=1\n");
  CHECK(h.modules_.at("kvm_intel").params.at("nested") == "Y");
  CHECK(find(done, "module:kvm_amd")->status == Status::skipped);
  CHECK(find(done, "module:kvm_amd")->detail ==
        "the KVM module of amd or hygon CPUs; this CPU is intel");
  // The options file comes before the loads so that the kernel sees the options.
  CHECK(done.front().id == "file:/etc/modprobe.d/kvmprov.conf");
}

TEST_CASE("no systemd: a marked block in /etc/modules; every foreign byte preserved") {
  FakeHost h = amd_host();
  h.systemd_ = false;
  const std::string foreign = "# /etc/modules: kernel modules to load at boot time.\n\nloop\n";
  h.target_.files[kEtcModules] = foreign;
  auto done = run(h, default_profile());
  const std::string want = foreign +
                           "# BEGIN kvmprov (profile \"kvm-host\"): managed by kvmprov, do not "
                           "edit\nkvm\nkvm_amd\nvhost_net\n# END kvmprov\n";
  CHECK(h.target_.files.at(kEtcModules) == want);
  CHECK(h.target_.files.count(kModulesLoadConf) == 0);

  // Dropping a module from the profile removes it from the block and nothing else.
  Profile fewer = default_profile();
  fewer.modules.pop_back();
  run(h, fewer);
  CHECK(h.target_.files.at(kEtcModules) ==
        foreign +
            "# BEGIN kvmprov (profile \"kvm-host\"): managed by kvmprov, do not "
            "edit\nkvm\nkvm_amd\n# END kvmprov\n");

  // persist: none takes the block out again, leaving the foreign bytes exactly as they were.
  run(h, default_profile(PersistMode::none));
  CHECK(h.target_.files.at(kEtcModules) == foreign);
}

TEST_CASE("/etc/modules: a managed module also listed outside the block is reported, kept") {
  FakeHost h = amd_host();
  h.target_.files[kEtcModules] = "kvm\r\nfoo\n";
  auto done = run(h, default_profile(PersistMode::etc_modules));
  const Action* a = find(done, "file:/etc/modules");
  REQUIRE(a);
  CHECK(a->detail.find("\"kvm\" is also listed outside kvmprov's block, left as is") !=
        std::string::npos);
  CHECK(h.target_.files.at(kEtcModules).starts_with("kvm\r\nfoo\n# BEGIN kvmprov"));
}

TEST_CASE("switching persistence removes the file kvmprov no longer uses") {
  FakeHost h = amd_host();
  run(h, default_profile(PersistMode::modules_load_d));
  REQUIRE(h.target_.files.count(kModulesLoadConf));
  auto done = run(h, default_profile(PersistMode::etc_modules));
  CHECK(h.target_.files.count(kModulesLoadConf) == 0);
  CHECK(find(done, "file:/etc/modules-load.d/kvmprov.conf")->kind == ActionKind::remove_file);
  CHECK(h.target_.files.at(kEtcModules).find("\nkvm_amd\n") != std::string::npos);
}

TEST_CASE("a module removed from the profile disappears from kvmprov's files") {
  FakeHost h = amd_host();
  Profile p = default_profile();
  p.modules[2].options = {{"nested", "1"}};
  run(h, p);
  REQUIRE(h.target_.files.count(kModprobeConf));
  p.modules.erase(p.modules.begin() + 2);  // kvm_amd
  run(h, p);
  CHECK(h.target_.files.count(kModprobeConf) == 0);
  CHECK(h.target_.files.at(kModulesLoadConf) == kHeader + "kvm\nvhost_net\n");
}

TEST_CASE("without libkmod a load fails with the library's error, not \"not found\"") {
  const std::string why =
      "library \"libkmod.so.2\" cannot be loaded: libkmod.so.2: cannot open shared object file: "
      "No such file or directory (install libkmod2 or kmod-libs)";
  FakeHost h = amd_host();
  for (const char* m : {"kvm", "kvm_amd", "vhost_net"})
    h.modules_[m] = {.name = m, .unknown_because = why};
  h.modules_["kvm"].state = ModuleState::live;
  Facts f = observe(h, default_profile());
  Plan plan = make_plan(default_profile(), f, {.live = true});
  const Action* load = find(plan.actions, "module:kvm_amd");
  REQUIRE(load);
  CHECK(load->status == Status::failed);
  CHECK(load->detail == "cannot load \"kvm_amd\": " + why);
  CHECK(find(plan.actions, "module:kvm")->status == Status::unchanged);
  // What cannot be loaded now is not listed for the next boot either.
  const Action* persist = find(plan.actions, "file:/etc/modules-load.d/kvmprov.conf");
  REQUIRE(persist);
  REQUIRE(persist->after);
  CHECK(*persist->after == kHeader + "kvm\n");
}

TEST_CASE("option drift on a loaded module: pending without --allow-reload, reload with it") {
  FakeHost h = amd_host();
  h.modules_["kvm"].state = ModuleState::live;
  Profile p = nested_on(h, "kvm_amd", ModuleState::live, "0\n");
  check_action(run(h, p), "reload:kvm_amd", Status::pending,
               "\"kvm_amd\" is loaded with nested is 0 (profile: 1); reloading it needs "
               "--allow-reload (and no running guests)");
  CHECK(h.unloads_.empty());

  SUBCASE("in use: still pending, with the users") {
    h.modules_["kvm_amd"].refcount = 2;
    auto d = run(h, p, true);
    CHECK(find(d, "reload:kvm_amd")->status == Status::pending);
    CHECK(find(d, "reload:kvm_amd")->detail.find("in use (refcount 2)") != std::string::npos);
    CHECK(h.unloads_.empty());
  }
  SUBCASE("unused: reloaded with the profile's options") {
    auto d = run(h, p, true);
    CHECK(find(d, "reload:kvm_amd")->status == Status::changed);
    CHECK(h.unloads_ == std::vector<std::string>{"kvm_amd"});
    CHECK(h.modules_.at("kvm_amd").params.at("nested") == "Y");
    auto again = run(h, p, true);
    CHECK(find(again, "reload:kvm_amd") == nullptr);
  }
}

TEST_CASE("parameter values: sysfs's Y/N against the profile's 1/0 and true/false") {
  CHECK(same_param_value("Y\n", "1"));
  CHECK(same_param_value("N", "false"));
  CHECK(same_param_value("1", "true"));
  CHECK_FALSE(same_param_value("0", "1"));
  CHECK(same_param_value("200000\n", "200000"));
}

TEST_CASE("Y/N and 1/0 are the same value") {
  FakeHost h = amd_host();
  Profile p = nested_on(h, "kvm_amd", ModuleState::live, "Y\n");
  CHECK(find(run(h, p), "reload:kvm_amd") == nullptr);
}

TEST_CASE("built-in module with a different option: the exact kernel command line, pending") {
  FakeHost h = amd_host();
  h.kernel_.files["/proc/cpuinfo"] = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t: vmx\n";
  Profile p = nested_on(h, "kvm_intel", ModuleState::builtin, "N");
  check_action(run(h, p), "cmdline:kvm_intel", Status::pending,
               "\"kvm_intel\" is built into the kernel and nested is N (profile: 1); add "
               "\"kvm_intel.nested=1\" to the kernel command line and reboot");
}

TEST_CASE("kernel without module support: built-in kvm satisfied, the rest fail, not persisted") {
  FakeHost h = amd_host();
  h.kernel_.files.erase("/proc/modules");
  h.modules_.clear();
  h.modules_["kvm"].state = ModuleState::builtin;
  h.kernel_.files["/proc/cpuinfo"] =
      "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t: hypervisor\n";
  h.release_ = "6.18.44-fc";
  auto done = run(h, default_profile());
  CHECK(find(done, "module:kvm")->status == Status::unchanged);
  CHECK(find(done, "module:kvm_amd")->status == Status::failed);
  CHECK(find(done, "module:kvm_amd")->detail ==
        "cannot load \"kvm_amd\": kernel 6.18.44-fc has no loadable-module support and does not "
        "have it built in (use a kernel with CONFIG_MODULES, or one with kvm_amd built in)");
  CHECK(h.loads_.empty());
  // No /lib/modules/<release>: modprobe could not even find the built-in kvm at boot.
  CHECK(h.target_.files.count(kModulesLoadConf) == 0);
  // With the directory, a built-in module may be listed (modprobe finds it in modules.builtin).
  h.kernel_.files["/lib/modules/6.18.44-fc"] = "";
  run(h, default_profile());
  CHECK(h.target_.files.at(kModulesLoadConf) == kHeader + "kvm\n");
}

TEST_CASE("a built-in module is not listed where modprobe cannot find it") {
  FakeHost h = amd_host();
  h.modules_["kvm"].state = ModuleState::builtin;
  h.modules_["kvm_amd"].state = ModuleState::live;
  Profile p = default_profile(PersistMode::etc_modules);
  auto done = run(h, p);
  CHECK(h.target_.files.at(kEtcModules).find("\nkvm\n") == std::string::npos);
  CHECK(find(done, "file:/etc/modules")->detail ==
        "create; not listing \"kvm\": built into the kernel, and modprobe cannot find it without "
        "/lib/modules/6.1.0-test-amd64");
}

TEST_CASE("without a vendor in /proc/cpuinfo, CPUID decides it") {
  FakeHost h = amd_host();
  h.kernel_.files.erase("/proc/cpuinfo");
  h.cpuid_.vendor = "HygonGenuine";
  Facts f = observe(h, default_profile());
  CHECK(f.cpu.vendor == Vendor::hygon);
  CHECK(modules_for_host(default_profile(), f).at(1)->name == "kvm_amd");
}

TEST_CASE("a paravirtual KVM backend (kvm_pvm) makes the vendor module unnecessary") {
  FakeHost h = amd_host();
  h.kernel_.files.erase("/proc/modules");
  h.modules_.clear();
  h.modules_["kvm"].state = ModuleState::builtin;
  h.modules_["kvm_pvm"].state = ModuleState::builtin;
  auto done = run(h, default_profile());
  CHECK(find(done, "module:kvm_amd")->status == Status::unchanged);
  CHECK(find(done, "module:kvm_amd")->detail == "not needed: KVM is provided by \"kvm_pvm\"");
  h.kernel_.files["/lib/modules/" + h.release_] = "";
  run(h, default_profile());
  CHECK(h.target_.files.at(kModulesLoadConf) == kHeader + "kvm\n");
}

TEST_CASE("a vendor module without the VT flag is tried but not persisted") {
  FakeHost h = amd_host();
  h.kernel_.files["/proc/cpuinfo"] = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t: lm\n";
  h.load_errors_["kvm_amd"] = ENODEV;
  auto done = run(h, default_profile());
  CHECK(find(done, "module:kvm_amd")->status == Status::failed);
  CHECK(find(done, "module:vhost_net")->status == Status::changed);  // one failure stops nothing
  CHECK(h.target_.files.at(kModulesLoadConf) == kHeader + "kvm\nvhost_net\n");
  CHECK(find(done, "file:/etc/modules-load.d/kvmprov.conf")->detail ==
        "create; not listing \"kvm_amd\": cannot load on this host");
}

TEST_CASE("a load the kernel silently refused is a failure, not a success") {
  FakeHost h = amd_host();
  h.kernel_.files["/proc/cpuinfo"] = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t: vmx\n";
  h.silent_refusals_.insert("kvm_intel");
  auto done = run(h, default_profile());
  const Action* a = find(done, "module:kvm_intel");
  CHECK(a->status == Status::failed);
  CHECK(a->detail.find("the kernel reported success but the module is not loaded") !=
        std::string::npos);
}

TEST_CASE("--root with the image's CPU given: kernel actions skipped, that vendor persisted") {
  FakeHost h = amd_host();
  h.live_ = false;
  h.modules_.clear();
  Profile p = default_profile(PersistMode::modules_load_d);
  Facts f = observe(h, p);
  REQUIRE(override_fact(f, "cpu_vendor=amd"));
  auto done = apply_plan(h, make_plan(p, f, {.live = false}));
  CHECK(find(done, "module:kvm")->status == Status::skipped);
  CHECK(h.loads_.empty());
  CHECK(h.target_.files.at(kModulesLoadConf) == kHeader + "kvm\nkvm_amd\nvhost_net\n");
}

TEST_CASE("--root without the image's CPU: every vendor's options, no vendor module listed") {
  FakeHost h = amd_host();  // the build machine is AMD: that must not matter
  h.live_ = false;
  h.modules_.clear();
  Profile p = default_profile(PersistMode::modules_load_d);
  p.modules[1].options = {{"nested", "1"}};
  p.modules[2].options = {{"nested", "1"}};
  Facts f = observe(h, p);
  CHECK_FALSE(f.cpu_known);
  CHECK(f.cpu.vendor == Vendor::unknown);
  // Not even read: the build machine's CPU cannot leak into the image's plan.
  const auto& reads = h.kernel_.reads;
  CHECK(std::find(reads.begin(), reads.end(), "/proc/cpuinfo") == reads.end());
  FakeHost running = amd_host();  // the record works: the running system's CPU is read
  observe(running, p);
  CHECK(std::count(running.kernel_.reads.begin(), running.kernel_.reads.end(), "/proc/cpuinfo") ==
        1);
  auto done = apply_plan(h, make_plan(p, f, {.live = false}));
  CHECK(h.target_.files.at(kModprobeConf) ==
        kHeader + "options kvm_intel nested=1\noptions kvm_amd nested=1\n");
  CHECK(h.target_.files.at(kModulesLoadConf) == kHeader + "kvm\nvhost_net\n");
  for (const char* m : {"module:kvm_intel", "module:kvm_amd"}) {
    CAPTURE(m);
    CHECK(find(done, m)->status == Status::skipped);
    CHECK(find(done, m)->detail.starts_with(
        "the image's CPU is not known (--root): udev loads the vendor's KVM module at boot from "
        "the CPU's modalias"));
  }
  CHECK(find(done, "file:" + std::string(kModulesLoadConf))->detail ==
        "create; not listing \"kvm_intel\", \"kvm_amd\": the image's CPU is not known (see their "
        "load actions)");
}

TEST_CASE("a failed write is reported with its cause and does not stop the rest") {
  FakeHost h = amd_host();
  h.target_.write_errors[kModulesLoadConf] = EROFS;
  auto done = run(h, default_profile());
  const Action* a = find(done, "file:/etc/modules-load.d/kvmprov.conf");
  CHECK(a->status == Status::failed);
  CHECK(a->detail == "cannot write \"/etc/modules-load.d/kvmprov.conf\": Read-only file system");
  CHECK(summarize(done).changed == 3);
}

TEST_CASE("a file that cannot be read is a failure naming it, never planned as absent") {
  for (int err : {EFBIG, EACCES, EIO, EISDIR}) {
    CAPTURE(err);
    for (const char* path : {kEtcModules, kModulesLoadConf, kModprobeConf}) {
      CAPTURE(path);
      FakeHost h = amd_host();
      h.target_.files[path] = "operator's\n";
      h.target_.read_errors[path] = err;
      Profile p = default_profile(PersistMode::etc_modules);
      p.modules[1].options = {{"nested", "1"}};  // something to write to modprobe.d
      auto done = run(h, p);
      const Action* a = find(done, std::string("file:") + path);
      REQUIRE(a);
      CHECK(a->status == Status::failed);
      CHECK(a->detail == "cannot read \"" + std::string(path) + "\": " + std::strerror(err));
      CHECK(h.target_.files[path] == "operator's\n");
      CHECK(std::find(h.target_.writes.begin(), h.target_.writes.end(), path) ==
            h.target_.writes.end());
      CHECK(std::find(h.target_.removals.begin(), h.target_.removals.end(), path) ==
            h.target_.removals.end());
    }
  }
}

TEST_CASE("plan predicts apply's refusal of what is at a path (a symlink, a directory, a FIFO)") {
  FakeHost h = amd_host();
  h.target_.refusals[kModulesLoadConf] =
      "refusing to write \"/etc/modules-load.d/kvmprov.conf\": it is a symbolic link";
  Profile p = default_profile();
  Facts f = observe(h, p);
  Plan plan = make_plan(p, f, {.live = true});
  const Action* a = find(plan.actions, "file:" + std::string(kModulesLoadConf));
  REQUIRE(a);
  CHECK(a->status == Status::failed);
  CHECK(a->detail == h.target_.refusals[kModulesLoadConf]);
  CHECK(apply_plan(h, plan)[0].status != Status::failed);  // the other files are still written
  CHECK(h.target_.files.count(kModulesLoadConf) == 0);
  // A refusal does not matter where nothing is to be written: an up-to-date file stays so.
  h.target_.refusals.clear();
  run(h, p);
  h.target_.refusals[kModulesLoadConf] = "refusing";
  auto again = run(h, p);
  CHECK(find(again, "file:" + std::string(kModulesLoadConf))->status == Status::unchanged);
}

TEST_CASE("apply writes only over what plan read") {
  FakeHost h = amd_host();
  h.target_.files[kEtcModules] = "loop\n";
  Profile p = default_profile(PersistMode::etc_modules);
  Facts f = observe(h, p);
  Plan plan = make_plan(p, f, {.live = true});
  h.target_.files[kEtcModules] = "loop\nbonding\n";  // someone else, between plan and apply
  auto done = apply_plan(h, plan);
  const Action* a = find(done, "file:" + std::string(kEtcModules));
  CHECK(a->status == Status::failed);
  CHECK(a->detail.ends_with("it changed since it was read"));
  CHECK(h.target_.files[kEtcModules] == "loop\nbonding\n");
}

TEST_CASE("in a container: the host's kernel is read, never changed; the files are its own") {
  FakeHost h = amd_host();
  h.live_ = false;
  h.scope_ = ScopeFacts{.scope = Scope::container, .container = "docker"};
  h.modules_["kvm"].state = ModuleState::live;
  Profile p = default_profile(PersistMode::modules_load_d);
  Facts f = observe(h, p);
  CHECK(f.cpu_known);  // the CPU is the host's, and so the container's
  auto done = apply_plan(
      h, make_plan(p, f, {.live = false, .scope = Scope::container, .container = "docker"}));
  CHECK(find(done, "module:kvm")->status == Status::unchanged);
  CHECK(find(done, "module:kvm")->detail == "loaded (by the host)");
  CHECK(find(done, "module:kvm_amd")->status == Status::skipped);
  CHECK(find(done, "module:kvm_amd")->detail ==
        "in a container (docker): the host must load \"kvm_amd\" (modules belong to its kernel)");
  CHECK(h.loads_.empty());
  // The container's files are written as the profile says, with what this kernel can load.
  CHECK(h.target_.files.at(kModulesLoadConf) == kHeader + "kvm\nkvm_amd\nvhost_net\n");
}

TEST_CASE("in a chroot: the files of / as an image's, kernel actions skipped, the CPU unknown") {
  FakeHost h = amd_host();
  h.live_ = false;
  h.scope_ = ScopeFacts{.scope = Scope::chroot};
  Profile p = default_profile(PersistMode::modules_load_d);
  Facts f = observe(h, p);
  CHECK_FALSE(f.cpu_known);
  auto done = apply_plan(h, make_plan(p, f, {.live = false, .scope = Scope::chroot}));
  CHECK(find(done, "module:kvm")->detail == "running in a chroot: kernel modules are left alone");
  CHECK(h.loads_.empty());
  CHECK(h.target_.files.at(kModulesLoadConf) == kHeader + "kvm\nvhost_net\n");
}

TEST_CASE("apply sweeps stale temporaries beside every managed file, also those it leaves alone") {
  FakeHost h = amd_host();
  h.target_.files[kEtcModules] = "loop\n";
  Profile p = default_profile();
  Facts f = observe(h, p);
  Plan plan = make_plan(p, f, {.live = true});
  sweep_stale_temporaries(h, f, plan);
  std::sort(h.target_.sweeps.begin(), h.target_.sweeps.end());
  CHECK(h.target_.sweeps == std::vector<std::string>{kModprobeConf, kEtcModules, kModulesLoadConf,
                                                     std::string(kUdevRulesFile)});
  CHECK(h.target_.writes.empty());
}

}  // namespace
}  // namespace kvmprov
