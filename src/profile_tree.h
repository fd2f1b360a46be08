// SPDX-License-Identifier: MIT
// The document tree that the profile parser builds from yaml-cpp's events and the validator
// reads: positions kept, no yaml-cpp type, so that only profile.cc includes yaml-cpp.
#pragma once

#include <string>
#include <vector>

namespace kvmprov {

struct Profile;
struct ProfileError;

struct Pos {
  int line = 0;  // 1-based
  int column = 0;
};

// One node of a document. yaml-cpp's own Node shares aliased subtrees, which is what makes alias
// bombs expensive to walk; this one is built from parser events, and anchors are refused.
struct YamlNode {
  enum class Kind { null, scalar, sequence, map };
  Kind kind = Kind::null;
  Pos pos;
  bool plain = false;  // unquoted scalar: only these can mean true or false
  std::string value;
  std::vector<YamlNode> items;  // a sequence's items; a map's keys and values, alternating
};

// Checks ROOT against schema version 1 and builds the Profile, adding to ERRORS (named SOURCE)
// every problem rather than stopping at the first, so that one run shows the operator everything
// to fix. The errors come in the order the schema is checked, not the document's.
Profile validate_profile(const YamlNode& root, const std::string& source,
                         std::vector<ProfileError>& errors);

}  // namespace kvmprov
