// SPDX-License-Identifier: MIT
// Helpers the LinuxHost tests share (host_linux_test.cc, host_linux_kernel_test.cc): a temporary
// root, whole-file writes with a mode and reads, hosts on a root or on a kmod fixture tree, and a
// forked child for what a test must not do to its own process.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
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

// The exit status of BODY run in a forked child, BODY's return value: for what a test must not do
// to its own process (a mount namespace, a lower descriptor limit). BODY uses no doctest
// assertion; kCannotRunHere (77, automake's "skipped") says the child could not set itself up.
constexpr int kCannotRunHere = 77;
template <class Body>
int exit_status_of_child(Body body) {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) _exit(body());
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

// Gives this process a mount namespace of its own whose mounts do not propagate back: false
// where that is not permitted (no CAP_SYS_ADMIN, a seccomp filter).
inline bool private_mount_namespace() {
  return unshare(CLONE_NEWNS) == 0 &&
         mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
}

}  // namespace kvmprov::host_test
