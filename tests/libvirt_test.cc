// SPDX-License-Identifier: MIT
// libvirt: capability XML recorded from the real libvirt (tests/data/libvirt/), qemu.conf, and
// the client against sockets nothing serves.
#include "libvirt.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "test_util.h"
#include "unique_fd.h"

namespace kvmprov {
namespace {

using test::slurp;
using test::TempDir;

const std::string kData = std::string(KVMPROV_TEST_DATA) + "/libvirt/";

LibvirtGuest capabilities(const std::string& file, std::string_view arch = "x86_64") {
  const std::string xml = slurp(kData + file);
  REQUIRE_FALSE(xml.empty());
  auto guest = parse_libvirt_capabilities(xml, arch);
  REQUIRE_MESSAGE(guest.ok(), guest.error().message);
  return *guest;
}

LibvirtGuest domain_capabilities(const std::string& file) {
  const std::string xml = slurp(kData + file);
  REQUIRE_FALSE(xml.empty());
  auto guest = parse_libvirt_domain_capabilities(xml);
  REQUIRE_MESSAGE(guest.ok(), guest.error().message);
  return *guest;
}

TEST_CASE("capabilities of an AMD host with KVM offer kvm and qemu domains for x86_64") {
  LibvirtGuest g = capabilities("amd-capabilities.xml");
  CHECK(g.found);
  CHECK(g.kvm);
  CHECK(g.qemu);
  CHECK(g.emulator == "/usr/bin/qemu-system-x86_64");
  REQUIRE_FALSE(g.machines.empty());
  CHECK(g.machines.front() == "pc-i440fx-7.2");
  CHECK(std::find(g.machines.begin(), g.machines.end(), "pc") != g.machines.end());
  CHECK(std::find(g.machines.begin(), g.machines.end(), "pc-q35-7.2") != g.machines.end());

  LibvirtGuest i686 = capabilities("amd-capabilities.xml", "i686");
  CHECK(i686.found);
  CHECK(i686.emulator == "/usr/bin/qemu-system-i386");
  CHECK_FALSE(capabilities("amd-capabilities.xml", "aarch64").found);
}

TEST_CASE("capabilities of an Intel host whose VT-x is unusable offer qemu domains only") {
  LibvirtGuest g = capabilities("intel-capabilities.xml");
  CHECK(g.found);
  CHECK_FALSE(g.kvm);
  CHECK(g.qemu);
  CHECK(g.emulator == "/usr/bin/qemu-system-x86_64");
}

TEST_CASE("capabilities without qemu-system-x86 have no guest at all") {
  LibvirtGuest g = capabilities("noqemu-capabilities.xml");
  CHECK_FALSE(g.found);
  CHECK_FALSE(g.kvm);
  CHECK_FALSE(g.qemu);
  CHECK(g.emulator.empty());
  CHECK(g.machines.empty());
}

TEST_CASE("domain capabilities name the emulator, the domain type and the machine") {
  LibvirtGuest kvm = domain_capabilities("amd-domcapabilities-kvm.xml");
  CHECK(kvm.found);
  CHECK(kvm.kvm);
  CHECK_FALSE(kvm.qemu);
  CHECK(kvm.emulator == "/usr/bin/qemu-system-x86_64");
  CHECK(kvm.machines == std::vector<std::string>{"pc-i440fx-7.2"});

  LibvirtGuest qemu = domain_capabilities("intel-domcapabilities-qemu.xml");
  CHECK(qemu.found);
  CHECK_FALSE(qemu.kvm);
  CHECK(qemu.qemu);
}

TEST_CASE("capability XML that is not libvirt's is an error naming what was wrong") {
  auto broken = parse_libvirt_capabilities("<capabilities><guest>", "x86_64");
  REQUIRE_FALSE(broken.ok());
  CHECK(broken.error().message.starts_with("libvirt's capabilities are not XML: "));
  auto other = parse_libvirt_domain_capabilities("<capabilities/>");
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().message == "libvirt's domain capabilities have no <domainCapabilities>");
}

TEST_CASE("Debian's qemu.conf sets no user: libvirt-qemu and its group") {
  const std::string text = slurp(kData + "qemu.conf");
  REQUIRE_FALSE(text.empty());
  auto conf = parse_qemu_conf(text, "/etc/libvirt/qemu.conf");
  REQUIRE_MESSAGE(conf.ok(), conf.error().message);
  CHECK(conf->user == "libvirt-qemu");
  CHECK(conf->group == "libvirt-qemu");
}

TEST_CASE("qemu.conf's user and group are read among lists, numbers and comments") {
  auto conf = parse_qemu_conf(R"(# set by the operator
namespaces = [ ]
cgroup_device_acl = [
    "/dev/null", "/dev/full", # comment inside a list
    "/dev/kvm"
]
max_files = 32768; user = "qemu"   # trailing comment
group='+107'
vnc_tls_x509_cert_dir = """/etc/pki/#not a comment"""
)",
                              "qemu.conf");
  REQUIRE_MESSAGE(conf.ok(), conf.error().message);
  CHECK(conf->user == "qemu");
  CHECK(conf->group == "+107");
}

TEST_CASE("qemu.conf errors name the file and the line") {
  auto unclosed = parse_qemu_conf("user = \"qemu\n", "/etc/libvirt/qemu.conf");
  REQUIRE_FALSE(unclosed.ok());
  CHECK(unclosed.error().message == "/etc/libvirt/qemu.conf:1: a string is not closed");
  auto list = parse_qemu_conf("\n\nuser = [ \"qemu\" ]\n", "qemu.conf");
  REQUIRE_FALSE(list.ok());
  CHECK(list.error().message == "qemu.conf:3: \"user\" must be a string");
  auto no_equals = parse_qemu_conf("x = 1\nuser \"qemu\"\n", "qemu.conf");
  REQUIRE_FALSE(no_equals.ok());
  CHECK(no_equals.error().message == "qemu.conf:2: \"user\" has no \"=\"");
  auto garbage = parse_qemu_conf("group = \"kvm\" extra\n", "qemu.conf");
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.error().message == "qemu.conf:1: unexpected \"e\" after the value of \"group\"");
}

// A socket nothing listens on, or no socket at all: what the client reports when no daemon runs.
TEST_CASE("the client says so when no daemon listens, and prints nothing") {
  TempDir dir("kvmprov-libvirt");
  const std::string bound = dir / "/bound-not-listening";
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd.get() >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, bound.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

  auto refused = query_libvirt("qemu:///system?socket=" + bound, "x86_64");
  if (!refused.ok()) {
    // Not installed here (libvirt0): the error says what to install.
    CHECK(refused.error().message.find("libvirt.so.0") != std::string::npos);
    return;
  }
  CHECK_FALSE(refused->connected);
  CHECK(refused->connect_errno == ECONNREFUSED);
  CHECK(refused->connect_error.find("Connection refused") != std::string::npos);
  CHECK(refused->connect_error.find('\n') == std::string::npos);

  auto absent = query_libvirt("qemu:///system?socket=" + dir / "/absent", "x86_64");
  REQUIRE(absent.ok());
  CHECK_FALSE(absent->connected);
  CHECK(absent->connect_errno == ENOENT);
}

}  // namespace
}  // namespace kvmprov
