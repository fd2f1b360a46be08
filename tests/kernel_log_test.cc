// SPDX-License-Identifier: MIT
// Kernel log parsing and the KVM verdicts found in it, on the real dmesg snapshots.
#include "kernel_log.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "host.h"

using namespace kvmprov;
using Kind = KernelLogFinding::Kind;

namespace {

const std::string kData = KVMPROV_TEST_DATA;

std::vector<Kind> kinds_in(const std::string& dmesg_file) {
  std::ifstream in(kData + "/dmesg/" + dmesg_file);
  std::stringstream s;
  s << in.rdbuf();
  std::vector<Kind> kinds;
  for (const auto& f : scan_kernel_log(kernel_log_messages(s.str()))) kinds.push_back(f.kind);
  return kinds;
}

}  // namespace

TEST_CASE("kmsg records, syslog(2) text and dmesg lines give the same messages") {
  CHECK(kernel_log_messages("6,339,5140900,-;kvm: disabled by bios\n SUBSYSTEM=cpu\n") ==
        "kvm: disabled by bios\n");
  CHECK(kernel_log_messages("<3>[    5.140900] kvm: disabled by bios\n") ==
        "kvm: disabled by bios\n");
  CHECK(kernel_log_messages("[    5.140900] kvm: disabled by bios\r\n") ==
        "kvm: disabled by bios\n");
  CHECK(kernel_log_messages("plain text; with a semicolon\n") == "plain text; with a semicolon\n");
}

TEST_CASE("the firmware verdicts, in each spelling the kernel used") {
  for (const char* line : {"x86/cpu: VMX (outside TXT) disabled by BIOS", "kvm: disabled by bios",
                           "kvm_amd: SVM disabled (by BIOS) in MSR_VM_CR on CPU 3"}) {
    auto found = scan_kernel_log(std::string(line) + "\n");
    REQUIRE(found.size() == 1);
    CHECK(found[0].kind == Kind::firmware_disabled);
    CHECK(found[0].message == line);
  }
  CHECK(scan_kernel_log("kvm: Nested Virtualization enabled\nkvm-pvm: loaded\n").empty());
}

TEST_CASE("findings come in log order, one per line, the first pattern of the list winning") {
  auto found = scan_kernel_log(
      "kvm: no hardware support for 'kvm_intel'\n"
      "kvm: Disabled by BIOS, no hardware support, disabled by bios\n"
      "unrelated\n"
      "kvm_amd: svm not available");
  REQUIRE(found.size() == 3);
  CHECK(found[0].kind == Kind::no_hardware_support);
  CHECK(found[0].message == "kvm: no hardware support for 'kvm_intel'");
  CHECK(found[1].kind == Kind::firmware_disabled);
  CHECK(found[1].message == "kvm: Disabled by BIOS, no hardware support, disabled by bios");
  CHECK(found[2].kind == Kind::no_hardware_support);
  CHECK(found[2].message == "kvm_amd: svm not available");
}

TEST_CASE("real snapshots: what each kernel said") {
  CHECK(kinds_in("qemu-tcg-qemu64-nosvm.kvm-dmesg") ==
        std::vector<Kind>{Kind::no_hardware_support, Kind::no_hardware_support,
                          Kind::no_hardware_support});
  CHECK(
      kinds_in("qemu-tcg-Skylake-Client-vmx-requested.kvm-dmesg") ==
      std::vector<Kind>{Kind::wrong_vendor, Kind::no_hardware_support, Kind::no_hardware_support});
  CHECK(kinds_in("qemu-tcg-qemu64.kvm-dmesg") == std::vector<Kind>{Kind::vendor_already_loaded});
  CHECK(kinds_in("qemu-tcg-EPYC.kvm-dmesg") == std::vector<Kind>{Kind::vendor_already_loaded});
  CHECK(kinds_in("intel-xeon-vm-kvm-pvm.kvm-dmesg").empty());
}

TEST_CASE("read_kernel_log reads a snapshot file whole; a missing one is an error") {
  auto log = read_kernel_log(kData + "/check/intel-firmware-disabled/dev/kmsg", false);
  REQUIRE(log);
  CHECK(log->find("x86/cpu: VMX (outside TXT) disabled by BIOS\n") != std::string::npos);
  auto missing = read_kernel_log(kData + "/check/no-such/dev/kmsg", false);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ENOENT);
}

TEST_CASE("a log source with nothing to read yet does not block the reader") {
  // A FIFO with a writer and no data behaves like /dev/kmsg at its end: a blocking read would
  // wait for ever (the alarm then fails the test), a non-blocking one returns what there is.
  char dir[] = "/tmp/kvmprov-kmsg-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string fifo = std::string(dir) + "/kmsg";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  const int writer = open(fifo.c_str(), O_RDWR | O_CLOEXEC);  // RDWR: does not wait for a reader
  REQUIRE(writer >= 0);
  alarm(10);
  auto log = read_kernel_log(fifo, false);
  alarm(0);
  close(writer);
  unlink(fifo.c_str());
  rmdir(dir);
  REQUIRE(log);
  CHECK(log->empty());
}

TEST_CASE("the running kernel's log reads without blocking (or says why not)") {
  auto host = make_linux_host({});
  auto log = host->kernel_log();
  if (!log) {
    MESSAGE("kernel log not readable here: " << log.error().message);
    return;
  }
  CHECK(!log->empty());
  CHECK(log->back() == '\n');
}
