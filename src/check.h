// SPDX-License-Identifier: MIT
// check: whether this host can run KVM guests, as a list of named checks and one verdict.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "facts.h"
#include "host.h"
#include "report.h"

namespace kvmprov {

enum class CheckState { pass, warn, fail, skip };
std::string_view check_state_name(CheckState s);  // "PASS", "WARN", "FAIL", "SKIP"

struct CheckItem {
  std::string id;     // stable: "cpu", "vt", "kvm-module", "device", "probe", ...
  std::string title;  // what was checked
  CheckState state = CheckState::pass;
  std::string detail;  // what was found
  std::string hint;    // what to do, when not PASS
};

struct Verdict {
  bool usable = false;
  std::string reason;     // ok, ok-paravirtual, no-hardware-support, ...
  std::string advice;     // one line
  std::string virt_type;  // "kvm" or "qemu"
};

struct CheckReport {
  std::vector<CheckItem> items;
  Verdict verdict;
};

// Runs every check against HOST and FACTS (from observe() with the default profile).
CheckReport run_check(Host& host, const Facts& facts);
std::string render_check(const CheckReport& report, const RenderOptions& options);
nlohmann::json check_json(const CheckReport& report);

}  // namespace kvmprov
