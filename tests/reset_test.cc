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
  h.files_[kUdevRulesFile] = "# rules\n";
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
  h.files_[kModprobeConf] = "options kvm_intel nested=1\n";
  h.files_[kModulesLoadConf] = "kvm\nkvm_intel\n";
  h.files_[kUdevRulesFile] = "KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\"\n";
  h.files_[kEtcModules] = kForeign + kBlock;
  h.files_["/etc/modprobe.d/other.conf"] = "options loop max_loop=8\n";
  h.modules_["kvm"] = {.name = "kvm", .state = ModuleState::live, .found = true};

  auto done = reset(h);
  CHECK(summarize(done).changed == 4);
  CHECK(summarize(done).failed == 0);
  CHECK(h.removals_ ==
        std::vector<std::string>{kModprobeConf, kModulesLoadConf, std::string(kUdevRulesFile)});
  CHECK(h.files_.count(kModprobeConf) == 0);
  CHECK(h.files_.count(kModulesLoadConf) == 0);
  CHECK(h.files_.count(kUdevRulesFile) == 0);
  CHECK(h.files_.at(kEtcModules) == kForeign);
  CHECK(h.files_.at("/etc/modprobe.d/other.conf") == "options loop max_loop=8\n");
  CHECK(h.unloads_.empty());
  CHECK(h.loads_.empty());
  CHECK(h.modules_.at("kvm").state == ModuleState::live);

  h.writes_.clear();
  h.removals_.clear();
  auto again = reset(h);
  CHECK(summarize(again).changed == 0);
  CHECK(summarize(again).unchanged == 4);
  CHECK(h.writes_.empty());
  CHECK(h.removals_.empty());
}

TEST_CASE("reset removes a hand-copied second block too, in one run") {
  FakeHost h;
  h.files_[kEtcModules] = kForeign + kBlock + "# between\n" + kBlock;
  CHECK(summarize(reset(h)).changed == 1);
  CHECK(h.files_.at(kEtcModules) == kForeign + "# between\n");
  h.writes_.clear();
  CHECK(summarize(reset(h)).changed == 0);
  CHECK(h.writes_.empty());
}

TEST_CASE("reset on a host kvmprov never touched changes nothing") {
  FakeHost h;
  h.files_[kEtcModules] = kForeign;
  auto done = reset(h);
  CHECK(ids_and_status(done) ==
        std::vector<std::string>{"file:/etc/modprobe.d/kvmprov.conf=unchanged",
                                 "file:/etc/modules-load.d/kvmprov.conf=unchanged",
                                 "file:/etc/udev/rules.d/65-kvmprov.rules=unchanged",
                                 "file:/etc/modules=unchanged"});
  CHECK(h.writes_.empty());
  CHECK(h.removals_.empty());
  CHECK(done[3].detail == "no kvmprov block");
}

TEST_CASE("reset after apply undoes exactly what apply wrote") {
  FakeHost h;
  h.systemd_ = false;
  h.kernel_files_["/proc/cpuinfo"] =
      "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx lm\n\n";
  h.kernel_files_["/proc/modules"] = "";
  for (const char* m : {"kvm", "kvm_intel"}) h.available(m);
  h.files_[kEtcModules] = kForeign;
  Profile p;
  p.name = "nested";
  p.source = "/etc/kvmprov/profile.yaml";
  p.modules = {{.name = "kvm"}, {.name = "kvm_intel", .options = {{"nested", "1"}}}};
  Facts f = observe(h, p);
  apply_plan(h, make_plan(p, f, {.live = true}));
  REQUIRE(h.files_.count(kModprobeConf));
  REQUIRE(h.files_.at(kEtcModules) != kForeign);

  auto done = reset(h);
  CHECK(summarize(done).failed == 0);
  CHECK(h.files_.count(kModprobeConf) == 0);
  CHECK(h.files_.at(kEtcModules) == kForeign);
  CHECK(h.modules_.at("kvm_intel").state == ModuleState::live);
}

TEST_CASE("a failed removal is reported and the rest still runs") {
  struct FailingRemove : FakeHost {
    Result<bool> remove_file(const std::string& path, const Expected& expected) override {
      if (path == kModprobeConf) return errno_error("cannot remove \"" + path + "\"", EROFS);
      return FakeHost::remove_file(path, expected);
    }
  };
  FailingRemove h;
  h.files_[kModprobeConf] = "x\n";
  h.files_[kModulesLoadConf] = "kvm\n";
  auto done = reset(h);
  CHECK(done[0].status == Status::failed);
  CHECK(done[0].detail.find("cannot remove") != std::string::npos);
  CHECK(done[1].status == Status::changed);
  CHECK(h.files_.count(kModulesLoadConf) == 0);
}

}  // namespace
}  // namespace kvmprov
