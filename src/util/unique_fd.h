// SPDX-License-Identifier: MIT
// UniqueFd and UniqueDir: own one file descriptor or one directory stream and close it on
// destruction.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <vector>

namespace kvmprov {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

class UniqueDir {
 public:
  UniqueDir() = default;
  explicit UniqueDir(DIR* dir) : dir_(dir) {}
  // Takes FD over when a stream can be opened on it: fdopendir owns the descriptor from then on.
  // FD is left as it was (and still owns its descriptor) when not.
  static UniqueDir adopt(UniqueFd& fd) {
    UniqueDir dir(fdopendir(fd.get()));
    if (dir.valid()) fd.release();
    return dir;
  }
  UniqueDir(UniqueDir&& other) noexcept : dir_(other.dir_) { other.dir_ = nullptr; }
  UniqueDir& operator=(UniqueDir&& other) noexcept {
    if (this != &other) {
      reset();
      dir_ = other.dir_;
      other.dir_ = nullptr;
    }
    return *this;
  }
  UniqueDir(const UniqueDir&) = delete;
  UniqueDir& operator=(const UniqueDir&) = delete;
  ~UniqueDir() { reset(); }

  DIR* get() const { return dir_; }
  bool valid() const { return dir_ != nullptr; }
  void reset() {
    if (dir_ != nullptr) ::closedir(dir_);
    dir_ = nullptr;
  }
  // The names of the entries not yet read, "." and ".." left out, in the order readdir gives.
  std::vector<std::string> names() {
    std::vector<std::string> out;
    if (dir_ == nullptr) return out;
    while (const dirent* e = ::readdir(dir_)) {
      const std::string_view name = e->d_name;
      if (name != "." && name != "..") out.emplace_back(name);
    }
    return out;
  }

 private:
  DIR* dir_ = nullptr;
};

}  // namespace kvmprov
