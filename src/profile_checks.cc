// SPDX-License-Identifier: MIT
// The checks the profile's schema is built from (profile_checks.h).
#include "profile_checks.h"

#include <algorithm>

namespace kvmprov {

namespace {

// "a, b or c".
std::string join_choices(const std::vector<std::string_view>& choices) {
  std::string out;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (i > 0) out += i + 1 == choices.size() ? " or " : ", ";
    out += choices[i];
  }
  return out;
}

}  // namespace

ProfileChecks::Field ProfileChecks::Fields::operator[](std::string_view key) const {
  for (const auto& [k, f] : found_) {
    if (k == key) return f;
  }
  return Field{};
}

std::optional<int> ProfileChecks::FirstSeen::repeat(const std::string& name, int line) {
  auto [it, inserted] = lines_.emplace(name, line);
  if (inserted) return std::nullopt;
  return it->second;
}

std::string ProfileChecks::describe(const YamlNode& n) {
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

std::string ProfileChecks::choices_hint(std::string_view word,
                                        const std::vector<std::string_view>& choices) {
  if (auto near = closest_word(word, choices)) return " (did you mean " + quote(*near) + "?)";
  return ": expected " + join_choices(choices);
}

std::vector<const YamlNode*> ProfileChecks::one_or_many(const YamlNode& n) {
  if (n.kind != YamlNode::Kind::sequence) return {&n};
  std::vector<const YamlNode*> items;
  for (const YamlNode& item : n.items) items.push_back(&item);
  return items;
}

const YamlNode* ProfileChecks::first_value(const YamlNode& map, std::string_view key) {
  for (std::size_t i = 0; i + 1 < map.items.size(); i += 2) {
    const YamlNode& k = map.items[i];
    if (k.kind == YamlNode::Kind::scalar && k.value == key) return &map.items[i + 1];
  }
  return nullptr;
}

void ProfileChecks::error(Pos pos, std::string message) {
  errors_.push_back(ProfileError{source_, pos.line, pos.column, std::move(message)});
}

ProfileChecks::Fields ProfileChecks::map_fields(const YamlNode& map,
                                                const std::vector<std::string_view>& known,
                                                const std::string& context) {
  Fields fields;
  each_pair(map, "a key name" + context, [&](const YamlNode& key, const YamlNode& value) {
    auto it = std::find(known.begin(), known.end(), key.value);
    if (it == known.end()) {
      error(key.pos, "unknown key " + quote(key.value) + context + choices_hint(key.value, known));
    } else if (Field first = fields[*it]; first.key) {
      error(key.pos, "duplicate key " + quote(key.value) + context + ", first at line " +
                         std::to_string(first.key->pos.line));
    } else {
      fields.found_.emplace_back(*it, Field{&key, &value});
    }
  });
  return fields;
}

const YamlNode* ProfileChecks::required(const YamlNode& map, const Fields& fields,
                                        std::string_view key, const std::string& context) {
  const YamlNode* v = fields[key].value;
  if (!v) error(map.pos, "missing required key " + quote(key) + context);
  return v;
}

const std::string* ProfileChecks::scalar(const YamlNode& n, const std::string& what) {
  if (n.kind == YamlNode::Kind::scalar) return &n.value;
  if (n.kind == YamlNode::Kind::null) {
    error(n.pos, "missing value for " + what);
  } else {
    error(n.pos, "expected a single value for " + what + ", found " + describe(n));
  }
  return nullptr;
}

bool ProfileChecks::list(const YamlNode& n, const std::string& what) {
  if (n.kind == YamlNode::Kind::sequence || n.kind == YamlNode::Kind::null) return true;
  error(n.pos, "expected a list for " + what + ", found " + describe(n));
  return false;
}

bool ProfileChecks::map(const YamlNode& n, const std::string& what) {
  if (n.kind == YamlNode::Kind::map) return true;
  error(n.pos, "expected a map for " + what + ", found " + describe(n));
  return false;
}

std::optional<bool> ProfileChecks::boolean(const YamlNode& n, const std::string& what,
                                           bool yaml11) {
  const std::string* s = scalar(n, what);
  if (!s) return std::nullopt;
  if (auto b = yaml_bool(*s, yaml11)) return b;
  error(n.pos, "invalid value " + quote(*s) + " for " + what + ": expected true or false" +
                   (yaml11 ? " (or yes/no, on/off)" : ""));
  return std::nullopt;
}

}  // namespace kvmprov
