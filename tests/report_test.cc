// SPDX-License-Identifier: MIT
// Rendering of plan and apply results: exit statuses, plain and detailed, the unified diff a plan
// shows of each file, and only the managed lines of a file kvmprov shares.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "action_checks.h"
#include "apply.h"
#include "fake_host.h"
#include "plan.h"
#include "report.h"
#include "util/diff.h"

namespace kvmprov {
namespace {

TEST_CASE("exit statuses, plain and detailed") {
  const Profile p{};  // exit statuses depend on the actions alone
  Facts f;
  RunReport r{.verb = "apply", .profile = &p, .facts = &f};
  CHECK(exit_status(r, false) == 0);
  CHECK(exit_status(r, true) == 0);
  r.actions.push_back({.status = Status::changed});
  CHECK(exit_status(r, false) == 0);
  CHECK(exit_status(r, true) == 2);
  r.actions.push_back({.status = Status::failed});
  CHECK(exit_status(r, false) == 1);
  CHECK(exit_status(r, true) == 6);
  r.verb = "plan";
  r.dry_run = true;
  CHECK(exit_status(r, false) == 1);  // a plan that predicts a failure fails
  CHECK(exit_status(r, true) == 6);
}

TEST_CASE("pending items are changes in a plan, not after apply") {
  const Profile p{};  // exit statuses depend on the actions alone
  Facts f;
  for (const char* verb : {"plan", "apply"}) {
    CAPTURE(verb);
    const bool plan = std::string_view(verb) == "plan";
    RunReport r{.verb = verb, .dry_run = plan, .profile = &p, .facts = &f};
    r.actions.push_back({.status = Status::unchanged});
    r.actions.push_back({.status = Status::skipped});
    CHECK(exit_status(r, true) == 0);
    r.actions.push_back({.status = Status::pending});
    CHECK(exit_status(r, false) == 0);
    CHECK(exit_status(r, true) == (plan ? 2 : 0));
    r.actions.push_back({.status = Status::failed});
    CHECK(exit_status(r, false) == 1);
    CHECK(exit_status(r, true) == (plan ? 6 : 4));
  }
}

TEST_CASE("unified diff") {
  CHECK(unified_diff("/etc/x", std::nullopt, "a\nb\n") ==
        "--- /dev/null\n+++ b/etc/x\n@@ -0,0 +1,2 @@\n+a\n+b\n");
  CHECK(unified_diff("/etc/x", "a\nb\nc\n", "a\nB\nc\n") ==
        "--- a/etc/x\n+++ b/etc/x\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n");
  CHECK(unified_diff("/etc/x", "a\n", std::nullopt) ==
        "--- a/etc/x\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-a\n");
  CHECK(unified_diff("/etc/x", "same\n", "same\n").empty());
  // A rewrite (more edits than worth searching for) is shown as every old line removed and
  // every new one added, in one hunk.
  std::string before, after;
  for (int i = 0; i < 1200; ++i) {
    before += "old " + std::to_string(i) + "\n";
    after += "new " + std::to_string(i) + "\n";
  }
  const std::string rewrite = unified_diff("/etc/x", before, after);
  CHECK(rewrite.starts_with("--- a/etc/x\n+++ b/etc/x\n@@ -1,1200 +1,1200 @@\n-old 0\n"));
  CHECK(rewrite.find("-old 1199\n+new 0\n") != std::string::npos);
  CHECK(rewrite.ends_with("+new 1199\n"));
  // Few edits in a long file: a hunk with three lines of context around each change.
  std::string changed = before;
  changed.replace(changed.find("old 600\n"), 8, "OLD 600\n");
  CHECK(unified_diff("/etc/x", before, changed) ==
        "--- a/etc/x\n+++ b/etc/x\n@@ -598,7 +598,7 @@\n old 597\n old 598\n old 599\n-old 600\n"
        "+OLD 600\n old 601\n old 602\n old 603\n");
}

TEST_CASE("reports never carry nova.conf's own lines: only the managed keys, old and new") {
  const std::string conf = "/etc/nova/nova.conf";
  test::FakeHost h;
  h.target_.files[conf] =
      "[DEFAULT]\ntransport_url = rabbit://nova:S3cretMQ@ctl:5672/\n# a comment with a secret\n"
      "[database]\nconnection = mysql+pymysql://nova:S3cretDB@ctl/nova\n"
      "[keystone_authtoken]\npassword = S3cretKS\n[libvirt]\nvirt_type = qemu\n";
  Profile p;
  p.nova = NovaSpec{};
  Facts f = observe(h, p);
  f.nova.kvm = KvmVerdict{.usable = true, .reason = "ok", .source = "check"};
  RunReport plan{.verb = "plan", .dry_run = true, .profile = &p, .facts = &f};
  plan.actions = make_plan(p, f, {.live = true}).actions;
  RunReport applied{.verb = "apply", .profile = &p, .facts = &f};
  applied.actions = apply_plan(h, Plan{plan.actions});
  REQUIRE(h.target_.files[conf].find("S3cretDB") != std::string::npos);  // the file keeps them
  for (const RunReport* r : {&plan, &applied}) {
    const std::string json = json_text(report_json(*r));
    const std::string text = render_text(*r, {});
    for (const char* secret : {"S3cret", "rabbit://", "mysql", "a comment", "[database]"}) {
      CAPTURE(secret);
      CHECK(json.find(secret) == std::string::npos);
      CHECK(text.find(secret) == std::string::npos);
    }
    const Action* file = test::find(r->actions, "file:" + conf);
    REQUIRE(file);
    CHECK(*shown_before(*file) == "[libvirt] virt_type = qemu\n");
    CHECK(*shown_after(*file) ==
          "[DEFAULT] compute_driver = libvirt.LibvirtDriver\n[libvirt] virt_type = kvm\n"
          "[libvirt] cpu_mode = host-model\n");
  }
  const std::string text = render_text(plan, {});
  CHECK(text.find("\n-[libvirt] virt_type = qemu\n") != std::string::npos);
  CHECK(text.find("\n+[libvirt] virt_type = kvm\n") != std::string::npos);
}

TEST_CASE("the facts in JSON name the CPU's architecture, so an arm64 host is not read as x86") {
  Facts facts;
  CHECK(facts_json(facts)["cpu"]["arch"] == "unknown");
  facts.cpu.arch = CpuArch::arm64;
  const nlohmann::json j = facts_json(facts);
  CHECK(j["cpu"]["arch"] == "arm64");
  CHECK(j["cpu"]["vendor"] == "unknown");
  facts.cpu.arch = CpuArch::x86;
  CHECK(facts_json(facts)["cpu"]["arch"] == "x86");
}

}  // namespace
}  // namespace kvmprov
