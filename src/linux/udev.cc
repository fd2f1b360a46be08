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
struct Libudev {
  decltype(&::udev_device_get_action) udev_device_get_action = nullptr;
  decltype(&::udev_device_get_syspath) udev_device_get_syspath = nullptr;
  decltype(&::udev_device_new_from_subsystem_sysname) udev_device_new_from_subsystem_sysname =
      nullptr;
  decltype(&::udev_device_set_sysattr_value) udev_device_set_sysattr_value = nullptr;
  decltype(&::udev_device_unref) udev_device_unref = nullptr;
  decltype(&::udev_monitor_enable_receiving) udev_monitor_enable_receiving = nullptr;
  decltype(&::udev_monitor_filter_add_match_subsystem_devtype)
      udev_monitor_filter_add_match_subsystem_devtype = nullptr;
  decltype(&::udev_monitor_get_fd) udev_monitor_get_fd = nullptr;
  decltype(&::udev_monitor_new_from_netlink) udev_monitor_new_from_netlink = nullptr;
  decltype(&::udev_monitor_receive_device) udev_monitor_receive_device = nullptr;
  decltype(&::udev_monitor_unref) udev_monitor_unref = nullptr;
  decltype(&::udev_new) udev_new = nullptr;
  decltype(&::udev_unref) udev_unref = nullptr;
};

Libudev g_libudev;

// Resolves every function once; later calls return the first outcome.
Result<void> load_libudev() {
  static const Result<void> loaded = []() -> Result<void> {
    auto library = DynamicLibrary::open("libudev.so.1", "libudev1 or systemd-libs");
    if (!library) return library.error();
    Libudev api;
    for (Result<void> r :
         {library->bind("udev_device_get_action", api.udev_device_get_action),
          library->bind("udev_device_get_syspath", api.udev_device_get_syspath),
          library->bind("udev_device_new_from_subsystem_sysname",
                        api.udev_device_new_from_subsystem_sysname),
          library->bind("udev_device_set_sysattr_value", api.udev_device_set_sysattr_value),
          library->bind("udev_device_unref", api.udev_device_unref),
          library->bind("udev_monitor_enable_receiving", api.udev_monitor_enable_receiving),
          library->bind("udev_monitor_filter_add_match_subsystem_devtype",
                        api.udev_monitor_filter_add_match_subsystem_devtype),
          library->bind("udev_monitor_get_fd", api.udev_monitor_get_fd),
          library->bind("udev_monitor_new_from_netlink", api.udev_monitor_new_from_netlink),
          library->bind("udev_monitor_receive_device", api.udev_monitor_receive_device),
          library->bind("udev_monitor_unref", api.udev_monitor_unref),
          library->bind("udev_new", api.udev_new), library->bind("udev_unref", api.udev_unref)}) {
      if (!r) return r;
    }
    g_libudev = api;
    return {};
  }();
  return loaded;
}

// Valid once load_libudev() succeeded, which udev_change_and_wait ensures before any handle.
const Libudev& lib() {
  return g_libudev;
}

struct UdevUnref {
  void operator()(udev* u) const { lib().udev_unref(u); }
};
struct DeviceUnref {
  void operator()(udev_device* d) const { lib().udev_device_unref(d); }
};
struct MonitorUnref {
  void operator()(udev_monitor* m) const { lib().udev_monitor_unref(m); }
};
using UdevPtr = std::unique_ptr<udev, UdevUnref>;
using DevicePtr = std::unique_ptr<udev_device, DeviceUnref>;
using MonitorPtr = std::unique_ptr<udev_monitor, MonitorUnref>;

}  // namespace

Result<void> udev_change_and_wait(const std::string& subsystem, const std::string& sysname,
                                  std::chrono::milliseconds timeout) {
  const std::string what = "\"" + subsystem + "/" + sysname + "\"";
  if (Result<void> loaded = load_libudev(); !loaded) return loaded.error();
  UdevPtr ctx(lib().udev_new());
  if (!ctx) return errno_error("cannot open libudev");
  // Listen before triggering, so the event cannot be missed.
  MonitorPtr monitor(lib().udev_monitor_new_from_netlink(ctx.get(), "udev"));
  if (!monitor) return errno_error("cannot open a udev monitor");
  if (int r = lib().udev_monitor_filter_add_match_subsystem_devtype(monitor.get(),
                                                                    subsystem.c_str(), nullptr);
      r < 0)
    return errno_error("cannot filter the udev monitor", -r);
  if (int r = lib().udev_monitor_enable_receiving(monitor.get()); r < 0)
    return errno_error("cannot listen on the udev monitor", -r);

  DevicePtr device(
      lib().udev_device_new_from_subsystem_sysname(ctx.get(), subsystem.c_str(), sysname.c_str()));
  if (!device) return errno_error("cannot find device " + what + " in /sys", ENODEV);
  const std::string syspath = lib().udev_device_get_syspath(device.get());
  if (int r = lib().udev_device_set_sysattr_value(device.get(), "uevent", "change"); r < 0)
    return errno_error("cannot send a change event to " + what, -r);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd pfd{.fd = lib().udev_monitor_get_fd(monitor.get()), .events = POLLIN, .revents = 0};
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
    DevicePtr event(lib().udev_monitor_receive_device(monitor.get()));
    if (!event) continue;
    const char* action = lib().udev_device_get_action(event.get());
    const char* path = lib().udev_device_get_syspath(event.get());
    if (action && path && std::strcmp(action, "change") == 0 && syspath == path) return {};
  }
}

}  // namespace kvmprov
