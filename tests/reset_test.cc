// SPDX-License-Identifier: MIT
// make_reset_plan and apply against FakeHost: kvmprov's own files go, its block in /etc/modules
// goes, every other byte and every loaded module stays, and a second reset changes nothing.
#include <doctest/doctest.h>

#include "action_checks.h"
#include "apply.h"
#include "fake_host.h"
#include "persist.h"
#include "plan.h"
#include "udev_rules.h"

namespace kvmprov {
namespace {

using test::FakeHost;
using test::ids_and_status;

const std::string kForeign = "# /etc/modules: kernel modules to load at boot time.\nloop\n";
const std::string kBlock =
    "# BEGIN kvmprov (profile \"default\"): managed by kvmprov, do not edit\nkvm\nkvm_amd\n"
    "# END kvmprov\n";

std::vector<Action> reset(FakeHost& h) {
  Facts f = observe(h, Profile{});
  return apply_plan(h, make_reset_plan(f));
}

TEST_CASE("observe reads the udev rules file with kvmprov's other files") {
  FakeHost h;
  h.target_.files[kUdevRulesFile] = "# rules\n";
  Facts f = observe(h, Profile{});
  REQUIRE(f.files.count(kUdevRulesFile));
  CHECK(f.files.at(kUdevRulesFile).content == std::optional<std::string>("# rules\n"));
  CHECK(f.files.at(kModprobeConf).content == std::nullopt);
}

TEST_CASE("reset plan is pure: remove each own file, write /etc/modules without the block") {
  Facts f;
  f.files[kModprobeConf].content = "options kvm_intel nested=1\n";
  f.files[kModulesLoadConf].content = "kvm\n";
  f.files[kUdevRulesFile].content = "KERNEL==\"kvm\", GROUP=\"kvm\"\n";
  f.files[kEtcModules].content = kForeign + kBlock + "# after\n";
  Plan plan = make_reset_plan(f);
  CHECK(ids_and_status(plan.actions) ==
        std::vector<std::string>{"file:/etc/modprobe.d/kvmprov.conf=changed",
                                 "file:/etc/modules-load.d/kvmprov.conf=changed",
                                 "file:/etc/udev/rules.d/65-kvmprov.rules=changed",
                                 "file:/etc/modules=changed"});
  for (size_t i = 0; i < 3; ++i) {
    CHECK(plan.actions[i].kind == ActionKind::remove_file);
    CHECK(plan.actions[i].after == std::nullopt);
  }
  const Action& etc = plan.actions[3];
  CHECK(etc.kind == ActionKind::write_file);
  CHECK(etc.before == kForeign + kBlock + "# after\n");
  CHECK(etc.after == kForeign + "# after\n");
}

TEST_CASE("reset removes the files, keeps foreign bytes and loaded modules; twice is a no-op") {
  FakeHost h;
  h.target_.files[kModprobeConf] = "options kvm_intel nested=1\n";
  h.target_.files[kModulesLoadConf] = "kvm\nkvm_intel\n";
  h.target_.files[kUdevRulesFile] = "KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\"\n";
  h.target_.files[kEtcModules] = kForeign + kBlock;
  h.target_.files["/etc/modprobe.d/other.conf"] = "options loop max_loop=8\n";
  h.modules_["kvm"] = {.name = "kvm", .state = ModuleState::live, .found = true};

  auto done = reset(h);
  CHECK(summarize(done).changed == 4);
  CHECK(summarize(done).failed == 0);
  CHECK(h.target_.removals ==
        std::vector<std::string>{kModprobeConf, kModulesLoadConf, std::string(kUdevRulesFile)});
  CHECK(h.target_.files.count(kModprobeConf) == 0);
  CHECK(h.target_.files.count(kModulesLoadConf) == 0);
  CHECK(h.target_.files.count(kUdevRulesFile) == 0);
  CHECK(h.target_.files.at(kEtcModules) == kForeign);
  CHECK(h.target_.files.at("/etc/modprobe.d/other.conf") == "options loop max_loop=8\n");
  CHECK(h.unloads_.empty());
  CHECK(h.loads_.empty());
  CHECK(h.modules_.at("kvm").state == ModuleState::live);

  h.target_.writes.clear();
  h.target_.removals.clear();
  auto again = reset(h);
  CHECK(summarize(again).changed == 0);
  CHECK(summarize(again).unchanged == 4);
  CHECK(h.target_.writes.empty());
  CHECK(h.target_.removals.empty());
}

TEST_CASE("reset removes a hand-copied second block too, in one run") {
  FakeHost h;
  h.target_.files[kEtcModules] = kForeign + kBlock + "# between\n" + kBlock;
  CHECK(summarize(reset(h)).changed == 1);
  CHECK(h.target_.files.at(kEtcModules) == kForeign + "# between\n");
  h.target_.writes.clear();
  CHECK(summarize(reset(h)).changed == 0);
  CHECK(h.target_.writes.empty());
}

TEST_CASE("reset on a host kvmprov never touched changes nothing") {
  FakeHost h;
  h.target_.files[kEtcModules] = kForeign;
  auto done = reset(h);
  CHECK(ids_and_status(done) ==
        std::vector<std::string>{"file:/etc/modprobe.d/kvmprov.conf=unchanged",
                                 "file:/etc/modules-load.d/kvmprov.conf=unchanged",
                                 "file:/etc/udev/rules.d/65-kvmprov.rules=unchanged",
                                 "file:/etc/modules=unchanged"});
  CHECK(h.target_.writes.empty());
  CHECK(h.target_.removals.empty());
  CHECK(done[3].detail == "no kvmprov block");
}

TEST_CASE("reset after apply undoes exactly what apply wrote") {
  FakeHost h;
  h.systemd_ = false;
  h.kernel_.files["/proc/cpuinfo"] =
      "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx lm\n\n";
  h.kernel_.files["/proc/modules"] = "";
  for (const char* m : {"kvm", "kvm_intel"}) h.available(m);
  h.target_.files[kEtcModules] = kForeign;
  Profile p;
  p.name = "nested";
  p.source = "/etc/kvmprov/profile.yaml";
  p.modules = {{.name = "kvm"}, {.name = "kvm_intel", .options = {{"nested", "1"}}}};
  Facts f = observe(h, p);
  apply_plan(h, make_plan(p, f, {.live = true}));
  REQUIRE(h.target_.files.count(kModprobeConf));
  REQUIRE(h.target_.files.at(kEtcModules) != kForeign);

  auto done = reset(h);
  CHECK(summarize(done).failed == 0);
  CHECK(h.target_.files.count(kModprobeConf) == 0);
  CHECK(h.target_.files.at(kEtcModules) == kForeign);
  CHECK(h.modules_.at("kvm_intel").state == ModuleState::live);
}

TEST_CASE("a failed removal is reported and the rest still runs") {
  FakeHost h;
  h.target_.remove_errors[kModprobeConf] = EROFS;
  h.target_.files[kModprobeConf] = "x\n";
  h.target_.files[kModulesLoadConf] = "kvm\n";
  auto done = reset(h);
  CHECK(done[0].status == Status::failed);
  CHECK(done[0].detail.find("cannot remove") != std::string::npos);
  CHECK(done[1].status == Status::changed);
  CHECK(h.target_.files.count(kModulesLoadConf) == 0);
}

}  // namespace
}  // namespace kvmprov
