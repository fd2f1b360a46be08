// SPDX-License-Identifier: MIT
// Who can open /dev/kvm: mode bits, accounts from a tree's passwd/group, and (as root) a real open
// with another user's credentials.
#include "linux/user_access.h"
#include "accounts.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "host.h"
#include "test_util.h"

using namespace kvmprov;

namespace {

// A tree with /etc and /dev, removed with everything in it at scope exit.
class Tree : public test::TempDir {
 public:
  Tree() : TempDir("kvmprov-access") {
    for (const char* d : {"/etc", "/dev"}) mkdir((path() + d).c_str(), 0755);
  }
  void put(const std::string& rel, const std::string& content, mode_t mode = 0644) {
    std::ofstream(path() + rel) << content;
    REQUIRE(chmod((path() + rel).c_str(), mode) == 0);
  }
};

}  // namespace

TEST_CASE("mode bits: the first matching class decides, root always may") {
  CHECK(may_open_rw(1000, {1000, 108}, 0, 108, 0660));
  CHECK_FALSE(may_open_rw(1000, {1000}, 0, 108, 0660));
  CHECK(may_open_rw(1000, {1000}, 0, 108, 0666));
  CHECK_FALSE(may_open_rw(1000, {108}, 0, 108, 0606));  // the group class decides
  CHECK(may_open_rw(1000, {}, 1000, 108, 0600));
  CHECK_FALSE(may_open_rw(1000, {108}, 1000, 108, 0460));  // the owner class decides
  CHECK(may_open_rw(0, {}, 0, 0, 0000));
}

TEST_CASE("two names for one uid: the first names it, in plan, apply and check alike") {
  const kvmprov::Accounts acc = kvmprov::parse_accounts(
      "root:x:0:\nkvm:x:994:\n", "root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n");
  REQUIRE(acc.user_by_uid(0));
  CHECK(acc.user_by_uid(0)->name == "root");
  CHECK(acc.user_by_uid(4242) == nullptr);
  CHECK(acc.perms_text(0, 994, 0660) == "root:kvm 0660");
  CHECK(acc.perms_text(4242, 4343, 0600) == "4242:4343 0600");
}

TEST_CASE("accounts and access computed from a tree's passwd, group and mode bits") {
  Tree t;
  const gid_t gid = getegid();
  t.put("/etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nalice:x:4242:4242::/home/alice:/bin/sh\n"
        "bob:x:4343:4343::/home/bob:/bin/sh\n");
  // kvm first: when the tests run as root its gid is 0, and the first entry names it.
  t.put("/etc/group", "kvm:x:" + std::to_string(gid) + ":alice,carol\nroot:x:0:\nalice:x:4242:\n");
  t.put("/dev/kvm", "", 0660);
  // Named: a temporary's aggregate initialisation gives GCC 12 -O3 a false -Wmaybe-uninitialized.
  LinuxHostOptions options;
  options.kernel_root = t.path();
  auto host = make_linux_host(options);
  auto alice = host->can_open_as("alice", "/dev/kvm");
  REQUIRE(alice);
  CHECK(alice->uid == 4242);
  CHECK(alice->can_open);
  CHECK_FALSE(alice->opened_as_user);
  auto bob = host->can_open_as("bob", "/dev/kvm");
  REQUIRE(bob);
  CHECK_FALSE(bob->can_open);
  CHECK(bob->open_errno == EACCES);
  auto nobody = host->can_open_as("nosuchuser", "/dev/kvm");
  REQUIRE_FALSE(nobody);
  CHECK(nobody.error().code == ENOENT);
  CHECK(nobody.error().message == "unknown user \"nosuchuser\"");
  CHECK(host->user_name(4242) == "alice");
  CHECK(host->group_name(gid) == "kvm");
  CHECK(host->user_name(999999).empty());
}

// Skipped (and counted so) without root: needs root to take another user's credentials.
TEST_CASE("as root on the running system: really opens with the user's credentials" *
          doctest::skip(geteuid() != 0)) {
  auto nobody = lookup_account("nobody");
  if (!nobody) {
    MESSAGE("skipped: no user \"nobody\" here");
    return;
  }
  Tree t;
  t.put("/dev/node", "", 0600);
  auto denied = open_as(*nobody, t.path() + "/dev/node");
  REQUIRE(denied);
  CHECK(*denied == EACCES);
  REQUIRE(chmod(t.path().c_str(), 0755) == 0);
  t.put("/dev/node", "", 0666);
  auto allowed = open_as(*nobody, t.path() + "/dev/node");
  REQUIRE(allowed);
  CHECK(*allowed == 0);
  auto host = make_linux_host();
  auto self = host->can_open_as("", "/proc/self/status");
  REQUIRE(self);
  CHECK(self->opened_as_user);
}
