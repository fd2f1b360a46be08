// SPDX-License-Identifier: MIT
// Tests for the profile parser and validator: accepted shapes, exact error text, hostile input.
#include "profile.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace kvmprov {
namespace {

constexpr const char* kFile = "p.yaml";

std::vector<std::string> errors_of(std::string_view text) {
  ParseResult r = parse_profile(text, kFile);
  std::vector<std::string> out;
  for (const ProfileError& e : r.errors) out.push_back(e.str());
  CHECK(r.profile.has_value() == out.empty());
  return out;
}

// The single error a profile produces, so a test reads as "this text gives this message".
std::string error_of(std::string_view text) {
  auto errors = errors_of(text);
  REQUIRE(errors.size() == 1);
  return errors[0];
}

Profile parse_ok(std::string_view text) {
  ParseResult r = parse_profile(text, kFile);
  for (const ProfileError& e : r.errors) FAIL_CHECK(e.str());
  REQUIRE(r.profile.has_value());
  return *r.profile;
}

std::string with_modules(std::string_view modules) {
  return "version: 1\nname: t\nmodules:\n" + std::string(modules);
}

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kvmprov-test-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace

TEST_CASE("vendor and persist names round-trip") {
  for (Vendor v : {Vendor::intel, Vendor::amd, Vendor::hygon, Vendor::zhaoxin, Vendor::centaur}) {
    CHECK(parse_vendor(vendor_name(v)) == v);
  }
  CHECK(vendor_name(Vendor::unknown) == "unknown");
  CHECK_FALSE(parse_vendor("unknown").has_value());
  CHECK_FALSE(parse_vendor("Intel").has_value());
  CHECK(vendor_kvm_module(Vendor::intel) == "kvm_intel");
  CHECK(vendor_kvm_module(Vendor::zhaoxin) == "kvm_intel");
  CHECK(vendor_kvm_module(Vendor::centaur) == "kvm_intel");
  CHECK(vendor_kvm_module(Vendor::amd) == "kvm_amd");
  CHECK(vendor_kvm_module(Vendor::hygon) == "kvm_amd");
  CHECK(vendor_kvm_module(Vendor::unknown) == "");
  CHECK(persist_name(PersistMode::automatic) == "auto");
  CHECK(persist_name(PersistMode::modules_load_d) == "modules-load.d");
  CHECK(persist_name(PersistMode::etc_modules) == "etc-modules");
  CHECK(persist_name(PersistMode::none) == "none");
}

TEST_CASE("ProfileError::str") {
  CHECK(ProfileError{"f", 3, 7, "bad"}.str() == "f:3:7: bad");
  CHECK(ProfileError{"f", 0, 0, "bad"}.str() == "f: bad");
}

TEST_CASE("value grammars") {
  CHECK(normalise_module_name("kvm-intel") == "kvm_intel");
  CHECK(valid_module_name("kvm-intel"));
  CHECK(valid_module_name(std::string(55, 'a')));
  CHECK_FALSE(valid_module_name(std::string(56, 'a')));
  CHECK_FALSE(valid_module_name(""));
  CHECK_FALSE(valid_module_name("kvm intel"));
  CHECK_FALSE(valid_module_name("kvm.ko"));
  CHECK(valid_option_name("nested"));
  CHECK_FALSE(valid_option_name("nes-ted"));
  CHECK_FALSE(valid_option_name("a=b"));
  CHECK(valid_option_value("1,2:3+4/5=6-7_8.9@"));
  CHECK(valid_option_value(std::string(255, 'x')));
  CHECK_FALSE(valid_option_value(std::string(256, 'x')));
  CHECK_FALSE(valid_option_value(""));
  CHECK(valid_option_value("-1"));
  CHECK_FALSE(valid_option_value("a b"));
  CHECK_FALSE(valid_option_value("a\nb"));
  CHECK_FALSE(valid_option_value("a#b"));
  CHECK_FALSE(valid_option_value("\"a\""));
  CHECK_FALSE(valid_option_value("caf\xc3\xa9"));
  CHECK(valid_device_node("kvm"));
  CHECK(valid_device_node("net/tun"));
  CHECK(valid_device_node("vhost-net"));
  CHECK_FALSE(valid_device_node(""));
  CHECK_FALSE(valid_device_node("/dev/kvm"));
  CHECK_FALSE(valid_device_node("../sda"));
  CHECK_FALSE(valid_device_node("net/../sda"));
  CHECK_FALSE(valid_device_node("net//tun"));
  CHECK_FALSE(valid_device_node("net/"));
  CHECK_FALSE(valid_device_node("./kvm"));
  CHECK_FALSE(valid_device_node("kvm rw"));
  CHECK(valid_account_name("kvm"));
  CHECK(valid_account_name("libvirt-qemu"));
  CHECK(valid_account_name("_apt"));
  CHECK(valid_account_name("machine$"));
  CHECK(valid_account_name(std::string(32, 'a')));
  CHECK_FALSE(valid_account_name(std::string(33, 'a')));
  CHECK_FALSE(valid_account_name(std::string(32, 'a') + "$"));
  CHECK_FALSE(valid_account_name("-kvm"));
  CHECK_FALSE(valid_account_name("a$b"));
  CHECK_FALSE(valid_account_name(""));
}

TEST_CASE("a complete profile") {
  Profile p = parse_ok(R"(version: 1
name: kvm-host
modules:
  - name: kvm
  - name: kvm-intel
    when: { cpu_vendor: intel }
    options: { nested: 1, ept: true, enable_apicv: false, list: "a,b", quoted: "true" }
  - name: kvm_amd
    when: { cpu_vendor: [amd, hygon] }
persist: modules-load.d
devices:
  - node: kvm
    group: kvm
    mode: "0660"
  - node: net/tun
    mode: "0666"
  - node: vhost-net
    mode: '660'
groups:
  - name: kvm
    members: [nova, libvirt-qemu]
  - name: qemu
    system: false
)");
  CHECK(p.source == kFile);
  CHECK(p.name == "kvm-host");
  REQUIRE(p.modules.size() == 3);
  CHECK(p.modules[0].name == "kvm");
  CHECK(p.modules[0].when_vendors.empty());
  CHECK(p.modules[0].options.empty());
  CHECK(p.modules[1].name == "kvm_intel");
  CHECK(p.modules[1].when_vendors == std::vector<Vendor>{Vendor::intel});
  REQUIRE(p.modules[1].options.size() == 5);
  CHECK(p.modules[1].options[0].name == "nested");
  CHECK(p.modules[1].options[0].value == "1");
  CHECK(p.modules[1].options[1].value == "1");
  CHECK(p.modules[1].options[2].value == "0");
  CHECK(p.modules[1].options[3].value == "a,b");
  CHECK(p.modules[1].options[4].value == "true");
  CHECK(p.modules[2].when_vendors == std::vector<Vendor>{Vendor::amd, Vendor::hygon});
  CHECK(p.persist == PersistMode::modules_load_d);
  REQUIRE(p.devices.size() == 3);
  CHECK(p.devices[0].node == "kvm");
  CHECK(p.devices[0].group == "kvm");
  CHECK(p.devices[0].mode == 0660u);
  CHECK(p.devices[1].node == "net/tun");
  CHECK(p.devices[1].group == "");
  CHECK(p.devices[1].mode == 0666u);
  CHECK(p.devices[2].mode == 0660u);
  REQUIRE(p.groups.size() == 2);
  CHECK(p.groups[0].name == "kvm");
  CHECK(p.groups[0].system);
  CHECK(p.groups[0].members == std::vector<std::string>{"nova", "libvirt-qemu"});
  CHECK_FALSE(p.groups[1].system);
  CHECK(p.groups[1].members.empty());
}

TEST_CASE("a minimal profile takes the defaults") {
  Profile p = parse_ok("version: 1\nname: bare\n");
  CHECK(p.persist == PersistMode::automatic);
  CHECK(p.modules.empty());
  CHECK(p.devices.empty());
  CHECK(p.groups.empty());
  CHECK(parse_ok("version: 1\nname: x\nmodules: []\ndevices:\ngroups: []\n").modules.empty());
}

TEST_CASE("module names are normalised before the duplicate check") {
  CHECK(parse_ok(with_modules("  - name: kvm-intel\n")).modules[0].name == "kvm_intel");
  CHECK(error_of(with_modules("  - name: kvm_intel\n  - name: kvm-intel\n")) ==
        "p.yaml:5:11: duplicate module \"kvm_intel\", first listed at line 4");
}

TEST_CASE("unknown keys, with a hint when one is close") {
  CHECK(error_of("version: 1\nname: t\nmodles: []\n") ==
        "p.yaml:3:1: unknown key \"modles\" (did you mean \"modules\"?)");
  CHECK(error_of("version: 1\nname: t\ncolour: red\n") ==
        "p.yaml:3:1: unknown key \"colour\": expected version, name, modules, persist, devices, "
        "groups or nova");
  CHECK(error_of(with_modules("  - name: kvm\n    optoins: {}\n")) ==
        "p.yaml:5:5: unknown key \"optoins\" in module \"kvm\" (did you mean \"options\"?)");
  CHECK(error_of("version: 1\nname: t\ndevices:\n  - node: kvm\n    mdoe: \"0660\"\n") ==
        "p.yaml:5:5: unknown key \"mdoe\" in device \"kvm\" (did you mean \"mode\"?)");
  CHECK(error_of("version: 1\nname: t\nname: u\n") ==
        "p.yaml:3:1: duplicate key \"name\", first at line 2");
}

TEST_CASE("version and name") {
  CHECK(error_of("version: 2\nname: t\n") == "p.yaml:1:10: unsupported version \"2\": expected 1");
  CHECK(error_of("version: one\nname: t\n") ==
        "p.yaml:1:10: unsupported version \"one\": expected 1");
  CHECK(error_of("version: [1]\nname: t\n") ==
        "p.yaml:1:10: expected a single value for \"version\", found a list");
  CHECK(error_of("name: t\n") == "p.yaml:1:1: missing required key \"version\"");
  CHECK(error_of("version: 1\nname: a b\n") ==
        "p.yaml:2:7: invalid profile name \"a b\": allowed characters are A-Z a-z 0-9 . _ -");
  CHECK(error_of("version: 1\nname:\n") == "p.yaml:2:1: missing value for \"name\"");
}

TEST_CASE("the top level must be a map") {
  CHECK(error_of("") ==
        "p.yaml:1:1: profile is empty: expected a map with \"version\" and \"name\"");
  CHECK(error_of("# only a comment\n") ==
        "p.yaml:1:1: profile is empty: expected a map with \"version\" and \"name\"");
  CHECK(error_of("---\n...\n") ==
        "p.yaml:1:1: profile is empty: expected a map with \"version\" and \"name\"");
  CHECK(errors_of("{}\n") == std::vector<std::string>{
                                 "p.yaml:1:1: missing required key \"version\"",
                                 "p.yaml:1:1: missing required key \"name\"",
                             });
  CHECK(error_of("- kvm\n") == "p.yaml:1:1: expected a map at the top level, found a list");
  CHECK(error_of("kvm\n") == "p.yaml:1:1: expected a map at the top level, found \"kvm\"");
  CHECK(error_of("version: 1\nname: t\n---\nversion: 1\n") ==
        "p.yaml:3:1: more than one YAML document: a profile is a single document");
}

TEST_CASE("CPU vendors") {
  CHECK(error_of(with_modules("  - name: kvm_intel\n    when: { cpu_vendor: sparc }\n")) ==
        "p.yaml:5:25: unknown CPU vendor \"sparc\" for module \"kvm_intel\": expected intel, amd, "
        "hygon, zhaoxin or centaur");
  CHECK(error_of(with_modules("  - name: kvm_intel\n    when: { cpu_vendor: [amd, intle] }\n")) ==
        "p.yaml:5:31: unknown CPU vendor \"intle\" for module \"kvm_intel\" (did you mean "
        "\"intel\"?)");
  CHECK(error_of(with_modules("  - name: kvm_amd\n    when: { cpu_vendor: [] }\n")) ==
        "p.yaml:5:25: empty \"cpu_vendor\" list for module \"kvm_amd\": list at least one vendor, "
        "or remove \"when\"");
  CHECK(error_of(with_modules("  - name: kvm_amd\n    when: amd\n")) ==
        "p.yaml:5:11: expected a map for \"when\" of module \"kvm_amd\", found \"amd\"");
}

TEST_CASE("module names") {
  CHECK(error_of(with_modules("  - name: kvm intel\n")) ==
        "p.yaml:4:11: invalid module name \"kvm intel\": allowed characters are A-Z a-z 0-9 _ -");
  CHECK(error_of(with_modules("  - name: \"kvm\\nintel\"\n")) ==
        "p.yaml:4:11: invalid module name \"kvm\\nintel\": allowed characters are A-Z a-z 0-9 _ -");
  CHECK(error_of(with_modules("  - name: " + std::string(56, 'k') + "\n")) ==
        "p.yaml:4:11: invalid module name \"" + std::string(56, 'k') +
            "\": must be at most 55 characters");
  CHECK(error_of(with_modules("  - when: { cpu_vendor: amd }\n")) ==
        "p.yaml:4:5: missing required key \"name\" in modules entry 1");
  CHECK(error_of(with_modules("  - kvm\n")) ==
        "p.yaml:4:5: expected a map for modules entry 1, found \"kvm\"");
  CHECK(error_of("version: 1\nname: t\nmodules: { name: kvm }\n") ==
        "p.yaml:3:10: expected a list for \"modules\", found a map");
}

TEST_CASE("option names and values cannot inject text into modprobe.d") {
  auto options = [](std::string_view body) {
    return with_modules("  - name: kvm_intel\n    options:\n      " + std::string(body) + "\n");
  };
  const std::string chars = ": allowed characters are A-Z a-z 0-9 _ . , : + / = @ -";
  CHECK(error_of(options("nested: 1 2")) ==
        "p.yaml:6:15: invalid option value \"1 2\" for \"nested\" of module \"kvm_intel\"" + chars);
  CHECK(error_of(options("nested: \"1\\ninstall kvm /bin/sh\"")) ==
        "p.yaml:6:15: invalid option value \"1\\ninstall kvm /bin/sh\" for \"nested\" of module "
        "\"kvm_intel\"" +
            chars);
  CHECK(error_of(options("nested: \"1#x\"")) ==
        "p.yaml:6:15: invalid option value \"1#x\" for \"nested\" of module \"kvm_intel\"" + chars);
  CHECK(error_of(options("nested: \"1'\"")) ==
        "p.yaml:6:15: invalid option value \"1'\" for \"nested\" of module \"kvm_intel\"" + chars);
  CHECK(error_of(options("nested: '\"1\"'")) ==
        "p.yaml:6:15: invalid option value \"\\\"1\\\"\" for \"nested\" of module \"kvm_intel\"" +
            chars);
  CHECK(error_of(options("nested: \"\\e[31m\"")) ==
        "p.yaml:6:15: invalid option value \"\\x1b[31m\" for \"nested\" of module \"kvm_intel\"" +
            chars);
  CHECK(error_of(options("nested: \"\"")) ==
        "p.yaml:6:15: invalid option value \"\" for \"nested\" of module \"kvm_intel\": must not "
        "be empty");
  CHECK(error_of(options("nested:")) ==
        "p.yaml:6:7: missing value for \"nested\" of module \"kvm_intel\"");
  CHECK(
      error_of(options("nested: [1]")) ==
      "p.yaml:6:15: expected a single value for \"nested\" of module \"kvm_intel\", found a list");
  CHECK(error_of(options("\"nes ted\": 1")) ==
        "p.yaml:6:7: invalid option name \"nes ted\" for module \"kvm_intel\": allowed characters "
        "are A-Z a-z 0-9 _");
  CHECK(error_of(options("\"a\\nb\": 1")) ==
        "p.yaml:6:7: invalid option name \"a\\nb\" for module \"kvm_intel\": allowed characters "
        "are A-Z a-z 0-9 _");
  CHECK(error_of(options("\"a#b\": 1")) ==
        "p.yaml:6:7: invalid option name \"a#b\" for module \"kvm_intel\": allowed characters are "
        "A-Z a-z 0-9 _");
  CHECK(error_of(options("\"a=b\": 1")) ==
        "p.yaml:6:7: invalid option name \"a=b\" for module \"kvm_intel\": allowed characters are "
        "A-Z a-z 0-9 _");
  CHECK(error_of(options("nested: 1\n      nested: 0")) ==
        "p.yaml:7:7: duplicate option \"nested\" for module \"kvm_intel\", first listed at line 6");
}

TEST_CASE("option values: one word for libkmod, the kernel and a shell") {
  auto value_of = [](std::string_view v) {
    Profile p =
        parse_ok(with_modules("  - name: kvm\n    options:\n      opt: " + std::string(v) + "\n"));
    REQUIRE(p.modules[0].options.size() == 1);
    return p.modules[0].options[0].value;
  };
  // kvm's lapic_timer_advance_ns=-1 (adaptive): the word libkmod reads is "NAME=-1", so a
  // leading '-' cannot be taken for an option.
  CHECK(value_of("-1") == "-1");
  CHECK(value_of("--1") == "--1");
  CHECK(value_of("6665@10.0.0.1/eth0,6666@10.0.0.2/") == "6665@10.0.0.1/eth0,6666@10.0.0.2/");
  CHECK(value_of("0x1f") == "0x1f");
  auto why = [](std::string_view v) {
    auto errors =
        errors_of(with_modules("  - name: kvm\n    options:\n      opt: " + std::string(v) + "\n"));
    REQUIRE(errors.size() == 1);
    return errors[0];
  };
  const std::string chars = ": allowed characters are A-Z a-z 0-9 _ . , : + / = @ -";
  // libkmod joins a line ending in a backslash with the next one: a second directive.
  CHECK(why("'1\\'") ==
        "p.yaml:6:12: invalid option value \"1\\\\\" for \"opt\" of module \"kvm\"" + chars);
  // A foreign "install kvm ... $CMDLINE_OPTS" hands the options to /bin/sh.
  for (const char* v : {"'1;reboot'", "'$(reboot)'", "'`reboot`'", "'1|x'", "'1&x'", "'1>x'",
                        "'1<x'", "'a*'", "'a?'", "'[a]'", "'{a,b}'", "'~root'", "'!x'", "'1\"'",
                        "'1#x'", "'a\tb'", "'1 2'", "\"1\\x7f\"", "'caf\xc3\xa9'"}) {
    INFO(v);
    CHECK(why(v).find(chars) != std::string::npos);
  }
}

TEST_CASE("plain YAML 1.1 booleans become 1 and 0; quoted ones are strings") {
  auto value_of = [](std::string_view v) {
    Profile p = parse_ok(
        with_modules("  - name: kvm_amd\n    options: { nested: " + std::string(v) + " }\n"));
    REQUIRE(p.modules[0].options.size() == 1);
    return p.modules[0].options[0].value;
  };
  for (const char* v : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"}) {
    INFO(v);
    CHECK(value_of(v) == "1");
  }
  for (const char* v :
       {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"}) {
    INFO(v);
    CHECK(value_of(v) == "0");
  }
  // Not YAML 1.1 booleans: other mixtures of case, and anything quoted.
  CHECK(value_of("yEs") == "yEs");
  CHECK(value_of("oN") == "oN");
  CHECK(value_of("\"yes\"") == "yes");
  CHECK(value_of("'off'") == "off");
  CHECK(value_of("\"true\"") == "true");
  // A group's "system" is a boolean field: quoted or not, the words mean what they say.
  auto system_of = [](std::string_view v) {
    return parse_ok("version: 1\nname: t\ngroups:\n  - name: kvm\n    system: " + std::string(v) +
                    "\n")
        .groups[0]
        .system;
  };
  for (const char* v : {"yes", "Yes", "YES", "on", "y", "true", "\"yes\"", "'on'"}) {
    INFO(v);
    CHECK(system_of(v));
  }
  for (const char* v : {"no", "No", "NO", "off", "n", "false", "\"no\""}) {
    INFO(v);
    CHECK_FALSE(system_of(v));
  }
}

TEST_CASE("group and member names as the shadow tools take them") {
  auto names_ok = [](std::string_view name) {
    const std::string quoted = "'" + std::string(name) + "'";
    Profile p = parse_ok("version: 1\nname: t\ndevices:\n  - node: kvm\n    group: " + quoted +
                         "\ngroups:\n  - name: " + quoted + "\n    members: [" + quoted + "]\n");
    CHECK(p.devices[0].group == name);
    CHECK(p.groups[0].name == name);
    CHECK(p.groups[0].members == std::vector<std::string>{std::string(name)});
  };
  // Accepted by Debian 12's groupadd and useradd (shadow 4.13): mixed case, SSSD/LDAP names.
  for (const char* name :
       {"Admin", "john.doe", "DOMAIN.user", "a@b", "x=y", "12a", "_a", "a-", "machine$", "a/b", ".",
        "..", "x!y", "x#y", "x;y", "x(y", "x[y", "x*y"}) {
    INFO(name);
    names_ok(name);
  }
  auto member_error = [](std::string_view quoted) {
    return error_of("version: 1\nname: t\ngroups:\n  - name: kvm\n    members: [" +
                    std::string(quoted) + "]\n");
  };
  const std::string at = "p.yaml:5:15: invalid member name ";
  CHECK(member_error("'a:b'") == at + "\"a:b\" for group \"kvm\": must not contain ':', which "
                                      "separates the fields of /etc/group");
  CHECK(member_error("'a,b'") == at + "\"a,b\" for group \"kvm\": must not contain ',', which "
                                      "separates the members in /etc/group");
  CHECK(member_error("'-a'") == at + "\"-a\" for group \"kvm\": must not start with '-': groupadd "
                                     "and usermod would take it for an option");
  CHECK(member_error("'+a'") ==
        at + "\"+a\" for group \"kvm\": must not start with '+' or '~': groupadd and useradd "
             "refuse it ('+' marks NIS entries in /etc/group)");
  CHECK(member_error("'~a'").find("must not start with '+' or '~'") != std::string::npos);
  CHECK(member_error("'#a'") == at + "\"#a\" for group \"kvm\": must not start with '#': "
                                     "/etc/group would read its line as a comment");
  CHECK(member_error("'123'") == at + "\"123\" for group \"kvm\": must not be all digits: udev's "
                                      "GROUP= and usermod --groups would take it for a group ID");
  CHECK(member_error("'a%k'") ==
        at + "\"a%k\" for group \"kvm\": must not contain '%', which udev substitutes in GROUP=");
  CHECK(member_error("'a$kernel'") ==
        at + "\"a$kernel\" for group \"kvm\": '$' is allowed only at the end (as in a Samba "
             "machine account): elsewhere udev substitutes it in GROUP=");
  CHECK(member_error("\"a'b\"") == at + "\"a'b\" for group \"kvm\": must not contain quotes or "
                                        "'\\', which end or escape a udev rule's value");
  CHECK(member_error("'a\\b'") == at + "\"a\\\\b\" for group \"kvm\": must not contain quotes or "
                                       "'\\', which end or escape a udev rule's value");
  for (const char* bad :
       {"'a b'", "\"a\\tb\"", "\"a\\x01\"", "\"a\\x7f\"", "'caf\xc3\xa9'", "''"}) {
    INFO(bad);
    CHECK(member_error(bad).find(at) == 0);
  }
  CHECK(member_error("'" + std::string(33, 'a') + "'") ==
        at + "\"" + std::string(33, 'a') + "\" for group \"kvm\": must be at most 32 characters");
}

TEST_CASE("devices") {
  auto device = [](std::string_view body) {
    return "version: 1\nname: t\ndevices:\n  - node: kvm\n    " + std::string(body) + "\n";
  };
  CHECK(error_of(device("mode: \"0999\"")) ==
        "p.yaml:5:11: invalid mode \"0999\" for device \"kvm\": expected 3 or 4 octal digits, such "
        "as \"0660\"");
  CHECK(error_of(device("mode: \"1777\"")) ==
        "p.yaml:5:11: invalid mode \"1777\" for device \"kvm\": must be at most 0777 (no setuid, "
        "setgid or sticky bits)");
  CHECK(error_of(device("mode: rw")) ==
        "p.yaml:5:11: invalid mode \"rw\" for device \"kvm\": expected 3 or 4 octal digits, such "
        "as \"0660\"");
  // A mode is a quoted string: Ansible (YAML 1.1) reads an unquoted 0660 as 432 and writes 432
  // back, which would otherwise become 0432, a world-writable node the group cannot use.
  for (const char* unquoted : {"mode: 0660", "mode: 660", "mode: 0600"}) {
    CAPTURE(unquoted);
    CHECK(error_of(device(unquoted))
              .ends_with(": a mode must be a quoted string, such as mode: \"0660\" (unquoted, "
                         "YAML 1.1 tools such as Ansible read 0660 as the number 432)"));
  }
  CHECK(error_of("version: 1\nname: t\ndevices: [{node: kvm, mode: 0660}]\n")
            .ends_with("a mode must be a quoted string, such as mode: \"0660\" (unquoted, YAML "
                       "1.1 tools such as Ansible read 0660 as the number 432)"));
  CHECK(error_of(device("mode: 432")) ==
        "p.yaml:5:11: invalid mode \"432\" for device \"kvm\": a mode must be a quoted string, "
        "such as mode: \"0660\" (unquoted, YAML 1.1 tools such as Ansible read 0660 as the number "
        "432)");
  CHECK(error_of(device("mode: 0o660")) ==
        "p.yaml:5:11: invalid mode \"0o660\" for device \"kvm\": expected 3 or 4 octal digits, "
        "such as \"0660\"");
  CHECK(error_of(device("group: \"kvm\\\"\"")) ==
        "p.yaml:5:12: invalid group \"kvm\\\"\" for device \"kvm\": must not contain quotes or "
        "'\\', which end or escape a udev rule's value");
  CHECK(error_of("version: 1\nname: t\ndevices:\n  - node: ../sda\n") ==
        "p.yaml:4:11: invalid device node \"../sda\": must not contain \"..\"");
  CHECK(error_of("version: 1\nname: t\ndevices:\n  - node: /dev/kvm\n") ==
        "p.yaml:4:11: invalid device node \"/dev/kvm\": must be relative to /dev, without a "
        "leading '/'");
  CHECK(error_of("version: 1\nname: t\ndevices:\n  - node: net//tun\n") ==
        "p.yaml:4:11: invalid device node \"net//tun\": must not contain empty or \".\" path "
        "components");
  CHECK(error_of("version: 1\nname: t\ndevices:\n  - node: \"kvm\\\"\"\n") ==
        "p.yaml:4:11: invalid device node \"kvm\\\"\": allowed characters are A-Z a-z 0-9 . _ / -");
  CHECK(error_of("version: 1\nname: t\ndevices:\n  - node: kvm\n  - node: kvm\n") ==
        "p.yaml:5:11: duplicate device \"kvm\", first listed at line 4");
  CHECK(error_of("version: 1\nname: t\ndevices:\n  - group: kvm\n") ==
        "p.yaml:4:5: missing required key \"node\" in devices entry 1");
}

TEST_CASE("groups") {
  const std::string long_name(33, 'g');
  CHECK(error_of("version: 1\nname: t\ngroups:\n  - name: " + long_name + "\n") ==
        "p.yaml:4:11: invalid group name \"" + long_name + "\": must be at most 32 characters");
  CHECK(error_of("version: 1\nname: t\ngroups:\n  - name: kvm\n  - name: kvm\n") ==
        "p.yaml:5:11: duplicate group \"kvm\", first listed at line 4");
  CHECK(error_of("version: 1\nname: t\ngroups:\n  - name: kvm\n    system: maybe\n") ==
        "p.yaml:5:13: invalid value \"maybe\" for \"system\" of group \"kvm\": expected true or "
        "false (or yes/no, on/off)");
  CHECK(error_of("version: 1\nname: t\ngroups:\n  - name: kvm\n    members: [nova, \"a b\"]\n") ==
        "p.yaml:5:21: invalid member name \"a b\" for group \"kvm\": must be printable ASCII, "
        "without white space or control characters");
  CHECK(error_of("version: 1\nname: t\ngroups:\n  - name: kvm\n    members: [nova, nova]\n") ==
        "p.yaml:5:21: duplicate member \"nova\" in group \"kvm\"");
  CHECK(error_of("version: 1\nname: t\ngroups:\n  - name: kvm\n    members: nova\n") ==
        "p.yaml:5:14: expected a list for \"members\" of group \"kvm\", found \"nova\"");
}

TEST_CASE("persist") {
  CHECK(parse_ok("version: 1\nname: t\npersist: none\n").persist == PersistMode::none);
  CHECK(parse_ok("version: 1\nname: t\npersist: etc-modules\n").persist ==
        PersistMode::etc_modules);
  CHECK(parse_ok("version: 1\nname: t\npersist: auto\n").persist == PersistMode::automatic);
  CHECK(error_of("version: 1\nname: t\npersist: systemd\n") ==
        "p.yaml:3:10: unknown persist mode \"systemd\": expected auto, modules-load.d, "
        "etc-modules or none");
  CHECK(error_of("version: 1\nname: t\npersist: modules-load\n") ==
        "p.yaml:3:10: unknown persist mode \"modules-load\" (did you mean \"modules-load.d\"?)");
}

TEST_CASE("syntax errors carry yaml-cpp's position") {
  CHECK(error_of("version: 1\nname: [t\n") ==
        "p.yaml:3:1: syntax error: end of sequence flow not found");
  CHECK(error_of("version: 1\n  name: t\n") == "p.yaml:2:7: syntax error: illegal map value");
}

TEST_CASE("every error is reported, in document order") {
  CHECK(errors_of(R"(version: 3
nmae: t
modules:
  - name: kvm
    options: { halt_poll_ns: "1 0" }
  - name: kvm
devices:
  - node: ../kvm
    mode: "7777"
)") == std::vector<std::string>{
           "p.yaml:1:1: missing required key \"name\"",
           "p.yaml:1:10: unsupported version \"3\": expected 1",
           "p.yaml:2:1: unknown key \"nmae\" (did you mean \"name\"?)",
           "p.yaml:5:30: invalid option value \"1 0\" for \"halt_poll_ns\" of module \"kvm\": "
           "allowed characters are A-Z a-z 0-9 _ . , : + / = @ -",
           "p.yaml:6:11: duplicate module \"kvm\", first listed at line 4",
           "p.yaml:8:11: invalid device node \"../kvm\": must not contain \"..\"",
           "p.yaml:9:11: invalid mode \"7777\" for devices entry 1: must be at most 0777 (no "
           "setuid, setgid or sticky bits)",
       });
}

TEST_CASE("hostile documents") {
  SUBCASE("aliases are refused without being expanded") {
    std::string bomb = "version: 1\nname: t\na: &a [x, x, x, x, x, x, x, x, x, x]\n";
    for (char c = 'b'; c <= 'z'; ++c) {
      bomb += std::string(1, c) + ": &" + c + " [";
      for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", *" : "*") + char(c - 1);
      bomb += "]\n";
    }
    CHECK(error_of(bomb) == "p.yaml:3:4: anchors and aliases are not supported");
    CHECK(error_of("version: 1\nname: &n t\n") ==
          "p.yaml:2:7: anchors and aliases are not supported");
  }
  SUBCASE("deep nesting") {
    std::string deep =
        "version: 1\nname: t\nmodules: " + std::string(100, '[') + std::string(100, ']') + "\n";
    CHECK(error_of(deep) == "p.yaml:3:73: nesting deeper than 64 levels is not supported");
    // Far past yaml-cpp's own limit, which would otherwise speak first and less clearly.
    CHECK(error_of(std::string(100000, '[') + std::string(100000, ']')) ==
          "p.yaml:1:65: nesting deeper than 64 levels is not supported");
  }
  SUBCASE("not UTF-8") {
    CHECK(error_of("version: 1\nname: caf\xe9\n") ==
          "p.yaml:2:10: invalid UTF-8 byte 0xe9: profiles must be UTF-8 text");
    CHECK(error_of("\xff\xfev\0e\0r\0") ==
          "p.yaml:1:1: invalid UTF-8 byte 0xff: profiles must be UTF-8 text");
    CHECK(error_of("version: 1\nname: \xc3\xa9\xed\xa0\x80\n") ==
          "p.yaml:2:8: invalid UTF-8 byte 0xed: profiles must be UTF-8 text");
    CHECK(error_of("version: 1\nname: \xc0\xaf\n") ==
          "p.yaml:2:7: invalid UTF-8 byte 0xc0: profiles must be UTF-8 text");
  }
  SUBCASE("control bytes") {
    CHECK(error_of(std::string_view("version: 1\0\n", 12)) ==
          "p.yaml:1:11: control byte 0x00 in profile: profiles must be text");
    CHECK(error_of("version: 1\nname: t\x04\nmodules: oops\n") ==
          "p.yaml:2:8: control byte 0x04 in profile: profiles must be text");
  }
  SUBCASE("valid UTF-8 outside ASCII is escaped in messages") {
    CHECK(error_of("version: 1\nname: caf\xc3\xa9\n") ==
          "p.yaml:2:7: invalid profile name \"caf\\xc3\\xa9\": allowed characters are A-Z a-z 0-9 "
          ". _ -");
  }
  SUBCASE("long values are cut short in messages") {
    CHECK(error_of("version: 1\nname: t\npersist: " + std::string(100, 'x') + "\n") ==
          "p.yaml:3:10: unknown persist mode \"" + std::string(64, 'x') +
              "\"...: expected auto, modules-load.d, etc-modules or none");
  }
  SUBCASE("tags") {
    CHECK(error_of("version: 1\nname: !!binary dA==\n") ==
          "p.yaml:2:7: tags such as \"tag:yaml.org,2002:binary\" are not supported");
  }
}

TEST_CASE("load_profile_file refuses what is not a small regular file") {
  TempDir dir;
  SUBCASE("a good file") {
    std::ofstream(dir.file("ok.yaml")) << "version: 1\nname: ok\n";
    ParseResult r = load_profile_file(dir.file("ok.yaml"));
    REQUIRE(r.profile.has_value());
    CHECK(r.profile->source == dir.file("ok.yaml"));
  }
  SUBCASE("errors name the file") {
    std::ofstream(dir.file("bad.yaml")) << "version: 2\nname: ok\n";
    ParseResult r = load_profile_file(dir.file("bad.yaml"));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].str() ==
          dir.file("bad.yaml") + ":1:10: unsupported version \"2\": expected 1");
  }
  SUBCASE("missing") {
    ParseResult r = load_profile_file(dir.file("none.yaml"));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].str() ==
          dir.file("none.yaml") + ": cannot read profile: No such file or directory");
    CHECK(r.errors[0].line == 0);
  }
  SUBCASE("directory") {
    ParseResult r = load_profile_file(dir.file(""));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].str() == dir.file("") + ": cannot read profile: Is a directory");
  }
  SUBCASE("FIFO with no writer does not block") {
    REQUIRE(::mkfifo(dir.file("fifo").c_str(), 0600) == 0);
    ParseResult r = load_profile_file(dir.file("fifo"));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].str() == dir.file("fifo") + ": cannot read profile: not a regular file");
  }
  SUBCASE("device") {
    ParseResult r = load_profile_file("/dev/zero");
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].str() == "/dev/zero: cannot read profile: not a regular file");
  }
  SUBCASE("oversized") {
    std::ofstream(dir.file("big.yaml")) << "# " << std::string(1024 * 1024, 'x') << "\n";
    ParseResult r = load_profile_file(dir.file("big.yaml"));
    REQUIRE(r.errors.size() == 1);
    CHECK(r.errors[0].str() == dir.file("big.yaml") + ": profile is larger than 1 MiB");
  }
  SUBCASE("exactly 1 MiB is allowed") {
    std::string text = "version: 1\nname: ok\n";
    text += "#" + std::string(1024 * 1024 - text.size() - 2, 'x') + "\n";
    std::ofstream(dir.file("max.yaml")) << text;
    CHECK(load_profile_file(dir.file("max.yaml")).profile.has_value());
  }
}

TEST_CASE("the built-in default profile parses") {
  ParseResult r = parse_profile(default_profile_text(), std::string(kDefaultProfileSource));
  for (const ProfileError& e : r.errors) FAIL_CHECK(e.str());
  REQUIRE(r.profile.has_value());
  CHECK(r.profile->name == "default");
}

TEST_CASE("every shipped profile parses") {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(KVMPROV_SOURCE_DIR) / "profiles")) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    ParseResult r = load_profile_file(entry.path().string());
    for (const ProfileError& e : r.errors) FAIL_CHECK(e.str());
    CHECK(r.profile.has_value());
  }
  CHECK(count >= 3);
}

TEST_CASE("grammars refuse NUL, overlong device nodes and leading dashes") {
  // strchr-style checks take a NUL for an allowed character: it matches the terminator.
  CHECK_FALSE(valid_option_value(std::string_view("1\0x", 3)));
  CHECK_FALSE(valid_device_node(std::string_view("kvm\0x", 5)));
  CHECK_FALSE(valid_cpu_model_name(std::string_view("Skylake\0x", 9)));
  CHECK_FALSE(valid_config_path(std::string_view("/etc/nova/nova\0.conf", 20)));
  CHECK(valid_config_path("/etc/nova/nova.conf"));
  CHECK(error_of(std::string("version: 1\nname: t\nnova:\n  config: \"/etc/nova/nova\\0.conf\"\n"))
            .find("allowed characters are A-Z a-z 0-9 . _ / + -") != std::string::npos);
  CHECK(error_of(std::string("version: 1\nname: \"t\\0x\"\n")) ==
        "p.yaml:2:7: invalid profile name \"t\\x00x\": allowed characters are A-Z a-z 0-9 . _ -");
  CHECK(valid_device_node(std::string(255, 'a')));
  CHECK_FALSE(valid_device_node(std::string(256, 'a')));
  CHECK_FALSE(valid_device_node("-kvm"));
  CHECK_FALSE(valid_device_node("net/-tun"));
  CHECK(valid_device_node("net/tun-0"));
}

TEST_CASE("a carriage return ends a line only in CRLF, the same with yaml-cpp 0.7 and 0.8") {
  // yaml-cpp 0.7 (Debian 12) reads a lone CR as text, 0.8 (Debian 13) as a line break: the same
  // profile would be refused on one and mean "kvm" on the other. It is refused before either
  // sees it, on one line, where it stands. Both Debian releases run these tests.
  const std::string lone_cr =
      ": carriage return without a line feed: lines end with LF or CRLF (write a carriage return "
      "in a value as \"\\r\")";
  CHECK(error_of("version: 1\nname: \"kvm\\\r\"\n") == "p.yaml:2:12" + lone_cr);
  CHECK(error_of("version: 1\nname: kvm\r") == "p.yaml:2:10" + lone_cr);
  CHECK(error_of("version: 1\rname: kvm\n") == "p.yaml:1:11" + lone_cr);
  CHECK(error_of("version: 1\nmodules: [{name: kvm\r}]\nname: t\n") == "p.yaml:2:21" + lone_cr);
  // CRLF files parse as their LF twins, an escaped line break in double quotes included.
  const std::string lf = "version: 1\nname: \"kv\\\n  m\"\nmodules:\n  - name: vhost_net\n";
  std::string crlf;
  for (char c : lf) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  CHECK(parse_ok(crlf) == parse_ok(lf));
  CHECK(parse_ok(crlf).name == "kvm");
  CHECK(parse_ok(crlf).modules.at(0).name == "vhost_net");
}

TEST_CASE("the profile parsed at build time is the default profile parsed now") {
  ParseResult r = parse_profile(default_profile_text(), std::string(kDefaultProfileSource));
  REQUIRE(r.profile.has_value());
  CHECK(built_in_profile() == *r.profile);
  CHECK(built_in_profile().source == "<built-in default>");
  CHECK(built_in_profile().devices.size() == 2);
  std::ifstream file(std::filesystem::path(KVMPROV_SOURCE_DIR) / "profiles" / "default.yaml",
                     std::ios::binary);
  const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
  CHECK(default_profile_text() == text);
}

}  // namespace kvmprov
