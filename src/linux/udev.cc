// SPDX-License-Identifier: MIT
// The only file that includes libudev: RAII handles, a change event and the wait for udevd.
#include "linux/udev.h"

#include <libudev.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "linux/dynlib.h"

namespace kvmprov {

namespace {

// libudev's functions. libudev is opened on first use rather than linked: only apply on a live
// host with udevd running needs it, and every other run is spared the dynamic loader's work.
// clang-format off
#define KVMPROV_LIBUDEV(X)                                                                         \
  X(udev_device_get_action) X(udev_device_get_syspath) X(udev_device_new_from_subsystem_sysname)   \
  X(udev_device_set_sysattr_value) X(udev_device_unref) X(udev_monitor_enable_receiving)           \
  X(udev_monitor_filter_add_match_subsystem_devtype) X(udev_monitor_get_fd)                        \
  X(udev_monitor_new_from_netlink) X(udev_monitor_receive_device) X(udev_monitor_unref)            \
  X(udev_new) X(udev_unref)
// clang-format on

KVMPROV_DYNLIB_TABLE(Libudev, KVMPROV_LIBUDEV);

// Filled by the first udev_change_and_wait, before any handle exists.
Libudev g_libudev;

using UdevPtr = std::unique_ptr<udev, Release<&g_libudev, &Libudev::udev_unref>>;
using DevicePtr = std::unique_ptr<udev_device, Release<&g_libudev, &Libudev::udev_device_unref>>;
using MonitorPtr = std::unique_ptr<udev_monitor, Release<&g_libudev, &Libudev::udev_monitor_unref>>;

}  // namespace

Result<void> udev_change_and_wait(const std::string& subsystem, const std::string& sysname,
                                  std::chrono::milliseconds timeout) {
  const std::string what = "\"" + subsystem + "/" + sysname + "\"";
  if (auto loaded = load_table(g_libudev, "libudev.so.1", "libudev1 or systemd-libs"); !loaded)
    return loaded.error();
  UdevPtr ctx(g_libudev.udev_new());
  if (!ctx) return errno_error("cannot open libudev");
  // Listen before triggering, so the event cannot be missed.
  MonitorPtr monitor(g_libudev.udev_monitor_new_from_netlink(ctx.get(), "udev"));
  if (!monitor) return errno_error("cannot open a udev monitor");
  if (int r = g_libudev.udev_monitor_filter_add_match_subsystem_devtype(monitor.get(),
                                                                        subsystem.c_str(), nullptr);
      r < 0)
    return errno_error("cannot filter the udev monitor", -r);
  if (int r = g_libudev.udev_monitor_enable_receiving(monitor.get()); r < 0)
    return errno_error("cannot listen on the udev monitor", -r);

  DevicePtr device(g_libudev.udev_device_new_from_subsystem_sysname(ctx.get(), subsystem.c_str(),
                                                                    sysname.c_str()));
  if (!device) return errno_error("cannot find device " + what + " in /sys", ENODEV);
  const std::string syspath = g_libudev.udev_device_get_syspath(device.get());
  if (int r = g_libudev.udev_device_set_sysattr_value(device.get(), "uevent", "change"); r < 0)
    return errno_error("cannot send a change event to " + what, -r);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd pfd{.fd = g_libudev.udev_monitor_get_fd(monitor.get()), .events = POLLIN, .revents = 0};
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
    DevicePtr event(g_libudev.udev_monitor_receive_device(monitor.get()));
    if (!event) continue;
    const char* action = g_libudev.udev_device_get_action(event.get());
    const char* path = g_libudev.udev_device_get_syspath(event.get());
    if (action && path && std::strcmp(action, "change") == 0 && syspath == path) return {};
  }
}

}  // namespace kvmprov
