// SPDX-License-Identifier: MIT
// Kernel log parsing and the KVM verdicts found in it, on the real dmesg snapshots; and the end
// of a service log (--log) of any size, from a file or a stream.
#include "kernel_log.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "check.h"
#include "host.h"
#include "test_util.h"

using namespace kvmprov;
using Kind = KernelLogFinding::Kind;
using kvmprov::test::slurp;
using kvmprov::test::TempDir;

namespace {

const std::string kData = KVMPROV_TEST_DATA;

std::vector<Kind> kinds_in(const std::string& dmesg_file) {
  std::vector<Kind> kinds;
  for (const auto& f : scan_kernel_log(kernel_log_messages(slurp(kData + "/dmesg/" + dmesg_file))))
    kinds.push_back(f.kind);
  return kinds;
}

}  // namespace

TEST_CASE("kmsg records, syslog(2) text and dmesg lines give the same messages") {
  for (const auto& [raw, messages] : std::vector<std::pair<std::string, std::string>>{
           {"6,339,5140900,-;kvm: disabled by bios\n SUBSYSTEM=cpu\n", "kvm: disabled by bios\n"},
           {"<3>[    5.140900] kvm: disabled by bios\n", "kvm: disabled by bios\n"},
           {"[    5.140900] kvm: disabled by bios\r\n", "kvm: disabled by bios\n"},
           {"plain text; with a semicolon\n", "plain text; with a semicolon\n"},
       })
    CHECK(kernel_log_messages(raw) == messages);
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
  const test::TempDir dir("kvmprov-kmsg");
  const std::string fifo = dir / "/kmsg";
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  const int writer = open(fifo.c_str(), O_RDWR | O_CLOEXEC);  // RDWR: does not wait for a reader
  REQUIRE(writer >= 0);
  alarm(10);
  auto log = read_kernel_log(fifo, false);
  alarm(0);
  close(writer);
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

// --- --log: the end of a log of any size, from a file or a stream.

TEST_CASE("log_tail keeps whole lines of the last bytes") {
  CHECK(log_tail("a\nbb\n", 10).text == "a\nbb\n");
  CHECK_FALSE(log_tail("a\nbb\n", 10).truncated);
  // Cut inside "first": that line is dropped whole.
  LogTail t = log_tail("first line\nsecond\n", 10);
  CHECK(t.truncated);
  CHECK(t.text == "second\n");
  // Cut just after a newline: the next line is whole and kept.
  CHECK(log_tail("first\nsecond\n", 7).text == "second\n");
  // One line longer than the bound is kept as it is.
  CHECK(log_tail("abcdefghij", 4).text == "ghij");
}

TEST_CASE("--log from a pipe: read to its end, its tail kept in bounded memory") {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  std::thread writer([fd = fds[1]] {
    const std::string filler(1 << 16, 'x');
    std::string chunk;
    for (int i = 0; i < 8; ++i) chunk += filler.substr(0, (1 << 16) - 1) + "\n";
    for (size_t written = 0; written < kLogTailBytes + (4 << 20); written += chunk.size())
      if (write(fd, chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) break;
    const std::string last = std::string("ERROR ") + kNoHvmMessage + "\n";
    (void)!write(fd, last.data(), last.size());
    close(fd);
  });
  auto tail = read_log_tail("/proc/self/fd/" + std::to_string(fds[0]), kLogTailBytes);
  writer.join();
  close(fds[0]);
  REQUIRE(tail);
  REQUIRE(*tail);
  CHECK((*tail)->truncated);
  CHECK((*tail)->text.size() <= kLogTailBytes);
  CHECK((*tail)->text.ends_with(std::string("ERROR ") + kNoHvmMessage + "\n"));
  CHECK((*tail)->text.front() == 'x');
}

TEST_CASE("--log naming a FIFO without a writer reads as empty instead of hanging") {
  TempDir dir("kvmprov-fifo");
  REQUIRE(mkfifo((dir / "/log").c_str(), 0600) == 0);
  auto tail = read_log_tail(dir / "/log", kLogTailBytes);
  REQUIRE(tail);
  REQUIRE(*tail);
  CHECK((*tail)->text.empty());
  auto missing = read_log_tail(dir / "/none", kLogTailBytes);
  REQUIRE(missing);
  CHECK_FALSE(*missing);
  auto directory = read_log_tail(dir.path(), kLogTailBytes);
  REQUIRE_FALSE(directory);
  CHECK(directory.error().message == "cannot read \"" + dir.path() + "\": Is a directory");
}
