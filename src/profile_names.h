// SPDX-License-Identifier: MIT
// The grammar of the words a profile holds, for the validator: why a value breaks its rule, and
// the words each of the profile's enumerations is written with.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "profile.h"

namespace kvmprov {

// Each explain_* returns why S breaks its grammar, or "" when it is valid; profile.h's valid_*
// predicates are defined through them, so that a message and a check cannot disagree.
std::string explain_profile_name(std::string_view s);
std::string explain_module_name(std::string_view s);
std::string explain_option_name(std::string_view s);
std::string explain_option_value(std::string_view s);
std::string explain_device_node(std::string_view s);
std::string explain_account_name(std::string_view s);
std::string explain_cpu_model_name(std::string_view s);
std::string explain_config_path(std::string_view s);

// Whether S is 3 or 4 octal digits, the form a device's mode is written in.
bool octal_digits(std::string_view s);

// S as a boolean: true, True, TRUE, false, False or FALSE; with YAML11, also the words YAML 1.1
// reads as booleans (y, yes, on, n, no, off, each in the same three cases), which Ansible's YAML
// library writes and templated profiles carry. nullopt for any other text, including other
// mixtures of case ("yEs"), which YAML 1.1 reads as strings.
std::optional<bool> yaml_bool(std::string_view s, bool yaml11);

// The words of an enumeration, in the order messages list them.
template <class E>
using NameTable = std::span<const std::pair<E, std::string_view>>;

inline constexpr std::pair<PersistMode, std::string_view> kPersistModes[] = {
    {PersistMode::automatic, "auto"},
    {PersistMode::modules_load_d, "modules-load.d"},
    {PersistMode::etc_modules, "etc-modules"},
    {PersistMode::none, "none"}};

inline constexpr std::pair<NovaVirtType, std::string_view> kNovaVirtTypes[] = {
    {NovaVirtType::automatic, "auto"}, {NovaVirtType::kvm, "kvm"}, {NovaVirtType::qemu, "qemu"}};

inline constexpr std::pair<NovaCpuMode, std::string_view> kNovaCpuModes[] = {
    {NovaCpuMode::host_model, "host-model"},
    {NovaCpuMode::host_passthrough, "host-passthrough"},
    {NovaCpuMode::custom, "custom"},
    {NovaCpuMode::none, "none"}};

// vendor.h's known vendors, by their profile word.
NameTable<Vendor> vendor_names();

}  // namespace kvmprov
