// SPDX-License-Identifier: MIT
// libvirt's capability XML and qemu.conf read into plain values.
#include "libvirt.h"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <functional>
#include <optional>
#include <pugixml.hpp>

#include "text.h"

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

// libvirt's configuration syntax (virconf): KEY = VALUE, where VALUE is a string in double or
// single quotes (or triple double quotes), a number, or a list of values in brackets; statements
// end at a newline or ";"; "#" starts a comment outside strings.
Result<QemuUser> parse_qemu_conf(std::string_view text, std::string_view origin,
                                 QemuUser defaults) {
  QemuUser conf = std::move(defaults);
  size_t pos = 0;
  int line = 1;
  auto fail = [&](std::string_view what) -> Error {
    return Error{EINVAL, fmt::format("{}:{}: {}", origin, line, what)};
  };
  auto at_end = [&] { return pos >= text.size(); };
  // Skips blanks and comments; newlines too when NEWLINES.
  auto skip = [&](bool newlines) {
    while (!at_end()) {
      char c = text[pos];
      if (c == '#') {
        while (!at_end() && text[pos] != '\n') ++pos;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos;
      } else if (c == '\n' && newlines) {
        ++line;
        ++pos;
      } else {
        break;
      }
    }
  };
  // One value; its text when it is a string, nullopt for a number or list.
  std::function<Result<std::optional<std::string>>()> value;
  value = [&]() -> Result<std::optional<std::string>> {
    if (at_end()) return fail("a value is missing at the end of the file");
    char c = text[pos];
    if (c == '"' || c == '\'') {
      const bool triple = text.substr(pos, 3) == "\"\"\"";
      const std::string_view close = triple ? std::string_view("\"\"\"") : text.substr(pos, 1);
      pos += close.size();
      size_t end = text.find(close, pos);
      if (end == std::string_view::npos) return fail("a string is not closed");
      std::string s(text.substr(pos, end - pos));
      if (!triple && s.find('\n') != std::string::npos) return fail("a string is not closed");
      for (char ch : s) line += ch == '\n';
      pos = end + close.size();
      return std::optional<std::string>(std::move(s));
    }
    if (c == '[') {
      ++pos;
      for (;;) {
        skip(true);
        if (at_end()) return fail("a list is not closed");
        if (text[pos] == ']') break;
        if (auto element = value(); !element) return element.error();
        skip(true);
        if (!at_end() && text[pos] == ',') ++pos;
      }
      ++pos;
      return std::optional<std::string>();
    }
    if (c == '-' || c == '+' || std::isdigit(static_cast<unsigned char>(c))) {
      ++pos;
      while (!at_end() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
      return std::optional<std::string>();
    }
    return fail(fmt::format("unexpected \"{}\" where a value belongs", c));
  };
  for (;;) {
    skip(true);
    if (at_end()) break;
    if (text[pos] == ';') {
      ++pos;
      continue;
    }
    const size_t key_start = pos;
    while (!at_end() && (std::isalnum(static_cast<unsigned char>(text[pos])) || text[pos] == '_' ||
                         text[pos] == '.'))
      ++pos;
    std::string_view key = text.substr(key_start, pos - key_start);
    if (key.empty()) return fail(fmt::format("unexpected \"{}\" where a key belongs", text[pos]));
    skip(false);
    if (at_end() || text[pos] != '=') return fail(fmt::format("\"{}\" has no \"=\"", key));
    ++pos;
    skip(false);
    auto v = value();
    if (!v) return v.error();
    if (key == "user" || key == "group") {
      if (!v->has_value()) return fail(fmt::format("\"{}\" must be a string", key));
      if ((*v)->empty()) return fail(fmt::format("\"{}\" is empty", key));
      (key == "user" ? conf.user : conf.group) = std::move(**v);
    }
    skip(false);
    if (!at_end() && text[pos] != '\n' && text[pos] != ';')
      return fail(fmt::format("unexpected \"{}\" after the value of \"{}\"", text[pos], key));
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

}  // namespace kvmprov
