// SPDX-License-Identifier: MIT
// The host profile (schema version 1): what the operator wants, parsed and validated.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"
#include "vendor.h"

namespace kvmprov {

struct ModuleOption {
  std::string name;   // validated: [A-Za-z0-9_]+
  std::string value;  // validated: see valid_option_value
  bool operator==(const ModuleOption&) const = default;
};

struct ModuleSpec {
  std::string name;                  // normalised: '-' replaced by '_'
  std::vector<Vendor> when_vendors;  // empty: any vendor
  std::vector<ModuleOption> options;
  bool operator==(const ModuleSpec&) const = default;
};

enum class PersistMode { automatic, modules_load_d, etc_modules, none };
std::string_view persist_name(PersistMode m);  // "auto", "modules-load.d", "etc-modules", "none"

struct DeviceSpec {
  std::string node;              // path below /dev, e.g. "kvm", "net/tun"
  std::string group;             // "" = not managed
  std::optional<unsigned> mode;  // permission bits, <= 0777
  bool operator==(const DeviceSpec&) const = default;
};

struct GroupSpec {
  std::string name;
  bool system = true;
  std::vector<std::string> members;
  bool operator==(const GroupSpec&) const = default;
};

// OpenStack Compute: what nova.conf must say about the hypervisor.
enum class NovaVirtType { automatic, kvm, qemu };
enum class NovaCpuMode { host_model, host_passthrough, custom, none };
std::string_view nova_virt_type_name(NovaVirtType t);  // "auto", "kvm", "qemu"
std::string_view nova_cpu_mode_name(NovaCpuMode m);    // "host-model", ..., "none"

// What nova-compute reads on Debian, in its order: oslo.config's default directories come first
// because the service names its files with --config-file and no --config-dir, and
// nova-compute.conf (from nova-compute-kvm or -qemu) is passed after nova.conf when it exists.
inline const std::vector<std::string> kNovaDebianConfig = {
    "/etc/nova/nova.conf.d/", "/etc/nova/nova-compute.conf.d/", "/etc/nova/nova.conf",
    "/etc/nova/nova-compute.conf"};

struct NovaSpec {
  // The configuration nova-compute reads, in the order it reads it (a later file wins): files,
  // and directories (ending in '/') whose *.conf files are read sorted by name. Absolute paths as
  // seen on the target.
  std::vector<std::string> config = kNovaDebianConfig;
  NovaVirtType virt_type = NovaVirtType::automatic;
  // Unset: nova's own default for the host's architecture (nova_cpu_mode_for): host-model, and
  // host-passthrough on aarch64, where libvirt has no host-model.
  std::optional<NovaCpuMode> cpu_mode;
  std::vector<std::string> cpu_models;  // custom only: [A-Za-z0-9._-]{1,64} each
  bool legacy_option_names = false;     // also [DEFAULT] libvirt_type, libvirt_cpu_mode, ...
  std::string cpu_map;                  // "" = libvirt's default locations
  bool operator==(const NovaSpec&) const = default;
};

// The file of SPEC.config kvmprov adds absent keys to and that must exist: the first entry that
// is a file outside /usr (a package's defaults under /usr are read, never written). "" if none.
std::string nova_main_config(const NovaSpec& spec);

struct Profile {
  std::string source;  // file path, or "<built-in default>"
  std::string name;
  std::vector<ModuleSpec> modules;
  PersistMode persist = PersistMode::automatic;
  std::vector<DeviceSpec> devices;
  std::vector<GroupSpec> groups;
  std::optional<NovaSpec> nova;
  bool operator==(const Profile&) const = default;
};

struct ProfileError {
  std::string file;
  int line = 0;  // 1-based; 0 when the error concerns the whole file
  int column = 0;
  std::string message;
  std::string str() const;  // "FILE:LINE:COL: message" (or "FILE: message")
};

struct ParseResult {
  std::optional<Profile> profile;    // set when errors is empty
  std::vector<ProfileError> errors;  // every error found, in document order
};

// Parses and validates a profile. `source` names it in errors. Never throws.
ParseResult parse_profile(std::string_view text, const std::string& source);

// Reads FILE (a regular file of bounded size) and parses it. Errors reading it come back as one
// ProfileError with line 0.
ParseResult load_profile_file(const std::string& path);

// The built-in default profile (the text of profiles/default.yaml, compiled in).
std::string_view default_profile_text();
// The same profile parsed and validated at build time (tools/embed_profile.cc): what a run
// without --profile uses, with no YAML parsed at run time.
const Profile& built_in_profile();
inline constexpr std::string_view kDefaultProfileSource = "<built-in default>";

// Grammar shared by everything that ends up in a file kvmprov writes.
std::string normalise_module_name(std::string_view name);
bool valid_module_name(std::string_view name);    // [A-Za-z0-9_-]{1,55}
bool valid_option_name(std::string_view name);    // [A-Za-z0-9_]{1,64}
bool valid_option_value(std::string_view value);  // [A-Za-z0-9_.,:+/=@-]{1,255}
bool valid_device_node(std::string_view node);    // [A-Za-z0-9._/-]{1,255}, no "..", no leading
                                                  // '/', no component starting with '-'
// A group or user name: 1 to 32 printable ASCII characters, none of : , " ' \\ %, '$' only at
// the end, not starting with - + ~ #, not all digits (what Debian's groupadd and useradd accept,
// less what would break /etc/group, their arguments or a udev rule).
bool valid_account_name(std::string_view name);

// nova.conf values: [A-Za-z0-9._-]{1,64}, no leading '-'.
bool valid_cpu_model_name(std::string_view name);
// An absolute path of [A-Za-z0-9._/+-], no ".." component, at most 255 characters.
bool valid_config_path(std::string_view path);

}  // namespace kvmprov
