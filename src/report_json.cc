// SPDX-License-Identifier: MIT
// The JSON report (--json): profile, facts, actions and summary; a contract for callers.
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "report.h"
#include "util/diff.h"
#include "util/text.h"

namespace kvmprov {

nlohmann::json facts_json(const Facts& f) {
  nlohmann::json modules = nlohmann::json::object();
  for (const auto& [name, m] : f.modules) {
    nlohmann::json params = nlohmann::json::object();
    for (const auto& [k, v] : m.params) params[k] = v;
    modules[name] = {{"state", module_state_name(m.state)},
                     {"found", m.found},
                     {"path", m.path},
                     {"blacklisted_by", m.blacklisted_by},
                     {"refcount", m.refcount},
                     {"holders", m.holders},
                     {"parameters", params}};
    if (!m.unknown_because.empty()) modules[name]["unknown_because"] = m.unknown_because;
  }
  return {{"cpu",
           {{"arch", arch_name(f.cpu.arch)},
            {"vendor", vendor_name(f.cpu.vendor)},
            {"vendor_id", f.cpu.vendor_id},
            {"model_name", f.cpu.model_name},
            {"cpus", f.cpu.cpus},
            {"vmx", f.cpu.vmx},
            {"svm", f.cpu.svm},
            {"hypervisor", f.cpu.hypervisor},
            {"hypervisor_id", f.cpu.hypervisor_id}}},
          {"kernel_release", f.kernel_release},
          {"modules_supported", f.modules_supported},
          {"modules_disabled", f.modules_disabled},
          {"systemd", f.systemd},
          {"kvm_provider", f.kvm_provider},
          {"modules", modules},
          {"overridden", f.overridden}};
}

namespace {

// Makes every string in J, keys included, valid UTF-8 in place.
void make_valid_utf8(nlohmann::json& j) {
  if (j.is_string()) {
    j = valid_utf8(j.get_ref<const std::string&>());
  } else if (j.is_array()) {
    for (auto& item : j) make_valid_utf8(item);
  } else if (j.is_object()) {
    nlohmann::json fixed = nlohmann::json::object();
    for (auto& [key, value] : j.items()) {
      make_valid_utf8(value);
      fixed[valid_utf8(key)] = std::move(value);
    }
    j = std::move(fixed);
  }
}

}  // namespace

std::string json_text(nlohmann::json j) {
  make_valid_utf8(j);
  // The replacing handler cannot trigger after make_valid_utf8; it is there so that no string
  // can ever make dump() throw.
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

nlohmann::json report_json(const RunReport& r) {
  nlohmann::json actions = nlohmann::json::array();
  for (const auto& a : r.actions) {
    nlohmann::json j = {{"id", a.id},
                        {"kind", action_kind_name(a.kind)},
                        {"target", a.target},
                        {"status", status_name(a.status)},
                        {"detail", a.detail}};
    if (a.kind == ActionKind::write_file || a.kind == ActionKind::remove_file) {
      const auto& before = shown_before(a);
      const auto& after = shown_after(a);
      j["before"] = before ? nlohmann::json(*before) : nlohmann::json(nullptr);
      j["after"] = after ? nlohmann::json(*after) : nlohmann::json(nullptr);
      j["diff"] = unified_diff(a.target, before, after);
      if (a.shared) j["excerpt"] = true;
    }
    if (a.kind == ActionKind::create_group || a.kind == ActionKind::add_member ||
        a.kind == ActionKind::node_permissions || a.kind == ActionKind::access) {
      const DeviceTarget& t = a.device;
      nlohmann::json dev = nlohmann::json::object();
      if (!t.node.empty()) dev["node"] = "/dev/" + t.node;
      if (!t.group.empty()) dev["group"] = t.group;
      if (!t.user.empty()) dev["user"] = t.user;
      if (t.mode) dev["mode"] = fmt::format("{:04o}", *t.mode);
      if (a.kind == ActionKind::create_group) dev["system"] = t.system;
      if (a.kind == ActionKind::node_permissions) {
        if (!t.module.empty()) dev["module"] = t.module;
        dev["udevd_running"] = t.udevd_running;
      }
      j["device"] = dev;
    }
    if (a.kind == ActionKind::nova_virt_type || a.kind == ActionKind::nova_cpu_mode ||
        (a.kind == ActionKind::write_file && !a.nova.cpu_mode.empty())) {
      const NovaTarget& t = a.nova;
      nlohmann::json nova = {{"virt_type", t.virt_type}, {"cpu_mode", t.cpu_mode}};
      if (!t.reason.empty()) nova["reason"] = t.reason;
      if (!t.source.empty()) nova["source"] = t.source;
      if (!t.cpu_models.empty()) nova["cpu_models"] = t.cpu_models;
      if (!t.missing_features.empty()) nova["missing_features"] = t.missing_features;
      if (!t.decides.empty()) nova["decides"] = t.decides;
      j["nova"] = nova;
    }
    if (!a.options.empty()) {
      nlohmann::json opts = nlohmann::json::object();
      for (const auto& o : a.options) opts[o.name] = o.value;
      j["options"] = opts;
    }
    actions.push_back(std::move(j));
  }
  Summary s = summarize(r.actions);
  return {{"format", kJsonFormat},
          {"verb", r.verb},
          {"dry_run", r.dry_run},
          {"profile", {{"name", r.profile->name}, {"source", r.profile->source}}},
          {"facts", facts_json(*r.facts)},
          {"actions", actions},
          {"summary",
           {{"changed", s.changed},
            {"unchanged", s.unchanged},
            {"failed", s.failed},
            {"skipped", s.skipped},
            {"pending", s.pending}}}};
}

}  // namespace kvmprov
