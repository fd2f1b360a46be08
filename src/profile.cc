// SPDX-License-Identifier: MIT
// Parses and validates host profiles (the grammar of their words is in profile_names.cc); the only
// file that sees yaml-cpp, so its exceptions end here.
#include "profile.h"

#include "profile_names.h"
#include "util/text.h"
#include "util/unique_fd.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <new>
#include <sstream>
#include <unordered_map>
#include <utility>

#include <yaml-cpp/anchor.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

namespace kvmprov {

namespace {

constexpr std::size_t kMaxProfileBytes = 1024 * 1024;
// The schema is four levels deep; anything far deeper is an attack or an accident.
constexpr std::size_t kMaxDepth = 64;

// A message from yaml-cpp with its control bytes escaped: some quote the offending input
// character raw ("unknown escape character: " and a carriage return), which would break the
// one-line error or reach the terminal as a control sequence.
std::string one_line(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out;
}

std::string join_choices(const std::vector<std::string_view>& choices) {
  std::string out;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) out += i + 1 == choices.size() ? " or " : ", ";
    out += choices[i];
  }
  return out;
}

// Finds the first byte that is not UTF-8 text fit for a profile: invalid sequences, and control
// bytes other than tab, LF and the CR of a CRLF (yaml-cpp uses 0x04 internally as end of input,
// and NUL would cut C strings short). A CR on its own is text to yaml-cpp 0.7 (Debian 12) and a
// line break to 0.8 (Debian 13), so "name: kvm<CR>" would be refused on one and accepted as
// "kvm" on the other: it is refused on both. Returns the offset and a description, or nullopt.
std::optional<std::pair<std::size_t, std::string>> find_bad_byte(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    auto hex = [c] {
      char buf[8];
      std::snprintf(buf, sizeof buf, "0x%02x", c);
      return std::string(buf);
    };
    if (c < 0x80) {
      if (c == '\r' && (i + 1 == text.size() || text[i + 1] != '\n')) {
        return std::pair{
            i,
            std::string(
                "carriage return without a line feed: lines end with LF or CRLF (write a carriage return in a value as \"\\r\")")};
      }
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
        return std::pair{i, "control byte " + hex() + " in profile: profiles must be text"};
      }
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07u;
    }
    bool ok = len != 0 && i + len <= text.size();
    for (std::size_t k = 1; ok && k < len; ++k) {
      auto cc = static_cast<unsigned char>(text[i + k]);
      ok = (cc & 0xc0u) == 0x80u;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
    if (ok && ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
               (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))) {
      ok = false;
    }
    if (!ok) {
      return std::pair{i, "invalid UTF-8 byte " + hex() + ": profiles must be UTF-8 text"};
    }
    i += len;
  }
  return std::nullopt;
}

struct Pos {
  int line = 0;  // 1-based
  int column = 0;
};

Pos to_pos(const YAML::Mark& mark) {
  if (mark.is_null()) return Pos{};
  return Pos{mark.line + 1, mark.column + 1};
}

// A document tree that keeps every node's position; yaml-cpp's own Node shares aliased subtrees,
// which is what makes alias bombs expensive to walk, so we build our own from parser events.
struct YamlNode {
  enum class Kind { null, scalar, sequence, map };
  Kind kind = Kind::null;
  Pos pos;
  bool plain = false;  // unquoted scalar: only these can mean true or false
  std::string value;
  std::vector<YamlNode> items;  // a sequence's items; a map's keys and values, alternating
};

// Builds a YamlNode tree from one document, refusing the YAML features the schema never needs.
class TreeBuilder : public YAML::EventHandler {
 public:
  std::optional<YamlNode> root_;
  std::optional<Pos> document_start_;
  std::vector<std::pair<Pos, std::string>> errors_;

  void OnDocumentStart(const YAML::Mark& mark) override { document_start_ = to_pos(mark); }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (anchor != YAML::NullAnchor) refuse_anchor(mark);
    YamlNode n;
    n.pos = to_pos(mark);
    // yaml-cpp marks an empty map value where the next token starts, often the following line;
    // the key is where the operator has to look.
    if (!stack_.empty() && stack_.back().kind == YamlNode::Kind::map &&
        stack_.back().items.size() % 2 == 1) {
      n.pos = stack_.back().items.back().pos;
    }
    add(std::move(n));
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    refuse_anchor(mark);
    YamlNode n;
    n.pos = to_pos(mark);
    add(std::move(n));
  }

  void OnAnchor(const YAML::Mark& mark, const std::string&) override { refuse_anchor(mark); }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (anchor != YAML::NullAnchor) refuse_anchor(mark);
    check_tag(mark, tag);
    YamlNode n;
    n.kind = YamlNode::Kind::scalar;
    n.pos = to_pos(mark);
    n.plain = tag == "?";
    n.value = value;
    add(std::move(n));
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    if (anchor != YAML::NullAnchor) refuse_anchor(mark);
    start(mark, tag, YamlNode::Kind::sequence);
  }
  void OnSequenceEnd() override { end(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    if (anchor != YAML::NullAnchor) refuse_anchor(mark);
    start(mark, tag, YamlNode::Kind::map);
  }
  void OnMapEnd() override { end(); }

 private:
  void refuse_anchor(const YAML::Mark& mark) {
    if (anchor_reported_) return;
    anchor_reported_ = true;
    errors_.emplace_back(to_pos(mark), "anchors and aliases are not supported");
  }

  void check_tag(const YAML::Mark& mark, const std::string& tag) {
    // yaml-cpp reports "?" for untagged plain nodes and "!" for untagged quoted ones.
    if (tag == "?" || tag == "!" || tag_reported_) return;
    tag_reported_ = true;
    errors_.emplace_back(to_pos(mark), "tags such as " + quote(tag) + " are not supported");
  }

  void start(const YAML::Mark& mark, const std::string& tag, YamlNode::Kind kind) {
    if (skip_ > 0 || stack_.size() >= kMaxDepth) {
      if (!depth_reported_) {
        depth_reported_ = true;
        errors_.emplace_back(to_pos(mark), "nesting deeper than " + std::to_string(kMaxDepth) +
                                               " levels is not supported");
      }
      ++skip_;
      return;
    }
    check_tag(mark, tag);
    YamlNode n;
    n.kind = kind;
    n.pos = to_pos(mark);
    stack_.push_back(std::move(n));
  }

  void end() {
    if (skip_ > 0) {
      --skip_;
      return;
    }
    YamlNode n = std::move(stack_.back());
    stack_.pop_back();
    add(std::move(n));
  }

  void add(YamlNode n) {
    if (skip_ > 0) return;
    if (stack_.empty()) {
      root_ = std::move(n);
    } else {
      stack_.back().items.push_back(std::move(n));
    }
  }

  std::vector<YamlNode> stack_;
  std::size_t skip_ = 0;  // containers entered below the depth limit, not recorded
  bool anchor_reported_ = false;
  bool depth_reported_ = false;
  bool tag_reported_ = false;
};

std::string describe(const YamlNode& n) {
  switch (n.kind) {
    case YamlNode::Kind::null:
      return "nothing";
    case YamlNode::Kind::scalar:
      return quote(n.value);
    case YamlNode::Kind::sequence:
      return "a list";
    case YamlNode::Kind::map:
      return "a map";
  }
  return "";
}

// Remembers where each name was first seen, so that a repeat can point back at it; hashed because
// a 1 MiB profile can list tens of thousands of names.
class FirstSeen {
 public:
  // The line `name` was first seen on, or nullopt (remembering `line`) when it is new.
  std::optional<int> repeat(const std::string& name, int line) {
    auto [it, inserted] = lines_.emplace(name, line);
    if (inserted) return std::nullopt;
    return it->second;
  }

 private:
  std::unordered_map<std::string, int> lines_;
};

struct Field {
  const YamlNode* key = nullptr;
  const YamlNode* value = nullptr;
};

// Checks a document against schema version 1 and builds the Profile, recording every problem
// instead of stopping at the first, so that one run shows the operator everything to fix.
class Validator {
 public:
  explicit Validator(std::string source) : source_(std::move(source)) {}

  std::vector<ProfileError> errors_;

  void error(Pos pos, std::string message) {
    errors_.push_back(ProfileError{source_, pos.line, pos.column, std::move(message)});
  }

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
        std::string why = explain_profile_name(*s);
        if (why.empty()) {
          p.name = *s;
        } else {
          error(v->pos, "invalid profile name " + quote(*s) + ": " + why);
        }
      }
    }
    if (const YamlNode* v = fields["modules"].value) modules(*v, p.modules);
    if (const YamlNode* v = fields["persist"].value) {
      if (const std::string* s = scalar(*v, "\"persist\"")) {
        std::vector<std::string_view> names;
        bool found = false;
        for (PersistMode m : {PersistMode::automatic, PersistMode::modules_load_d,
                              PersistMode::etc_modules, PersistMode::none}) {
          names.push_back(persist_name(m));
          if (*s == persist_name(m)) {
            p.persist = m;
            found = true;
          }
        }
        if (!found) {
          error(v->pos, "unknown persist mode " + quote(*s) + choices_hint(*s, names));
        }
      }
    }
    if (const YamlNode* v = fields["devices"].value) devices(*v, p.devices);
    if (const YamlNode* v = fields["groups"].value) groups(*v, p.groups);
    if (const YamlNode* v = fields["nova"].value) p.nova = nova(*v);
    return p;
  }

 private:
  class Fields {
   public:
    Field operator[](std::string_view key) const {
      for (const auto& [k, f] : found_) {
        if (k == key) return f;
      }
      return Field{};
    }
    std::vector<std::pair<std::string_view, Field>> found_;
  };

  // ": expected a, b or c" or " (did you mean "b"?)".
  static std::string choices_hint(std::string_view word,
                                  const std::vector<std::string_view>& choices) {
    if (auto near = closest_word(word, choices)) return " (did you mean " + quote(*near) + "?)";
    return ": expected " + join_choices(choices);
  }

  // Checks a map's keys against the schema: unknown and duplicate keys are errors, known ones come
  // back by name. `context` (e.g. ` in module "kvm"`) is appended to messages.
  Fields map_fields(const YamlNode& map, const std::vector<std::string_view>& known,
                    const std::string& context) {
    Fields fields;
    for (std::size_t i = 0; i + 1 < map.items.size(); i += 2) {
      const YamlNode& key = map.items[i];
      if (key.kind != YamlNode::Kind::scalar) {
        error(key.pos, "expected a key name" + context + ", found " + describe(key));
        continue;
      }
      auto it = std::find(known.begin(), known.end(), key.value);
      if (it == known.end()) {
        error(key.pos,
              "unknown key " + quote(key.value) + context + choices_hint(key.value, known));
        continue;
      }
      if (Field first = fields[*it]; first.key) {
        error(key.pos, "duplicate key " + quote(key.value) + context + ", first at line " +
                           std::to_string(first.key->pos.line));
        continue;
      }
      fields.found_.emplace_back(*it, Field{&key, &map.items[i + 1]});
    }
    return fields;
  }

  const YamlNode* required(const YamlNode& map, const Fields& fields, std::string_view key,
                           const std::string& context) {
    const YamlNode* v = fields[key].value;
    if (!v) error(map.pos, "missing required key " + quote(key) + context);
    return v;
  }

  // The scalar text of `n`, or nullptr after recording why there is none. `what` names the field.
  const std::string* scalar(const YamlNode& n, const std::string& what) {
    if (n.kind == YamlNode::Kind::scalar) return &n.value;
    if (n.kind == YamlNode::Kind::null) {
      error(n.pos, "missing value for " + what);
    } else {
      error(n.pos, "expected a single value for " + what + ", found " + describe(n));
    }
    return nullptr;
  }

  // True when `n` is a list, or null (an empty list); records an error otherwise.
  bool list(const YamlNode& n, const std::string& what) {
    if (n.kind == YamlNode::Kind::sequence || n.kind == YamlNode::Kind::null) return true;
    error(n.pos, "expected a list for " + what + ", found " + describe(n));
    return false;
  }

  bool map(const YamlNode& n, const std::string& what) {
    if (n.kind == YamlNode::Kind::map) return true;
    error(n.pos, "expected a map for " + what + ", found " + describe(n));
    return false;
  }

  void modules(const YamlNode& list_node, std::vector<ModuleSpec>& out) {
    if (!list(list_node, "\"modules\"")) return;
    FirstSeen seen;
    for (std::size_t i = 0; i < list_node.items.size(); ++i) {
      const YamlNode& entry = list_node.items[i];
      std::string label = "modules entry " + std::to_string(i + 1);
      if (!map(entry, label)) continue;
      ModuleSpec spec;
      Fields probe = map_fields_quiet(entry);
      bool name_ok = false;
      if (const YamlNode* n = probe["name"].value; n && n->kind == YamlNode::Kind::scalar) {
        if (explain_module_name(n->value).empty()) {
          spec.name = normalise_module_name(n->value);
          label = "module " + quote(spec.name);
          name_ok = true;
        }
      }
      auto fields = map_fields(entry, {"name", "when", "options"}, " in " + label);
      if (const YamlNode* n = required(entry, fields, "name", " in " + label)) {
        if (const std::string* s = scalar(*n, "\"name\" of " + label)) {
          if (!name_ok) {
            error(n->pos, "invalid module name " + quote(*s) + ": " + explain_module_name(*s));
          } else if (auto first = seen.repeat(spec.name, n->pos.line)) {
            error(n->pos, "duplicate module " + quote(spec.name) + ", first listed at line " +
                              std::to_string(*first));
            name_ok = false;
          }
        }
      }
      if (const YamlNode* w = fields["when"].value) when(*w, label, spec.when_vendors);
      if (const YamlNode* o = fields["options"].value) options(*o, label, spec.options);
      if (name_ok) out.push_back(std::move(spec));
    }
  }

  // The fields of a map without reporting anything, to name an object before checking it.
  static Fields map_fields_quiet(const YamlNode& map) {
    Fields fields;
    for (std::size_t i = 0; i + 1 < map.items.size(); i += 2) {
      const YamlNode& key = map.items[i];
      if (key.kind == YamlNode::Kind::scalar && key.value == "name" && !fields["name"].key) {
        fields.found_.emplace_back("name", Field{&key, &map.items[i + 1]});
      } else if (key.kind == YamlNode::Kind::scalar && key.value == "node" && !fields["node"].key) {
        fields.found_.emplace_back("node", Field{&key, &map.items[i + 1]});
      }
    }
    return fields;
  }

  void when(const YamlNode& n, const std::string& label, std::vector<Vendor>& out) {
    std::string what = "\"when\" of " + label;
    if (!map(n, what)) return;
    auto fields = map_fields(n, {"cpu_vendor"}, " in " + what);
    const YamlNode* v = required(n, fields, "cpu_vendor", " in " + what);
    if (!v) return;
    std::vector<const YamlNode*> names;
    if (v->kind == YamlNode::Kind::sequence) {
      if (v->items.empty()) {
        error(v->pos, "empty \"cpu_vendor\" list for " + label +
                          ": list at least one vendor, or remove \"when\"");
      }
      for (const YamlNode& item : v->items) names.push_back(&item);
    } else {
      names.push_back(v);
    }
    std::vector<std::string_view> choices;
    for (const VendorInfo& k : known_vendors()) choices.push_back(k.name);
    for (const YamlNode* item : names) {
      const std::string* s = scalar(*item, "\"cpu_vendor\" of " + label);
      if (!s) continue;
      if (auto vendor = parse_vendor(*s)) {
        if (std::find(out.begin(), out.end(), *vendor) == out.end()) out.push_back(*vendor);
      } else {
        error(item->pos,
              "unknown CPU vendor " + quote(*s) + " for " + label + choices_hint(*s, choices));
      }
    }
  }

  void options(const YamlNode& n, const std::string& label, std::vector<ModuleOption>& out) {
    if (n.kind == YamlNode::Kind::null) return;
    if (!map(n, "\"options\" of " + label)) return;
    FirstSeen seen;
    for (std::size_t i = 0; i + 1 < n.items.size(); i += 2) {
      const YamlNode& key = n.items[i];
      const YamlNode& value = n.items[i + 1];
      if (key.kind != YamlNode::Kind::scalar) {
        error(key.pos, "expected an option name for " + label + ", found " + describe(key));
        continue;
      }
      ModuleOption option;
      bool ok = true;
      if (std::string why = explain_option_name(key.value); !why.empty()) {
        error(key.pos, "invalid option name " + quote(key.value) + " for " + label + ": " + why);
        ok = false;
      } else {
        if (auto first = seen.repeat(key.value, key.pos.line)) {
          error(key.pos, "duplicate option " + quote(key.value) + " for " + label +
                             ", first listed at line " + std::to_string(*first));
          ok = false;
        }
      }
      option.name = key.value;
      std::string what = quote(key.value) + " of " + label;
      if (const std::string* s = scalar(value, what)) {
        // A plain YAML 1.1 boolean becomes 1 or 0, which bool and int parameters both take
        // (kvm_amd's "nested" is an int: "yes" would fail with EINVAL); quoted text is a string
        // and is kept as written.
        if (auto b = value.plain ? yaml_bool(*s, true) : std::nullopt) {
          option.value = *b ? "1" : "0";
        } else if (std::string why = explain_option_value(*s); !why.empty()) {
          error(value.pos, "invalid option value " + quote(*s) + " for " + what + ": " + why);
          ok = false;
        } else {
          option.value = *s;
        }
      } else {
        ok = false;
      }
      if (ok) out.push_back(std::move(option));
    }
  }

  void devices(const YamlNode& list_node, std::vector<DeviceSpec>& out) {
    if (!list(list_node, "\"devices\"")) return;
    FirstSeen seen;
    for (std::size_t i = 0; i < list_node.items.size(); ++i) {
      const YamlNode& entry = list_node.items[i];
      std::string label = "devices entry " + std::to_string(i + 1);
      if (!map(entry, label)) continue;
      DeviceSpec spec;
      bool node_ok = false;
      Fields probe = map_fields_quiet(entry);
      if (const YamlNode* n = probe["node"].value; n && n->kind == YamlNode::Kind::scalar) {
        if (explain_device_node(n->value).empty()) {
          spec.node = n->value;
          label = "device " + quote(spec.node);
          node_ok = true;
        }
      }
      auto fields = map_fields(entry, {"node", "group", "mode"}, " in " + label);
      if (const YamlNode* n = required(entry, fields, "node", " in " + label)) {
        if (const std::string* s = scalar(*n, "\"node\" of " + label)) {
          if (!node_ok) {
            error(n->pos, "invalid device node " + quote(*s) + ": " + explain_device_node(*s));
          } else if (auto first = seen.repeat(spec.node, n->pos.line)) {
            error(n->pos, "duplicate device " + quote(spec.node) + ", first listed at line " +
                              std::to_string(*first));
            node_ok = false;
          }
        }
      }
      if (const YamlNode* g = fields["group"].value) {
        if (const std::string* s = scalar(*g, "\"group\" of " + label)) {
          if (std::string why = explain_account_name(*s); !why.empty()) {
            error(g->pos, "invalid group " + quote(*s) + " for " + label + ": " + why);
          } else {
            spec.group = *s;
          }
        }
      }
      if (const YamlNode* m = fields["mode"].value) {
        if (const std::string* s = scalar(*m, "\"mode\" of " + label)) {
          std::string prefix = "invalid mode " + quote(*s) + " for " + label + ": ";
          if (!octal_digits(*s)) {
            error(m->pos, prefix + "expected 3 or 4 octal digits, such as \"0660\"");
          } else if (m->plain) {
            // YAML 1.1 readers (Ansible, PyYAML) take an unquoted 0660 for the number 432 and
            // write it back as 432: only a string means the same to every tool.
            error(
                m->pos,
                prefix +
                    "a mode must be a quoted string, such as mode: \"0660\" (unquoted, YAML 1.1 tools such as Ansible read 0660 as the number 432)");
          } else if (unsigned mode = static_cast<unsigned>(std::stoul(*s, nullptr, 8));
                     mode > 0777) {
            error(m->pos, prefix + "must be at most 0777 (no setuid, setgid or sticky bits)");
          } else {
            spec.mode = mode;
          }
        }
      }
      if (node_ok) out.push_back(std::move(spec));
    }
  }

  void groups(const YamlNode& list_node, std::vector<GroupSpec>& out) {
    if (!list(list_node, "\"groups\"")) return;
    FirstSeen seen;
    for (std::size_t i = 0; i < list_node.items.size(); ++i) {
      const YamlNode& entry = list_node.items[i];
      std::string label = "groups entry " + std::to_string(i + 1);
      if (!map(entry, label)) continue;
      GroupSpec spec;
      bool name_ok = false;
      Fields probe = map_fields_quiet(entry);
      if (const YamlNode* n = probe["name"].value; n && n->kind == YamlNode::Kind::scalar) {
        if (explain_account_name(n->value).empty()) {
          spec.name = n->value;
          label = "group " + quote(spec.name);
          name_ok = true;
        }
      }
      auto fields = map_fields(entry, {"name", "system", "members"}, " in " + label);
      if (const YamlNode* n = required(entry, fields, "name", " in " + label)) {
        if (const std::string* s = scalar(*n, "\"name\" of " + label)) {
          if (!name_ok) {
            error(n->pos, "invalid group name " + quote(*s) + ": " + explain_account_name(*s));
          } else if (auto first = seen.repeat(spec.name, n->pos.line)) {
            error(n->pos, "duplicate group " + quote(spec.name) + ", first listed at line " +
                              std::to_string(*first));
            name_ok = false;
          }
        }
      }
      if (const YamlNode* v = fields["system"].value) {
        std::string what = "\"system\" of " + label;
        if (const std::string* s = scalar(*v, what)) {
          // The field is a boolean, so a quoted "yes" means yes too.
          if (auto b = yaml_bool(*s, true)) {
            spec.system = *b;
          } else {
            error(v->pos, "invalid value " + quote(*s) + " for " + what +
                              ": expected true or false (or yes/no, on/off)");
          }
        }
      }
      if (const YamlNode* v = fields["members"].value) {
        if (list(*v, "\"members\" of " + label)) {
          FirstSeen member_seen;
          for (const YamlNode& item : v->items) {
            const std::string* s = scalar(item, "a member of " + label);
            if (!s) continue;
            if (std::string why = explain_account_name(*s); !why.empty()) {
              error(item.pos, "invalid member name " + quote(*s) + " for " + label + ": " + why);
            } else if (member_seen.repeat(*s, item.pos.line)) {
              error(item.pos, "duplicate member " + quote(*s) + " in " + label);
            } else {
              spec.members.push_back(*s);
            }
          }
        }
      }
      if (name_ok) out.push_back(std::move(spec));
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
    auto path = [&](std::string_view key, std::string& out) {
      const YamlNode* v = fields[key].value;
      if (!v) return;
      std::string what = quote(key) + " of \"nova\"";
      if (const std::string* s = scalar(*v, what)) {
        if (std::string why = explain_config_path(*s); !why.empty()) {
          error(v->pos, "invalid path " + quote(*s) + " for " + what + ": " + why);
        } else {
          out = *s;
        }
      }
    };
    if (const YamlNode* v = fields["config"].value) nova_config(*v, spec.config);
    path("cpu_map", spec.cpu_map);
    if (const YamlNode* v = fields["virt_type"].value) {
      if (const std::string* s = scalar(*v, "\"virt_type\" of \"nova\"")) {
        std::vector<std::string_view> names;
        bool found = false;
        for (NovaVirtType t : {NovaVirtType::automatic, NovaVirtType::kvm, NovaVirtType::qemu}) {
          names.push_back(nova_virt_type_name(t));
          if (*s == nova_virt_type_name(t)) {
            spec.virt_type = t;
            found = true;
          }
        }
        if (!found) error(v->pos, "unknown virt_type " + quote(*s) + choices_hint(*s, names));
      }
    }
    const YamlNode* mode_node = fields["cpu_mode"].value;
    if (mode_node) {
      if (const std::string* s = scalar(*mode_node, "\"cpu_mode\" of \"nova\"")) {
        std::vector<std::string_view> names;
        bool found = false;
        for (NovaCpuMode m : {NovaCpuMode::host_model, NovaCpuMode::host_passthrough,
                              NovaCpuMode::custom, NovaCpuMode::none}) {
          names.push_back(nova_cpu_mode_name(m));
          if (*s == nova_cpu_mode_name(m)) {
            spec.cpu_mode = m;
            found = true;
          }
        }
        if (!found) {
          error(mode_node->pos, "unknown cpu_mode " + quote(*s) + choices_hint(*s, names));
          mode_node = nullptr;  // no further complaints about cpu_models on a misspelt mode
        }
      }
    }
    const YamlNode* models = fields["cpu_models"].value;
    if (models && list(*models, "\"cpu_models\" of \"nova\"")) {
      FirstSeen seen;
      for (const YamlNode& item : models->items) {
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
    // nova refuses both combinations when nova-compute starts; say so before anything is written.
    const bool mode_known = !fields["cpu_mode"].value || mode_node;
    if (mode_known && spec.cpu_mode == NovaCpuMode::custom &&
        (!models || models->kind == YamlNode::Kind::null || models->items.empty())) {
      error(
          models ? models->pos : mode_node->pos,
          "cpu_mode \"custom\" needs at least one model in \"cpu_models\" of \"nova\" (e.g. [Nehalem]; see /usr/share/libvirt/cpu_map)");
    } else if (mode_known && spec.cpu_mode != NovaCpuMode::custom && models &&
               models->kind != YamlNode::Kind::null) {
      error(models->pos,
            "\"cpu_models\" of \"nova\" is only valid with cpu_mode \"custom\" (cpu_mode is " +
                quote(nova_cpu_mode_name(spec.cpu_mode)) + "): remove it or set cpu_mode: custom");
    }
    if (const YamlNode* v = fields["legacy_option_names"].value) {
      std::string what = "\"legacy_option_names\" of \"nova\"";
      if (const std::string* s = scalar(*v, what)) {
        if (*s == "true" || *s == "True" || *s == "TRUE") {
          spec.legacy_option_names = true;
        } else if (*s == "false" || *s == "False" || *s == "FALSE") {
          spec.legacy_option_names = false;
        } else {
          error(v->pos, "invalid value " + quote(*s) + " for " + what + ": expected true or false");
        }
      }
    }
    return spec;
  }

  // "config" of "nova": one file, or the files and directories nova-compute reads, in order.
  void nova_config(const YamlNode& v, std::vector<std::string>& out) {
    const std::string what = "\"config\" of \"nova\"";
    std::vector<const YamlNode*> items;
    if (v.kind == YamlNode::Kind::scalar) {
      items.push_back(&v);
    } else if (v.kind == YamlNode::Kind::sequence) {
      for (const YamlNode& item : v.items) items.push_back(&item);
    } else {
      error(v.pos, "expected a path or a list of paths for " + what + ", found " + describe(v));
      return;
    }
    std::vector<std::string> paths;
    FirstSeen seen;
    bool ok = true;
    for (const YamlNode* item : items) {
      const std::string* s = scalar(*item, "an entry of " + what);
      if (!s) {
        ok = false;
        continue;
      }
      // A directory is written with its final '/'; the rest has the grammar of every path.
      const bool dir = s->size() > 1 && s->back() == '/';
      std::string why =
          explain_config_path(dir ? std::string_view(*s).substr(0, s->size() - 1) : *s);
      if (!why.empty()) {
        error(item->pos, "invalid path " + quote(*s) + " for " + what + ": " + why);
        ok = false;
      } else if (auto first = seen.repeat(dir ? s->substr(0, s->size() - 1) : *s, item->pos.line)) {
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

  std::string source_;
};

// A profile that could not be read: one error naming the file.
ParseResult file_error(const std::string& path, std::string message) {
  ParseResult r;
  r.errors.push_back(ProfileError{path, 0, 0, std::move(message)});
  return r;
}

}  // namespace

std::string nova_main_config(const NovaSpec& spec) {
  for (const auto& path : spec.config)
    if (!path.ends_with('/') && !path.starts_with("/usr/")) return path;
  return "";
}

std::string ProfileError::str() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

ParseResult parse_profile(std::string_view text, const std::string& source) {
  ParseResult result;
  auto add = [&](Pos pos, std::string message) {
    result.errors.push_back(ProfileError{source, pos.line, pos.column, std::move(message)});
  };
  if (auto bad = find_bad_byte(text)) {
    std::string_view before = text.substr(0, bad->first);
    std::size_t line_start = before.rfind('\n');
    line_start = line_start == std::string_view::npos ? 0 : line_start + 1;
    // Columns count characters, as yaml-cpp's do, so skip UTF-8 continuation bytes.
    auto column =
        std::count_if(before.begin() + static_cast<std::ptrdiff_t>(line_start), before.end(),
                      [](char c) { return (static_cast<unsigned char>(c) & 0xc0u) != 0x80u; });
    auto line = std::count(before.begin(), before.end(), '\n');
    add(Pos{static_cast<int>(line + 1), static_cast<int>(column + 1)}, bad->second);
    return result;
  }
  TreeBuilder builder;
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    if (!parser.HandleNextDocument(builder) || !builder.root_ ||
        (builder.root_->kind == YamlNode::Kind::null && builder.errors_.empty())) {
      add(Pos{1, 1}, "profile is empty: expected a map with \"version\" and \"name\"");
      return result;
    }
    TreeBuilder rest;
    if (parser.HandleNextDocument(rest)) {
      builder.errors_.emplace_back(rest.document_start_.value_or(Pos{}),
                                   "more than one YAML document: a profile is a single document");
    }
  } catch (const YAML::DeepRecursion& e) {
    // yaml-cpp's own limit is far past ours, so the builder has already said where it was
    // crossed; yaml-cpp's message for this case ("bad file") would only mislead.
    if (builder.errors_.empty()) {
      builder.errors_.emplace_back(to_pos(e.mark), "nesting is too deep");
    }
  } catch (const YAML::Exception& e) {
    add(to_pos(e.mark), "syntax error: " + one_line(e.msg));
    return result;
  } catch (const std::bad_alloc&) {
    // Out of memory says nothing about the profile: main reports it as an internal error.
    throw;
  } catch (const std::exception& e) {
    add(Pos{}, "cannot parse profile: " + one_line(e.what()));
    return result;
  }
  // Refused features leave holes in the tree; checking the schema as well would only add noise.
  if (!builder.errors_.empty()) {
    for (auto& [pos, message] : builder.errors_) add(pos, std::move(message));
    return result;
  }
  Validator validator(source);
  Profile profile = validator.profile(*builder.root_);
  result.errors = std::move(validator.errors_);
  // The validator visits keys in schema order; operators read files top to bottom.
  std::stable_sort(result.errors.begin(), result.errors.end(),
                   [](const ProfileError& x, const ProfileError& y) {
                     return std::pair{x.line, x.column} < std::pair{y.line, y.column};
                   });
  if (result.errors.empty()) result.profile = std::move(profile);
  return result;
}

namespace {

// Reads at most kMaxProfileBytes from FD into TEXT; an error message, or empty on success.
std::string read_profile_bytes(int fd, std::string& text) {
  // Read one byte past the limit: the size from fstat can be stale or, on pseudo files, zero.
  text.assign(kMaxProfileBytes + 1, '\0');
  std::size_t used = 0;
  while (used < text.size()) {
    ssize_t n = ::read(fd, text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::string("cannot read profile: ") + std::strerror(errno);
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > kMaxProfileBytes) return "profile is larger than 1 MiB";
  text.resize(used);
  return {};
}

}  // namespace

ParseResult load_profile_file(const std::string& path) {
  std::string text;
  if (path == "-") {
    // Standard input: a pipe or a file, read once. One name for it, so that the headers of
    // generated files are the same on every run that passes the same profile this way.
    const std::string source = "<stdin>";
    if (std::string e = read_profile_bytes(STDIN_FILENO, text); !e.empty())
      return file_error(source, e);
    return parse_profile(text, source);
  }
  // O_NONBLOCK so that a FIFO cannot hang us before fstat shows it is not a regular file.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0)
    return file_error(path, std::string("cannot read profile: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return file_error(path, std::string("cannot read profile: ") + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    return file_error(path, std::string("cannot read profile: ") + std::strerror(EISDIR));
  }
  if (!S_ISREG(st.st_mode)) return file_error(path, "cannot read profile: not a regular file");
  if (static_cast<std::size_t>(st.st_size) > kMaxProfileBytes)
    return file_error(path, "profile is larger than 1 MiB");
  if (std::string e = read_profile_bytes(fd.get(), text); !e.empty()) return file_error(path, e);
  ParseResult parsed = parse_profile(text, path);
  // Errors name the file as the operator spelt it; the profile itself carries one spelling, so
  // that profile.yaml, ./profile.yaml and a link to it give the same generated files.
  if (parsed.profile) {
    if (char* real = ::realpath(path.c_str(), nullptr)) {
      parsed.profile->source = real;
      std::free(real);
    }
  }
  return parsed;
}

}  // namespace kvmprov
