// SPDX-License-Identifier: MIT
// /sys/module/<name>, the kernel's own account of one module (state, parameters, users), read and
// parsed one way for libkmod's wrapper and for LinuxHost when libkmod cannot be asked; and the one
// reader of the small files below a kernel root that both use.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "facts.h"

namespace kvmprov {

// The whole of the file at PATH (on disk); nullopt when it cannot be opened or read, is a
// directory, or holds more than LIMIT bytes. Never waits for a writer (a FIFO planted at PATH).
std::optional<std::string> read_small_file(const std::string& path, std::size_t limit);
// The entry names of the directory DIR (on disk), sorted; nullopt when it cannot be opened.
std::optional<std::vector<std::string>> sorted_entries(const std::string& dir);

// A sysfs attribute's value: its text without the line end the kernel puts after it.
std::string sysfs_value(std::string_view text);
// What an initstate file says: live, coming or going; absent for anything else.
ModuleState parse_initstate(std::string_view text);

// /sys/module/NAME below ROOT ("/" on the running system, a fixture tree in tests).
class SysModule {
 public:
  SysModule(const std::string& root, const std::string& name);

  // The directory on disk.
  const std::string& dir() const { return dir_; }
  // Whether the directory exists: a module the kernel knows, loaded or built in.
  bool present() const;
  // The values of the parameters that can be read (write-only ones are left out): those ONLY
  // names, or every one when it is null.
  std::map<std::string, std::string> parameters(const std::set<std::string>* only = nullptr) const;
  // The state initstate gives; nullopt without an initstate file (a built-in module's entry).
  std::optional<ModuleState> initstate() const;
  // refcnt, 0 when it cannot be read.
  int refcount() const;
  // The modules that use this one, sorted.
  std::vector<std::string> holders() const;

 private:
  std::string dir_;
};

}  // namespace kvmprov
