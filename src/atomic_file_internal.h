// SPDX-License-Identifier: MIT
// What atomic_file.cc and atomic_file_walk.cc share: the two forms of their messages and the one
// rule for a directory that is safe to write into.
#pragma once

#include <sys/stat.h>

#include <string>
#include <string_view>

#include "util/result.h"

namespace kvmprov::atomic_file_detail {

// `cannot VERB "SHOWN": [DETAIL: ]strerror(ERR)`
Error cannot(std::string_view verb, const std::string& shown, int err,
             const std::string& detail = {});

// `refusing to VERB "SHOWN": REASON`
Error refusing(std::string_view verb, const std::string& shown, int err, const std::string& reason);

// Why a directory is unsafe to write into, "" when only root (or the running user) can modify it.
std::string unsafe_directory_reason(const struct stat& st);

}  // namespace kvmprov::atomic_file_detail

namespace kvmprov {

class WalkCache;

// open_parent_dir's walk with Walk::probe (CHECK_SAFETY) or Walk::existing, through CACHE: the
// directories on the way are opened once and kept there; the descriptor returned is CACHE's.
Result<int> walk_parent_dir_cached(const std::string& root, const std::string& path,
                                   bool check_safety, std::string_view verb, std::string* leaf,
                                   WalkCache& cache);

}  // namespace kvmprov
