// SPDX-License-Identifier: MIT
// LinuxHost's device nodes of the running system: their owner and mode, udev's rules and events,
// and the KVM probe, as this process or as another user.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "linux/host_linux.h"
#include "linux/subprocess.h"
#include "linux/udev.h"
#include "linux/user_access.h"
#include "util/text.h"
#include "util/unique_fd.h"

namespace kvmprov {
namespace {

// How long apply waits for udevd to finish one change event.
constexpr std::chrono::milliseconds kUdevEventTimeout{10000};

}  // namespace

Result<KvmProbe> LinuxHost::kvm_probe(const UserAccess* who) {
  const std::string device = kernel_path("/dev/kvm").value_or("/dev/kvm");
  if (!who) return probe_kvm_device(device);
  if (geteuid() != 0)
    return Error{EPERM, "cannot probe \"/dev/kvm\" as \"" + who->user + "\": not running as root"};
  return probe_as(*who, device);
}

Result<FileInfo> LinuxHost::device_node(const std::string& node) {
  const std::optional<std::string> full = kernel_path("/dev/" + node);
  if (!full) return Error{EINVAL, "invalid device node " + quote_path(node)};
  return stat_on_disk(*full, false);
}

Result<void> LinuxHost::set_device_node(const std::string& node, uid_t uid, gid_t gid,
                                        unsigned mode) {
  const std::optional<std::string> full = kernel_path("/dev/" + node);
  if (!full) return Error{EINVAL, "invalid device node " + quote_path(node)};
  // O_PATH: opening a device for real would run its driver's open.
  UniqueFd fd(open(full->c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return errno_error("cannot set permissions of " + quote_path(*full));
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return errno_error("cannot stat " + quote_path(*full));
  if (!S_ISCHR(st.st_mode))
    return Error{EINVAL, "refusing to change " + quote_path(*full) + ": not a character device"};
  if (fchownat(fd.get(), "", uid, gid, AT_EMPTY_PATH) != 0)
    return errno_error("cannot change the owner of " + quote_path(*full));
  const std::string via = "/proc/self/fd/" + std::to_string(fd.get());
  if (::chmod(via.c_str(), static_cast<mode_t>(mode)) != 0)
    return errno_error("cannot change the mode of " + quote_path(*full));
  return {};
}

Result<void> LinuxHost::reload_udev_rules() {
  std::string udevadm = find_program({"/usr/bin/udevadm", "/bin/udevadm", "/sbin/udevadm"});
  if (udevadm.empty()) return Error{ENOENT, "cannot reload udev rules: udevadm not found"};
  if (auto r = run_program({udevadm, "control", "--reload"}); !r)
    return Error{r.error().code, "cannot reload udev rules: " + r.error().message};
  return {};
}

Result<void> LinuxHost::udev_change(const std::string& subsystem, const std::string& sysname) {
  return udev_change_and_wait(subsystem, sysname, kUdevEventTimeout);
}

Result<int> LinuxHost::open_device_as(const std::string& node, uid_t uid, gid_t gid,
                                      const std::vector<gid_t>& groups) {
  const std::optional<std::string> full = kernel_path("/dev/" + node);
  if (!full) return Error{EINVAL, "invalid device node " + quote_path(node)};
  if (geteuid() != 0) return Error{EPERM, "not running as root: cannot open as another user"};
  UserAccess who;
  who.user = "uid " + std::to_string(uid);
  who.uid = uid;
  who.gid = gid;
  who.groups = groups;
  return open_as(who, *full);
}

}  // namespace kvmprov
