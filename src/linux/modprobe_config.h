// SPDX-License-Identifier: MIT
// modprobe.d as libkmod reads it, for the one thing kvmprov asks of it: which file blacklists a
// module (libkmod says that a module is blacklisted, not where).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kvmprov {

// libkmod's default modprobe.d directories below ROOT ("/" or an image), in its order: kmod 30's,
// and /usr/lib/modprobe.d that later versions read too.
std::vector<std::string> default_config_dirs(const std::string& root);

// The modprobe.d files of PATHS in libkmod's order: every "*.conf" of each directory (a named
// regular file is taken as is), sorted by file name, a name in an earlier directory hiding the
// same name later.
std::vector<std::string> config_files(const std::vector<std::string>& paths);

// Whether TEXT, in modprobe.d syntax, has a "blacklist NAME" line.
bool blacklists(std::string_view text, const std::string& name);

// The first of the modprobe.d files of PATHS with "blacklist NAME"; "" when none has one.
std::string blacklisting_file(const std::vector<std::string>& paths, const std::string& name);

}  // namespace kvmprov
