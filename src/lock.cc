// SPDX-License-Identifier: MIT
// The run lock: an flock on <root>/run/lock/kvmprov.lock holding the PID of its owner.
#include "lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "atomic_file.h"

namespace kvmprov {
namespace {

// Long enough not to spin, short enough that a waiter starts soon after the holder ends.
constexpr std::chrono::milliseconds kPollInterval{100};

class RunLock final : public Lock {
 public:
  explicit RunLock(UniqueFd fd) : fd_(std::move(fd)) {}
  ~RunLock() override {
    // Clear the PID so no one names a finished run; closing fd_ then releases the flock.
    if (ftruncate(fd_.get(), 0) != 0) {
      // Nothing useful to do: the stale PID is only used in a message.
    }
  }

 private:
  UniqueFd fd_;
};

// The PID the holder wrote, "" when unreadable or not a number.
std::string holder_pid(int fd) {
  char buf[32] = {};
  const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return {};
  std::string pid(buf, static_cast<size_t>(n));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) return {};
  return pid;
}

std::string describe_wait(std::chrono::milliseconds waited) {
  const auto ms = waited.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + " s";
  return std::to_string(ms) + " ms";
}

}  // namespace

Result<std::unique_ptr<Lock>> take_run_lock(const std::string& root,
                                            std::chrono::milliseconds timeout) {
  const std::string path(kLockPath);
  const std::string shown = path_on_disk(root, path);
  std::string leaf;
  auto dir = open_parent_dir(root, path, true, "lock", &leaf);
  if (!dir) return dir.error();

  UniqueFd fd(
      openat(dir->get(), leaf.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644));
  struct stat st {};
  if (!fd.valid() || fstat(fd.get(), &st) != 0) {
    const int err = errno;
    if (err == ELOOP) {
      return Error{ELOOP, "refusing to lock \"" + shown + "\": it is a symbolic link"};
    }
    return errno_error("cannot lock \"" + shown + "\"", err);
  }
  if (!S_ISREG(st.st_mode)) {
    return Error{EINVAL, "refusing to lock \"" + shown + "\": it is not a regular file"};
  }
  // /run/lock is writable by everyone: a file planted there by another user is not ours.
  if (st.st_uid != 0 && st.st_uid != geteuid()) {
    return Error{EPERM, "refusing to lock \"" + shown + "\": it is owned by uid " +
                            std::to_string(st.st_uid)};
  }
  if ((st.st_mode & 07777) != 0644 && fchmod(fd.get(), 0644) != 0) {
    const int err = errno;
    return errno_error("cannot lock \"" + shown + "\"", err);
  }

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (const int err = errno; err == EINTR) {
      continue;
    } else if (err != EWOULDBLOCK) {
      return errno_error("cannot lock \"" + shown + "\"", err);
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      const std::string pid = holder_pid(fd.get());
      std::string message = "another kvmprov run holds \"" + shown + "\" (PID " +
                            (pid.empty() ? std::string("unknown") : pid) + ")";
      if (timeout.count() > 0) message += "; waited " + describe_wait(timeout);
      return Error{EWOULDBLOCK, message};
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    std::this_thread::sleep_for(std::min(left, kPollInterval));
  }

  const std::string pid = std::to_string(getpid()) + "\n";
  if (ftruncate(fd.get(), 0) != 0 || pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
    const int err = errno;
    return errno_error("cannot write the PID into \"" + shown + "\"", err);
  }
  return std::unique_ptr<Lock>(std::make_unique<RunLock>(std::move(fd)));
}

}  // namespace kvmprov
