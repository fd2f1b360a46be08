// SPDX-License-Identifier: MIT
// File access below a root directory that a planted symlink cannot redirect: atomic replacement,
// removal, and symlink-safe opening.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"
#include "util/unique_fd.h"

namespace kvmprov {

// The prefix of every temporary file replace_file creates (".kvmprov.XXXXXX").
inline constexpr std::string_view kTempPrefix = ".kvmprov.";

// PATH (absolute, as seen on the target system) as it lies on disk below ROOT: "/etc/modules"
// when ROOT is "/", "/srv/img/etc/modules" when ROOT is "/srv/img". Every message uses this form.
std::string path_on_disk(const std::string& root, const std::string& path);

// The components of PATH ("/etc/modules" gives {"etc", "modules"}), "." and empty ones dropped.
// Fails for a relative PATH or one with a ".." component; ROOT only names the path in the message.
Result<std::vector<std::string>> split_target_path(const std::string& root,
                                                   const std::string& path);
// Whether split_target_path would accept PATH, without making its components.
Result<void> check_target_path(const std::string& root, const std::string& path);

// How open_parent_dir walks to PATH's directory.
enum class Walk {
  existing,  // every directory must exist
  create,    // missing directories are made (0755); every directory must be safe (below)
  probe,     // as create, but nothing is made: a missing directory ends the walk with ENOENT
};

// Opens the directory that holds PATH below ROOT, one component at a time with O_NOFOLLOW, so a
// symlink inside ROOT cannot redirect the walk outside it. With Walk::create and Walk::probe,
// every directory below ROOT must be writable only by root (or the running user). VERB names the
// operation in messages ("write" gives `cannot write "..."` and `refusing to write "..."`). On
// success *LEAF holds PATH's last component.
Result<UniqueFd> open_parent_dir(const std::string& root, const std::string& path, Walk walk,
                                 std::string_view verb, std::string* leaf);

// The content a write or removal may replace: the bytes plan read (nullopt: the file was
// absent). Unset: whatever is there. apply passes what plan read, so that a file changed by
// someone else in between is never overwritten with a plan made from its old content.
using Expected = std::optional<std::optional<std::string>>;

// How replace_file treats the file it replaces.
struct WriteOptions {
  unsigned mode = 0644;     // of a new file, and of every file kvmprov owns
  bool keep_owner = false;  // a shared file (nova.conf, /etc/modules): keeps its owner, group, mode
  // Every directory on the way must be writable by root (or this user) alone, and missing ones
  // are made (Walk::create). Off only for a file that belongs to a service: Debian's
  // dbconfig-common makes /etc/nova nova:nova 0770, and nova.conf is nova's own anyway.
  bool safe_dirs = true;
  Expected expected;  // see Expected
};

// Why a write and a removal of one file would be refused; unset where it would not be.
struct Refusals {
  std::optional<Error> write, remove;
};

// Whether replace_file(ROOT, PATH, ..., OPTIONS) would refuse to write PATH, without writing
// anything: the same walk and the same checks of the file itself (a symlink, a directory, a FIFO
// or another non-regular file is refused). plan calls this so that it predicts every refusal.
Result<void> check_replaceable(const std::string& root, const std::string& path,
                               const WriteOptions& options);

// Whether remove_file_below(ROOT, PATH) would refuse to remove PATH (a directory, a FIFO, ...),
// without removing anything. A missing file or directory is fine: there is nothing to remove.
Result<void> check_removable(const std::string& root, const std::string& path);

// The directories check_refusals walked for one root, each kept open with its verdict: plan asks
// about every file kvmprov may write, and most of them share /etc, which is then walked once.
// Only what passed is kept (a refusal is found again on the next walk); writes never use it.
class WalkCache {
 public:
  // The descriptor of the walked directory KEY, or -1.
  int find(const std::string& key) const;
  // Keeps FD as KEY's and returns it.
  int keep(const std::string& key, UniqueFd fd);

 private:
  std::map<std::string, UniqueFd, std::less<>> dirs_;
};

// What check_replaceable(ROOT, PATH, OPTIONS) and check_removable(ROOT, PATH) say, with one walk
// and one look at the file where the write's walk succeeds (it is the stricter of the two). With
// CACHE (which must belong to ROOT), directories an earlier call walked are not walked again.
Refusals check_refusals(const std::string& root, const std::string& path,
                        const WriteOptions& options, WalkCache* cache = nullptr);

// Replaces PATH below ROOT with CONTENT, atomically: a temporary in the same directory is written
// (owned by the running user at OPTIONS.mode, or with the existing file's owner, group and mode
// when OPTIONS.keep_owner), synced and renamed over PATH, and the directory is synced. Returns
// false, touching nothing, when PATH already holds exactly CONTENT; fails, touching nothing, when
// PATH does not hold OPTIONS.expected. KVMPROV_FAULT_STEP=N in the environment makes the process
// SIGKILL itself at the Nth step of writing or removing (for the crash tests); without it nothing
// happens. Refuses a symlink at PATH or among its directories. Stale temporaries from a killed
// run are removed from the directory first.
Result<bool> replace_file(const std::string& root, const std::string& path,
                          std::string_view content, const WriteOptions& options);

// Removes the regular file or symlink PATH below ROOT (a symlink itself, never its target).
// Returns false when it did not exist; refuses directories and other file types, and a regular
// file that does not hold EXPECTED.
Result<bool> remove_file_below(const std::string& root, const std::string& path,
                               const Expected& expected = std::nullopt);

// With KVMPROV_FAULT_STOP=WHERE in the environment the process stops itself (SIGSTOP) here, so
// that a test can change the host between two steps of a run and then let it go on (SIGCONT);
// without it nothing happens.
void fault_stop(std::string_view where);

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
// The same below ROOT_FD, ROOT opened already (O_PATH | O_DIRECTORY), for a run of opens.
Result<UniqueFd> open_below_root(int root_fd, const std::string& root, const std::string& path,
                                 int flags);

}  // namespace kvmprov
