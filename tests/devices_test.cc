// SPDX-License-Identifier: MIT
// Groups, members, device nodes and access checks: planned and applied against FakeHost, and the
// direct-permission path and the real open() check against device nodes made with mknod.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>

#include "action_checks.h"
#include "apply.h"
#include "fake_host.h"
#include "libvirt.h"
#include "plan.h"
#include "plan_devices.h"
#include "test_util.h"
#include "udev_rules.h"

namespace kvmprov {
namespace {

using namespace test;  // FakeHost, TempDir, put, and the action checks

Profile kvm_profile(std::vector<std::string> members = {"nova"}) {
  Profile p;
  p.source = "/etc/kvmprov/profile.yaml";
  p.name = "kvm-host";
  p.devices = {{.node = "kvm", .group = "kvm", .mode = 0660}};
  p.groups = {{.name = "kvm", .system = true, .members = std::move(members)}};
  return p;
}

// A live host with udev's default rules, the kvm group, user nova and a /dev/kvm as the kernel
// makes it (root:root 0600).
FakeHost host_with_kvm() {
  FakeHost h;
  h.target_.files["/etc/group"] = "root:x:0:\nkvm:x:994:\nnova:x:1000:\n";
  h.target_.files["/etc/passwd"] =
      "root:x:0:0:root:/root:/bin/sh\nnova:x:1000:1000::/home/nova:/bin/sh\n";
  h.target_.files["/usr/lib/udev/rules.d/50-udev-default.rules"] =
      "ACTION!=\"add\", GOTO=\"default_end\"\n"
      "KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\", OPTIONS+=\"static_node=kvm\"\n"
      "LABEL=\"default_end\"\n";
  h.target_.files["/usr/lib/systemd/systemd-udevd"] = "";
  h.node("kvm", 0, 0, 0600);
  return h;
}

// The plan for P on the running system H.
Plan live_plan(Host& h, const Profile& p) {
  return make_plan(p, observe(h, p), {.live = true});
}

std::vector<Action> run(Host& h, const Profile& p) {
  Facts f = observe(h, p);
  return apply_plan(h, make_plan(p, f, {.live = h.live()}));
}

TEST_CASE("udevd not running: the node is set directly, and a second run changes nothing") {
  FakeHost h = host_with_kvm();
  Profile p = kvm_profile();
  Plan plan = live_plan(h, p);
  CHECK(ids_and_status(plan.actions) ==
        std::vector<std::string>{"group:kvm=unchanged", "member:kvm:nova=changed",
                                 "file:/etc/udev/rules.d/65-kvmprov.rules=changed",
                                 "node:kvm=changed", "access:nova:kvm=unchanged"});
  const Action* node = find(plan.actions, "node:kvm");
  CHECK(node->detail ==
        "root:root 0600 -> root:kvm 0660: udevd not running: set directly; the rule covers later "
        "boots");
  CHECK(find(plan.actions, "access:nova:kvm")->detail ==
        "\"nova\" can open it (root:kvm 0660, through group \"kvm\")");

  auto done = apply_plan(h, plan);
  CHECK(h.members_added_ == std::vector<std::string>{"kvm:nova"});
  CHECK(h.node_changes_ == std::vector<std::string>{"kvm"});
  CHECK(h.udev_events_.empty());
  CHECK(h.nodes_["kvm"].gid == 994);
  CHECK(h.nodes_["kvm"].mode == 0660);
  CHECK(find(done, "node:kvm")->status == Status::changed);
  CHECK(find(done, "node:kvm")->detail ==
        "root:root 0600 -> root:kvm 0660: udevd not running: set directly; the rule covers later "
        "boots");
  CHECK(h.target_.files.at(kUdevRulesFile)
            .ends_with(
                "KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\", OPTIONS+=\"static_node=kvm\"\n"));
  // FakeHost cannot open as another user: the check falls back to the permission bits.
  const Action* access = find(done, "access:nova:kvm");
  CHECK(access->status == Status::unchanged);
  CHECK(access->detail.starts_with("\"nova\" can open it (root:kvm 0660); permission bits only"));

  h.target_.writes.clear();
  h.node_changes_.clear();
  h.members_added_.clear();
  auto again = run(h, p);
  CHECK(h.target_.writes.empty());
  CHECK(h.node_changes_.empty());
  CHECK(h.members_added_.empty());
  CHECK(summarize(again).changed == 0);
  CHECK(find(again, "member:kvm:nova")->detail == "already a member");
  CHECK(find(again, "node:kvm")->detail == "root:kvm 0660");
  // What libvirt's guests need changed on the first run only: apply asks libvirt after it.
  CHECK(changes_kvm_access(done));
  CHECK_FALSE(changes_kvm_access(again));
}

TEST_CASE("udevd running: rules reloaded, a change event sent, the result verified by stat") {
  FakeHost h = host_with_kvm();
  h.kernel_.files["/run/udev/control"] = "";
  FileInfo right = h.nodes_["kvm"];
  right.gid = 994;
  right.mode = 0660;
  h.udev_results_["kvm"] = right;
  auto done = run(h, kvm_profile());
  const Action* node = find(done, "node:kvm");
  CHECK(node->status == Status::changed);
  CHECK(node->detail ==
        "root:root 0600 -> root:kvm 0660: applied by udevd after a rules reload and a change "
        "event");
  CHECK(h.udev_reloads_ == 1);
  CHECK(h.udev_events_ == std::vector<std::string>{"misc/kvm"});
  CHECK(h.node_changes_.empty());
}

TEST_CASE("udevd running but not applying the rule (a group new to it): set directly, said so") {
  FakeHost h = host_with_kvm();
  h.target_.files["/etc/group"] = "root:x:0:\nnova:x:1000:\n";
  h.kernel_.files["/run/udev/control"] = "";
  auto done = run(h, kvm_profile());
  CHECK(h.groups_created_ == std::vector<std::string>{"kvm (system)"});
  CHECK(find(done, "group:kvm")->detail == "created a system group");
  check_action(done, "node:kvm", Status::changed,
               "root:root 0600 -> root:kvm 0660: udevd did not apply the rule: still root:root "
               "0600 after a rules reload and a change event (udevd resolves group names when it "
               "reads its rules; a group created since it last read them is unknown to it until a "
               "rules file changes or it restarts); set directly");
  CHECK(h.nodes_["kvm"].gid == 999);
  CHECK(h.udev_events_ == std::vector<std::string>{"misc/kvm"});
  CHECK(h.node_changes_ == std::vector<std::string>{"kvm"});
}

TEST_CASE("the real open() as the member decides over the permission bits") {
  FakeHost h = host_with_kvm();
  h.node("kvm", 0, 994, 0660);
  h.target_.files["/etc/group"] = "root:x:0:\nkvm:x:994:nova\nnova:x:1000:\n";
  h.open_as_result_ = EACCES;  // an ACL or an LSM refuses what the bits allow
  auto first = run(h, kvm_profile());
  const Action* refused = find(first, "access:nova:kvm");
  CHECK(refused->status == Status::failed);
  CHECK(refused->detail ==
        "\"nova\" cannot open it: open() as that user failed: Permission denied (root:kvm 0660)");

  h.open_as_result_ = 0;
  auto done = run(h, kvm_profile());
  const Action* opened = find(done, "access:nova:kvm");
  CHECK(opened->status == Status::unchanged);
  CHECK(opened->detail == "\"nova\" can open it (root:kvm 0660); open() as that user succeeded");
}

TEST_CASE("a member that does not exist is pending, not an error") {
  FakeHost h = host_with_kvm();
  auto done = run(h, kvm_profile({"nova", "ghost"}));
  const Action* ghost = find(done, "member:kvm:ghost");
  REQUIRE(ghost);
  CHECK(ghost->status == Status::pending);
  CHECK(ghost->detail == "user \"ghost\" does not exist yet; run again once it does");
  CHECK(find(done, "access:ghost:kvm")->status == Status::pending);
  CHECK(find(done, "access:ghost:kvm")->detail == "user \"ghost\" does not exist yet");
  CHECK(h.members_added_ == std::vector<std::string>{"kvm:nova"});
}

TEST_CASE("a node that does not exist is pending with the module that creates it") {
  FakeHost h = host_with_kvm();
  h.nodes_.clear();
  Profile p = kvm_profile();
  p.devices.push_back({.node = "net/tun", .mode = 0666});
  Plan plan = live_plan(h, p);
  CHECK(find(plan.actions, "node:kvm")->status == Status::pending);
  CHECK(find(plan.actions, "node:kvm")->detail ==
        "does not exist yet: it appears when module \"kvm\" is loaded; the rule applies then");
  CHECK(find(plan.actions, "node:net/tun")->detail ==
        "does not exist yet: it appears when module \"tun\" is loaded; the rule applies then");
  CHECK(udev_rules_text(p)->ends_with(
      "KERNEL==\"tun\", MODE=\"0666\", OPTIONS+=\"static_node=net/tun\"\n"));
}

TEST_CASE("a missing node whose module is built in or loaded is not promised by loading it") {
  // arm64 started at EL1: kvm is built in and KVM did not initialise, so there is no /dev/kvm.
  FakeHost h = host_with_kvm();
  h.nodes_.clear();
  h.kernel_.files["/proc/modules"] = "tun 57344 0 - Live 0x0\n";
  h.modules_["kvm"].state = ModuleState::builtin;
  h.modules_["tun"].state = ModuleState::live;
  Profile p = kvm_profile();
  p.modules = {{.name = "kvm"}, {.name = "tun"}};
  p.devices.push_back({.node = "net/tun", .mode = 0666});
  Plan plan = live_plan(h, p);
  CHECK(find(plan.actions, "node:kvm")->status == Status::pending);
  CHECK(find(plan.actions, "node:kvm")->detail ==
        "does not exist although module \"kvm\" is built into the kernel: loading it will not "
        "create the node (kvmprov check says why); the rule applies if it appears");
  CHECK(find(plan.actions, "node:net/tun")->detail ==
        "does not exist although module \"tun\" is loaded: loading it will not create the node "
        "(see the kernel log, and whether devtmpfs is mounted on /dev); the rule applies if it "
        "appears");
  // kvm loaded but no vendor module yet (x86): the vendor's load creates /dev/kvm.
  h.modules_["kvm"].state = ModuleState::live;
  h.available("kvm_amd");
  p.modules.push_back({.name = "kvm_amd"});
  CHECK(find(live_plan(h, p).actions, "node:kvm")->detail ==
        "does not exist yet: it appears when module \"kvm\" is loaded; the rule applies then");
}

TEST_CASE("a node whose module this run loads is checked after the load") {
  FakeHost h = host_with_kvm();
  h.nodes_.clear();
  h.kernel_.files["/proc/modules"] = "";
  h.available("kvm");
  Profile p = kvm_profile();
  p.modules = {{.name = "kvm"}};
  Plan plan = live_plan(h, p);
  CHECK(find(plan.actions, "node:kvm")->status == Status::changed);
  CHECK(find(plan.actions, "node:kvm")->detail ==
        "does not exist yet: checked after module \"kvm\" is loaded");
  auto done = apply_plan(h, plan);
  // FakeHost's load makes no node: apply says what is missing.
  CHECK(find(done, "node:kvm")->status == Status::pending);
}

TEST_CASE("a node already right is not touched; world-writable /dev/kvm is allowed but named") {
  FakeHost h = host_with_kvm();
  h.node("kvm", 0, 994, 0666);
  Profile p = kvm_profile({});
  p.devices[0].mode = 0666;
  check_action(run(h, p), "node:kvm", Status::unchanged,
               "root:kvm 0666; world-writable (0666): every local user can open it and run "
               "virtual machines");
  CHECK(h.node_changes_.empty());
}

TEST_CASE("a member of the node's group gets the group bits, not the others' (as the kernel)") {
  FakeHost h = host_with_kvm();
  h.node("kvm", 0, 994, 0606);
  Profile p = kvm_profile();
  p.devices[0].mode = 0606;
  Plan plan = live_plan(h, p);
  const Action* access = find(plan.actions, "access:nova:kvm");
  REQUIRE(access);
  CHECK(access->status == Status::failed);
  CHECK(access->detail == "\"nova\" cannot open it (root:kvm 0606; groups: kvm, nova)");
}

TEST_CASE("files that cannot be read: the node says its prediction went without them") {
  FakeHost h = host_with_kvm();
  h.target_.read_errors["/usr/lib/udev/rules.d/50-udev-default.rules"] = EACCES;
  h.target_.read_errors["/etc/group"] = EACCES;
  Plan plan = live_plan(h, kvm_profile());
  const Action* node = find(plan.actions, "node:kvm");
  REQUIRE(node);
  CHECK(node->detail.ends_with(
      "; cannot read \"/usr/lib/udev/rules.d/50-udev-default.rules\": Permission denied, "
      "ignoring"));
  const Action* group = find(plan.actions, "group:kvm");
  REQUIRE(group);
  CHECK(group->status == Status::failed);
  CHECK(group->detail ==
        "cannot create group \"kvm\": cannot read \"/etc/group\": Permission denied");
}

TEST_CASE("a device group the profile does not create and that does not exist fails") {
  FakeHost h = host_with_kvm();
  Profile p = kvm_profile({});
  p.groups.clear();
  p.devices[0].group = "qemu";
  Plan plan = live_plan(h, p);
  CHECK(find(plan.actions, "node:kvm")->status == Status::failed);
  CHECK(find(plan.actions, "node:kvm")->detail ==
        "group \"qemu\" does not exist and the profile does not create it (add it under "
        "\"groups\")");
}

TEST_CASE("accounts NSS knows beyond the files (LDAP, SSSD) count on the running system") {
  // kvm comes from LDAP (gid 5000) with alice in it; bob is an LDAP user outside it; carol, an
  // LDAP user, is to join the local group libvirt.
  FakeHost h = host_with_kvm();
  h.target_.files["/etc/group"] = "root:x:0:\nlibvirt:x:995:\nnova:x:1000:\n";
  h.system_groups_["kvm"] = {.name = "kvm", .gid = 5000, .members = {"alice"}};
  h.system_users_["alice"] = {.user = {.name = "alice", .uid = 5001, .gid = 5001},
                              .gids = {5001, 5000}};
  h.system_users_["bob"] = {.user = {.name = "bob", .uid = 5002, .gid = 5002}, .gids = {5002}};
  h.system_users_["carol"] = {.user = {.name = "carol", .uid = 5003, .gid = 5003}, .gids = {5003}};
  Profile p = kvm_profile({"alice", "bob"});
  p.groups.push_back({.name = "libvirt", .system = true, .members = {"carol"}});
  Plan plan = live_plan(h, p);
  CHECK(find(plan.actions, "group:kvm")->status == Status::unchanged);
  CHECK(find(plan.actions, "group:kvm")->detail ==
        "exists (gid 5000, through NSS: not in /etc/group)");
  CHECK(find(plan.actions, "member:kvm:alice")->status == Status::unchanged);
  CHECK(find(plan.actions, "member:kvm:bob")->status == Status::failed);
  CHECK(find(plan.actions, "member:kvm:bob")->detail ==
        "cannot add \"bob\" to group \"kvm\": the group comes through NSS (LDAP, SSSD, "
        "extrausers), not from /etc/group: add the member where the group is defined");
  CHECK(find(plan.actions, "member:libvirt:carol")->status == Status::changed);
  // The node takes the NSS group's gid, in the plan and in apply.
  CHECK(find(plan.actions, "node:kvm")->status == Status::changed);
  std::vector<Action> done = apply_plan(h, plan);
  CHECK(find(done, "node:kvm")->status == Status::changed);
  FileInfo node = *h.device_node("kvm");
  CHECK(node.gid == 5000);
  CHECK(node.mode == 0660);
  const Action* access = find(done, "access:alice:kvm");
  REQUIRE(access != nullptr);
  INFO(access->detail);
  CHECK(access->status != Status::failed);
  CHECK(access->detail.starts_with("\"alice\" can open it (root:5000 0660)"));
}

TEST_CASE("the rules file is removed when the profile lists no devices; others untouched") {
  FakeHost h = host_with_kvm();
  run(h, kvm_profile());
  REQUIRE(h.target_.files.count(kUdevRulesFile));
  Profile none = kvm_profile({});
  none.devices.clear();
  auto done = run(h, none);
  CHECK(h.target_.removals == std::vector<std::string>{kUdevRulesFile});
  CHECK(find(done, std::string("file:") + kUdevRulesFile)->detail ==
        "remove: the profile lists no devices");
  CHECK(h.target_.files.count("/usr/lib/udev/rules.d/50-udev-default.rules"));
}

TEST_CASE("under --root: groups and the rules file are planned, nodes skipped") {
  FakeHost h = host_with_kvm();
  h.live_ = false;
  h.root_ = "/srv/image";
  auto done = run(h, kvm_profile());
  CHECK(find(done, "node:kvm")->status == Status::skipped);
  CHECK(find(done, "node:kvm")->detail ==
        "not the running system (--root): device nodes are left alone; the rule applies when "
        "the image boots");
  CHECK(find(done, "member:kvm:nova")->status == Status::changed);
  CHECK(h.node_changes_.empty());
  CHECK(h.udev_events_.empty());
}

TEST_CASE("what depends on a failed group is not reported as if it had worked") {
  FakeHost h = host_with_kvm();
  h.live_ = false;
  h.root_ = "/srv/image";
  h.target_.files["/etc/group"] = "root:x:0:\nnova:x:1000:\n";  // no kvm group yet
  h.group_errors_["kvm"] =
      "cannot create group \"kvm\": \"/usr/sbin/groupadd\" exited with status 10: groupadd: "
      "/etc/group.lock: File exists; groupadd: cannot lock /etc/group; try again later.";
  auto done = run(h, kvm_profile());
  CHECK(find(done, "group:kvm")->status == Status::failed);
  CHECK(find(done, "member:kvm:nova")->status == Status::failed);
  // The plan predicted "can open it" on the group's existence: that is not known now.
  const Action* access = find(done, "access:nova:kvm");
  CHECK(access->status == Status::pending);
  CHECK(access->detail == "not known: it depends on \"group:kvm\", which failed");
}

// --- LinuxHost against temporary roots.

// LinuxHost with files below one temporary root and the kernel (/dev, /sys, /run) below another,
// presented as the running system so that device steps run. Kernel modules and udevd stay
// FakeHost's (none), so the class keeps up with the Host interface.
class LiveAt : public FakeHost {
 public:
  LiveAt(const std::string& root, const std::string& kernel)
      : inner_(make_linux_host({.root = root, .kernel_root = kernel})) {
    root_ = inner_->root();
  }
  TargetFiles& target() override { return inner_->target(); }
  FileTree& kernel() override { return inner_->kernel(); }
  Result<void> create_group(const std::string& n, bool s) override {
    return inner_->create_group(n, s);
  }
  Result<void> add_group_member(const std::string& g, const std::string& u) override {
    return inner_->add_group_member(g, u);
  }
  Result<FileInfo> device_node(const std::string& n) override { return inner_->device_node(n); }
  Result<void> set_device_node(const std::string& n, uid_t u, gid_t g, unsigned m) override {
    return inner_->set_device_node(n, u, g, m);
  }
  Result<int> open_device_as(const std::string& n, uid_t u, gid_t g,
                             const std::vector<gid_t>& gs) override {
    return inner_->open_device_as(n, u, g, gs);
  }

 private:
  std::unique_ptr<Host> inner_;
};

TEST_CASE("LinuxHost: list_dir gives sorted names, empty for a missing directory") {
  TempDir root;
  put(root / "/etc/udev/rules.d/70-b.rules", "");
  put(root / "/etc/udev/rules.d/10-a.rules", "");
  auto host = make_linux_host({.root = root.path()});
  auto names = host->target().list("/etc/udev/rules.d");
  REQUIRE(names);
  CHECK(*names == std::vector<std::string>{"10-a.rules", "70-b.rules"});
  auto none = host->target().list("/run/udev/rules.d");
  REQUIRE(none);
  CHECK(none->empty());
}

// Skipped (and counted so) without root: mknod, chown and the open check need root.
TEST_CASE("LinuxHost: udevd not running, the node is set directly and a member can open it" *
          doctest::skip(geteuid() != 0)) {
  TempDir root, kernel;
  struct statvfs fs {};
  if (statvfs(kernel.path().c_str(), &fs) == 0 && (fs.f_flag & ST_NODEV)) {
    MESSAGE("skipped: " << kernel.path() << " is on a nodev filesystem, device nodes do not open");
    return;
  }
  if (mknod((kernel / "/probe").c_str(), S_IFCHR | 0600, makedev(1, 3)) != 0 && errno == EPERM) {
    MESSAGE("skipped: no CAP_MKNOD here (a container?)");
    return;
  }
  put(root / "/etc/group", "root:x:0:\nkvm:x:994:nova\nnova:x:1000:\nother:x:1001:\n");
  put(root / "/etc/passwd",
      "root:x:0:0:root:/root:/bin/sh\nnova:x:1000:1000::/home/nova:/bin/sh\n"
      "other:x:1001:1001::/home/other:/bin/sh\n");
  std::filesystem::create_directories(kernel / "/dev");
  // The users the check switches to must be able to reach the node.
  REQUIRE(chmod(kernel.path().c_str(), 0755) == 0);
  std::filesystem::create_directories(kernel / "/sys/class/misc/kvm");
  // The null device's numbers: opening it is harmless whatever the test does.
  REQUIRE(mknod((kernel / "/dev/kvm").c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0);
  REQUIRE(chmod((kernel / "/dev/kvm").c_str(), 0600) == 0);

  LiveAt host(root.path(), kernel.path());
  Profile p = kvm_profile({"nova", "other"});
  p.groups[0].members = {"nova"};
  p.groups.push_back({.name = "other", .system = false, .members = {"other"}});
  auto done = run(host, p);
  const Action* node = find(done, "node:kvm");
  REQUIRE(node);
  CHECK(node->status == Status::changed);
  CHECK(node->detail ==
        "root:root 0600 -> root:kvm 0660: udevd not running: set directly; the rule covers later "
        "boots");
  struct stat st {};
  REQUIRE(::stat((kernel / "/dev/kvm").c_str(), &st) == 0);
  CHECK(st.st_uid == 0);
  CHECK(st.st_gid == 994);
  CHECK((st.st_mode & 07777) == 0660);

  const Action* nova = find(done, "access:nova:kvm");
  CHECK(nova->status == Status::unchanged);
  CHECK(nova->detail == "\"nova\" can open it (root:kvm 0660); open() as that user succeeded");
  const Action* other = find(done, "access:other:kvm");
  CHECK(other->status == Status::failed);
  CHECK(other->detail == "\"other\" cannot open it (root:kvm 0660; groups: other)");

  // The second run touches nothing: same rules file (mtime kept), node unchanged.
  struct stat rules_before {};
  REQUIRE(::stat((root / kUdevRulesFile).c_str(), &rules_before) == 0);
  auto again = run(host, p);
  CHECK(find(again, "node:kvm")->status == Status::unchanged);
  CHECK(find(again, std::string("file:") + kUdevRulesFile)->status == Status::unchanged);
  struct stat rules_after {};
  REQUIRE(::stat((root / kUdevRulesFile).c_str(), &rules_after) == 0);
  CHECK(rules_after.st_mtim.tv_nsec == rules_before.st_mtim.tv_nsec);
  CHECK(rules_after.st_mtim.tv_sec == rules_before.st_mtim.tv_sec);
  CHECK(summarize(again).changed == 0);

  // A real open() refused where the bits allow it: mode bits without the group.
  REQUIRE(chmod((kernel / "/dev/kvm").c_str(), 0600) == 0);
  auto refused = host.open_device_as("kvm", 1000, 1000, {1000, 994});
  REQUIRE(refused);
  CHECK(*refused == EACCES);
}

TEST_CASE("LinuxHost: set_device_node refuses anything but a character device") {
  TempDir kernel;
  put(kernel / "/dev/kvm", "not a device");
  auto host = make_linux_host({.root = kernel.path(), .kernel_root = kernel.path()});
  auto r = host->set_device_node("kvm", 0, 0, 0660);
  REQUIRE_FALSE(r);
  CHECK(r.error().message ==
        "refusing to change \"" + kernel.path() + "/dev/kvm\": not a character device");
}

}  // namespace
}  // namespace kvmprov
