// SPDX-License-Identifier: MIT
// Helpers the tests share: a temporary directory removed with everything in it, and whole-file
// writes and reads that fail the test when they cannot be done.
#pragma once

#include <doctest/doctest.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace kvmprov::test {

// A directory below /tmp, removed with its contents when the object goes.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "kvmprov") {
    std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() { nftw(path_.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }
  // PATH below the directory: dir / "/etc/group".
  std::string operator/(const std::string& rel) const { return path_ + rel; }
  const std::string& path() const { return path_; }

 private:
  static int remove_entry(const char* path, const struct stat*, int, FTW*) {
    return ::remove(path);
  }
  std::string path_;
};

// Writes CONTENT to PATH, creating its parent directories.
inline void put(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
  out.close();
  REQUIRE_MESSAGE(out.good(), "cannot write " << path);
}

// PATH's whole content ("" when it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace kvmprov::test
