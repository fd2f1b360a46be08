// SPDX-License-Identifier: MIT
// The libvirt client wrapper: asks the system daemon for its capabilities through libvirt.so.0,
// opened on first use, so that a host without libvirt (and every run that does not ask) pays
// nothing for it.
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <optional>

#include "libvirt.h"
#include "linux/dynlib.h"

#ifdef KVMPROV_HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#endif

namespace kvmprov {

#ifndef KVMPROV_HAVE_LIBVIRT

Result<LibvirtFacts> query_libvirt(const std::string&, const std::string&) {
  return Error{ENOSYS, "kvmprov was built without libvirt's headers (libvirt-dev)"};
}

#else

namespace {

// clang-format off
#define KVMPROV_LIBVIRT(X)                                                                         \
  X(virConnectClose) X(virConnectGetCapabilities) X(virConnectGetDomainCapabilities)               \
  X(virConnectOpen) X(virConnectOpenReadOnly) X(virGetLastError) X(virInitialize)                  \
  X(virResetLastError) X(virSetErrorFunc)
// clang-format on

// libvirt's functions (virConnectGetDomainCapabilities needs libvirt 1.2.7).
KVMPROV_DYNLIB_TABLE(Libvirt, KVMPROV_LIBVIRT);

// Filled by the first query_libvirt.
Libvirt g_libvirt;

// libvirt prints every error to stderr unless an error function is set; kvmprov reads them from
// virGetLastError instead.
void ignore_error(void*, virErrorPtr) {}

// What libvirt needs before its first use.
Result<void> set_up(const Libvirt& api) {
  api.virSetErrorFunc(nullptr, ignore_error);
  if (api.virInitialize() != 0) return Error{EIO, "libvirt.so.0 could not initialise itself"};
  return {};
}

using CloseConnection = Release<&g_libvirt, &Libvirt::virConnectClose>;
using Connection = std::unique_ptr<virConnect, CloseConnection>;

struct FreeString {
  void operator()(char* s) const { std::free(s); }
};
using LibvirtString = std::unique_ptr<char, FreeString>;

// The last error's message, one line; its errno when libvirt reported a system error.
std::string last_error(int* errno_out = nullptr) {
  virErrorPtr e = g_libvirt.virGetLastError();
  if (errno_out) *errno_out = 0;
  if (e == nullptr || e->message == nullptr) return "unknown libvirt error";
  if (errno_out && e->code == VIR_ERR_SYSTEM_ERROR) *errno_out = e->int1;
  std::string message = e->message;
  for (char& c : message)
    if (c == '\n' || c == '\r') c = ' ';
  g_libvirt.virResetLastError();
  return message;
}

// The domain capabilities of ARCH for VIRT_TYPE; nullopt, with libvirt's reason in ERROR, when
// libvirt refuses them.
std::optional<LibvirtGuest> domain_capabilities(virConnectPtr conn, const std::string& arch,
                                                const char* virt_type, std::string& error) {
  LibvirtString xml(g_libvirt.virConnectGetDomainCapabilities(conn, nullptr, arch.c_str(), nullptr,
                                                              virt_type, 0));
  if (!xml) {
    error = last_error();
    return std::nullopt;
  }
  auto guest = parse_libvirt_domain_capabilities(xml.get());
  if (!guest) {
    error = guest.error().message;
    return std::nullopt;
  }
  return *guest;
}

}  // namespace

Result<LibvirtFacts> query_libvirt(const std::string& uri, const std::string& arch) {
  if (auto loaded = load_table(g_libvirt, "libvirt.so.0", "libvirt0 or libvirt-libs", set_up);
      !loaded)
    return loaded.error();
  LibvirtFacts facts;
  facts.arch = arch;
  // libvirt refuses domain capabilities on a read-only connection ("read only access prevents
  // virConnectGetDomainCapabilities"); root may open a read-write one without asking polkit.
  if (geteuid() == 0) {
    Connection rw(g_libvirt.virConnectOpen(uri.c_str()));
    if (rw) {
      facts.connected = true;
      facts.source = "domain capabilities";
      if (auto kvm = domain_capabilities(rw.get(), arch, "kvm", facts.kvm_error); kvm) {
        facts.guest = std::move(*kvm);
        return facts;
      }
      // Is there an emulator at all, offering only qemu domains?
      std::string qemu_error;
      if (auto qemu = domain_capabilities(rw.get(), arch, "qemu", qemu_error); qemu)
        facts.guest = std::move(*qemu);
      return facts;
    }
    last_error();  // read-only may still work (a daemon that refuses root read-write)
  }
  Connection ro(g_libvirt.virConnectOpenReadOnly(uri.c_str()));
  if (!ro) {
    facts.connect_error = last_error(&facts.connect_errno);
    return facts;
  }
  facts.connected = true;
  facts.source = "capabilities";
  LibvirtString xml(g_libvirt.virConnectGetCapabilities(ro.get()));
  if (!xml) {
    facts.query_error = last_error();
    return facts;
  }
  auto guest = parse_libvirt_capabilities(xml.get(), arch);
  if (guest)
    facts.guest = std::move(*guest);
  else
    facts.query_error = guest.error().message;
  return facts;
}

#endif

}  // namespace kvmprov
