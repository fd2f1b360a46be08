// SPDX-License-Identifier: MIT
// Tests for the libkmod wrapper: load-error causes, state from fake system roots, a real module
// tree.
#include "linux/kmod.h"
#include "linux/sysfs_module.h"
#include "module_advice.h"
#include "test_util.h"

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvmprov {
namespace {

using test::TempDir;

const std::string kData = std::string(KVMPROV_TEST_DATA) + "/kmod";

// A CPU of VENDOR (Intel or AMD) with its VT extension, or without.
CpuFacts cpu_of(Vendor vendor, bool vt) {
  CpuFacts cpu;
  cpu.vendor_id = std::string(vendor_id_of(vendor));
  cpu.vendor = vendor;
  (vendor == Vendor::intel ? cpu.vmx : cpu.svm) = vt;
  return cpu;
}

CpuFacts intel_cpu(bool vmx) {
  return cpu_of(Vendor::intel, vmx);
}

CpuFacts amd_cpu(bool svm) {
  return cpu_of(Vendor::amd, svm);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::ptrdiff_t index_of(const std::vector<std::string>& v, const std::string& s) {
  auto it = std::find(v.begin(), v.end(), s);
  return it == v.end() ? -1 : it - v.begin();
}

// A fixture root: data/kmod/<name>, its module tree (which may not exist) under it.
std::unique_ptr<Kmod> open_fixture(const std::string& name,
                                   const std::vector<std::string>& config_paths = {}) {
  std::string root = kData + "/" + name;
  auto kmod = Kmod::open(root + "/lib/modules/6.1.0-test", config_paths, root);
  REQUIRE_MESSAGE(kmod.ok(), (kmod.ok() ? std::string() : kmod.error().message));
  return std::move(*kmod);
}

// M is neither loaded nor built in nor installed.
void check_absent(const ModuleFacts& m) {
  CHECK(m.state == ModuleState::absent);
  CHECK_FALSE(m.found);
  CHECK(m.params.empty());
}

}  // namespace

TEST_SUITE_BEGIN("explain_load_error");

TEST_CASE("a missing module names the tree and the package") {
  CHECK(
      explain_load_error("kvm_intel", ENOENT, intel_cpu(true), "/lib/modules/6.1.0-27-amd64", "") ==
      "module \"kvm_intel\" not found in /lib/modules/6.1.0-27-amd64 (install the kernel's "
      "modules package, e.g. linux-image-6.1.0-27-amd64 on Debian or "
      "linux-modules-6.1.0-27-amd64 on Ubuntu, or linux-image-amd64)");
}

TEST_CASE("the name is normalised") {
  CHECK(contains(explain_load_error("kvm-intel", ENOENT, intel_cpu(true), "/x/6.1", ""),
                 "module \"kvm_intel\" not found in /x/6.1"));
}

TEST_CASE("no VT-x") {
  for (int err : {ENODEV, EOPNOTSUPP}) {
    CHECK(explain_load_error("kvm_intel", err, intel_cpu(false), "/lib/modules/6.1", "") ==
          "module \"kvm_intel\": no hardware support: the CPU does not report VT-x (\"vmx\"); "
          "it is absent, or disabled in the firmware (run \"kvmprov check\")");
  }
}

TEST_CASE("no AMD-V") {
  CHECK(explain_load_error("kvm_amd", ENODEV, amd_cpu(false), "/lib/modules/6.1", "") ==
        "module \"kvm_amd\": no hardware support: the CPU does not report AMD-V (\"svm\"); it "
        "is absent, or disabled in the firmware (run \"kvmprov check\")");
}

TEST_CASE("no VT-x in a virtual machine points at nested virtualization") {
  CpuFacts cpu = intel_cpu(false);
  cpu.hypervisor = true;
  std::string why = explain_load_error("kvm_intel", EOPNOTSUPP, cpu, "/lib/modules/6.1", "");
  CHECK(contains(why, "does not report VT-x"));
  CHECK(contains(why, "enable nested virtualization on its host"));
}

TEST_CASE("the other vendor's module") {
  CHECK(explain_load_error("kvm_intel", ENODEV, amd_cpu(true), "/lib/modules/6.1", "") ==
        "module \"kvm_intel\": no hardware support: it is the module for Intel VT-x and this "
        "CPU is AMD (\"AuthenticAMD\") (load \"kvm_amd\" instead)");
  CHECK(explain_load_error("kvm_amd", EOPNOTSUPP, intel_cpu(true), "/lib/modules/6.1", "") ==
        "module \"kvm_amd\": no hardware support: it is the module for AMD-V and this CPU is "
        "Intel (\"GenuineIntel\") (load \"kvm_intel\" instead)");
  CpuFacts hygon;
  hygon.vendor_id = "HygonGenuine";
  hygon.vendor = Vendor::hygon;
  CHECK(contains(explain_load_error("kvm_intel", EIO, hygon, "/lib/modules/6.1", ""),
                 "(load \"kvm_amd\" instead)"));
}

TEST_CASE("disabled in the firmware") {
  const std::string vtx =
      "module \"kvm_intel\": VT-x is disabled in the firmware (enable \"Intel Virtualization "
      "Technology\" and power-cycle)";
  CHECK(explain_load_error("kvm_intel", EIO, intel_cpu(true), "/lib/modules/6.1", "") == vtx);
  CHECK(explain_load_error("kvm_intel", EIO, intel_cpu(false), "/lib/modules/6.1", "") == vtx);
  CHECK(explain_load_error("kvm_intel", EOPNOTSUPP, intel_cpu(true), "/lib/modules/6.1", "") ==
        vtx);
  const std::string amdv =
      "module \"kvm_amd\": AMD-V is disabled in the firmware (enable \"SVM Mode\" and "
      "power-cycle)";
  CHECK(explain_load_error("kvm_amd", EIO, amd_cpu(true), "/lib/modules/6.1", "") == amdv);
  CHECK(explain_load_error("kvm_amd", ENODEV, amd_cpu(true), "/lib/modules/6.1", "") == amdv);
}

TEST_CASE("unknown vendor falls back to the CPU flags") {
  CpuFacts cpu;
  cpu.vmx = true;
  CHECK(contains(explain_load_error("kvm_intel", ENODEV, cpu, "/lib/modules/6.1", ""),
                 "VT-x is disabled in the firmware"));
}

TEST_CASE("another hypervisor holds the CPU") {
  CHECK(contains(explain_load_error("kvm_intel", EBUSY, intel_cpu(true), "/lib/modules/6.1", ""),
                 "held by another hypervisor"));
}

TEST_CASE("module loading disabled") {
  CHECK(explain_load_error("kvm", EPERM, intel_cpu(true), "/lib/modules/6.1", "") ==
        "module \"kvm\": module loading is disabled (kernel.modules_disabled=1, kernel lockdown, "
        "or an unsigned module under Secure Boot), or kvmprov is not running as root");
}

TEST_CASE("blacklisted") {
  CHECK(explain_load_error("kvm_intel", 0, intel_cpu(true), "/lib/modules/6.1",
                           "/etc/modprobe.d/foo.conf") ==
        "module \"kvm_intel\" is blacklisted in /etc/modprobe.d/foo.conf (remove the "
        "\"blacklist kvm_intel\" line)");
  CHECK(explain_load_error("kvm_intel", 0, intel_cpu(true), "/lib/modules/6.1", "/proc/cmdline") ==
        "module \"kvm_intel\" is blacklisted on the kernel command line (remove \"kvm_intel\" "
        "from modprobe.blacklist= and reboot)");
}

TEST_CASE("already loaded") {
  CHECK(explain_load_error("kvm", EEXIST, intel_cpu(true), "/lib/modules/6.1", "") ==
        "module \"kvm\" is already loaded");
}

TEST_CASE("signatures, format, parameters") {
  CHECK(contains(explain_load_error("tun", EKEYREJECTED, intel_cpu(true), "/m/6.1", ""),
                 "module \"tun\": its signature was rejected"));
  CHECK(contains(explain_load_error("tun", ENOEXEC, intel_cpu(true), "/m/6.1", ""),
                 "module \"tun\": invalid module format"));
  CHECK(contains(explain_load_error("kvm_intel", EINVAL, intel_cpu(true), "/m/6.1", ""),
                 "unknown parameter"));
}

TEST_CASE("anything else names the module and the errno text") {
  CHECK(explain_load_error("vhost_net", ENOMEM, intel_cpu(true), "/m/6.1", "") ==
        "module \"vhost_net\" could not be loaded: Cannot allocate memory (see \"dmesg\")");
  // ENODEV is only about hardware support for the KVM vendor modules.
  CHECK(contains(explain_load_error("tun", ENODEV, intel_cpu(false), "/m/6.1", ""),
                 "could not be loaded: No such device"));
}

TEST_CASE("every cause is one line") {
  for (int err : {ENOENT, ENODEV, EOPNOTSUPP, EIO, EPERM, EBUSY, EINVAL, ENOEXEC, ENOMEM}) {
    for (const char* module : {"kvm_intel", "kvm_amd", "kvm"}) {
      for (const CpuFacts& cpu : {intel_cpu(true), intel_cpu(false), amd_cpu(true)}) {
        std::string why = explain_load_error(module, err, cpu, "/lib/modules/6.1", "");
        CHECK(why.find('\n') == std::string::npos);
        CHECK(contains(why, std::string("\"") + module + "\""));
      }
    }
  }
}

TEST_SUITE_END();

TEST_SUITE_BEGIN("sysfs module parser");

TEST_CASE("a value loses the kernel's line end, nothing else") {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"Y\n", "Y"}, {"1\r\n", "1"}, {" a b \n", " a b "}, {"", ""}};
  for (const auto& [text, value] : cases) CHECK(sysfs_value(text) == value);
}

TEST_CASE("initstate: live, coming, going, else absent") {
  const std::pair<std::string_view, ModuleState> cases[] = {{"live\n", ModuleState::live},
                                                            {"coming\n", ModuleState::coming},
                                                            {"going", ModuleState::going},
                                                            {"unformed\n", ModuleState::absent},
                                                            {"", ModuleState::absent}};
  for (const auto& [text, state] : cases) CHECK(parse_initstate(text) == state);
}

TEST_SUITE_END();

TEST_SUITE_BEGIN("kmod fixture roots");

TEST_CASE("no /proc/modules and /sys/module/<m> without initstate: builtin") {
  auto kmod = open_fixture("builtin");
  ModuleFacts kvm_intel = kmod->query("kvm-intel");
  CHECK(kvm_intel.name == "kvm_intel");
  CHECK(kvm_intel.state == ModuleState::builtin);
  CHECK(kvm_intel.found);
  CHECK(kvm_intel.path.empty());
  CHECK(kvm_intel.params == std::map<std::string, std::string>{{"nested", "Y"}});
  CHECK(kvm_intel.refcount == 0);
  CHECK(kvm_intel.holders.empty());
  CHECK(kmod->query("kvm").state == ModuleState::builtin);

  check_absent(kmod->query("kvm_amd"));
}

TEST_CASE("loaded modules: live, going, refcount, holders, parameters") {
  auto kmod = open_fixture("live");
  ModuleFacts kvm_intel = kmod->query("kvm_intel");
  CHECK(kvm_intel.state == ModuleState::live);
  CHECK(kvm_intel.params == std::map<std::string, std::string>{{"ept", "Y"}, {"nested", "Y"}});
  CHECK(kvm_intel.refcount == 0);
  CHECK(kvm_intel.blacklisted_by.empty());
  // No module tree in the fixture: libkmod knows no file for it.
  CHECK_FALSE(kvm_intel.found);

  ModuleFacts kvm = kmod->query("kvm");
  CHECK(kvm.state == ModuleState::live);
  CHECK(kvm.refcount == 1);
  CHECK(kvm.holders == std::vector<std::string>{"kvm_intel"});
  CHECK(kvm.params.at("ignore_msrs") == "N");

  CHECK(kmod->query("irqbypass").holders == std::vector<std::string>{"kvm"});
  ModuleFacts state = kmod->query("kvm", {.details = false});
  CHECK(state.state == ModuleState::live);
  CHECK(state.params.empty());
  CHECK(state.refcount == 0);
  CHECK(state.holders.empty());
  // Only the parameters asked for (those a profile sets); one the module lacks reads as nothing.
  const std::set<std::string> asked = {"nested", "no_such_parameter"};
  ModuleFacts some = kmod->query("kvm_intel", {.params = &asked});
  CHECK(some.state == ModuleState::live);
  CHECK(some.params == std::map<std::string, std::string>{{"nested", "Y"}});
  CHECK(kmod->query("vhost_net").state == ModuleState::going);
  CHECK(kmod->query("kvm_amd").state == ModuleState::absent);
}

TEST_CASE("absent: the real /sys is not read") {
  // The machine running the tests may well have /sys/module/kvm.
  auto kmod = open_fixture("absent");
  check_absent(kmod->query("kvm"));
  CHECK(kmod->query("tun").state == ModuleState::live);
}

TEST_CASE("modules.builtin in the module tree means builtin") {
  auto kmod = open_fixture("builtin-list");
  ModuleFacts kvm = kmod->query("kvm");
  CHECK(kvm.state == ModuleState::builtin);
  CHECK(kvm.found);
  CHECK(kmod->query("irqbypass").state == ModuleState::builtin);
  CHECK(kmod->query("kvm_intel").state == ModuleState::absent);
}

TEST_CASE("the modprobe.d file that blacklists a module") {
  auto kmod = open_fixture("live");
  std::string root = kData + "/live";
  CHECK(kmod->query("kvm_amd").blacklisted_by == root + "/etc/modprobe.d/no-amd.conf");
  CHECK(kmod->query("tun").blacklisted_by == root + "/lib/modprobe.d/tun.conf");
  // /etc/modprobe.d/net.conf hides /lib/modprobe.d/net.conf.
  CHECK(kmod->query("vhost_net").blacklisted_by.empty());
  // README is not a .conf file.
  CHECK(kmod->query("kvm_intel").blacklisted_by.empty());
}

TEST_CASE("the default modprobe.d directories include /usr/lib/modprobe.d") {
  auto kmod = open_fixture("usr-lib");
  CHECK(kmod->query("kvm_amd").blacklisted_by == kData + "/usr-lib/usr/lib/modprobe.d/no-amd.conf");
}

TEST_CASE("explicit config paths replace the defaults") {
  std::string lib = kData + "/live/lib/modprobe.d";
  auto kmod = open_fixture("live", {lib});
  CHECK(kmod->query("vhost_net").blacklisted_by == lib + "/net.conf");
  CHECK(kmod->query("kvm_amd").blacklisted_by.empty());
  auto one_file = open_fixture("live", {kData + "/live/etc/modprobe.d/no-amd.conf"});
  CHECK(one_file->query("kvm_amd").blacklisted_by == kData + "/live/etc/modprobe.d/no-amd.conf");
}

TEST_CASE("loading and unloading never reach the kernel for another root") {
  auto builtin = open_fixture("builtin");
  CHECK(builtin->insert("kvm_intel", {{"nested", "1"}}).ok());  // already satisfied
  Result<void> removed = builtin->remove("kvm");
  REQUIRE_FALSE(removed.ok());
  CHECK(contains(removed.error().message, "\"kvm\" is built into the kernel"));

  auto absent = open_fixture("absent");
  Result<void> inserted = absent->insert("kvm_amd", {});
  REQUIRE_FALSE(inserted.ok());
  CHECK(contains(inserted.error().message, "module \"kvm_amd\" not loaded: the system root is"));
  CHECK(absent->remove("kvm_amd").ok());  // nothing to unload
  CHECK_FALSE(absent->remove("tun").ok());
}

TEST_CASE("without a module tree, names are only normalised") {
  auto kmod = open_fixture("absent");
  CHECK(kmod->resolve("kvm-intel") == "kvm_intel");
  CHECK(kmod->dependencies("kvm_intel").empty());
}

TEST_SUITE_END();

TEST_SUITE_BEGIN("kmod running system");

TEST_CASE("a kernel without loadable-module support reports KVM as builtin") {
  struct stat st;
  if (stat("/proc/modules", &st) == 0 || stat("/sys/module/kvm", &st) != 0) {
    MESSAGE(
        "skipped: this machine has /proc/modules or no /sys/module/kvm, so it is not a "
        "kernel with KVM built in and no module support");
    return;
  }
  std::string release = "/lib/modules/no-such-release";
  auto kmod = Kmod::open(release, {}, "/");
  REQUIRE(kmod.ok());
  ModuleFacts kvm = (*kmod)->query("kvm");
  CHECK(kvm.state == ModuleState::builtin);
  CHECK(kvm.found);
  // Builtin is satisfied: nothing is handed to the kernel.
  CHECK((*kmod)->insert("kvm", {}).ok());
}

TEST_SUITE_END();

TEST_SUITE_BEGIN("kmod real module tree");

namespace {

// KVMPROV_KERNEL_TREE: a Debian lib/modules/<release> tree, see tests/fetch-kernel.sh.
std::string kernel_tree() {
  const char* tree = std::getenv("KVMPROV_KERNEL_TREE");
  if (tree == nullptr || *tree == '\0') {
    MESSAGE(
        "skipped: KVMPROV_KERNEL_TREE is not set (run tests/fetch-kernel.sh as root and "
        "set it to the directory it prints)");
    return "";
  }
  std::string dep = std::string(tree) + "/modules.dep.bin";
  if (access(dep.c_str(), R_OK) != 0) {
    MESSAGE("skipped: KVMPROV_KERNEL_TREE=\""
            << tree
            << "\" has no modules.dep.bin (run "
               "tests/fetch-kernel.sh as root and set it to the directory it prints)");
    return "";
  }
  return tree;
}

// Whether PATH is the file of module FILE_NAME: Debian 12 ships plain .ko files, Debian 13
// compresses them (.ko.xz), and kernels can use .ko.zst or .ko.gz too.
bool is_module_file(const std::string& path, const std::string& file_name) {
  for (const char* suffix : {".ko", ".ko.xz", ".ko.zst", ".ko.gz"}) {
    if (path.ends_with("/" + file_name + suffix)) return true;
  }
  return false;
}

// KVMPROV_KERNEL_TREE's modules with an empty system root; no KMOD when it is not set.
struct RealTree {
  RealTree() : tree(kernel_tree()) {
    if (tree.empty()) return;
    root.emplace("kvmprov-kmod");
    auto opened = Kmod::open(tree, {}, root->path());
    REQUIRE(opened.ok());
    kmod = std::move(*opened);
  }
  std::string tree;
  std::optional<TempDir> root;
  std::unique_ptr<Kmod> kmod;
};

}  // namespace

TEST_CASE("aliases, dependencies and files of a Debian kernel") {
  RealTree real;
  if (!real.kmod) return;
  Kmod& kmod = *real.kmod;

  CHECK(kmod.resolve("kvm-intel") == "kvm_intel");
  CHECK(kmod.resolve("kvm_amd") == "kvm_amd");
  CHECK(kmod.resolve("char-major-10-200") == "tun");
  CHECK(kmod.resolve("no-such-module") == "no_such_module");

  std::vector<std::string> intel = kmod.dependencies("kvm-intel");
  CHECK(intel == std::vector<std::string>{"irqbypass", "kvm"});

  std::vector<std::string> amd = kmod.dependencies("kvm_amd");
  CHECK(index_of(amd, "ccp") >= 0);
  CHECK(index_of(amd, "irqbypass") >= 0);
  CHECK(index_of(amd, "irqbypass") < index_of(amd, "kvm"));

  std::vector<std::string> net = kmod.dependencies("vhost_net");
  for (const char* dep : {"vhost", "vhost_iotlb", "tun", "tap"}) {
    CHECK_MESSAGE(index_of(net, dep) >= 0, dep);
  }
  CHECK(index_of(net, "vhost_iotlb") < index_of(net, "vhost"));
  CHECK(index_of(net, "vhost_net") == -1);
  // Load order: every module after its own dependencies.
  for (const std::string& m : net) {
    for (const std::string& d : kmod.dependencies(m)) {
      CHECK_MESSAGE(index_of(net, d) < index_of(net, m), d << " before " << m);
    }
  }
  CHECK(kmod.dependencies("tun").empty());
  CHECK(kmod.dependencies("no_such_module").empty());
}

TEST_CASE("query against a Debian kernel with an empty system root") {
  RealTree real;
  if (!real.kmod) return;
  Kmod& kmod = *real.kmod;

  ModuleFacts amd = kmod.query("kvm_amd");
  CHECK(amd.found);
  CHECK_MESSAGE(is_module_file(amd.path, "kvm-amd"), amd.path);
  CHECK(amd.path.starts_with(real.tree));
  CHECK(amd.state == ModuleState::absent);
  CHECK(amd.blacklisted_by.empty());
  CHECK(amd.params.empty());

  ModuleFacts intel = kmod.query("kvm-intel");
  CHECK(intel.name == "kvm_intel");
  CHECK_MESSAGE(is_module_file(intel.path, "kvm-intel"), intel.path);

  ModuleFacts missing = kmod.query("no_such_module");
  CHECK_FALSE(missing.found);
  CHECK(missing.path.empty());
  CHECK(missing.state == ModuleState::absent);

  // Listed in the tree's modules.builtin.
  ModuleFacts pstore = kmod.query("pstore");
  CHECK(pstore.state == ModuleState::builtin);
  CHECK(pstore.found);
}

TEST_CASE("a blacklist in the system root is found with a real tree") {
  std::string tree = kernel_tree();
  if (tree.empty()) return;
  auto opened = Kmod::open(tree, {}, kData + "/live");
  REQUIRE(opened.ok());
  ModuleFacts amd = (*opened)->query("kvm-amd");
  CHECK(amd.found);
  CHECK(amd.blacklisted_by == kData + "/live/etc/modprobe.d/no-amd.conf");
  CHECK((*opened)->query("kvm_intel").state == ModuleState::live);
}

TEST_SUITE_END();

}  // namespace kvmprov
