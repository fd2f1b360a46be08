// SPDX-License-Identifier: MIT
// libvirt's side of "can this host run KVM guests": what libvirt's QEMU driver offers, read from
// its capability XML, and why a host whose kernel runs KVM guests may still not run them through
// libvirt (the causes behind nova's "no supported architecture for os type 'hvm'").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace kvmprov {

// Where libvirt's system daemons listen read-only: the modular QEMU daemon (libvirt 7 and later,
// the default where it is installed) and the monolithic libvirtd (Debian 12's only daemon). The
// client library connects to the first that exists.
constexpr const char* kVirtqemudSocket = "/run/libvirt/virtqemud-sock-ro";
constexpr const char* kLibvirtdSocket = "/run/libvirt/libvirt-sock-ro";
constexpr const char* kLibvirtUri = "qemu:///system";
constexpr const char* kQemuConf = "/etc/libvirt/qemu.conf";

// What libvirt's QEMU driver offers for one architecture.
struct LibvirtGuest {
  bool found = false;                 // an emulator serves the architecture
  bool kvm = false;                   // a kvm domain is offered
  bool qemu = false;                  // a qemu (emulated) domain is offered
  std::string emulator;               // "/usr/bin/qemu-system-x86_64"
  std::vector<std::string> machines;  // "pc-i440fx-7.2", "pc", ...
};

// <capabilities> (virConnectGetCapabilities, "virsh capabilities"): its hvm guest for ARCH; not
// found when no emulator serves ARCH.
Result<LibvirtGuest> parse_libvirt_capabilities(std::string_view xml, std::string_view arch);
// <domainCapabilities> (virConnectGetDomainCapabilities, "virsh domcapabilities"): one emulator,
// one domain type, one machine.
Result<LibvirtGuest> parse_libvirt_domain_capabilities(std::string_view xml);

// What the daemon behind kLibvirtUri said.
struct LibvirtFacts {
  std::string arch;  // as asked: "x86_64", "aarch64"
  bool connected = false;
  int connect_errno = 0;      // ECONNREFUSED or ENOENT: nothing listens
  std::string connect_error;  // libvirt's message when not connected
  // What libvirt offers for ARCH. As root, from the domain capabilities for virttype kvm (and
  // qemu when kvm is refused) on a read-write connection: they probe ARCH's emulator only.
  // Otherwise from the host capabilities on a read-only connection, since libvirt refuses domain
  // capabilities there; they probe every emulator installed.
  std::string source;  // "domain capabilities" or "capabilities"
  LibvirtGuest guest;
  std::string kvm_error;    // libvirt's reason when it refused kvm (domain capabilities only)
  std::string query_error;  // why the capabilities could not be read
};

// Asks the daemon behind URI about ARCH through libvirt.so.0, opened on first use and never
// linked. An error only when the library cannot be used (not installed, too old); a daemon that
// cannot be reached is a fact, not an error. Nothing is printed: libvirt's own error printing is
// turned off.
Result<LibvirtFacts> query_libvirt(const std::string& uri, const std::string& arch);

// The QEMU process's account from qemu.conf's "user" and "group" (libvirt's configuration
// syntax: KEY = VALUE, strings in quotes, lists in brackets, # comments); other keys are ignored.
struct QemuUser {
  std::string user = "libvirt-qemu";   // Debian's and Ubuntu's build default
  std::string group = "libvirt-qemu";  // the process's group; the user's groups come too
};
// ORIGIN names the file in errors ("/etc/libvirt/qemu.conf:12: ...").
Result<QemuUser> parse_qemu_conf(std::string_view text, std::string_view origin,
                                 QemuUser defaults = {});

// The package that provides ARCH's QEMU system emulator on Debian ("qemu-system-x86"); "" when
// not known.
std::string qemu_package(std::string_view arch);
// The binary libvirt looks for ("/usr/bin/qemu-system-x86_64").
std::string qemu_binary(std::string_view arch);

}  // namespace kvmprov
