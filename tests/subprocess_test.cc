// SPDX-License-Identifier: MIT
// Running the shadow tools and udevadm: a failure carries the tool's whole message.
#include <doctest/doctest.h>

#include "linux/subprocess.h"

namespace kvmprov {
namespace {

TEST_CASE("a failing tool's every line of stderr is kept, on one line") {
  auto r =
      run_program({"/bin/sh", "-c",
                   "echo 'groupadd: /etc/group.lock: File exists' >&2; echo >&2; "
                   "echo '  groupadd: cannot lock /etc/group; try again later.' >&2; exit 10"});
  REQUIRE_FALSE(r);
  CHECK(r.error().message ==
        "\"/bin/sh\" exited with status 10: groupadd: /etc/group.lock: File exists; groupadd: "
        "cannot lock /etc/group; try again later.");
}

TEST_CASE("a tool that succeeds says nothing; one killed by a signal says which") {
  CHECK(run_program({"/bin/sh", "-c", "echo noise >&2; exit 0"}));
  auto killed = run_program({"/bin/sh", "-c", "kill -TERM $$"});
  REQUIRE_FALSE(killed);
  CHECK(killed.error().message == "\"/bin/sh\" was killed by signal 15");
}

}  // namespace
}  // namespace kvmprov
