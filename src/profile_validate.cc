// SPDX-License-Identifier: MIT
// Checks a profile's document tree against schema version 1 and builds the Profile: the rules
// are tables (the three lists of named maps, the enumerations, the booleans) over a few checks.
#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "profile_checks.h"
#include "profile_names.h"
#include "profile_tree.h"
#include "util/text.h"

namespace kvmprov {

namespace {

class Validator;

// A key of an entry in a list of named maps, and the check that reads its value into SPEC.
template <class Spec>
struct FieldRule {
  std::string_view key;
  void (Validator::*check)(const YamlNode& value, const std::string& label, Spec& spec);
};

// A list of named maps (modules, devices, groups): how its entries are named, and their keys.
template <class Spec>
struct NamedList {
  std::string_view list;                     // the profile's key, which also labels unnamed entries
  std::string_view noun;                     // what an entry is, in labels and duplicates: "module"
  std::string_view name_key;                 // the key that names an entry: "name", "node"
  std::string (*explain)(std::string_view);  // the name's grammar
  std::string (*normalise)(std::string_view);  // the name as stored and compared
  std::string Spec::*name;
  std::span<const FieldRule<Spec>> keys;  // the other keys, checked in this order
};

std::string as_is(std::string_view s) {
  return std::string(s);
}

class Validator : public ProfileChecks {
 public:
  using ProfileChecks::ProfileChecks;

  Profile profile(const YamlNode& root) {
    Profile p;
    p.source = source_;
    if (root.kind != YamlNode::Kind::map) {
      error(root.pos, "expected a map at the top level, found " + describe(root));
      return p;
    }
    auto fields = map_fields(
        root, {"version", "name", "modules", "persist", "devices", "groups", "nova"}, "");
    if (const YamlNode* v = required(root, fields, "version", "")) {
      if (const std::string* s = scalar(*v, "\"version\""); s && *s != "1") {
        error(v->pos, "unsupported version " + quote(*s) + ": expected 1");
      }
    }
    if (const YamlNode* v = required(root, fields, "name", "")) {
      if (const std::string* s = scalar(*v, "\"name\"")) {
        if (std::string why = explain_profile_name(*s); !why.empty()) {
          error(v->pos, "invalid profile name " + quote(*s) + ": " + why);
        } else {
          p.name = *s;
        }
      }
    }
    lists_and_sections(fields, p);
    return p;
  }

 private:
  void lists_and_sections(const Fields& fields, Profile& p) {
    static constexpr FieldRule<ModuleSpec> kModuleKeys[] = {
        {"when", &Validator::module_when}, {"options", &Validator::module_options}};
    static constexpr NamedList<ModuleSpec> kModules{
        "modules",         "module",   "name", explain_module_name, normalise_module_name,
        &ModuleSpec::name, kModuleKeys};
    static constexpr FieldRule<DeviceSpec> kDeviceKeys[] = {{"group", &Validator::device_group},
                                                            {"mode", &Validator::device_mode}};
    static constexpr NamedList<DeviceSpec> kDevices{
        "devices", "device", "node", explain_device_node, as_is, &DeviceSpec::node, kDeviceKeys};
    static constexpr FieldRule<GroupSpec> kGroupKeys[] = {{"system", &Validator::group_system},
                                                          {"members", &Validator::group_members}};
    static constexpr NamedList<GroupSpec> kGroups{
        "groups", "group", "name", explain_account_name, as_is, &GroupSpec::name, kGroupKeys};
    if (const YamlNode* v = fields["modules"].value) named_list(*v, kModules, p.modules);
    if (const YamlNode* v = fields["persist"].value) {
      if (auto m = choice<PersistMode>(*v, "\"persist\"", kPersistModes, "persist mode"))
        p.persist = *m;
    }
    if (const YamlNode* v = fields["devices"].value) named_list(*v, kDevices, p.devices);
    if (const YamlNode* v = fields["groups"].value) named_list(*v, kGroups, p.groups);
    if (const YamlNode* v = fields["nova"].value) p.nova = nova(*v);
  }

  // The entries of a list of named maps: each named (or labelled by its place until its name is
  // valid), its keys checked, its name unique; OUT gets the entries whose name is good.
  template <class Spec>
  void named_list(const YamlNode& list_node, const NamedList<Spec>& kind, std::vector<Spec>& out) {
    if (!list(list_node, quote(kind.list))) return;
    FirstSeen seen;
    for (std::size_t i = 0; i < list_node.items.size(); ++i) {
      const YamlNode& entry = list_node.items[i];
      std::string label = std::string(kind.list) + " entry " + std::to_string(i + 1);
      if (!map(entry, label)) continue;
      Spec spec;
      const YamlNode* n = first_value(entry, kind.name_key);
      bool name_ok = n && n->kind == YamlNode::Kind::scalar && kind.explain(n->value).empty();
      if (name_ok) {
        spec.*kind.name = kind.normalise(n->value);
        label = std::string(kind.noun) + " " + quote(spec.*kind.name);
      }
      std::vector<std::string_view> known = {kind.name_key};
      for (const FieldRule<Spec>& f : kind.keys) known.push_back(f.key);
      auto fields = map_fields(entry, known, " in " + label);
      if (const YamlNode* v = required(entry, fields, kind.name_key, " in " + label)) {
        name_ok = entry_name(*v, kind, label, spec.*kind.name, name_ok, seen);
      }
      for (const FieldRule<Spec>& f : kind.keys) {
        if (const YamlNode* v = fields[f.key].value) (this->*f.check)(*v, label, spec);
      }
      if (name_ok) out.push_back(std::move(spec));
    }
  }

  // Reports an entry's invalid or repeated NAME; whether the entry can be kept.
  template <class Spec>
  bool entry_name(const YamlNode& v, const NamedList<Spec>& kind, const std::string& label,
                  const std::string& name, bool name_ok, FirstSeen& seen) {
    const std::string* s = scalar(v, quote(kind.name_key) + " of " + label);
    if (!s) return name_ok;
    if (!name_ok) {
      error(v.pos, "invalid " + std::string(kind.noun) + " " + std::string(kind.name_key) + " " +
                       quote(*s) + ": " + kind.explain(*s));
    } else if (auto first = seen.repeat(name, v.pos.line)) {
      error(v.pos, "duplicate " + std::string(kind.noun) + " " + quote(name) +
                       ", first listed at line " + std::to_string(*first));
      return false;
    }
    return name_ok;
  }

  void module_when(const YamlNode& n, const std::string& label, ModuleSpec& spec) {
    std::string what = "\"when\" of " + label;
    if (!map(n, what)) return;
    auto fields = map_fields(n, {"cpu_vendor"}, " in " + what);
    const YamlNode* v = required(n, fields, "cpu_vendor", " in " + what);
    if (!v) return;
    if (v->kind == YamlNode::Kind::sequence && v->items.empty()) {
      error(v->pos, "empty \"cpu_vendor\" list for " + label +
                        ": list at least one vendor, or remove \"when\"");
    }
    std::vector<Vendor>& out = spec.when_vendors;
    for (const YamlNode* item : one_or_many(*v)) {
      auto vendor = choice(*item, "\"cpu_vendor\" of " + label, vendor_names(), "CPU vendor",
                           " for " + label);
      if (vendor && std::find(out.begin(), out.end(), *vendor) == out.end()) out.push_back(*vendor);
    }
  }

  void module_options(const YamlNode& n, const std::string& label, ModuleSpec& spec) {
    if (n.kind == YamlNode::Kind::null) return;
    if (!map(n, "\"options\" of " + label)) return;
    FirstSeen seen;
    each_pair(n, "an option name for " + label, [&](const YamlNode& key, const YamlNode& value) {
      bool ok = true;
      if (std::string why = explain_option_name(key.value); !why.empty()) {
        error(key.pos, "invalid option name " + quote(key.value) + " for " + label + ": " + why);
        ok = false;
      } else if (auto first = seen.repeat(key.value, key.pos.line)) {
        error(key.pos, "duplicate option " + quote(key.value) + " for " + label +
                           ", first listed at line " + std::to_string(*first));
        ok = false;
      }
      auto v = option_value(value, quote(key.value) + " of " + label);
      if (ok && v) spec.options.push_back(ModuleOption{key.value, *v});
    });
  }

  // An option's value as modprobe.d gets it, or nullopt after recording why it cannot be one.
  std::optional<std::string> option_value(const YamlNode& value, const std::string& what) {
    const std::string* s = scalar(value, what);
    if (!s) return std::nullopt;
    // A plain YAML 1.1 boolean becomes 1 or 0, which bool and int parameters both take (kvm_amd's
    // "nested" is an int: "yes" would fail with EINVAL); quoted text is a string and is kept as
    // written.
    if (auto b = value.plain ? yaml_bool(*s, true) : std::nullopt) return *b ? "1" : "0";
    if (std::string why = explain_option_value(*s); !why.empty()) {
      error(value.pos, "invalid option value " + quote(*s) + " for " + what + ": " + why);
      return std::nullopt;
    }
    return *s;
  }

  void device_group(const YamlNode& g, const std::string& label, DeviceSpec& spec) {
    const std::string* s = scalar(g, "\"group\" of " + label);
    if (!s) return;
    if (std::string why = explain_account_name(*s); !why.empty()) {
      error(g.pos, "invalid group " + quote(*s) + " for " + label + ": " + why);
    } else {
      spec.group = *s;
    }
  }

  void device_mode(const YamlNode& m, const std::string& label, DeviceSpec& spec) {
    const std::string* s = scalar(m, "\"mode\" of " + label);
    if (!s) return;
    std::string prefix = "invalid mode " + quote(*s) + " for " + label + ": ";
    if (!octal_digits(*s)) {
      error(m.pos, prefix + "expected 3 or 4 octal digits, such as \"0660\"");
    } else if (m.plain) {
      // YAML 1.1 readers (Ansible, PyYAML) take an unquoted 0660 for the number 432 and write it
      // back as 432: only a string means the same to every tool.
      error(
          m.pos,
          prefix +
              "a mode must be a quoted string, such as mode: \"0660\" (unquoted, YAML 1.1 tools such as Ansible read 0660 as the number 432)");
    } else if (unsigned mode = static_cast<unsigned>(std::stoul(*s, nullptr, 8)); mode > 0777) {
      error(m.pos, prefix + "must be at most 0777 (no setuid, setgid or sticky bits)");
    } else {
      spec.mode = mode;
    }
  }

  void group_system(const YamlNode& v, const std::string& label, GroupSpec& spec) {
    // The field is a boolean, so a quoted "yes" means yes too.
    if (auto b = boolean(v, "\"system\" of " + label, true)) spec.system = *b;
  }

  void group_members(const YamlNode& v, const std::string& label, GroupSpec& spec) {
    if (!list(v, "\"members\" of " + label)) return;
    FirstSeen seen;
    for (const YamlNode& item : v.items) {
      const std::string* s = scalar(item, "a member of " + label);
      if (!s) continue;
      if (std::string why = explain_account_name(*s); !why.empty()) {
        error(item.pos, "invalid member name " + quote(*s) + " for " + label + ": " + why);
      } else if (seen.repeat(*s, item.pos.line)) {
        error(item.pos, "duplicate member " + quote(*s) + " in " + label);
      } else {
        spec.members.push_back(*s);
      }
    }
  }

  // The "nova" section. Every value ends up in nova.conf, so each has a grammar that cannot carry
  // a line break, a second key or a section header.
  NovaSpec nova(const YamlNode& n) {
    NovaSpec spec;
    if (n.kind == YamlNode::Kind::null) return spec;
    if (!map(n, "\"nova\"")) return spec;
    auto fields =
        map_fields(n,
                   {"config", "virt_type", "cpu_mode", "cpu_models", "legacy_option_names",
                    "cpu_map", "config_file", "config_files", "config_dir", "config_dirs"},
                   " in \"nova\"");
    // oslo.config's own option names: files and directories interleave in nova-compute's order
    // (Debian reads the default directories first, RDO and kolla last), so one list says it.
    for (std::string_view key : {"config_file", "config_files", "config_dir", "config_dirs"}) {
      if (const Field f = fields[key]; f.key)
        error(
            f.key->pos,
            "unknown key " + quote(key) +
                " in \"nova\": list files and directories (ending in '/') in \"config\", in the order nova-compute reads them");
    }
    if (const YamlNode* v = fields["config"].value) nova_config(*v, spec.config);
    if (const YamlNode* v = fields["cpu_map"].value) nova_cpu_map(*v, spec.cpu_map);
    if (const YamlNode* v = fields["virt_type"].value) {
      if (auto t =
              choice<NovaVirtType>(*v, "\"virt_type\" of \"nova\"", kNovaVirtTypes, "virt_type"))
        spec.virt_type = *t;
    }
    nova_cpu(fields["cpu_mode"].value, fields["cpu_models"].value, spec);
    if (const YamlNode* v = fields["legacy_option_names"].value) {
      if (auto b = boolean(*v, "\"legacy_option_names\" of \"nova\"", false))
        spec.legacy_option_names = *b;
    }
    return spec;
  }

  void nova_cpu_map(const YamlNode& v, std::string& out) {
    const std::string what = "\"cpu_map\" of \"nova\"";
    const std::string* s = scalar(v, what);
    if (!s) return;
    if (std::string why = explain_config_path(*s); !why.empty()) {
      error(v.pos, "invalid path " + quote(*s) + " for " + what + ": " + why);
    } else {
      out = *s;
    }
  }

  // cpu_mode and cpu_models, which only make sense together.
  void nova_cpu(const YamlNode* mode_node, const YamlNode* models, NovaSpec& spec) {
    bool misspelt = false;  // no further complaints about cpu_models on a misspelt mode
    if (mode_node) {
      auto mode =
          choice<NovaCpuMode>(*mode_node, "\"cpu_mode\" of \"nova\"", kNovaCpuModes, "cpu_mode");
      if (mode) spec.cpu_mode = *mode;
      misspelt = !mode && mode_node->kind == YamlNode::Kind::scalar;
    }
    if (models && list(*models, "\"cpu_models\" of \"nova\"")) nova_cpu_models(*models, spec);
    // nova refuses both combinations when nova-compute starts; say so before anything is written.
    if (misspelt) return;
    if (spec.cpu_mode == NovaCpuMode::custom &&
        (!models || models->kind == YamlNode::Kind::null || models->items.empty())) {
      error(
          models ? models->pos : mode_node->pos,
          "cpu_mode \"custom\" needs at least one model in \"cpu_models\" of \"nova\" (e.g. [Nehalem]; see /usr/share/libvirt/cpu_map)");
    } else if (spec.cpu_mode != NovaCpuMode::custom && models &&
               models->kind != YamlNode::Kind::null) {
      error(
          models->pos,
          "\"cpu_models\" of \"nova\" is only valid with cpu_mode \"custom\" (cpu_mode is " +
              (spec.cpu_mode ? quote(nova_cpu_mode_name(*spec.cpu_mode)) : std::string("not set")) +
              "): remove it or set cpu_mode: custom");
    }
  }

  void nova_cpu_models(const YamlNode& models, NovaSpec& spec) {
    FirstSeen seen;
    for (const YamlNode& item : models.items) {
      const std::string* s = scalar(item, "a CPU model in \"cpu_models\"");
      if (!s) continue;
      if (std::string why = explain_cpu_model_name(*s); !why.empty()) {
        error(item.pos, "invalid CPU model " + quote(*s) + ": " + why);
      } else if (auto first = seen.repeat(*s, item.pos.line)) {
        error(item.pos, "duplicate CPU model " + quote(*s) + ", first listed at line " +
                            std::to_string(*first));
      } else {
        spec.cpu_models.push_back(*s);
      }
    }
  }

  // "config" of "nova": one file, or the files and directories nova-compute reads, in order.
  void nova_config(const YamlNode& v, std::vector<std::string>& out) {
    const std::string what = "\"config\" of \"nova\"";
    if (v.kind != YamlNode::Kind::scalar && v.kind != YamlNode::Kind::sequence) {
      error(v.pos, "expected a path or a list of paths for " + what + ", found " + describe(v));
      return;
    }
    std::vector<std::string> paths;
    FirstSeen seen;
    bool ok = true;
    for (const YamlNode* item : one_or_many(v)) {
      const std::string* s = scalar(*item, "an entry of " + what);
      if (!s) {
        ok = false;
        continue;
      }
      // A directory is written with its final '/'; the rest has the grammar of every path.
      const bool dir = s->size() > 1 && s->back() == '/';
      const std::string path = dir ? s->substr(0, s->size() - 1) : *s;
      if (std::string why = explain_config_path(path); !why.empty()) {
        error(item->pos, "invalid path " + quote(*s) + " for " + what + ": " + why);
        ok = false;
      } else if (auto first = seen.repeat(path, item->pos.line)) {
        error(item->pos, "duplicate path " + quote(*s) + " in " + what + ", first listed at line " +
                             std::to_string(*first));
        ok = false;
      } else {
        paths.push_back(*s);
      }
    }
    if (!ok) return;
    NovaSpec probe;
    probe.config = paths;
    if (nova_main_config(probe).empty()) {
      error(
          v.pos,
          what +
              " names no file kvmprov may edit: add nova's own file, e.g. /etc/nova/nova.conf (directories end in '/'; files under /usr are only read)");
      return;
    }
    out = std::move(paths);
  }
};

}  // namespace

std::string nova_main_config(const NovaSpec& spec) {
  for (const auto& path : spec.config)
    if (!path.ends_with('/') && !path.starts_with("/usr/")) return path;
  return "";
}

Profile validate_profile(const YamlNode& root, const std::string& source,
                         std::vector<ProfileError>& errors) {
  return Validator(source, errors).profile(root);
}

}  // namespace kvmprov
