// SPDX-License-Identifier: MIT
// Shared libraries opened on first use, so a run that never needs one never maps it.
#pragma once

#include <string>

#include "util/result.h"

namespace kvmprov {

// A library opened with dlopen and never closed: the process keeps it until exit, like a
// library linked at build time, but only from the first call that needs it.
class DynamicLibrary {
 public:
  // Opens SONAME ("libkmod.so.2"); the error names the library, the loader's reason and
  // PACKAGE, what to install.
  static Result<DynamicLibrary> open(const std::string& soname, const std::string& package);

  // Sets FN to the function NAME; an error when the library lacks it (too old a version).
  template <class Fn>
  Result<void> bind(const char* name, Fn& fn) const {
    void* symbol = find(name);
    if (symbol == nullptr) return missing(name);
    fn = reinterpret_cast<Fn>(symbol);
    return {};
  }

 private:
  DynamicLibrary(void* handle, std::string soname, std::string package)
      : handle_(handle), soname_(std::move(soname)), package_(std::move(package)) {}
  void* find(const char* name) const;
  Error missing(const char* name) const;

  void* handle_;
  std::string soname_;
  std::string package_;
};

}  // namespace kvmprov
