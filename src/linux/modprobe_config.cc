// SPDX-License-Identifier: MIT
// modprobe.d files listed in libkmod's order and searched for blacklist lines.
#include "linux/modprobe_config.h"

#include <sys/stat.h>

#include <map>
#include <optional>

#include "atomic_file.h"
#include "linux/sysfs_module.h"
#include "profile.h"
#include "util/text.h"

namespace kvmprov {
namespace {

// On a merged-/usr system /usr/lib/modprobe.d is /lib/modprobe.d again, and a file name is only
// taken once.
constexpr std::string_view kDefaultConfigDirs[] = {"/etc/modprobe.d", "/run/modprobe.d",
                                                   "/usr/local/lib/modprobe.d",
                                                   "/usr/lib/modprobe.d", "/lib/modprobe.d"};
// modprobe.d files are small; a larger one is not read.
constexpr size_t kMaxConfigFile = 64 * 1024;

bool is_regular(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<std::string> split_words(std::string_view line) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.emplace_back(line.substr(start, i - start));
  }
  return words;
}

}  // namespace

std::vector<std::string> default_config_dirs(const std::string& root) {
  std::vector<std::string> dirs;
  for (std::string_view d : kDefaultConfigDirs) dirs.push_back(path_on_disk(root, std::string(d)));
  return dirs;
}

std::vector<std::string> config_files(const std::vector<std::string>& paths) {
  std::map<std::string, std::string> by_name;
  std::vector<std::string> plain_files;
  for (const std::string& path : paths) {
    if (is_regular(path)) {
      plain_files.push_back(path);
      continue;
    }
    for (const std::string& name : sorted_entries(path).value_or(std::vector<std::string>{})) {
      if (name.front() == '.' || name.size() <= 5 || !name.ends_with(".conf")) continue;
      std::string file = path + "/" + name;
      if (!is_regular(file)) continue;
      by_name.emplace(name, file);
    }
  }
  std::vector<std::string> files = plain_files;
  for (auto& [name, file] : by_name) files.push_back(file);
  return files;
}

bool blacklists(std::string_view text, const std::string& name) {
  for (std::string_view line : lines(text)) {
    if (size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    std::vector<std::string> words = split_words(line);
    if (words.size() >= 2 && words[0] == "blacklist" && normalise_module_name(words[1]) == name)
      return true;
  }
  return false;
}

std::string blacklisting_file(const std::vector<std::string>& paths, const std::string& name) {
  for (const std::string& file : config_files(paths)) {
    std::optional<std::string> text = read_small_file(file, kMaxConfigFile);
    if (text && blacklists(*text, name)) return file;
  }
  return "";
}

}  // namespace kvmprov
