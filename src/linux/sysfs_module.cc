// SPDX-License-Identifier: MIT
// /sys/module/<name> read through one reader and parsed without further I/O.
#include "linux/sysfs_module.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "atomic_file.h"
#include "util/dir_names.h"
#include "util/read_all.h"
#include "util/unique_fd.h"

namespace kvmprov {
namespace {

// A sysfs attribute is at most a page; 64 KiB covers every page size Linux has.
constexpr std::size_t kMaxAttribute = 64 * 1024;

}  // namespace

std::optional<std::string> read_small_file(const std::string& path, std::size_t limit) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd.valid()) return std::nullopt;
  // No fstat: a directory's read fails with EISDIR, and /proc and /sys give no size to read by.
  auto text = read_all(fd.get(), limit);
  if (!text) return std::nullopt;
  return std::move(*text);
}

std::optional<std::vector<std::string>> sorted_entries(const std::string& dir) {
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return std::nullopt;
  auto names = dir_names(fd.get());
  if (!names) return std::nullopt;
  std::sort(names->begin(), names->end());
  return std::move(*names);
}

std::string sysfs_value(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  return std::string(text);
}

ModuleState parse_initstate(std::string_view text) {
  const std::string state = sysfs_value(text);
  if (state == "live") return ModuleState::live;
  if (state == "coming") return ModuleState::coming;
  if (state == "going") return ModuleState::going;
  return ModuleState::absent;
}

SysModule::SysModule(const std::string& root, const std::string& name)
    : dir_(path_on_disk(root, "/sys/module/" + name)) {}

bool SysModule::present() const {
  struct stat st {};
  return stat(dir_.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::map<std::string, std::string> SysModule::parameters(const std::set<std::string>* only) const {
  std::map<std::string, std::string> params;
  const auto read = [&](const std::string& name) {
    if (auto value = read_small_file(dir_ + "/parameters/" + name, kMaxAttribute))
      params[name] = sysfs_value(*value);
  };
  if (only) {
    // A name the module lacks reads as nothing, as it would be missing from the listing.
    for (const std::string& name : *only) read(name);
    return params;
  }
  for (const std::string& name :
       sorted_entries(dir_ + "/parameters").value_or(std::vector<std::string>{}))
    read(name);
  return params;
}

std::optional<ModuleState> SysModule::initstate() const {
  const auto text = read_small_file(dir_ + "/initstate", kMaxAttribute);
  if (!text) return std::nullopt;
  return parse_initstate(*text);
}

int SysModule::refcount() const {
  const auto text = read_small_file(dir_ + "/refcnt", kMaxAttribute);
  return text ? std::atoi(text->c_str()) : 0;
}

std::vector<std::string> SysModule::holders() const {
  return sorted_entries(dir_ + "/holders").value_or(std::vector<std::string>{});
}

}  // namespace kvmprov
