// SPDX-License-Identifier: MIT
// The run lock: an flock on a directory, /run/kvmprov on the running system or the image's root.
#include "linux/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <thread>

#include "util/read_all.h"
#include "util/text.h"
#include "util/unique_fd.h"

namespace kvmprov {
namespace {

// Long enough not to spin, short enough that a waiter starts soon after the holder ends.
constexpr std::chrono::milliseconds kPollInterval{100};
// /proc/locks has a line of about 60 bytes per lock held on the machine.
constexpr size_t kMaxLocks = size_t{64} << 20;

class RunLock final : public Lock {
 public:
  explicit RunLock(UniqueFd fd) : fd_(std::move(fd)) {}

 private:
  UniqueFd fd_;  // closing it releases the flock
};

std::string describe_wait(std::chrono::milliseconds waited) {
  const auto ms = waited.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

// "PID N" for the holder of FD's flock, "PID unknown" when /proc/locks does not say.
std::string holder_of(int fd) {
  struct stat st {};
  pid_t pid = 0;
  if (fstat(fd, &st) == 0) {
    UniqueFd locks(open("/proc/locks", O_RDONLY | O_CLOEXEC));
    auto text = locks.valid() ? read_all(locks.get(), kMaxLocks) : Error{};
    pid = flock_holder(text ? *text : "", st.st_dev, st.st_ino);
  }
  return pid > 0 ? "PID " + std::to_string(pid) : std::string("PID unknown");
}

// Why the live lock directory is not safe to lock, "" when it is.
std::string unsafe_lock_dir(const struct stat& st) {
  if (!S_ISDIR(st.st_mode)) return "it is not a directory";
  if (st.st_uid != 0 && st.st_uid != geteuid())
    return "it is owned by uid " + std::to_string(st.st_uid);
  if ((st.st_mode & 0022) != 0) return "it is writable by other users";
  return "";
}

}  // namespace

pid_t flock_holder(std::string_view locks, dev_t dev, ino_t ino) {
  // "1: FLOCK  ADVISORY  WRITE 1234 fe:00:10952790 0 EOF"; a waiter's line starts "1: -> FLOCK".
  for (const std::string_view text : lines(locks)) {
    const std::string line(text);
    char kind[16] = {}, type[16] = {}, access[16] = {};
    long pid = 0;
    unsigned major_no = 0, minor_no = 0;
    uintmax_t inode = 0;
    if (std::sscanf(line.c_str(), "%*d: %15s %15s %15s %ld %x:%x:%ju", kind, type, access, &pid,
                    &major_no, &minor_no, &inode) != 7)
      continue;
    if (std::string_view(kind) == "FLOCK" && major_no == major(dev) && minor_no == minor(dev) &&
        inode == ino && pid > 0)
      return static_cast<pid_t>(pid);
  }
  return 0;
}

Result<std::unique_ptr<Lock>> take_run_lock(
    const std::string& dir, bool create, std::chrono::milliseconds timeout,
    const std::function<void(const std::string&)>& on_wait) {
  const std::string shown = "\"" + dir + "\"";
  if (create && mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
    return errno_error("cannot create the lock directory " + shown);
  UniqueFd fd(open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    if (create && (err == ELOOP || err == ENOTDIR))
      return Error{err, "refusing to lock " + shown + ": it is not a directory (remove it)"};
    return errno_error("cannot lock " + shown, err);
  }
  if (create) {
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) return errno_error("cannot lock " + shown);
    if (const std::string why = unsafe_lock_dir(st); !why.empty())
      return Error{EPERM, "refusing to lock " + shown + ": " + why + " (remove it)"};
  }

  // Saturating: a huge timeout waits (practically) for ever rather than wrapping around.
  const auto start = std::chrono::steady_clock::now();
  const auto max_wait = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::time_point::max() - start);
  const auto deadline =
      timeout >= max_wait ? std::chrono::steady_clock::time_point::max() : start + timeout;
  bool said = false;
  while (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (const int err = errno; err == EINTR) {
      continue;
    } else if (err != EWOULDBLOCK) {
      return errno_error("cannot lock " + shown, err);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      std::string message =
          "another kvmprov run holds the lock on " + shown + " (" + holder_of(fd.get()) + ")";
      if (timeout.count() > 0) message += "; waited " + describe_wait(timeout);
      return Error{EWOULDBLOCK, message};
    }
    if (!said && on_wait) {
      said = true;
      on_wait("another kvmprov run holds the lock on " + shown + " (" + holder_of(fd.get()) +
              "); waiting up to " + describe_wait(timeout));
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    std::this_thread::sleep_for(std::min(left, kPollInterval));
  }
  return std::unique_ptr<Lock>(std::make_unique<RunLock>(std::move(fd)));
}

}  // namespace kvmprov
