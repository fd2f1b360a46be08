// SPDX-License-Identifier: MIT
// udev rules and tmpfiles.d lines as text: the rules file kvmprov writes, and a prediction of
// which GROUP/MODE assignment wins for a device node once udev has read every rules file.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "profile.h"

namespace kvmprov {

inline constexpr const char* kUdevRulesFile = "/etc/udev/rules.d/65-kvmprov.rules";

// Where udev reads rules, in precedence order: a file name in an earlier directory masks the same
// name in later ones.
const std::vector<std::string>& udev_rules_dirs();
// Where systemd-tmpfiles reads configuration, in the same precedence order.
const std::vector<std::string>& tmpfiles_dirs();

// The names of one configuration directory (sorted or not).
struct ConfDir {
  std::string dir;
  std::vector<std::string> names;
};

// The full paths of the files ending in SUFFIX, in the order udev and systemd read them: sorted by
// file name across directories; a name in an earlier directory masks the same name later.
std::vector<std::string> order_conf_files(const std::vector<ConfDir>& dirs,
                                          std::string_view suffix);

// A configuration file and its text.
struct ConfText {
  std::string path;
  std::string content;
};

// The kernel's name of a device node: the last component ("net/tun" gives "tun").
std::string device_kernel_name(std::string_view node);

// One rule for DEVICE, e.g. `KERNEL=="kvm", GROUP="kvm", MODE="0660", OPTIONS+="static_node=kvm"`,
// without a newline; "" when the device sets neither group nor mode.
std::string udev_rule_line(const DeviceSpec& device);

// The whole rules file for PROFILE (header and one line per device); nullopt when there is no
// rule to write.
std::optional<std::string> udev_rules_text(const Profile& profile);

// What udev knows about a device when it matches rules.
struct DeviceIdentity {
  std::string node;       // below /dev: "net/tun"
  std::string kernel;     // "tun"
  std::string subsystem;  // "misc"; "" when unknown
};

// One assignment in a configuration file.
struct Setting {
  std::string file;
  int line = 0;
  std::string value;
  bool final = false;  // `:=`
  std::string where() const { return file + ":" + std::to_string(line); }
};

// An assignment on a rule whose other conditions kvmprov cannot evaluate.
struct UncertainSetting {
  std::string key;  // "GROUP", "MODE" or "OWNER"
  Setting setting;
  std::string conditions;  // the keys it could not evaluate: "ENV{ID_X}, ATTR{name}"
};

struct NodePrediction {
  // The assignments that win for an "add" event (boot, module load); nullopt: none matched.
  std::optional<Setting> group, mode, owner;
  // Later or final assignments that may apply too, depending on conditions not evaluated.
  std::vector<UncertainSetting> uncertain;
  // systemd-tmpfiles (z/c lines for /dev/NODE): applied at boot before udevd starts.
  std::optional<Setting> tmpfiles_group, tmpfiles_mode;
};

// Evaluates RULES (in udev's order) for each of DEVICES the way udevd does for an "add" event:
// later assignments override earlier ones, `:=` makes a value final; GOTO/LABEL are followed.
// Then the first mode and group that the tmpfiles.d lines TMPFILES set for /dev/NODE. Each file
// is parsed once for all the devices, and rules that assign no owner, group or mode and take no
// part in a GOTO are skipped unparsed.
std::vector<NodePrediction> predict_nodes(const std::vector<ConfText>& rules,
                                          const std::vector<ConfText>& tmpfiles,
                                          const std::vector<DeviceIdentity>& devices);

// predict_nodes for one DEVICE and no tmpfiles.d.
NodePrediction predict_udev(const std::vector<ConfText>& rules, const DeviceIdentity& device);

// Adds the first mode and group that tmpfiles.d lines FILES set for /dev/NODE.
void predict_tmpfiles(const std::vector<ConfText>& files, const std::string& node,
                      NodePrediction& prediction);

// Parses a mode string ("0660", "660"); nullopt when it is not octal.
std::optional<unsigned> parse_octal_mode(std::string_view text);

}  // namespace kvmprov
