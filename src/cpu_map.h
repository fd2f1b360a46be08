// SPDX-License-Identifier: MIT
// libvirt's CPU map (the named guest CPU models of one architecture and the features each needs),
// and whether this host's CPU can run a model.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "util/result.h"

namespace kvmprov {

struct CpuModelDef {
  std::string name;
  std::vector<std::string> parents;   // <model name='X'/> inside the model: inherits X's features
  std::vector<std::string> features;  // its own <feature name='...'/>
};

struct CpuMap {
  std::string source;  // the file read first (index.xml or cpu_map.xml)
  std::string arch;    // the map's <arch name='...'> read: "x86", "arm", "ppc64", "s390"
  std::map<std::string, CpuModelDef> models;
  // Feature name -> true when CPUID defines it (visible as a /proc/cpuinfo flag), false when it
  // is an MSR bit (arch-capabilities and VMX capability bits), which /proc/cpuinfo never lists.
  std::map<std::string, bool> features;
  std::map<std::string, std::string> linux_names;  // <alias name='...' source='linux'/>
};

// libvirt's default locations: the per-model directory (libvirt >= 4.7) and the single file before.
inline constexpr const char* kCpuMapDir = "/usr/share/libvirt/cpu_map";
inline constexpr const char* kCpuMapLegacyFile = "/usr/share/libvirt/cpu_map.xml";

// Reads and parses one architecture's part of a CPU map: ARCH is libvirt's name for it ("x86",
// "arm"; see cpu_map_arch). PATH is a directory holding index.xml, or an XML file (index.xml or
// the older cpu_map.xml); "" tries kCpuMapDir, then kCpuMapLegacyFile. <include filename='...'/>
// is followed relative to the including file's directory. READ returns a file's content, nullopt
// when absent, or an error.
using ReadFile = std::function<Result<std::optional<std::string>>(const std::string&)>;
Result<CpuMap> load_cpu_map(const std::string& path, const ReadFile& read,
                            std::string_view arch = "x86");

// The libvirt feature name as /proc/cpuinfo spells it ("pclmuldq" -> "pclmulqdq",
// "sse4.1" -> "sse4_1", "tsc-deadline" -> "tsc_deadline_timer", "cmt" -> "cqm"); "" for
// features Linux does not print (osxsave). A fixed table first, then the map's own Linux
// aliases, then '-' and '.' become '_'.
std::string cpuinfo_flag_name(const CpuMap& map, const std::string& libvirt_name);

struct ModelCheck {
  bool found = false;
  std::string suggestion;              // unknown model: the closest known name, "" if none
  std::vector<std::string> missing;    // libvirt names the host lacks ("pclmuldq (pclmulqdq)")
  std::vector<std::string> unchecked;  // features /proc/cpuinfo cannot show (MSR bits)
};

// Whether a CPU with FLAGS (/proc/cpuinfo names) has every feature MODEL needs, its parents'
// included.
ModelCheck check_cpu_model(const CpuMap& map, const std::string& model,
                           const std::set<std::string>& flags);

}  // namespace kvmprov
