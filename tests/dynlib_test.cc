// SPDX-License-Identifier: MIT
// Tests for DynamicLibrary: the errors an operator sees when a library or a function is missing.
#include "linux/dynlib.h"

#include <doctest/doctest.h>

TEST_CASE("a missing library names itself, the loader's reason and the package") {
  auto library = kvmprov::DynamicLibrary::open("libkvmprov-absent.so.9", "libkvmprov-absent9");
  REQUIRE_FALSE(library.ok());
  const std::string& message = library.error().message;
  CHECK(message.starts_with("library \"libkvmprov-absent.so.9\" cannot be loaded: "));
  CHECK(message.find("cannot open shared object file") != std::string::npos);
  CHECK(message.ends_with(" (install libkvmprov-absent9)"));
  CHECK(message.find('\n') == std::string::npos);
}

TEST_CASE("functions are bound by name; a missing one says the library is too old") {
  auto library = kvmprov::DynamicLibrary::open("libc.so.6", "libc6");
  REQUIRE(library.ok());
  size_t (*length)(const char*) = nullptr;
  REQUIRE(library->bind("strlen", length).ok());
  CHECK(length("kvmprov") == 7);

  int (*absent)() = nullptr;
  kvmprov::Result<void> bound = library->bind("kvmprov_no_such_function", absent);
  REQUIRE_FALSE(bound.ok());
  CHECK(bound.error().message ==
        "library \"libc.so.6\" has no function \"kvmprov_no_such_function\": it is too old "
        "(upgrade libc6)");
  CHECK_FALSE(static_cast<bool>(absent));
}
