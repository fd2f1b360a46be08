// SPDX-License-Identifier: MIT
// Helpers for Result and Error.
#include "util/result.h"

#include <cstring>

namespace kvmprov {

Error errno_error(const std::string& context, int err) {
  return Error{err, context + ": " + std::strerror(err)};
}

}  // namespace kvmprov
