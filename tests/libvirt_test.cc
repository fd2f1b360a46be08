// SPDX-License-Identifier: MIT
// The libvirt check: capability XML recorded from the real libvirt (tests/data/libvirt/),
// qemu.conf, the verdict's order of causes, and the client against sockets nothing serves.
#include "libvirt.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "fake_host.h"
#include "test_util.h"
#include "util/unique_fd.h"

namespace kvmprov {
namespace {

using test::slurp;
using test::TempDir;

const std::string kData = std::string(KVMPROV_TEST_DATA) + "/libvirt/";

// libvirt's message in an error virsh printed ("error: MESSAGE" last).
std::string slurp_error(const std::string& file) {
  std::string text = slurp(kData + file);
  REQUIRE_FALSE(text.empty());
  while (!text.empty() && text.back() == '\n') text.pop_back();
  std::string last = text.substr(text.rfind('\n') + 1);
  REQUIRE(last.starts_with("error: "));
  return last.substr(7);
}

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

// G is FOUND, offers KVM and QEMU domains or not, and names EMULATOR.
void check_guest(const LibvirtGuest& g, bool found, bool kvm, bool qemu,
                 std::string_view emulator) {
  CHECK(g.found == found);
  CHECK(g.kvm == kvm);
  CHECK(g.qemu == qemu);
  CHECK(g.emulator == emulator);
}

TEST_CASE("capabilities of an AMD host with KVM offer kvm and qemu domains for x86_64") {
  LibvirtGuest g = capabilities("amd-capabilities.xml");
  check_guest(g, true, true, true, "/usr/bin/qemu-system-x86_64");
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
  check_guest(g, true, false, true, "/usr/bin/qemu-system-x86_64");
}

TEST_CASE("capabilities without qemu-system-x86 have no guest at all") {
  LibvirtGuest g = capabilities("noqemu-capabilities.xml");
  check_guest(g, false, false, false, "");
  CHECK(g.machines.empty());
}

TEST_CASE("domain capabilities name the emulator, the domain type and the machine") {
  LibvirtGuest kvm = domain_capabilities("amd-domcapabilities-kvm.xml");
  check_guest(kvm, true, true, false, "/usr/bin/qemu-system-x86_64");
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
  struct Case {
    const char* text;
    const char* origin;
    const char* message;
  };
  const Case cases[] = {
      {"user = \"qemu\n", "/etc/libvirt/qemu.conf",
       "/etc/libvirt/qemu.conf:1: a string is not closed"},
      {"\n\nuser = [ \"qemu\" ]\n", "qemu.conf", "qemu.conf:3: \"user\" must be a string"},
      {"x = 1\nuser \"qemu\"\n", "qemu.conf", "qemu.conf:2: \"user\" has no \"=\""},
      {"group = \"kvm\" extra\n", "qemu.conf",
       "qemu.conf:1: unexpected \"e\" after the value of \"group\""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    auto conf = parse_qemu_conf(c.text, c.origin);
    REQUIRE_FALSE(conf.ok());
    CHECK(conf.error().message == c.message);
  }
}

// C's verdict is STATE for REASON, saying DETAIL, with HINT.
void check_verdict(const LibvirtCheck& c, CheckState state, std::string_view reason,
                   std::string_view detail, std::string_view hint) {
  CHECK(c.item.state == state);
  CHECK(c.reason == reason);
  CHECK(c.item.detail == detail);
  CHECK(c.item.hint == hint);
}

// A Debian 12 host with KVM and libvirt as the libvirt scenario boots it.
LibvirtInputs working_host() {
  LibvirtInputs in;
  in.arch = "x86_64";
  in.library = true;
  in.libvirtd_installed = true;
  in.libvirtd_socket = true;
  in.kvm_usable = true;
  in.kvm_reason = "ok";
  in.facts.arch = "x86_64";
  in.facts.connected = true;
  in.facts.source = "domain capabilities";
  in.facts.guest = domain_capabilities("amd-domcapabilities-kvm.xml");
  in.emulator_present = true;
  in.qemu_user_can_open = true;
  in.device_group = "kvm";
  return in;
}

// A working host's inputs, but libvirt offers GUEST and refused kvm with the message in ERR_FILE.
// Its QEMU user cannot open /dev/kvm either, which the check comes to later.
LibvirtInputs kvm_refused(LibvirtGuest guest, const std::string& err_file) {
  LibvirtInputs in = working_host();
  in.facts.guest = std::move(guest);
  in.facts.kvm_error = slurp_error(err_file);
  in.qemu_user_can_open = false;
  return in;
}

TEST_CASE("libvirt offering kvm to a QEMU user who can open /dev/kvm passes") {
  LibvirtCheck c = diagnose_libvirt(working_host());
  CHECK(c.item.id == "libvirt");
  CHECK(c.item.state == CheckState::pass);
  CHECK(c.reason == "libvirt-kvm");
  CHECK(c.item.detail ==
        "libvirt offers kvm for x86_64 (\"/usr/bin/qemu-system-x86_64\", machine "
        "\"pc-i440fx-7.2\") and its QEMU user \"libvirt-qemu\" can open /dev/kvm");
  CHECK(c.item.hint.empty());
}

TEST_CASE("no libvirt, or no KVM anyway: skipped with the reason") {
  LibvirtInputs in = working_host();
  in.library = false;
  in.library_error = "library \"libvirt.so.0\" cannot be loaded: ... (install libvirt0)";
  LibvirtCheck c = diagnose_libvirt(in);
  CHECK(c.item.state == CheckState::skip);
  CHECK(c.reason == "libvirt-not-installed");
  CHECK(c.item.detail == "libvirt is not installed: " + in.library_error);

  in = working_host();
  in.libvirtd_installed = false;  // only the client library, as libvirt-dev brings it
  c = diagnose_libvirt(in);
  CHECK(c.reason == "libvirt-not-installed");
  CHECK(c.item.detail == "no libvirt daemon is installed (virtqemud, libvirtd)");

  in = working_host();
  in.kvm_usable = false;
  in.kvm_reason = "no-hardware-support";
  in.facts.guest = domain_capabilities("intel-domcapabilities-qemu.xml");
  c = diagnose_libvirt(in);
  CHECK(c.item.state == CheckState::skip);
  CHECK(c.reason == "kvm-not-usable");
  CHECK(c.item.detail ==
        "KVM is not usable here (no-hardware-support): libvirt can offer only qemu domains");
}

TEST_CASE("a daemon that does not listen is named with the unit to start") {
  LibvirtInputs in = working_host();
  in.facts = {};
  in.facts.connect_errno = ECONNREFUSED;
  in.facts.connect_error =
      "Failed to connect socket to '/var/run/libvirt/libvirt-sock-ro': Connection refused";
  // Everything below would fail too; the daemon comes first.
  in.emulator_present = false;
  in.qemu_user_can_open = false;
  LibvirtCheck c = diagnose_libvirt(in);
  check_verdict(
      c, CheckState::fail, "libvirt-daemon-not-running",
      "no libvirt daemon listens on \"/run/libvirt/libvirt-sock-ro\": Failed to connect socket "
      "to '/var/run/libvirt/libvirt-sock-ro': Connection refused",
      "start it: systemctl enable --now libvirtd.service");

  // The modular daemon: its socket exists, or it is the only daemon installed.
  in.virtqemud_installed = true;
  in.virtqemud_socket = true;
  in.facts.connect_errno = ENOENT;
  c = diagnose_libvirt(in);
  CHECK(c.reason == "libvirt-daemon-not-running");
  CHECK(
      c.item.detail.starts_with("no libvirt daemon listens on \"/run/libvirt/virtqemud-sock-ro\""));
  CHECK(c.item.hint == "start it: systemctl enable --now virtqemud.service");
  in.virtqemud_socket = false;
  in.libvirtd_installed = false;
  CHECK(diagnose_libvirt(in).item.hint == "start it: systemctl enable --now virtqemud.service");

  // Any other connection error is libvirt's to tell.
  in.facts.connect_errno = EACCES;
  in.facts.connect_error = "authentication failed: access denied";
  c = diagnose_libvirt(in);
  CHECK(c.reason == "libvirt-error");
  CHECK(c.item.detail ==
        "cannot connect to libvirt (qemu:///system): authentication failed: access denied");
}

TEST_CASE("a missing emulator names the package, with libvirt's own words") {
  LibvirtInputs in = kvm_refused({}, "noqemu-domcapabilities-kvm.err");
  in.emulator_present = false;
  LibvirtCheck c = diagnose_libvirt(in);
  check_verdict(
      c, CheckState::fail, "qemu-emulator-missing",
      "libvirt has no emulator for x86_64: \"/usr/bin/qemu-system-x86_64\" is missing (libvirt: "
      "\"unsupported configuration: unable to find any emulator to serve 'x86_64' "
      "architecture\")",
      "install it: apt-get install qemu-system-x86");

  in.arch = "aarch64";
  CHECK(diagnose_libvirt(in).item.hint == "install it: apt-get install qemu-system-arm");
  in.arch = "riscv64";
  CHECK(diagnose_libvirt(in).item.hint == "install QEMU's system emulator for riscv64");
}

TEST_CASE(
    "no kvm domain although the probe succeeded: stale capabilities, refreshed by a restart") {
  LibvirtInputs in = kvm_refused(domain_capabilities("intel-domcapabilities-qemu.xml"),
                                 "intel-domcapabilities-kvm.err");
  LibvirtCheck c = diagnose_libvirt(in);
  check_verdict(
      c, CheckState::fail, "libvirt-capabilities-stale",
      "the KVM probe succeeded, but libvirt offers no kvm domain for x86_64 (libvirt: \"invalid "
      "argument: the accel 'kvm' is not supported by '/usr/bin/qemu-system-x86_64' on this "
      "host\")",
      "refresh libvirt's QEMU capabilities: systemctl restart libvirtd.service");

  // Without root the host capabilities tell: qemu domains only.
  in.facts.source = "capabilities";
  in.facts.guest = capabilities("intel-capabilities.xml");
  in.facts.kvm_error.clear();
  c = diagnose_libvirt(in);
  CHECK(c.reason == "libvirt-capabilities-stale");
  CHECK(c.item.detail == "the KVM probe succeeded, but libvirt offers no kvm domain for x86_64");

  // The emulator is there but libvirt has not seen it.
  in.facts.guest = capabilities("noqemu-capabilities.xml");
  in.virtqemud_installed = true;
  in.virtqemud_socket = true;
  c = diagnose_libvirt(in);
  CHECK(c.reason == "libvirt-capabilities-stale");
  CHECK(c.item.detail ==
        "the KVM probe succeeded, but libvirt offers no kvm domain for x86_64 and does not list "
        "\"/usr/bin/qemu-system-x86_64\"");
  CHECK(c.item.hint == "refresh libvirt's QEMU capabilities: systemctl restart virtqemud.service");
}

TEST_CASE("a QEMU user who cannot open /dev/kvm fails although libvirt offers kvm") {
  LibvirtInputs in = working_host();
  in.qemu_user_can_open = false;
  in.qemu_user_detail = "Permission denied";
  LibvirtCheck c = diagnose_libvirt(in);
  check_verdict(
      c, CheckState::fail, "qemu-user-cannot-open-kvm",
      "libvirt offers kvm, but its QEMU user \"libvirt-qemu\" (group \"libvirt-qemu\", "
      "/etc/libvirt/qemu.conf) cannot open /dev/kvm: Permission denied: kvm domains fail with "
      "\"Could not access KVM kernel module: Permission denied\"",
      "add it to the device's group: usermod -a -G kvm libvirt-qemu (takes effect at the next "
      "domain start)");

  // What QEMU said when libvirt started a kvm domain as that user, recorded.
  const std::string recorded = slurp(kData + "amd-qemu-user-outside-kvm-create.err");
  CHECK(recorded.find("Could not access KVM kernel module: Permission denied") !=
        std::string::npos);

  in.qemu_user_can_open = std::nullopt;
  c = diagnose_libvirt(in);
  CHECK(c.reason == "libvirt-kvm");
  CHECK(c.item.detail.ends_with(
      "; whether its QEMU user \"libvirt-qemu\" can open /dev/kvm is not known"));
}

TEST_CASE("every reason the check gives is in the closed list") {
  const auto& reasons = libvirt_reasons();
  CHECK(reasons.size() == 8);
  for (std::string_view r :
       {"libvirt-kvm", "libvirt-not-installed", "kvm-not-usable", "libvirt-daemon-not-running",
        "qemu-emulator-missing", "libvirt-capabilities-stale", "qemu-user-cannot-open-kvm",
        "libvirt-error"})
    CHECK(std::find(reasons.begin(), reasons.end(), r) != reasons.end());
}

int g_queries = 0;

// What a daemon that answered with its host capabilities says about ARCH, before the guest.
LibvirtFacts answered(const std::string& arch) {
  LibvirtFacts f;
  f.arch = arch;
  f.connected = true;
  f.source = "capabilities";
  return f;
}

Result<LibvirtFacts> fake_query(const std::string& uri, const std::string& arch) {
  ++g_queries;
  CHECK(uri == "qemu:///system");
  LibvirtFacts f = answered(arch);
  f.guest = capabilities("amd-capabilities.xml");
  return f;
}
Result<LibvirtFacts> no_library(const std::string&, const std::string&) {
  return Error{ENOENT, "library \"libvirt.so.0\" cannot be loaded"};
}

TEST_CASE("inputs are read through the Host: daemons, sockets, emulator, qemu.conf, access") {
  test::FakeHost host;
  host.target_.files["/usr/sbin/libvirtd"] = "";
  host.target_.files["/run/libvirt/libvirt-sock-ro"] = "";
  host.target_.files["/usr/bin/qemu-system-x86_64"] = "";
  host.target_.files["/etc/libvirt/qemu.conf"] = "user = \"qemu\"\ngroup = \"qemu\"\n";
  FileInfo node;
  node.exists = node.char_device = true;
  node.gid = 103;
  node.mode = 0660;
  host.kernel_.infos["/dev/kvm"] = node;
  host.group_names_[103] = "kvm";
  UserAccess qemu;
  qemu.user = "qemu";
  qemu.can_open = false;
  qemu.open_errno = EACCES;
  host.accounts_["qemu"] = qemu;

  g_queries = 0;
  LibvirtInputs in = gather_libvirt_inputs(host, "x86_64", true, "ok", fake_query);
  CHECK(g_queries == 1);
  CHECK(in.library);
  CHECK(in.libvirtd_installed);
  CHECK_FALSE(in.virtqemud_installed);
  CHECK(in.libvirtd_socket);
  CHECK_FALSE(in.virtqemud_socket);
  CHECK(in.emulator_present);
  CHECK(in.facts.guest.kvm);
  CHECK(in.qemu_user.user == "qemu");
  CHECK(in.qemu_user.group == "qemu");
  CHECK(in.device_group == "kvm");
  REQUIRE(in.qemu_user_can_open.has_value());
  CHECK_FALSE(*in.qemu_user_can_open);
  CHECK(in.qemu_user_detail == "Permission denied");
  LibvirtCheck c = diagnose_libvirt(in);
  CHECK(c.reason == "qemu-user-cannot-open-kvm");
  CHECK(c.item.hint.starts_with("add it to the device's group: usermod -a -G kvm qemu "));

  // KVM is not usable: libvirt is not asked at all.
  g_queries = 0;
  in = gather_libvirt_inputs(host, "x86_64", false, "no-hardware-support", fake_query);
  CHECK(g_queries == 0);
  CHECK(diagnose_libvirt(in).reason == "kvm-not-usable");

  // libvirt.so.0 missing.
  in = gather_libvirt_inputs(host, "x86_64", true, "ok", no_library);
  CHECK_FALSE(in.library);
  CHECK(diagnose_libvirt(in).reason == "libvirt-not-installed");

  // No qemu.conf: Debian's defaults.
  host.target_.files.erase("/etc/libvirt/qemu.conf");
  in = gather_libvirt_inputs(host, "x86_64", true, "ok", fake_query);
  CHECK(in.qemu_user.user == "libvirt-qemu");
  CHECK(in.qemu_user_detail == "unknown user \"libvirt-qemu\"");
  CHECK_FALSE(in.qemu_user_can_open.has_value());
}

TEST_CASE("check's libvirt item: the running kernel's architecture, asked with the verdict") {
  test::FakeHost host;
  host.target_.files["/usr/sbin/libvirtd"] = "";
  host.target_.files["/run/libvirt/libvirt-sock-ro"] = "";
  CHECK(libvirt_arch(host) == "x86_64");  // no /proc/sys/kernel/arch: the build's
  host.kernel_.files["/proc/sys/kernel/arch"] = "aarch64\n";
  CHECK(libvirt_arch(host) == "aarch64");
  // libvirt has no emulator for it: the missing package is named.
  LibvirtQuery no_guest = [](const std::string&, const std::string& arch) -> Result<LibvirtFacts> {
    ++g_queries;
    CHECK(arch == "aarch64");
    return answered(arch);
  };
  g_queries = 0;
  auto [item, reason] = libvirt_item(host, Verdict{.usable = true, .reason = "ok"}, no_guest);
  CHECK(g_queries == 1);
  CHECK(item.id == "libvirt");
  CHECK(reason == "qemu-emulator-missing");
  CHECK(item.hint == "install it: apt-get install qemu-system-arm");
  // KVM not usable: libvirt is not asked, and the item says why it is skipped.
  g_queries = 0;
  std::tie(item, reason) =
      libvirt_item(host, Verdict{.usable = false, .reason = "module-not-loaded"}, no_guest);
  CHECK(g_queries == 0);
  CHECK(reason == "kvm-not-usable");
  CHECK(item.state == CheckState::skip);
  CHECK(item.detail.find("(module-not-loaded)") != std::string::npos);
}

TEST_CASE("after apply: which changes libvirt's KVM guests depend on") {
  // As the planner makes them: a node action's target is the path, its device.node the name.
  auto done = [](ActionKind kind, Status status, std::string node = "") {
    Action a{.kind = kind, .target = node.empty() ? "" : "/dev/" + node, .status = status};
    a.device.node = std::move(node);
    return std::vector<Action>{a};
  };
  for (ActionKind k : {ActionKind::create_group, ActionKind::add_member}) {
    CHECK(changes_kvm_access(done(k, Status::changed)));
    CHECK_FALSE(changes_kvm_access(done(k, Status::unchanged)));
    CHECK_FALSE(changes_kvm_access(done(k, Status::failed)));
  }
  // Modules: KVM's own only, by name.
  auto module = [](ActionKind kind, Status status, std::string name) {
    return std::vector<Action>{Action{.kind = kind, .target = std::move(name), .status = status}};
  };
  for (ActionKind k : {ActionKind::load_module, ActionKind::reload_module}) {
    CHECK(changes_kvm_access(module(k, Status::changed, "kvm_amd")));
    CHECK(changes_kvm_access(module(k, Status::changed, "kvm")));
    CHECK_FALSE(changes_kvm_access(module(k, Status::unchanged, "kvm_amd")));
    CHECK_FALSE(changes_kvm_access(module(k, Status::failed, "kvm_amd")));
    CHECK_FALSE(changes_kvm_access(module(k, Status::changed, "vhost_net")));
    CHECK_FALSE(changes_kvm_access(module(k, Status::changed, "kvmgt")));  // Intel GVT-g
  }
  CHECK(changes_kvm_access(done(ActionKind::node_permissions, Status::changed, "kvm")));
  CHECK_FALSE(changes_kvm_access(done(ActionKind::node_permissions, Status::changed, "vhost-net")));
  CHECK_FALSE(changes_kvm_access(done(ActionKind::write_file, Status::changed)));
  CHECK_FALSE(changes_kvm_access(done(ActionKind::access, Status::changed, "kvm")));
}

TEST_CASE("after apply: libvirt offering kvm is reported, a stale cache is pending with its fix") {
  std::optional<Action> a = libvirt_after_apply(diagnose_libvirt(working_host()));
  REQUIRE(a);
  CHECK(a->id == "libvirt:capabilities");
  CHECK(action_kind_name(a->kind) == "libvirt");
  CHECK(a->target == "qemu:///system");
  CHECK(a->status == Status::unchanged);
  CHECK(a->detail.starts_with("libvirt offers kvm for x86_64"));

  a = libvirt_after_apply(diagnose_libvirt(kvm_refused(
      domain_capabilities("intel-domcapabilities-qemu.xml"), "intel-domcapabilities-kvm.err")));
  REQUIRE(a);
  CHECK(a->status == Status::pending);
  CHECK(a->detail.starts_with(
      "libvirt-capabilities-stale (refresh libvirt's QEMU capabilities: systemctl restart "
      "libvirtd.service): the KVM probe succeeded, but libvirt offers no kvm domain for x86_64"));

  LibvirtInputs none = working_host();
  none.libvirtd_installed = false;
  CHECK_FALSE(libvirt_after_apply(diagnose_libvirt(none)));
  LibvirtInputs unusable = working_host();
  unusable.kvm_usable = false;
  CHECK_FALSE(libvirt_after_apply(diagnose_libvirt(unusable)));
}

TEST_CASE("after apply on the running system: libvirt is asked only when the apply changed KVM") {
  test::FakeHost host;
  host.target_.files["/usr/sbin/virtqemud"] = "";
  host.target_.files["/run/libvirt/virtqemud-sock-ro"] = "";
  host.target_.files["/usr/bin/qemu-system-x86_64"] = "";
  host.probe_ =
      KvmProbe{.opened = true, .api_version = 12, .vm_created = true, .vcpu_created = true};
  LibvirtQuery qemu_only = [](const std::string&, const std::string& arch) -> Result<LibvirtFacts> {
    ++g_queries;
    LibvirtFacts f = answered(arch);
    f.guest = capabilities("intel-capabilities.xml");
    return f;
  };
  const std::vector<Action> loaded = {Action{.id = "module:kvm_amd",
                                             .kind = ActionKind::load_module,
                                             .target = "kvm_amd",
                                             .status = Status::changed}};
  const std::vector<Action> nothing = {Action{.id = "module:kvm_amd",
                                              .kind = ActionKind::load_module,
                                              .target = "kvm_amd",
                                              .status = Status::unchanged}};

  g_queries = 0;
  CHECK_FALSE(libvirt_followup(host, nothing, qemu_only));
  CHECK(g_queries == 0);
  host.live_ = false;  // an image: its libvirt does not run here
  CHECK_FALSE(libvirt_followup(host, loaded, qemu_only));
  CHECK(g_queries == 0);

  host.live_ = true;
  std::optional<Action> a = libvirt_followup(host, loaded, qemu_only);
  CHECK(g_queries == 1);
  REQUIRE(a);
  CHECK(a->status == Status::pending);
  CHECK(
      a->detail.starts_with("libvirt-capabilities-stale (refresh libvirt's QEMU capabilities: "
                            "systemctl restart virtqemud.service)"));
  // The probe fails after the apply: libvirt has nothing to offer, and is not asked.
  host.probe_.vcpu_created = false;
  g_queries = 0;
  CHECK_FALSE(libvirt_followup(host, loaded, qemu_only));
  CHECK(g_queries == 0);
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
