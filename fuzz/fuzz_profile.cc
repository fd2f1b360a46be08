// SPDX-License-Identifier: MIT
// libFuzzer target: any bytes given to the profile parser and validator end in a profile whose
// every string fits its grammar, or in errors that each name a position on one line.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "persist.h"
#include "profile.h"

namespace {

void require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

bool one_line(std::string_view s) {
  for (const char c : s) {
    if (c == '\n' || c == '\r' || c == '\0') return false;
  }
  return true;
}

// Visible ASCII only: checked apart from the grammars, so a bug they share cannot hide.
bool visible(std::string_view s) {
  for (const char c : s) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

std::size_t lines(std::string_view s) {
  std::size_t n = 0;
  for (const char c : s) n += c == '\n' ? 1 : 0;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const kvmprov::ParseResult r = kvmprov::parse_profile(text, "fuzz.yaml");

  require(r.profile.has_value() != !r.errors.empty(), "a profile or errors, never both or none");
  for (const kvmprov::ProfileError& e : r.errors) {
    require(e.file == "fuzz.yaml", "errors name the file");
    require(e.line >= 1 && e.column >= 1, "errors name a line and a column");
    require(!e.message.empty(), "errors say what is wrong");
    require(one_line(e.str()), "an error is one line");
  }
  if (!r.profile) return 0;

  // Whatever the validator lets through is what ends up in files: it must fit the grammar that
  // keeps a second directive out of modprobe.d, modules-load.d and /etc/modules.
  const kvmprov::Profile& p = *r.profile;
  std::vector<std::string> names;
  for (const kvmprov::ModuleSpec& m : p.modules) {
    require(kvmprov::valid_module_name(m.name), "module names fit their grammar");
    require(m.name.find('-') == std::string::npos, "module names are normalised");
    require(visible(m.name), "module names are visible ASCII");
    for (const kvmprov::ModuleOption& o : m.options) {
      require(kvmprov::valid_option_name(o.name), "option names fit their grammar");
      require(kvmprov::valid_option_value(o.value), "option values fit their grammar");
      require(visible(o.name) && visible(o.value), "options are visible ASCII");
    }
    names.push_back(m.name);
  }
  for (const kvmprov::DeviceSpec& d : p.devices) {
    require(kvmprov::valid_device_node(d.node), "device nodes fit their grammar");
    require(visible(d.node) && visible(d.group), "device nodes and groups are visible ASCII");
    require(d.group.empty() || kvmprov::valid_account_name(d.group), "device groups fit");
    require(!d.mode || *d.mode <= 0777, "device modes have no special bits");
  }
  for (const kvmprov::GroupSpec& g : p.groups) {
    require(kvmprov::valid_account_name(g.name), "group names fit their grammar");
    require(visible(g.name), "group names are visible ASCII");
    for (const std::string& m : g.members) {
      require(kvmprov::valid_account_name(m) && visible(m), "member names fit their grammar");
    }
  }
  require(visible(p.name), "the profile name is visible ASCII");
  require(lines(kvmprov::managed_header(p)) == 2, "the header is two lines");
  const std::string block = kvmprov::set_managed_block("", p, names).value();
  require(lines(block) == names.size() + 2, "the block is one line per module and two markers");
  return 0;
}
