// SPDX-License-Identifier: MIT
// libFuzzer target: whatever /etc/modules holds, every byte outside a well-formed kvmprov block
// survives the block edit, malformed markers make the edit fail instead of deleting anything,
// and the edit is idempotent. The oracle below finds the blocks its own, simpler way: a line by
// line scan of the rule in persist.h, so that the two must agree.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "persist.h"
#include "profile.h"

namespace {

void require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

bool marker(std::string_view line, std::string_view word) {
  if (line.ends_with("\r")) line.remove_suffix(1);
  const std::string m = "# " + std::string(word) + " kvmprov";
  return line == m || (line.starts_with(m) && (line[m.size()] == ' ' || line[m.size()] == '\t'));
}

// The text outside well-formed blocks, or nullopt when the markers are malformed.
std::optional<std::string> oracle_outside(std::string_view text) {
  std::string outside;
  bool in_block = false;
  bool first = true;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    const size_t len = nl == std::string_view::npos ? text.size() : nl + 1;
    std::string_view line = text.substr(0, len);
    text.remove_prefix(len);
    std::string_view body = line.ends_with("\n") ? line.substr(0, line.size() - 1) : line;
    std::string_view bom;
    if (first && body.starts_with("\xef\xbb\xbf")) {
      bom = body.substr(0, 3);
      body.remove_prefix(3);
    }
    first = false;
    if (marker(body, "BEGIN")) {
      if (in_block) return std::nullopt;
      in_block = true;
      outside += bom;
    } else if (marker(body, "END")) {
      if (!in_block) return std::nullopt;
      in_block = false;
    } else if (!in_block) {
      outside += line;
    }
  }
  if (in_block) return std::nullopt;
  return outside;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  kvmprov::Profile profile;
  profile.name = "fuzz";
  profile.source = "fuzz.yaml";
  const std::vector<std::string> modules = {"kvm", "kvm_amd", "vhost_net"};

  const std::optional<std::string> expected = oracle_outside(text);
  auto outside = kvmprov::remove_managed_block(text);
  auto with_block = kvmprov::set_managed_block(text, profile, modules);
  if (!expected) {
    // Malformed markers: nothing is edited, so nothing can be lost.
    require(!outside && !with_block, "malformed markers make every edit fail");
    require(kvmprov::managed_block_excerpt(text).empty(), "no excerpt of a malformed file");
    return 0;
  }
  require(outside && with_block, "well-formed text can be edited");
  require(*outside == *expected, "removing the blocks keeps exactly the bytes outside them");
  auto again = kvmprov::set_managed_block(*with_block, profile, modules);
  require(again && *again == *with_block, "setting the block twice changes nothing");

  // The text outside the new block is the text outside the old one, plus at most the newline
  // that ends a last line which had none.
  auto after = kvmprov::remove_managed_block(*with_block);
  require(after && (*after == *expected || *after == *expected + "\n"),
          "every byte outside the block is kept");
  require(oracle_outside(*with_block) == *after, "the edited text is well-formed");

  // A module listed outside the block is reported the same before and after the edit: the edit
  // neither hides nor invents one.
  require(kvmprov::duplicates_outside_block(*with_block, modules) ==
              kvmprov::duplicates_outside_block(text, modules),
          "duplicates outside the block are reported, not removed");
  return 0;
}
