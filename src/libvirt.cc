// SPDX-License-Identifier: MIT
// libvirt's capability XML and qemu.conf read into plain values, and the libvirt check's verdict
// decided on them without I/O. What libvirt does was measured on Debian 12 (libvirt 9.0, QEMU 7.2,
// tests/data/libvirt/README.md); the hints say what was seen to work there.
#include "libvirt.h"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <optional>
#include <pugixml.hpp>

#include "util/text.h"

namespace kvmprov {
namespace {

Result<pugi::xml_document*> load_xml(pugi::xml_document& doc, std::string_view xml,
                                     std::string_view what) {
  pugi::xml_parse_result parsed = doc.load_buffer(xml.data(), xml.size());
  if (!parsed)
    return Error{EINVAL, fmt::format("libvirt's {} are not XML: {} at byte {}", what,
                                     parsed.description(), parsed.offset)};
  return &doc;
}

void add_machine(LibvirtGuest& guest, std::string_view name) {
  std::string machine(trim(name));
  if (machine.empty()) return;
  for (const std::string& known : guest.machines)
    if (known == machine) return;
  guest.machines.push_back(std::move(machine));
}

}  // namespace

Result<LibvirtGuest> parse_libvirt_capabilities(std::string_view xml, std::string_view arch) {
  pugi::xml_document doc;
  if (auto loaded = load_xml(doc, xml, "capabilities"); !loaded) return loaded.error();
  pugi::xml_node root = doc.child("capabilities");
  if (!root) return Error{EINVAL, "libvirt's capabilities have no <capabilities> element"};
  LibvirtGuest guest;
  for (pugi::xml_node g : root.children("guest")) {
    if (std::string_view(g.child_value("os_type")) != "hvm") continue;
    pugi::xml_node a = g.child("arch");
    if (std::string_view(a.attribute("name").value()) != arch) continue;
    guest.found = true;
    guest.emulator = trim(a.child_value("emulator"));
    for (pugi::xml_node m : a.children("machine")) {
      // The canonical name first: "pc" is an alias of "pc-i440fx-7.2".
      if (const char* canonical = m.attribute("canonical").value(); *canonical)
        add_machine(guest, canonical);
      add_machine(guest, m.child_value());
    }
    for (pugi::xml_node d : a.children("domain")) {
      std::string_view type = d.attribute("type").value();
      if (type == "kvm") guest.kvm = true;
      if (type == "qemu") guest.qemu = true;
      // A kvm domain may name another emulator (qemu-kvm) and machines of its own.
      for (pugi::xml_node m : d.children("machine")) add_machine(guest, m.child_value());
    }
  }
  return guest;
}

Result<LibvirtGuest> parse_libvirt_domain_capabilities(std::string_view xml) {
  pugi::xml_document doc;
  if (auto loaded = load_xml(doc, xml, "domain capabilities"); !loaded) return loaded.error();
  pugi::xml_node root = doc.child("domainCapabilities");
  if (!root) return Error{EINVAL, "libvirt's domain capabilities have no <domainCapabilities>"};
  LibvirtGuest guest;
  guest.emulator = trim(root.child_value("path"));
  guest.found = !guest.emulator.empty();
  std::string_view domain = trim(root.child_value("domain"));
  guest.kvm = domain == "kvm";
  guest.qemu = domain == "qemu";
  add_machine(guest, root.child_value("machine"));
  return guest;
}

namespace {

// A scanner of libvirt's configuration syntax (virconf): KEY = VALUE, where VALUE is a string in
// double or single quotes (or triple double quotes), a number, or a list of values in brackets;
// statements end at a newline or ";"; "#" starts a comment outside strings. Errors name ORIGIN
// and the line.
class VirconfScanner {
 public:
  VirconfScanner(std::string_view text, std::string_view origin) : text_(text), origin_(origin) {}

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }
  void advance() { ++pos_; }
  Error fail(std::string_view what) const {
    return Error{EINVAL, fmt::format("{}:{}: {}", origin_, line_, what)};
  }

  // Skips blanks and comments; newlines too when NEWLINES.
  void skip(bool newlines) {
    while (!at_end()) {
      char c = text_[pos_];
      if (c == '#') {
        while (!at_end() && text_[pos_] != '\n') ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '\n' && newlines) {
        ++line_;
        ++pos_;
      } else {
        break;
      }
    }
  }

  // A key (letters, digits, "_" and "."); "" when none starts here.
  std::string_view key() {
    const size_t start = pos_;
    while (!at_end() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                         text_[pos_] == '_' || text_[pos_] == '.'))
      ++pos_;
    return text_.substr(start, pos_ - start);
  }

  // One value; its text when it is a string, nullopt for a number or list.
  Result<std::optional<std::string>> value() {
    if (at_end()) return fail("a value is missing at the end of the file");
    char c = text_[pos_];
    if (c == '"' || c == '\'') return string();
    if (c == '[') return list();
    if (c == '-' || c == '+' || std::isdigit(static_cast<unsigned char>(c))) {
      ++pos_;
      while (!at_end() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) ++pos_;
      return std::optional<std::string>();
    }
    return fail(fmt::format("unexpected \"{}\" where a value belongs", c));
  }

 private:
  Result<std::optional<std::string>> string() {
    const bool triple = text_.substr(pos_, 3) == "\"\"\"";
    const std::string_view close = triple ? std::string_view("\"\"\"") : text_.substr(pos_, 1);
    pos_ += close.size();
    size_t end = text_.find(close, pos_);
    if (end == std::string_view::npos) return fail("a string is not closed");
    std::string s(text_.substr(pos_, end - pos_));
    if (!triple && s.find('\n') != std::string::npos) return fail("a string is not closed");
    for (char ch : s) line_ += ch == '\n';
    pos_ = end + close.size();
    return std::optional<std::string>(std::move(s));
  }

  Result<std::optional<std::string>> list() {
    ++pos_;
    for (;;) {
      skip(true);
      if (at_end()) return fail("a list is not closed");
      if (text_[pos_] == ']') break;
      if (auto element = value(); !element) return element.error();
      skip(true);
      if (!at_end() && text_[pos_] == ',') ++pos_;
    }
    ++pos_;
    return std::optional<std::string>();
  }

  std::string_view text_;
  std::string_view origin_;
  size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

Result<QemuUser> parse_qemu_conf(std::string_view text, std::string_view origin,
                                 QemuUser defaults) {
  QemuUser conf = std::move(defaults);
  VirconfScanner in(text, origin);
  for (;;) {
    in.skip(true);
    if (in.at_end()) break;
    if (in.peek() == ';') {
      in.advance();
      continue;
    }
    const std::string_view key = in.key();
    if (key.empty())
      return in.fail(fmt::format("unexpected \"{}\" where a key belongs", in.peek()));
    in.skip(false);
    if (in.at_end() || in.peek() != '=') return in.fail(fmt::format("\"{}\" has no \"=\"", key));
    in.advance();
    in.skip(false);
    auto v = in.value();
    if (!v) return v.error();
    if (key == "user" || key == "group") {
      if (!v->has_value()) return in.fail(fmt::format("\"{}\" must be a string", key));
      if ((*v)->empty()) return in.fail(fmt::format("\"{}\" is empty", key));
      (key == "user" ? conf.user : conf.group) = std::move(**v);
    }
    in.skip(false);
    if (!in.at_end() && in.peek() != '\n' && in.peek() != ';')
      return in.fail(fmt::format("unexpected \"{}\" after the value of \"{}\"", in.peek(), key));
  }
  return conf;
}

std::string qemu_package(std::string_view arch) {
  if (arch == "x86_64" || arch == "i686") return "qemu-system-x86";
  if (arch == "aarch64" || arch == "armv7l") return "qemu-system-arm";
  return "";
}

std::string qemu_binary(std::string_view arch) {
  return fmt::format("/usr/bin/qemu-system-{}", arch);
}

const std::vector<std::string_view>& libvirt_reasons() {
  static const std::vector<std::string_view> kReasons = {
      "libvirt-kvm",
      "libvirt-not-installed",
      "kvm-not-usable",
      "libvirt-daemon-not-running",
      "qemu-emulator-missing",
      "libvirt-capabilities-stale",
      "qemu-user-cannot-open-kvm",
      "libvirt-error",
  };
  return kReasons;
}

namespace {

// OUT with its verdict: STATE, REASON, DETAIL and HINT.
LibvirtCheck verdict(LibvirtCheck out, CheckState state, std::string reason, std::string detail,
                     std::string hint = "") {
  out.item.state = state;
  out.item.detail = std::move(detail);
  out.item.hint = std::move(hint);
  out.reason = std::move(reason);
  return out;
}

// The daemon could not be reached or its capabilities not read; nullopt when they were.
std::optional<LibvirtCheck> connection_failure(const LibvirtInputs& in, const LibvirtCheck& out) {
  const LibvirtFacts& f = in.facts;
  if (!f.connected) {
    if (f.connect_errno == ECONNREFUSED || f.connect_errno == ENOENT) {
      // The client library connects to virtqemud's socket when it exists, else libvirtd's.
      const bool modular =
          in.virtqemud_socket || (in.virtqemud_installed && !in.libvirtd_installed);
      const std::string_view unit = modular ? "virtqemud.service" : "libvirtd.service";
      return verdict(out, CheckState::fail, "libvirt-daemon-not-running",
                     fmt::format("no libvirt daemon listens on \"{}\": {}",
                                 modular ? kVirtqemudSocket : kLibvirtdSocket, f.connect_error),
                     fmt::format("start it: systemctl enable --now {}", unit));
    }
    return verdict(out, CheckState::fail, "libvirt-error",
                   fmt::format("cannot connect to libvirt ({}): {}", kLibvirtUri, f.connect_error));
  }
  if (!f.query_error.empty())
    return verdict(out, CheckState::fail, "libvirt-error",
                   fmt::format("libvirt's {} could not be read: {}", f.source, f.query_error));
  return std::nullopt;
}

// libvirt offers no kvm domain: the emulator is missing, or its capabilities are stale; nullopt
// when it offers one.
std::optional<LibvirtCheck> guest_failure(const LibvirtInputs& in, const LibvirtCheck& out) {
  const LibvirtFacts& f = in.facts;
  const std::string binary = qemu_binary(in.arch);
  const std::string libvirt_said =
      f.kvm_error.empty() ? "" : fmt::format(" (libvirt: \"{}\")", f.kvm_error);
  if (!f.guest.found && !in.emulator_present) {
    const std::string package = qemu_package(in.arch);
    return verdict(out, CheckState::fail, "qemu-emulator-missing",
                   fmt::format("libvirt has no emulator for {}: \"{}\" is missing{}", in.arch,
                               binary, libvirt_said),
                   package.empty() ? fmt::format("install QEMU's system emulator for {}", in.arch)
                                   : fmt::format("install it: apt-get install {}", package));
  }
  if (f.guest.found && f.guest.kvm) return std::nullopt;
  // libvirt 9.0 asks QEMU again by itself when /dev/kvm appeared, went or changed owner or
  // mode; what it still has not seen takes a daemon restart.
  const std::string_view unit = in.virtqemud_socket ? "virtqemud.service" : "libvirtd.service";
  return verdict(
      out, CheckState::fail, "libvirt-capabilities-stale",
      fmt::format("the KVM probe succeeded, but libvirt offers no kvm domain for {}{}{}", in.arch,
                  f.guest.found ? "" : fmt::format(" and does not list \"{}\"", binary),
                  libvirt_said),
      fmt::format("refresh libvirt's QEMU capabilities: systemctl restart {}", unit));
}

// What PASS says: the emulator, the first machine, and whether the QEMU user can open /dev/kvm.
std::string kvm_offered(const LibvirtInputs& in) {
  const LibvirtGuest& guest = in.facts.guest;
  std::string detail = fmt::format("libvirt offers kvm for {} (\"{}\"", in.arch, guest.emulator);
  if (!guest.machines.empty()) detail += fmt::format(", machine \"{}\"", guest.machines.front());
  detail += ")";
  if (in.qemu_user_can_open == true)
    detail += fmt::format(" and its QEMU user \"{}\" can open /dev/kvm", in.qemu_user.user);
  else
    detail += fmt::format("; whether its QEMU user \"{}\" can open /dev/kvm is not known",
                          in.qemu_user.user);
  return detail;
}

}  // namespace

LibvirtCheck diagnose_libvirt(const LibvirtInputs& in) {
  LibvirtCheck out;
  out.item.id = "libvirt";
  out.item.title = fmt::format("libvirt offers KVM guests ({})", kLibvirtUri);
  const bool any_daemon = in.virtqemud_installed || in.libvirtd_installed;
  if (!in.library || !any_daemon)
    return verdict(out, CheckState::skip, "libvirt-not-installed",
                   in.library ? "no libvirt daemon is installed (virtqemud, libvirtd)"
                              : "libvirt is not installed: " + in.library_error);
  if (!in.kvm_usable)
    return verdict(out, CheckState::skip, "kvm-not-usable",
                   fmt::format("KVM is not usable here ({}): libvirt can offer only qemu domains",
                               in.kvm_reason));
  if (auto failed = connection_failure(in, out)) return *failed;
  if (auto failed = guest_failure(in, out)) return *failed;
  if (in.qemu_user_can_open == false) {
    const std::string group = in.device_group.empty() ? "kvm" : in.device_group;
    return verdict(
        out, CheckState::fail, "qemu-user-cannot-open-kvm",
        fmt::format(
            "libvirt offers kvm, but its QEMU user \"{}\" (group \"{}\", {}) cannot open /dev/kvm{}: kvm domains fail with \"Could not access KVM kernel module: Permission denied\"",
            in.qemu_user.user, in.qemu_user.group, kQemuConf,
            in.qemu_user_detail.empty() ? "" : ": " + in.qemu_user_detail),
        fmt::format(
            "add it to the device's group: usermod -a -G {} {} (takes effect at the next domain start)",
            group, in.qemu_user.user));
  }
  return verdict(out, CheckState::pass, "libvirt-kvm", kvm_offered(in));
}

bool changes_kvm_access(const std::vector<Action>& done) {
  for (const Action& a : done) {
    if (a.status != Status::changed) continue;
    switch (a.kind) {
      case ActionKind::load_module:  // KVM's own (kvm, kvm_intel, kvm_pvm, ...), not vhost_net
      case ActionKind::reload_module:
        if (a.target == "kvm" || a.target.starts_with("kvm_")) return true;
        break;
      case ActionKind::create_group:
      case ActionKind::add_member:
        return true;
      case ActionKind::node_permissions:  // its target is the node's path; device.node is "kvm"
        if (a.target == "/dev/kvm") return true;
        break;
      default:
        break;
    }
  }
  return false;
}

std::optional<Action> libvirt_after_apply(const LibvirtCheck& c) {
  if (c.item.state == CheckState::skip) return std::nullopt;
  Action a{.id = "libvirt:capabilities",
           .kind = ActionKind::libvirt_capabilities,
           .target = kLibvirtUri};
  if (c.item.state == CheckState::pass) {
    a.detail = c.item.detail;
    return a;
  }
  a.status = Status::pending;
  a.detail = fmt::format("{} ({}): {}", c.reason, c.item.hint, c.item.detail);
  return a;
}

}  // namespace kvmprov
