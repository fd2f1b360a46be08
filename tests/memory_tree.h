// SPDX-License-Identifier: MIT
// MemoryTree: an in-memory file tree that records every read, write, removal and sweep; FakeHost
// serves its target's and its kernel's files from two of them.
#pragma once

#include <cerrno>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "file_tree.h"

namespace kvmprov::test {

class MemoryTree : public TargetFiles {
 public:
  // Inputs.
  std::map<std::string, std::string> files;  // regular files by absolute path
  // What stat says of a path (a device node, a file's owner and mode), over what FILES imply:
  // a regular file 0644 owned by root, a directory above one.
  std::map<std::string, FileInfo> infos;
  // Directories and their entries beyond those FILES imply (the CPUs of /dev/cpu).
  std::map<std::string, std::vector<std::string>> dirs;
  std::map<std::string, int> read_errors;    // path -> errno a read fails with
  std::map<std::string, int> write_errors;   // path -> errno a write fails with
  std::map<std::string, int> remove_errors;  // path -> errno a removal fails with
  // Paths whose replacement or removal is refused, with the refusal (a symlink, a directory).
  std::map<std::string, std::string> refusals;

  // Records.
  std::vector<std::string> reads, writes, removals;
  std::vector<std::string> sweeps;  // paths beside which stale temporaries were removed

  Result<std::optional<std::string>> read(const std::string& path) override {
    reads.push_back(path);
    if (auto e = read_errors.find(path); e != read_errors.end())
      return errno_error("cannot read \"" + path + "\"", e->second);
    auto it = files.find(path);
    if (it == files.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }

  Result<FileInfo> stat(const std::string& path) override {
    if (auto it = infos.find(path); it != infos.end()) return it->second;
    FileInfo info;
    if (files.count(path)) {
      info.exists = info.regular = true;
      info.mode = 0644;
    } else if (dirs.count(path) || !implied_entries(path).empty()) {
      info.exists = info.directory = true;
      info.mode = 0755;
    }
    return info;
  }

  Result<std::vector<std::string>> list(const std::string& dir) override {
    std::set<std::string> names = implied_entries(dir);
    if (auto it = dirs.find(dir); it != dirs.end())
      names.insert(it->second.begin(), it->second.end());
    return std::vector<std::string>(names.begin(), names.end());
  }

  Result<bool> write(const std::string& path, std::string_view content,
                     const WriteOptions& options) override {
    if (auto e = write_errors.find(path); e != write_errors.end())
      return errno_error("cannot write \"" + path + "\"", e->second);
    if (auto r = can_write(path, options); !r) return r.error();
    auto it = files.find(path);
    if (options.expected &&
        *options.expected !=
            (it == files.end() ? std::nullopt : std::optional<std::string>(it->second)))
      return Error{ESTALE, "refusing to write \"" + path + "\": it changed since it was read"};
    if (it != files.end() && it->second == content) return false;
    files[path] = std::string(content);
    writes.push_back(path);
    return true;
  }

  Result<bool> remove(const std::string& path, const Expected& expected) override {
    if (auto e = remove_errors.find(path); e != remove_errors.end())
      return errno_error("cannot remove \"" + path + "\"", e->second);
    if (auto r = can_remove(path); !r) return r.error();
    auto it = files.find(path);
    if (it == files.end()) return false;
    if (expected && *expected != it->second)
      return Error{ESTALE, "refusing to remove \"" + path + "\": it changed since it was read"};
    files.erase(it);
    removals.push_back(path);
    return true;
  }

  Result<void> can_write(const std::string& path, const WriteOptions&) override {
    if (auto it = refusals.find(path); it != refusals.end()) return Error{EINVAL, it->second};
    return {};
  }
  Result<void> can_remove(const std::string& path) override { return can_write(path, {}); }
  void remove_stale_temporaries(const std::string& path) override { sweeps.push_back(path); }

 private:
  // The names directly below DIR of the files below it.
  std::set<std::string> implied_entries(const std::string& dir) const {
    std::set<std::string> names;
    const std::string prefix = dir.ends_with('/') ? dir : dir + "/";
    for (auto it = files.lower_bound(prefix); it != files.end() && it->first.starts_with(prefix);
         ++it) {
      const std::string rest = it->first.substr(prefix.size());
      names.insert(rest.substr(0, rest.find('/')));
    }
    return names;
  }
};

}  // namespace kvmprov::test
