// SPDX-License-Identifier: MIT
// The checks the profile's schema is built from: a map's keys, a single value, a list, a map, a
// word from a table, a boolean. Each records what is wrong, at the node, and lets the caller go
// on, so that one run shows the operator everything to fix.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "profile.h"
#include "profile_names.h"
#include "profile_tree.h"
#include "util/text.h"

namespace kvmprov {

class ProfileChecks {
 public:
  // Errors name SOURCE and go to ERRORS, in the order found.
  ProfileChecks(const std::string& source, std::vector<ProfileError>& errors)
      : source_(source), errors_(errors) {}

 protected:
  struct Field {
    const YamlNode* key = nullptr;
    const YamlNode* value = nullptr;
  };

  // The known keys of a map that are present, by name.
  class Fields {
   public:
    Field operator[](std::string_view key) const;
    std::vector<std::pair<std::string_view, Field>> found_;
  };

  // Remembers where each name was first seen, so that a repeat can point back at it; hashed
  // because a 1 MiB profile can list tens of thousands of names.
  class FirstSeen {
   public:
    // The line `name` was first seen on, or nullopt (remembering `line`) when it is new.
    std::optional<int> repeat(const std::string& name, int line);

   private:
    std::unordered_map<std::string, int> lines_;
  };

  // What was found where something else was expected: "nothing", "a list", "a map" or the value.
  static std::string describe(const YamlNode& n);
  // ": expected a, b or c" or " (did you mean "b"?)".
  static std::string choices_hint(std::string_view word,
                                  const std::vector<std::string_view>& choices);
  // The items of a sequence, or the node itself: where one value may stand for a list of one.
  static std::vector<const YamlNode*> one_or_many(const YamlNode& n);
  // The value of the first key KEY of MAP, found without reporting anything: names an entry
  // before its keys are checked.
  static const YamlNode* first_value(const YamlNode& map, std::string_view key);

  void error(Pos pos, std::string message);

  // Checks a map's keys against the schema: unknown and duplicate keys are errors, known ones
  // come back by name. `context` (e.g. ` in module "kvm"`) is appended to messages.
  Fields map_fields(const YamlNode& map, const std::vector<std::string_view>& known,
                    const std::string& context);
  // Calls FN(key, value) for each pair of MAP in order; a key that is not a scalar is recorded
  // instead: "expected WHAT, found ...".
  template <class Fn>
  void each_pair(const YamlNode& map, const std::string& what, Fn fn) {
    for (std::size_t i = 0; i + 1 < map.items.size(); i += 2) {
      const YamlNode& key = map.items[i];
      if (key.kind == YamlNode::Kind::scalar) {
        fn(key, map.items[i + 1]);
      } else {
        error(key.pos, "expected " + what + ", found " + describe(key));
      }
    }
  }
  // The value of KEY, or nullptr after recording that it is missing from MAP.
  const YamlNode* required(const YamlNode& map, const Fields& fields, std::string_view key,
                           const std::string& context);
  // The scalar text of `n`, or nullptr after recording why there is none. `what` names the field.
  const std::string* scalar(const YamlNode& n, const std::string& what);
  // True when `n` is a list, or null (an empty list); records an error otherwise.
  bool list(const YamlNode& n, const std::string& what);
  // True when `n` is a map; records an error otherwise.
  bool map(const YamlNode& n, const std::string& what);

  // The value `n` names in TABLE, or nullopt after recording why there is none: "unknown NOUN
  // "x"", then TAIL, then the choices or the nearest one.
  template <class E>
  std::optional<E> choice(const YamlNode& n, const std::string& what, NameTable<E> table,
                          std::string_view noun, const std::string& tail = "") {
    const std::string* s = scalar(n, what);
    if (!s) return std::nullopt;
    std::vector<std::string_view> names;
    for (const auto& [value, name] : table) {
      if (*s == name) return value;
      names.push_back(name);
    }
    error(n.pos, "unknown " + std::string(noun) + " " + quote(*s) + tail + choices_hint(*s, names));
    return std::nullopt;
  }

  // A true-or-false field. With YAML11, YAML 1.1's words too (yes/no, on/off), quoted or not:
  // the field can mean nothing else.
  std::optional<bool> boolean(const YamlNode& n, const std::string& what, bool yaml11);

  const std::string& source_;

 private:
  std::vector<ProfileError>& errors_;
};

}  // namespace kvmprov
