// SPDX-License-Identifier: MIT
// Reading and editing INI files the way oslo.config reads them (nova.conf), changing only the
// keys asked for and preserving every other byte.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvmprov {

// One key to converge: VALUE set, or nullopt to remove every live occurrence. SECTION is the
// group as oslo.config names it ("DEFAULT", "libvirt").
struct IniSetting {
  std::string section;
  std::string key;
  std::optional<std::string> value;
};

// The group a section header names, as oslo.config files it (cfg.py, _normalize_group_name):
// "DEFAULT" spelt exactly so is the DEFAULT group, every other name is lower-cased, so [LIBVIRT]
// and [Libvirt] are [libvirt], and [default] is a group of its own that nova never reads.
std::string ini_group(std::string_view section);

// The value oslo.config sees for SECTION/KEY in TEXT: sections may repeat and merge (their names
// compared as ini_group gives them), the last live occurrence of a key wins, a line starting with
// '#' or ';' is a comment, an indented line continues the previous value, and matching outer
// quotes are dropped. nullopt when absent.
std::optional<std::string> ini_get(std::string_view text, std::string_view section,
                                   std::string_view key);

// TEXT with SETTINGS applied: the last live occurrence of a key gets the new value (its key and
// separator kept as written, continuation lines dropped); a key that is absent is added right
// after the first header of its section (however that header spells it), in the order given; a
// missing section is appended at the end. Commented-out defaults ("#key = value") are left
// alone. Lines keep their own endings; added lines use the file's (CRLF when its first line ends
// so). A key whose value is already right is left byte for byte, so converging twice changes
// nothing.
std::string ini_apply(std::string_view text, const std::vector<IniSetting>& settings);

// The keys of SETTINGS as TEXT holds them, one "[section] key = value" line each in the order
// given (the value as oslo.config reads it; keys TEXT lacks are left out): all a report may show
// of a file such as nova.conf, whose other lines hold passwords.
std::string ini_excerpt(std::string_view text, const std::vector<IniSetting>& settings);

}  // namespace kvmprov
