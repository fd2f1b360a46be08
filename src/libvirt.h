// SPDX-License-Identifier: MIT
// libvirt's side of "can this host run KVM guests": what libvirt's QEMU driver offers, read from
// its capability XML, and why a host whose kernel runs KVM guests may still not run them through
// libvirt (the causes behind nova's "no supported architecture for os type 'hvm'").
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "action.h"
#include "check.h"
#include "host.h"
#include "util/result.h"

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

// Everything the libvirt check decides on, gathered by the caller.
struct LibvirtInputs {
  std::string arch;
  // libvirt.so.0 could be opened (or was not needed); the loader's message when not.
  bool library = false;
  std::string library_error;
  // Which daemons are installed (their binaries: /usr/sbin/virtqemud, /usr/sbin/libvirtd) and
  // which read-only sockets exist.
  bool virtqemud_installed = false;
  bool libvirtd_installed = false;
  bool virtqemud_socket = false;
  bool libvirtd_socket = false;
  // The verdict before libvirt: the KVM_CREATE_VM/KVM_CREATE_VCPU probe decided.
  bool kvm_usable = false;
  std::string kvm_reason;  // the verdict's reason code
  LibvirtFacts facts;
  bool emulator_present = false;  // qemu_binary(arch) exists
  // The QEMU user (from qemu.conf) and whether it can open /dev/kvm; nullopt when unknown.
  QemuUser qemu_user;
  std::optional<bool> qemu_user_can_open;
  std::string qemu_user_detail;  // e.g. "Permission denied", or why it is not known
  std::string device_group;      // /dev/kvm's group ("kvm")
};

// Gathers INPUTS on HOST (the running system): the daemons' binaries and sockets, the emulator,
// qemu.conf and whether its user can open /dev/kvm (Host::can_open_as: the user's own groups, which
// on Debian include the configured group), and what QUERY (query_libvirt) says. KVM_USABLE and
// KVM_REASON are the verdict so far; libvirt is not asked when KVM is not usable, and neither
// qemu.conf nor the QEMU user is read when KVM is not usable or no daemon is installed.
using LibvirtQuery = Result<LibvirtFacts> (*)(const std::string& uri, const std::string& arch);
LibvirtInputs gather_libvirt_inputs(Host& host, const std::string& arch, bool kvm_usable,
                                    const std::string& kvm_reason,
                                    LibvirtQuery query = query_libvirt);

// The libvirt check's reason codes: "libvirt-kvm" (PASS); "libvirt-not-installed" and
// "kvm-not-usable" (SKIP); and the causes, in the order they are tried (FAIL).
const std::vector<std::string_view>& libvirt_reasons();

struct LibvirtCheck {
  CheckItem item;      // id "libvirt"
  std::string reason;  // one of libvirt_reasons()
};

// The verdict on INPUTS, with no I/O: SKIP when libvirt has no daemon here or KVM is not usable
// anyway; then the first cause that holds, in this order: the daemon does not listen (which one
// to start), the emulator is missing (which package), libvirt does not offer kvm although the
// probe succeeded (stale capabilities: how to refresh them), the QEMU user cannot open /dev/kvm;
// else PASS.
LibvirtCheck diagnose_libvirt(const LibvirtInputs& inputs);

// After apply: whether DONE (the applied actions) changed what libvirt's KVM guests need: a KVM
// module loaded, /dev/kvm's owner, group or mode, or a group or a member added.
bool changes_kvm_access(const std::vector<Action>& done);

// The report's libvirt item after such an apply, from libvirt's verdict C: unchanged when libvirt
// offers KVM; pending with the cause and its fix (a stale cache: the command that refreshes it,
// which kvmprov never runs itself, since a daemon restart touches running guests); none when
// libvirt is not installed or KVM is not usable anyway.
std::optional<Action> libvirt_after_apply(const LibvirtCheck& c);

// On HOST, the running system, after an apply that did DONE: libvirt_after_apply on what QUERY
// says now, or none when DONE changed nothing libvirt depends on.
std::optional<Action> libvirt_followup(Host& host, const std::vector<Action>& done,
                                       LibvirtQuery query = query_libvirt);

// The architecture libvirt is asked about: the running kernel's (/proc/sys/kernel/arch), else the
// one kvmprov was built for.
std::string libvirt_arch(Host& host);

// check's libvirt item (CheckOptions::libvirt) on HOST, given the verdict so far: gathered with
// QUERY, diagnosed, and returned with its reason code.
std::pair<CheckItem, std::string> libvirt_item(Host& host, const Verdict& verdict,
                                               LibvirtQuery query = query_libvirt);

}  // namespace kvmprov
