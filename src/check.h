// SPDX-License-Identifier: MIT
// check: whether this host can run KVM guests, as a list of named checks and one verdict.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "check_items.h"
#include "facts.h"
#include "host.h"
#include "report.h"

namespace kvmprov {

// Runs every check against HOST and FACTS (from observe() with the default profile). Reading the
// firmware state may load the msr module; it is unloaded again when this run loaded it.
CheckReport run_check(Host& host, const Facts& facts, const CheckOptions& options = {});
std::string render_check(const CheckReport& report, const RenderOptions& options);
nlohmann::json check_json(const CheckReport& report);

}  // namespace kvmprov
