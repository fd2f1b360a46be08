// SPDX-License-Identifier: MIT
// dlopen and dlsym behind DynamicLibrary, with errors an operator can act on.
#include "linux/dynlib.h"

#include <dlfcn.h>

namespace kvmprov {

Result<DynamicLibrary> DynamicLibrary::open(const std::string& soname, const std::string& package) {
  // RTLD_NOW: a library missing a symbol fails here, not in the middle of an action.
  void* handle = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return Error{ENOENT, "library \"" + soname +
                             "\" cannot be loaded: " + (why != nullptr ? why : "unknown error") +
                             " (install " + package + ")"};
  }
  return DynamicLibrary(handle, soname, package);
}

void* DynamicLibrary::find(const char* name) const {
  return dlsym(handle_, name);
}

Error DynamicLibrary::missing(const char* name) const {
  return Error{ENOSYS, "library \"" + soname_ + "\" has no function \"" + name +
                           "\": it is too old (upgrade " + package_ + ")"};
}

Result<void> first_failure(std::initializer_list<Result<void>> results) {
  for (const Result<void>& r : results)
    if (!r) return r;
  return {};
}

}  // namespace kvmprov
