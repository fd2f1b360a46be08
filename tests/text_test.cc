// SPDX-License-Identifier: MIT
// The shared text helpers behind every "did you mean" hint.
#include <doctest/doctest.h>

#include "text.h"

namespace kvmprov {
namespace {

TEST_CASE("edit distance counts a transposed pair as one edit") {
  CHECK(edit_distance("modules", "modules") == 0);
  CHECK(edit_distance("modles", "modules") == 1);
  CHECK(edit_distance("moduels", "modules") == 1);
  CHECK(edit_distance("", "kvm") == 3);
  CHECK(edit_distance("intel", "amd") == 5);
}

TEST_CASE("ascii_lower folds A-Z only") {
  CHECK(ascii_lower("Skylake-Client_V1") == "skylake-client_v1");
  CHECK(ascii_lower("\xc3\x89") == "\xc3\x89");
}

TEST_CASE("trim drops whitespace at both ends only") {
  CHECK(trim("  Y\n") == "Y");
  CHECK(trim("\tGenuine Intel \r\n") == "Genuine Intel");
  CHECK(trim(" \n\t").empty());
  CHECK(trim("").empty());
}

TEST_CASE("join puts the separator between non-empty parts") {
  CHECK(join({"a", "b", "c"}, ", ") == "a, b, c");
  CHECK(join({"", "a", "", "b", ""}, "; ") == "a; b");
  CHECK(join({}, ", ").empty());
}

}  // namespace
}  // namespace kvmprov
