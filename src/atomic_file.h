// SPDX-License-Identifier: MIT
// File access below a root directory that a planted symlink cannot redirect: atomic replacement,
// removal, and symlink-safe opening.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "result.h"
#include "unique_fd.h"

namespace kvmprov {

// The prefix of every temporary file write_file_atomic creates (".kvmprov.XXXXXX").
inline constexpr std::string_view kTempPrefix = ".kvmprov.";

// PATH (absolute, as seen on the target system) as it lies on disk below ROOT: "/etc/modules"
// when ROOT is "/", "/srv/img/etc/modules" when ROOT is "/srv/img". Every message uses this form.
std::string path_on_disk(const std::string& root, const std::string& path);

// The components of PATH ("/etc/modules" gives {"etc", "modules"}), "." and empty ones dropped.
// Fails for a relative PATH or one with a ".." component; ROOT only names the path in the message.
Result<std::vector<std::string>> split_target_path(const std::string& root,
                                                   const std::string& path);

// Opens the directory that holds PATH below ROOT, one component at a time with O_NOFOLLOW, so a
// symlink inside ROOT cannot redirect the walk outside it. With CREATE, missing directories are
// made with mode 0755 and every directory below ROOT must be writable only by root (or the
// running user). VERB names the operation in messages ("write" gives `cannot write "..."` and
// `refusing to write "..."`). On success *LEAF holds PATH's last component.
Result<UniqueFd> open_parent_dir(const std::string& root, const std::string& path, bool create,
                                 std::string_view verb, std::string* leaf);

// Replaces PATH below ROOT with CONTENT at MODE (owned by the running user), atomically: a
// temporary in the same directory is written, synced and renamed over PATH, and the directory is
// synced. Returns false, touching nothing, when PATH already holds exactly CONTENT.
// KVMPROV_FAULT_STEP=N in the environment makes the process SIGKILL itself at the Nth step of
// writing or removing (for the crash tests); without it nothing happens. Refuses a
// symlink at PATH or among its directories. Stale temporaries from a killed run are removed
// from the directory first.
Result<bool> write_file_atomic(const std::string& root, const std::string& path,
                               std::string_view content, unsigned mode);

// Like write_file_atomic, for a file that must exist already: the replacement gets the existing
// file's owner, group and mode (MODE is not used). Fails with ENOENT when PATH does not exist.
Result<bool> update_file_atomic(const std::string& root, const std::string& path,
                                std::string_view content);

// Removes the regular file or symlink PATH below ROOT (a symlink itself, never its target).
// Returns false when it did not exist; refuses directories and other file types.
Result<bool> remove_file_below(const std::string& root, const std::string& path);

// Removes the temporaries (kTempPrefix) a killed run left in DIR_FD. One still held open by a
// running writer is kept: writers hold an flock on their temporary until it is renamed.
void remove_stale_temporaries(int dir_fd);

// Removes the temporaries a killed run left beside PATH below ROOT, whether or not this run
// writes PATH: the run that wrote them may have been aiming at content this one does not want.
// Does nothing where the directory is missing, a symlink, or writable by others.
void remove_stale_temporaries_beside(const std::string& root, const std::string& path);

// Opens PATH below ROOT with FLAGS (O_CLOEXEC is added), resolving symlinks as if ROOT were "/"
// so none can lead outside it. Error.code is the errno (ENOENT when absent).
Result<UniqueFd> open_below_root(const std::string& root, const std::string& path, int flags);

}  // namespace kvmprov
