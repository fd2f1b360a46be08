// SPDX-License-Identifier: MIT
// Shared libraries opened on first use, so a run that never needs one never maps it.
#pragma once

#include <initializer_list>
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

// The first of RESULTS that failed, else success.
Result<void> first_failure(std::initializer_list<Result<void>> results);

// A library's functions as one table, struct NAME. Each wrapper names its functions once, in an
// X-macro LIST (#define KVMPROV_LIBFOO(X) X(foo_new) X(foo_unref) ...): the header's declaration
// gives each member its type, the name gives the symbol that bind() looks up.
#define KVMPROV_DYNLIB_MEMBER(fn) decltype(&::fn) fn = nullptr;
#define KVMPROV_DYNLIB_BIND(fn) library.bind(#fn, fn),
// clang-format off
#define KVMPROV_DYNLIB_TABLE(Name, List)                  \
  struct Name {                                           \
    List(KVMPROV_DYNLIB_MEMBER)                           \
    Result<void> bind(const DynamicLibrary& library) {    \
      return first_failure({List(KVMPROV_DYNLIB_BIND)});  \
    }                                                     \
  }
// clang-format on

// Fills TABLE from SONAME on the first call: every function bound (TABLE::bind), then SETUP,
// when given, for what the library needs before use. Later calls return the first outcome
// without trying again; TABLE is left empty unless it succeeded.
template <class Table>
Result<void> load_table(Table& table, const std::string& soname, const std::string& package,
                        Result<void> (*setup)(const Table&) = nullptr) {
  static const Result<void> loaded = [&]() -> Result<void> {
    auto library = DynamicLibrary::open(soname, package);
    if (!library) return library.error();
    Table bound;
    if (Result<void> r = bound.bind(*library); !r) return r;
    if (setup != nullptr) {
      if (Result<void> r = setup(bound); !r) return r;
    }
    table = bound;
    return {};
  }();
  return loaded;
}

// A std::unique_ptr deleter that hands the pointer to the function FN of the table at TABLE:
// std::unique_ptr<kmod_ctx, Release<&g_libkmod, &Libkmod::kmod_unref>>.
template <const auto* Table, auto Fn>
struct Release {
  template <class T>
  void operator()(T* p) const {
    (Table->*Fn)(p);
  }
};

}  // namespace kvmprov
