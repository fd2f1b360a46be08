// SPDX-License-Identifier: MIT
// The only file that includes libudev: RAII handles, a change event and the wait for udevd.
#include "udev.h"

#include <libudev.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace kvmprov {

namespace {

struct UdevUnref {
  void operator()(udev* u) const { udev_unref(u); }
};
struct DeviceUnref {
  void operator()(udev_device* d) const { udev_device_unref(d); }
};
struct MonitorUnref {
  void operator()(udev_monitor* m) const { udev_monitor_unref(m); }
};
using UdevPtr = std::unique_ptr<udev, UdevUnref>;
using DevicePtr = std::unique_ptr<udev_device, DeviceUnref>;
using MonitorPtr = std::unique_ptr<udev_monitor, MonitorUnref>;

}  // namespace

Result<void> udev_change_and_wait(const std::string& subsystem, const std::string& sysname,
                                  std::chrono::milliseconds timeout) {
  const std::string what = "\"" + subsystem + "/" + sysname + "\"";
  UdevPtr ctx(udev_new());
  if (!ctx) return errno_error("cannot open libudev");
  // Listen before triggering, so the event cannot be missed.
  MonitorPtr monitor(udev_monitor_new_from_netlink(ctx.get(), "udev"));
  if (!monitor) return errno_error("cannot open a udev monitor");
  if (int r = udev_monitor_filter_add_match_subsystem_devtype(monitor.get(), subsystem.c_str(),
                                                              nullptr);
      r < 0)
    return errno_error("cannot filter the udev monitor", -r);
  if (int r = udev_monitor_enable_receiving(monitor.get()); r < 0)
    return errno_error("cannot listen on the udev monitor", -r);

  DevicePtr device(
      udev_device_new_from_subsystem_sysname(ctx.get(), subsystem.c_str(), sysname.c_str()));
  if (!device) return errno_error("cannot find device " + what + " in /sys", ENODEV);
  const std::string syspath = udev_device_get_syspath(device.get());
  if (int r = udev_device_set_sysattr_value(device.get(), "uevent", "change"); r < 0)
    return errno_error("cannot send a change event to " + what, -r);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd pfd{.fd = udev_monitor_get_fd(monitor.get()), .events = POLLIN, .revents = 0};
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return Error{ETIMEDOUT, "udevd did not finish the change event of " + what + " within " +
                                  std::to_string(timeout.count()) + " ms"};
    int n = poll(&pfd, 1, static_cast<int>(left.count()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno_error("cannot wait for udevd");
    }
    if (n == 0) continue;
    DevicePtr event(udev_monitor_receive_device(monitor.get()));
    if (!event) continue;
    const char* action = udev_device_get_action(event.get());
    const char* path = udev_device_get_syspath(event.get());
    if (action && path && std::strcmp(action, "change") == 0 && syspath == path) return {};
  }
}

}  // namespace kvmprov
