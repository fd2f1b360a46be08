// SPDX-License-Identifier: MIT
// The rules file text, udev's file order, and the precedence prediction: on fixture trees under
// tests/data/udev, and on the rules the installed udev package ships.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string_view>

#include "host.h"
#include "plan.h"
#include "plan_devices.h"
#include "test_util.h"
#include "udev_rules.h"

namespace kvmprov {
namespace {

using test::put;
using test::slurp;
using test::TempDir;

const std::string kData = KVMPROV_TEST_DATA "/udev/";

Profile device_profile() {
  Profile p;
  p.source = "/etc/kvmprov/profile.yaml";
  p.name = "kvm-host";
  p.devices = {{.node = "kvm", .group = "kvm", .mode = 0660},
               {.node = "vhost-net", .group = "kvm", .mode = 0660},
               {.node = "net/tun", .mode = 0666}};
  p.groups = {{.name = "kvm", .system = true, .members = {"nova"}}};
  return p;
}

Plan plan_for_root(const std::string& root, const Profile& profile) {
  auto host = make_linux_host({.root = root});
  Facts f = observe(*host, profile);
  return make_plan(profile, f, {.live = host->live()});
}

const Action& action(const Plan& plan, std::string_view id) {
  auto it = std::find_if(plan.actions.begin(), plan.actions.end(),
                         [&](const Action& a) { return a.id == id; });
  REQUIRE_MESSAGE(it != plan.actions.end(), id);
  return *it;
}

// The plan for device_profile() on the fixture tree NAME, its node:kvm action having STATUS.
Plan fixture_plan(const std::string& name, Status kvm_status) {
  Plan plan = plan_for_root(kData + name, device_profile());
  CHECK(action(plan, "node:kvm").status == kvm_status);
  return plan;
}

// The plan for device_profile() on the fixture tree NAME, where a rule other than kvmprov's decides
// /dev/kvm: its node:kvm action failed, saying DETAIL.
Plan defeated_plan(const std::string& name, const std::string& detail) {
  Plan plan = fixture_plan(name, Status::failed);
  CHECK(action(plan, "node:kvm").detail == detail);
  return plan;
}

TEST_CASE("rule lines: KERNEL is the last component, static_node the whole node") {
  CHECK(udev_rule_line({.node = "kvm", .group = "kvm", .mode = 0660}) ==
        R"(KERNEL=="kvm", GROUP="kvm", MODE="0660", OPTIONS+="static_node=kvm")");
  CHECK(udev_rule_line({.node = "net/tun", .mode = 0666}) ==
        R"(KERNEL=="tun", MODE="0666", OPTIONS+="static_node=net/tun")");
  CHECK(udev_rule_line({.node = "vhost-net", .group = "kvm"}) ==
        R"(KERNEL=="vhost-net", GROUP="kvm", OPTIONS+="static_node=vhost-net")");
  CHECK(udev_rule_line({.node = "kvm", .mode = 0600}) ==
        R"(KERNEL=="kvm", MODE="0600", OPTIONS+="static_node=kvm")");
  CHECK(udev_rule_line({.node = "kvm"}).empty());
}

// The line every template in rules/ must give: a node's own template (kvm, vhost-net,
// vhost-vsock, net/tun) or rules/device.rules.in for any other node.
TEST_CASE("rule lines: the templates in rules/ give the same line for every node") {
  for (const char* node :
       {"kvm", "vhost-net", "vhost-vsock", "net/tun", "fuse", "vfio/vfio", "dri/renderD128"}) {
    CAPTURE(node);
    const std::string kernel = device_kernel_name(node);
    const std::string tail = fmt::format(", OPTIONS+=\"static_node={}\"", node);
    CHECK(udev_rule_line({.node = node, .group = "kvm", .mode = 0660}) ==
          fmt::format("KERNEL==\"{}\", GROUP=\"kvm\", MODE=\"0660\"{}", kernel, tail));
    CHECK(udev_rule_line({.node = node, .group = "render"}) ==
          fmt::format("KERNEL==\"{}\", GROUP=\"render\"{}", kernel, tail));
    CHECK(udev_rule_line({.node = node, .mode = 0}) ==
          fmt::format("KERNEL==\"{}\", MODE=\"0000\"{}", kernel, tail));
    CHECK(udev_rule_line({.node = node}).empty());
  }
}

TEST_CASE("the rules file: header naming tool and profile, one line per device") {
  Profile p = device_profile();
  CHECK(udev_rules_text(p) ==
        "# Managed by kvmprov from profile \"kvm-host\" (/etc/kvmprov/profile.yaml).\n"
        "# Changes here are overwritten: edit the profile and run \"kvmprov apply\".\n"
        "KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0660\", OPTIONS+=\"static_node=kvm\"\n"
        "KERNEL==\"vhost-net\", GROUP=\"kvm\", MODE=\"0660\", "
        "OPTIONS+=\"static_node=vhost-net\"\n"
        "KERNEL==\"tun\", MODE=\"0666\", OPTIONS+=\"static_node=net/tun\"\n");
  p.devices.clear();
  CHECK_FALSE(udev_rules_text(p));
}

TEST_CASE("file order: by name across directories, an earlier directory masks a later one") {
  auto order = order_conf_files(
      {{"/etc/udev/rules.d", {"99-local.rules", "60-qemu.rules"}},
       {"/run/udev/rules.d", {"10-early.rules", "notes.txt"}},
       {"/usr/lib/udev/rules.d", {"50-udev-default.rules", "60-qemu.rules", ".hidden.rules"}},
       {"/lib/udev/rules.d", {"50-udev-default.rules"}}},
      ".rules");
  CHECK(order == std::vector<std::string>{"/run/udev/rules.d/10-early.rules",
                                          "/usr/lib/udev/rules.d/50-udev-default.rules",
                                          "/etc/udev/rules.d/60-qemu.rules",
                                          "/etc/udev/rules.d/99-local.rules"});
}

TEST_CASE("prediction: later assignments override, := is final, globs and alternatives match") {
  const DeviceIdentity kvm{.node = "kvm", .kernel = "kvm", .subsystem = "misc"};
  std::vector<ConfText> rules = {
      {"/a/10.rules", "KERNEL==\"kv?\", GROUP=\"one\"\n"},
      {"/a/20.rules", "KERNEL==\"tun|kvm\", MODE=\"0600\"\nKERNEL==\"kvm*\", GROUP:=\"two\"\n"},
      {"/a/30.rules", "KERNEL==\"kvm\", GROUP=\"three\", MODE=\"0666\"\n"},
      {"/a/40.rules", "KERNEL!=\"kvm\", MODE=\"0000\"\nSUBSYSTEM==\"block\", MODE=\"0000\"\n"},
      {"/a/50.rules", "this is not a rule\nKERNEL==\"kvm\", MODE=\"0640\n"},
  };
  NodePrediction p = predict_udev(rules, kvm);
  REQUIRE(p.group);
  CHECK(p.group->value == "two");
  CHECK(p.group->final);
  CHECK(p.group->where() == "/a/20.rules:2");
  REQUIRE(p.mode);
  CHECK(p.mode->value == "0666");
  CHECK(p.mode->where() == "/a/30.rules:1");
  CHECK(p.uncertain.empty());
  CHECK_FALSE(p.owner);
}

TEST_CASE("prediction: unknown conditions are reported as uncertain, unknown subsystem too") {
  std::vector<ConfText> rules = {{"/r/90.rules",
                                  "KERNEL==\"kvm\", ENV{container}==\"lxc\", MODE=\"0666\"\n"
                                  "ACTION==\"change\", KERNEL==\"kvm\", GROUP=\"users\"\n"
                                  "SUBSYSTEM==\"misc\", KERNEL==\"kvm\", OWNER=\"qemu\"\n"}};
  NodePrediction known = predict_udev(rules, {.node = "kvm", .kernel = "kvm", .subsystem = "misc"});
  CHECK_FALSE(known.mode);
  CHECK_FALSE(known.group);
  REQUIRE(known.owner);
  CHECK(known.owner->value == "qemu");
  REQUIRE(known.uncertain.size() == 2);
  CHECK(known.uncertain[0].key == "MODE");
  CHECK(known.uncertain[0].conditions == "ENV{container}==\"lxc\"");
  CHECK(known.uncertain[1].conditions == "ACTION==\"change\"");

  NodePrediction unknown = predict_udev(rules, {.node = "kvm", .kernel = "kvm"});
  CHECK_FALSE(unknown.owner);
  REQUIRE(unknown.uncertain.size() == 3);
  CHECK(unknown.uncertain[2].conditions == "SUBSYSTEM==\"misc\"");
}

TEST_CASE("tmpfiles.d: the first z line for the node gives mode and group") {
  NodePrediction p;
  predict_tmpfiles({{"/usr/lib/tmpfiles.d/a.conf",
                     "# c\nc! /dev/kvm 0600 - - - 10:232\nz /dev/kvm 0666 - kvm -\n"},
                    {"/usr/lib/tmpfiles.d/b.conf", "z /dev/kvm 0600 - root -\n"}},
                   "kvm", p);
  REQUIRE(p.tmpfiles_mode);
  CHECK(p.tmpfiles_mode->value == "0666");
  CHECK(p.tmpfiles_mode->where() == "/usr/lib/tmpfiles.d/a.conf:3");
  REQUIRE(p.tmpfiles_group);
  CHECK(p.tmpfiles_group->value == "kvm");
}

TEST_CASE("fixture ours-wins: an earlier plain assignment loses to kvmprov's rule") {
  Plan plan = fixture_plan("ours-wins", Status::skipped);
  const Action& kvm = action(plan, "node:kvm");
  CHECK(kvm.detail.find("not the running system") != std::string::npos);
  CHECK(action(plan, "group:kvm").status == Status::unchanged);
  CHECK(action(plan, "access:nova:kvm").status == Status::unchanged);
}

// A rule read after kvmprov's decides /dev/kvm, named by file and line: a later local rule
// (later-rule); a GOTO that skips, and an ACTION!="add" that does not stop an add event (goto).
TEST_CASE("fixtures later-rule and goto: a later rule defeats ours") {
  const struct {
    const char* fixture;
    const char* detail;
    Status vhost_net;
  } cases[] = {
      {"later-rule",
       "kvmprov's rule does not decide: MODE=\"0666\" at /etc/udev/rules.d/99-local.rules:3 "
       "overrides kvmprov's rule (read after it)",
       Status::skipped},
      {"goto",
       "kvmprov's rule does not decide: GROUP=\"root\" at /usr/lib/udev/rules.d/70-site.rules:4 "
       "overrides kvmprov's rule (read after it)",
       Status::failed},
  };
  for (const auto& c : cases) {
    CAPTURE(c.fixture);
    Plan plan = defeated_plan(c.fixture, c.detail);
    CHECK(action(plan, "node:vhost-net").status == c.vhost_net);
  }
}

TEST_CASE("fixture earlier-final: an earlier := defeats ours") {
  Plan plan = defeated_plan(
      "earlier-final",
      "kvmprov's rule does not decide: GROUP:=\"root\" at "
      "/usr/lib/udev/rules.d/60-qemu-system-common.rules:2 overrides kvmprov's rule (read "
      "before it, \":=\" makes it final); MODE:=\"0600\" at "
      "/usr/lib/udev/rules.d/60-qemu-system-common.rules:2 overrides kvmprov's rule (read "
      "before it, \":=\" makes it final)");
  // nova's access follows the rule that wins.
  const Action& access = action(plan, "access:nova:kvm");
  CHECK(access.status == Status::failed);
  CHECK(access.detail == "\"nova\" cannot open it (root:root 0600; groups: kvm, nova)");
}

TEST_CASE("fixture tmpfiles: a z line decides only where no udevd applies the rules") {
  Plan without = defeated_plan(
      "tmpfiles-no-udevd",
      "kvmprov's rule does not decide: /usr/lib/tmpfiles.d/static-nodes-permissions.conf:3 "
      "(systemd-tmpfiles) sets mode \"0666\" at boot and no udevd is installed to apply the "
      "rule");
  // The tun line agrees with the profile.
  CHECK(action(without, "node:net/tun").status == Status::skipped);

  Plan with = fixture_plan("tmpfiles-with-udevd", Status::skipped);
  const Action& kvm2 = action(with, "node:kvm");
  CHECK(kvm2.detail.find("; /usr/lib/tmpfiles.d/static-nodes-permissions.conf:3 "
                         "(systemd-tmpfiles) sets mode \"0666\" at boot before udevd applies "
                         "the rules") != std::string::npos);
}

TEST_CASE("fixture masked: files of the same name in /etc mask rules and tmpfiles.d lines") {
  Plan plan = fixture_plan("masked", Status::skipped);
  CHECK(action(plan, "node:kvm").detail.find("tmpfiles") == std::string::npos);
}

TEST_CASE("fixture uncertain: a rule with conditions kvmprov cannot evaluate is reported") {
  Plan plan = fixture_plan("uncertain", Status::skipped);
  const Action& kvm = action(plan, "node:kvm");
  CHECK(kvm.detail.find("; MODE=\"0666\" at /etc/udev/rules.d/90-container.rules:1 may override "
                        "it (conditions kvmprov cannot evaluate: ENV{container}==\"lxc\")") !=
        std::string::npos);
  const Action& vhost = action(plan, "node:vhost-net");
  CHECK(vhost.detail.find("may override") == std::string::npos);
  // Read before kvmprov's rule, only ":=" can win; a plain "=" there is overridden by it.
  CHECK(kvm.detail.find("MODE:=\"0640\" at /usr/lib/udev/rules.d/40-final.rules:1 may override") !=
        std::string::npos);
  CHECK(kvm.detail.find("50-early.rules") == std::string::npos);
}

// The rules and tmpfiles.d lines of the installed udev and systemd packages, copied into a
// temporary root: Debian's own rule for /dev/kvm agrees with the default profile.
TEST_CASE("installed udev rules: kvmprov's rule agrees with Debian's, a local rule defeats it") {
  std::string rules_dir;
  for (const char* d : {"/usr/lib/udev/rules.d", "/lib/udev/rules.d"})
    if (access((std::string(d) + "/50-udev-default.rules").c_str(), R_OK) == 0) rules_dir = d;
  if (rules_dir.empty()) {
    MESSAGE("skipped: udev is not installed (no 50-udev-default.rules)");
    return;
  }
  TempDir root;
  std::vector<ConfText> installed;
  for (const auto& e : std::filesystem::directory_iterator(rules_dir)) {
    if (e.path().extension() != ".rules") continue;
    put(root.path() + "/usr/lib/udev/rules.d/" + e.path().filename().string(),
        slurp(e.path().string()));
  }
  const std::string tmpfiles = "/usr/lib/tmpfiles.d/static-nodes-permissions.conf";
  if (access(tmpfiles.c_str(), R_OK) == 0) put(root.path() + tmpfiles, slurp(tmpfiles));
  put(root.path() + "/etc/group", "root:x:0:\nkvm:x:994:\nnova:x:1000:\n");
  put(root.path() + "/etc/passwd", "nova:x:1000:1000::/home/nova:/bin/sh\n");
  put(root.path() + "/usr/lib/systemd/systemd-udevd", "");

  // Debian's rules alone: /dev/kvm is root:kvm 0660 from 50-udev-default.rules.
  auto host = make_linux_host({.root = root.path()});
  auto names = host->target().list("/usr/lib/udev/rules.d");
  REQUIRE(names);
  std::vector<ConfText> rules;
  for (const auto& path : order_conf_files({{"/usr/lib/udev/rules.d", *names}}, ".rules"))
    rules.push_back({path, host->target().read(path).value().value_or("")});
  NodePrediction debian =
      predict_udev(rules, {.node = "kvm", .kernel = "kvm", .subsystem = "misc"});
  REQUIRE(debian.group);
  CHECK(debian.group->value == "kvm");
  CHECK(debian.group->file == "/usr/lib/udev/rules.d/50-udev-default.rules");
  REQUIRE(debian.mode);
  CHECK(debian.mode->value == "0660");
  NodePrediction tun =
      predict_udev(rules, {.node = "net/tun", .kernel = "tun", .subsystem = "misc"});
  REQUIRE(tun.mode);
  CHECK(tun.mode->value == "0666");

  Plan plan = plan_for_root(root.path(), device_profile());
  for (const char* id : {"node:kvm", "node:vhost-net", "node:net/tun"}) {
    CAPTURE(id);
    CHECK(action(plan, id).status == Status::skipped);
    CHECK(action(plan, id).detail.find("may override") == std::string::npos);
  }

  // Debian's many conditional rules for a render node are all read before kvmprov's and assign
  // with "=": none can win, so none is named (each used to be a "may override" note).
  put(root.path() + "/etc/group", "root:x:0:\nkvm:x:994:\nrender:x:105:\nnova:x:1000:\n");
  Profile render = device_profile();
  render.devices = {{.node = "dri/renderD128", .group = "render", .mode = 0660}};
  Plan dri = plan_for_root(root.path(), render);
  CHECK(action(dri, "node:dri/renderD128").detail.find("may override") == std::string::npos);
  CHECK(action(dri, "node:dri/renderD128").detail.find("its driver") == std::string::npos);

  put(root.path() + "/etc/udev/rules.d/99-local.rules", "KERNEL==\"kvm\", MODE=\"0666\"\n");
  Plan local = plan_for_root(root.path(), device_profile());
  CHECK(action(local, "node:kvm").status == Status::failed);
  CHECK(action(local, "node:kvm").detail.find("/etc/udev/rules.d/99-local.rules:1") !=
        std::string::npos);
}

}  // namespace
}  // namespace kvmprov
