// SPDX-License-Identifier: MIT
// What the tests of plan, apply and reset share about actions: one found by id, every id with its
// status in one list, and one check of an action's status and detail.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "action.h"

namespace kvmprov::test {

// The action of ACTIONS with ID; nullptr when there is none.
inline const Action* find(const std::vector<Action>& actions, std::string_view id) {
  auto it =
      std::find_if(actions.begin(), actions.end(), [&](const Action& a) { return a.id == id; });
  return it == actions.end() ? nullptr : &*it;
}

// "id=status" for each action, in order.
inline std::vector<std::string> ids_and_status(const std::vector<Action>& actions) {
  std::vector<std::string> out;
  for (const auto& a : actions) out.push_back(a.id + "=" + std::string(status_name(a.status)));
  return out;
}

// Checks that ACTIONS hold an action ID with STATUS and DETAIL.
inline void check_action(const std::vector<Action>& actions, std::string_view id, Status status,
                         const std::string& detail) {
  CAPTURE(id);
  const Action* a = find(actions, id);
  REQUIRE(a);
  CHECK(status_name(a->status) == status_name(status));
  CHECK(a->detail == detail);
}

}  // namespace kvmprov::test
