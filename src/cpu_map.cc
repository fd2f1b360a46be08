// SPDX-License-Identifier: MIT
// Reads libvirt's CPU map with pugixml and checks a named model against /proc/cpuinfo's flags.
// libvirt names features after CPUID bits as QEMU does; Linux names some of them differently
// (sse4.1 is sse4_1, pclmuldq is pclmulqdq) and hides a few, so names are translated first.
#include "cpu_map.h"

#include "util/text.h"

#include <fmt/format.h>

#include <algorithm>
#include <pugixml.hpp>

namespace kvmprov {

namespace {

// A hostile or broken map cannot make us read without end.
constexpr std::size_t kMaxIncludes = 1024;
constexpr std::size_t kMaxDepth = 8;

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos || slash == 0 ? "/" : path.substr(0, slash);
}

class Loader {
 public:
  Loader(const ReadFile& read, CpuMap& map) : read_(read), map_(map) {}

  Result<void> file(const std::string& path, std::size_t depth) {
    if (depth > kMaxDepth || ++files_ > kMaxIncludes)
      return Error{ELOOP,
                   fmt::format("cannot read CPU map \"{}\": too many nested includes", path)};
    auto text = read_(path);
    if (!text) return text.error();
    if (!*text) return Error{ENOENT, fmt::format("CPU map \"{}\" does not exist", path)};
    pugi::xml_document doc;
    pugi::xml_parse_result parsed = doc.load_buffer((*text)->data(), (*text)->size());
    if (!parsed)
      return Error{EINVAL, fmt::format("cannot parse CPU map \"{}\" at byte {}: {}", path,
                                       parsed.offset, parsed.description())};
    pugi::xml_node cpus = doc.child("cpus");
    if (!cpus) return Error{EINVAL, fmt::format("CPU map \"{}\" has no <cpus> element", path)};
    // index.xml and cpu_map.xml wrap each architecture in <arch>; included files do not.
    bool arch_seen = false;
    for (pugi::xml_node arch : cpus.children("arch")) {
      arch_seen = true;
      if (arch.attribute("name").as_string() != map_.arch) continue;
      if (auto r = entries(arch, path, depth); !r) return r;
    }
    if (!arch_seen) return entries(cpus, path, depth);
    return {};
  }

 private:
  Result<void> entries(pugi::xml_node parent, const std::string& path, std::size_t depth) {
    for (pugi::xml_node n : parent.children()) {
      std::string_view tag = n.name();
      if (tag == "include") {
        std::string name = n.attribute("filename").as_string();
        if (name.empty() || name.find('/') != std::string::npos || name.starts_with("."))
          return Error{EINVAL, fmt::format("CPU map \"{}\": refusing include \"{}\"", path, name)};
        if (auto r = file(dir_of(path) + "/" + name, depth + 1); !r) return r;
      } else if (tag == "feature") {
        std::string name = n.attribute("name").as_string();
        if (name.empty()) continue;
        map_.features[name] = !n.child("msr");
        for (pugi::xml_node alias : n.children("alias"))
          if (std::string_view(alias.attribute("source").as_string()) == "linux")
            map_.linux_names[name] = alias.attribute("name").as_string();
      } else if (tag == "model") {
        CpuModelDef m;
        m.name = n.attribute("name").as_string();
        if (m.name.empty()) continue;
        for (pugi::xml_node c : n.children()) {
          std::string_view ctag = c.name();
          if (ctag == "model") {
            m.parents.emplace_back(c.attribute("name").as_string());
          } else if (ctag == "feature" &&
                     std::string_view(c.attribute("policy").as_string()) != "disable") {
            m.features.emplace_back(c.attribute("name").as_string());
          }
        }
        map_.models[m.name] = std::move(m);
      }
    }
    return {};
  }

  const ReadFile& read_;
  CpuMap& map_;
  std::size_t files_ = 0;
};

// The closest model name, case ignored (util's closest_word), else the first model the word is a
// prefix of ("Skylake" -> "Skylake-Client").
std::string suggest(const CpuMap& map, const std::string& word) {
  if (word.size() > 64) return "";
  const std::string w = ascii_lower(word);
  std::vector<std::string> names;
  std::vector<std::string> lowered;
  for (const auto& [name, m] : map.models) {
    names.push_back(name);
    lowered.push_back(ascii_lower(name));
  }
  const std::vector<std::string_view> candidates(lowered.begin(), lowered.end());
  if (const auto best = closest_word(w, candidates)) {
    const auto at = std::find_if(candidates.begin(), candidates.end(),
                                 [&](std::string_view c) { return c.data() == best->data(); });
    return names[static_cast<std::size_t>(at - candidates.begin())];
  }
  for (std::size_t i = 0; i < names.size(); ++i)
    if (w.size() >= 3 && lowered[i].starts_with(w)) return names[i];
  return "";
}

void collect(const CpuMap& map, const std::string& model, std::set<std::string>& visited,
             std::vector<std::string>& out) {
  if (!visited.insert(model).second) return;
  auto it = map.models.find(model);
  if (it == map.models.end()) return;
  for (const auto& p : it->second.parents) collect(map, p, visited, out);
  for (const auto& f : it->second.features)
    if (std::find(out.begin(), out.end(), f) == out.end()) out.push_back(f);
}

}  // namespace

Result<CpuMap> load_cpu_map(const std::string& path, const ReadFile& read, std::string_view arch) {
  std::vector<std::string> candidates;
  if (path.empty())
    candidates = {std::string(kCpuMapDir) + "/index.xml", kCpuMapLegacyFile};
  else if (path.ends_with(".xml"))
    candidates = {path};
  else
    candidates = {path + "/index.xml"};
  for (const auto& file : candidates) {
    auto exists = read(file);
    if (!exists) return exists.error();
    if (!*exists && &file != &candidates.back()) continue;
    CpuMap map;
    map.source = file;
    map.arch = arch;
    Loader loader(read, map);
    if (auto r = loader.file(file, 0); !r) {
      if (r.error().code == ENOENT && file == candidates.back() && path.empty())
        return Error{
            ENOENT,
            fmt::format(
                "no libvirt CPU map: neither \"{}/index.xml\" nor \"{}\" exists (install libvirt, or set nova: cpu_map)",
                kCpuMapDir, kCpuMapLegacyFile)};
      return r.error();
    }
    if (map.models.empty())
      return Error{EINVAL, fmt::format("CPU map \"{}\" defines no {} CPU models", file, arch)};
    return map;
  }
  return Error{ENOENT, "no libvirt CPU map"};
}

std::string cpuinfo_flag_name(const CpuMap& map, const std::string& name) {
  // Linux's names where libvirt's own <alias source='linux'> does not say, or where the map is
  // older than the alias. "" marks features Linux keeps out of /proc/cpuinfo.
  static const std::map<std::string, std::string> kLinuxNames = {
      {"pclmuldq", "pclmulqdq"},
      {"sse4.1", "sse4_1"},
      {"sse4.2", "sse4_2"},
      {"tsc-deadline", "tsc_deadline_timer"},
      {"cmt", "cqm"},
      {"mbm_local", "cqm_mbm_local"},
      {"mbm_total", "cqm_mbm_total"},
      {"ds", "dts"},
      {"cr8legacy", "cr8_legacy"},
      {"invtsc", "nonstop_tsc"},
      {"pause-filter", "pausefilter"},
      {"avx512vbmi2", "avx512_vbmi2"},
      {"avx512vnni", "avx512_vnni"},
      {"avx512bitalg", "avx512_bitalg"},
      {"tsx-ldtrk", "tsxldtrk"},
      {"sgxlc", "sgx_lc"},
      {"md-clear", "md_clear"},
      {"arch-capabilities", "arch_capabilities"},
      // Linux folds these vendor spellings of the speculation controls into one flag.
      {"spec-ctrl", "ibrs"},
      {"amd-stibp", "stibp"},
      {"amd-ssbd", "ssbd"},
      // Not printed by Linux (cleared, or shown only through another flag).
      {"osxsave", ""},
      {"amd-no-ssb", ""},
      {"core-capability", ""},
      {"mpx", ""},
      {"pcommit", ""},
      {"pks", ""},
      {"xfd", ""},
      {"cvt16", ""},
      {"intel-pt-lip", ""},
      {"sgx1", ""},
      {"sgx2", ""},
      {"sgx-debug", ""},
      {"sgx-mode64", ""},
      {"sgx-provisionkey", ""},
      {"sgx-tokenkey", ""},
      {"sgx-kss", ""},
      {"sgx-exinfo", ""},
  };
  if (auto it = kLinuxNames.find(name); it != kLinuxNames.end()) return it->second;
  if (auto it = map.linux_names.find(name); it != map.linux_names.end()) return it->second;
  std::string out = name;
  std::replace(out.begin(), out.end(), '-', '_');
  std::replace(out.begin(), out.end(), '.', '_');
  return out;
}

ModelCheck check_cpu_model(const CpuMap& map, const std::string& model,
                           const std::set<std::string>& flags) {
  ModelCheck r;
  if (!map.models.count(model)) {
    r.suggestion = suggest(map, model);
    return r;
  }
  r.found = true;
  std::set<std::string> visited;
  std::vector<std::string> needed;
  collect(map, model, visited, needed);
  for (const auto& f : needed) {
    auto def = map.features.find(f);
    const std::string flag = cpuinfo_flag_name(map, f);
    if ((def != map.features.end() && !def->second) || flag.empty()) {
      r.unchecked.push_back(f);
    } else if (!flags.count(flag)) {
      r.missing.push_back(flag == f ? f : fmt::format("{} ({})", f, flag));
    }
  }
  return r;
}

}  // namespace kvmprov
