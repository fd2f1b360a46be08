// SPDX-License-Identifier: MIT
// libFuzzer target: whatever /etc/modules holds, kvmprov's block edit keeps every byte outside
// the block, is idempotent, and removing the block gives back the text outside it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "persist.h"
#include "profile.h"

namespace {

void require(bool condition, const char* what) {
  if (condition) return;
  std::fprintf(stderr, "invariant broken: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  kvmprov::Profile profile;
  profile.name = "fuzz";
  profile.source = "fuzz.yaml";
  const std::vector<std::string> modules = {"kvm", "kvm_amd", "vhost_net"};

  const std::string outside = kvmprov::remove_managed_block(text);
  const std::string with_block = kvmprov::set_managed_block(text, profile, modules);
  require(kvmprov::set_managed_block(with_block, profile, modules) == with_block,
          "setting the block twice changes nothing");

  // The text outside the new block is the text outside the old one, plus at most the newline
  // that ends a last line which had none.
  const std::string after = kvmprov::remove_managed_block(with_block);
  require(after == outside || after == outside + "\n", "every byte outside the block is kept");

  // A module listed outside the block is reported the same before and after the edit: the edit
  // neither hides nor invents one.
  require(kvmprov::duplicates_outside_block(with_block, modules) ==
              kvmprov::duplicates_outside_block(text, modules),
          "duplicates outside the block are reported, not removed");
  return 0;
}
