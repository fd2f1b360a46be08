// SPDX-License-Identifier: MIT
// kvmprov's block in /etc/modules: found exactly or not at all, and never a byte of the operator's
// lost, whatever the file holds.
#include <doctest/doctest.h>

#include "persist.h"

namespace kvmprov {
namespace {

Profile named(const std::string& name) {
  Profile p;
  p.name = name;
  return p;
}

std::string block(const std::string& profile, const std::string& modules) {
  return "# BEGIN kvmprov (profile \"" + profile + "\"): managed by kvmprov, do not edit\n" +
         modules + "# END kvmprov\n";
}

TEST_CASE("managed block: appended after a last line without newline, replaced in place") {
  const Profile p = named("x");
  CHECK(set_managed_block("loop", p, {"kvm"}).value() == "loop\n" + block("x", "kvm\n"));
  const std::string middle = "a\n" + block("x", "kvm\n") + "b\n";
  CHECK(set_managed_block(middle, p, {"kvm", "tun"}).value() ==
        "a\n" + block("x", "kvm\ntun\n") + "b\n");
  CHECK(remove_managed_block(middle).value() == "a\nb\n");
  CHECK(remove_managed_block("no block\n").value() == "no block\n");
  // A second block (copied by hand) goes too: removing is then done in one step, and setting
  // leaves exactly one block, where the first was.
  const std::string twice = "a\n" + block("x", "kvm\n") + "b\n" + block("x", "tun\n") + "c\n";
  CHECK(remove_managed_block(twice).value() == "a\nb\nc\n");
  CHECK(set_managed_block(twice, p, {"kvm"}).value() == "a\n" + block("x", "kvm\n") + "b\nc\n");
}

TEST_CASE("a block without its END marker is an error, never a deletion") {
  // The operator's own modules after a lost END line must survive apply, reset and purge.
  const std::string text =
      "loop\n# BEGIN kvmprov (profile \"x\")\nkvm\n# my own modules below\nbonding\n8021q\n";
  auto removed = remove_managed_block(text);
  REQUIRE_FALSE(removed);
  CHECK(removed.error().message ==
        "kvmprov's block opened at line 2 has no \"# END kvmprov\" marker; fix it by hand");
  auto set = set_managed_block(text, named("x"), {"kvm"});
  REQUIRE_FALSE(set);
  CHECK(set.error().message == removed.error().message);
  CHECK(managed_block_excerpt(text).empty());
  CHECK(duplicates_outside_block(text, {"kvm"}).empty());
}

TEST_CASE("a BEGIN inside a block and an END outside one are errors too") {
  auto nested = remove_managed_block("# BEGIN kvmprov\nkvm\n# BEGIN kvmprov\ntun\n# END kvmprov\n");
  REQUIRE_FALSE(nested);
  CHECK(nested.error().message ==
        "kvmprov's block opened at line 1 has no \"# END kvmprov\" marker before the next "
        "\"# BEGIN kvmprov\" at line 3; fix it by hand");
  auto orphan = remove_managed_block("loop\nkvm\n# END kvmprov\nbonding\n");
  REQUIRE_FALSE(orphan);
  CHECK(orphan.error().message ==
        "\"# END kvmprov\" at line 3 closes no block (its \"# BEGIN kvmprov\" line is missing); "
        "fix it by hand");
}

TEST_CASE("markers match as whole words: another tool's block with a longer name is not ours") {
  const std::string legacy =
      "loop\n# BEGIN kvmprovisioner-legacy\nkvm_intel\n# END kvmprovisioner-legacy\n"
      "#BEGIN kvmprov\n# BEGIN kvmprov2\n# END kvmprov-old\n## BEGIN kvmprov\n # BEGIN kvmprov\n";
  CHECK(remove_managed_block(legacy).value() == legacy);
  CHECK(set_managed_block(legacy, named("x"), {"kvm"}).value() == legacy + block("x", "kvm\n"));
  // The marker alone, or followed by a blank (kvmprov writes the profile's name after it), with
  // CRLF endings or trailing blanks.
  CHECK(remove_managed_block("a\n# BEGIN kvmprov\nkvm\n# END kvmprov\nb\n").value() == "a\nb\n");
  CHECK(remove_managed_block("a\r\n# BEGIN kvmprov\tx\r\nkvm\r\n# END kvmprov \r\nb\r\n").value() ==
        "a\r\nb\r\n");
}

TEST_CASE("a byte order mark before the first marker hides nothing") {
  const std::string bom = "\xef\xbb\xbf";
  const std::string text = bom + block("x", "kvm\n") + "loop\n";
  // The block is found (no second one appended) and the mark, which is not kvmprov's, stays.
  CHECK(set_managed_block(text, named("x"), {"kvm", "tun"}).value() ==
        bom + block("x", "kvm\ntun\n") + "loop\n");
  CHECK(remove_managed_block(text).value() == bom + "loop\n");
  CHECK(managed_block_excerpt(text) == block("x", "kvm\n"));
  // A mark anywhere else is an ordinary byte of a line that is not a marker.
  const std::string later = "loop\n" + bom + "# BEGIN kvmprov\n";
  CHECK(remove_managed_block(later).value() == later);
}

TEST_CASE("the excerpt of a shared file is kvmprov's blocks only") {
  const std::string text = "# secret site notes\nloop\n" + block("x", "kvm\n") + "bonding\n";
  CHECK(managed_block_excerpt(text) == block("x", "kvm\n"));
  CHECK(managed_block_excerpt("loop\n").empty());
}

}  // namespace
}  // namespace kvmprov
