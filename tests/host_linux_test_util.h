// SPDX-License-Identifier: MIT
// Helpers the LinuxHost tests share (host_linux_test.cc, host_linux_kernel_test.cc): a temporary
// root, whole-file writes with a mode and reads, and hosts on a root or on a kmod fixture tree.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "host.h"
#include "test_util.h"
#include "util/read_all.h"
#include "util/unique_fd.h"

namespace kvmprov::host_test {

// A fresh directory under /tmp, removed with everything in it at scope exit.
class TempRoot : public test::TempDir {
 public:
  TempRoot() : TempDir("kvmprov-test") {}
};

// Writes CONTENT to PATH with MODE, whatever the umask.
inline void put(const std::string& path, const std::string& content, mode_t mode = 0644) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  REQUIRE(fd.valid());
  REQUIRE(write(fd.get(), content.data(), content.size()) == static_cast<ssize_t>(content.size()));
  REQUIRE(fchmod(fd.get(), mode) == 0);
}

// PATH's whole content.
inline std::string get(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd.valid());
  auto content = read_all(fd.get(), std::size_t{1} << 20);
  REQUIRE(content.ok());
  return *content;
}

inline void make_dir(const std::string& path, mode_t mode = 0755) {
  REQUIRE(mkdir(path.c_str(), mode) == 0);
  REQUIRE(chmod(path.c_str(), mode) == 0);
}

inline struct stat lstat_of(const std::string& path) {
  struct stat st {};
  REQUIRE(lstat(path.c_str(), &st) == 0);
  return st;
}

inline bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

// The error message of R, "" when R succeeded (doctest evaluates messages even on success).
template <class T>
std::string why(const Result<T>& r) {
  return r ? std::string() : r.error().message;
}

inline std::unique_ptr<Host> host_at(const std::string& root) {
  LinuxHostOptions options;
  options.root = root;
  return make_linux_host(options);
}

// A host whose kernel is the fixture tree tests/data/kmod/NAME, with no module tree.
inline std::unique_ptr<Host> kmod_fixture_host(const std::string& name) {
  LinuxHostOptions options;
  options.kernel_root = std::string(KVMPROV_TEST_DATA) + "/kmod/" + name;
  options.modules_dir = "/nonexistent/lib/modules/6.1.0-test";
  return make_linux_host(options);
}

}  // namespace kvmprov::host_test
