// SPDX-License-Identifier: MIT
// MSR decoding, and reading /dev/cpu/N/msr through LinuxHost from a sparse file in a temp tree.
#include "msr.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host.h"

using namespace kvmprov;

namespace {

int remove_entry(const char* path, const struct stat*, int, FTW*) {
  return ::remove(path);
}

// A kernel tree with /dev/cpu/N/msr files holding VALUE at offset REG (sparse, like the device).
class MsrTree {
 public:
  MsrTree() {
    char tmpl[] = "/tmp/kvmprov-msr.XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~MsrTree() { nftw(path_.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }
  MsrTree(const MsrTree&) = delete;
  MsrTree& operator=(const MsrTree&) = delete;

  void set(unsigned cpu, uint32_t reg, uint64_t value) {
    const std::string dir = path_ + "/dev/cpu/" + std::to_string(cpu);
    for (const std::string& d : {path_ + "/dev", path_ + "/dev/cpu", dir}) mkdir(d.c_str(), 0755);
    int fd = open((dir + "/msr").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, &value, sizeof value, static_cast<off_t>(reg)) == sizeof value);
    close(fd);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

TEST_CASE("IA32_FEATURE_CONTROL: lock bit 0, VMX inside SMX bit 1, outside SMX bit 2") {
  CHECK(decode_feature_control(0x5).vt == FirmwareVt::enabled);
  CHECK(decode_feature_control(0x7).vt == FirmwareVt::enabled);
  CHECK(decode_feature_control(0x1).vt == FirmwareVt::disabled);
  CHECK(decode_feature_control(0x3).vt == FirmwareVt::disabled);
  CHECK(decode_feature_control(0x0).vt == FirmwareVt::unlocked);
  CHECK(decode_feature_control(0x1).text == "locked, VMX outside SMX off, inside SMX off");
}

TEST_CASE("VM_CR: SVMDIS bit 4, lock bit 3") {
  CHECK(decode_vm_cr(0x0).vt == FirmwareVt::enabled);
  CHECK(decode_vm_cr(0x8).vt == FirmwareVt::enabled);
  CHECK(decode_vm_cr(0x10).vt == FirmwareVt::disabled);
  CHECK(decode_vm_cr(0x18).text == "SVMDIS set, locked");
}

TEST_CASE("LinuxHost reads MSRs at their offset on each CPU below the kernel root") {
  MsrTree tree;
  tree.set(0, kMsrFeatureControl, 0x5);
  tree.set(1, kMsrVmCr, 0x18);
  auto host = make_linux_host({.kernel_root = tree.path()});
  auto v0 = host->read_msr(0, kMsrFeatureControl);
  REQUIRE(v0);
  CHECK(*v0 == 0x5);
  auto v1 = host->read_msr(1, kMsrVmCr);
  REQUIRE(v1);
  CHECK(*v1 == 0x18);
  CHECK(host->list_kernel_dir("/dev/cpu") == std::vector<std::string>{"0", "1"});
  auto missing = host->read_msr(2, kMsrFeatureControl);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ENOENT);
  CHECK(missing.error().message.find("/dev/cpu/2/msr") != std::string::npos);
  // Past the end of the file: what the device does for a register the CPU lacks (EIO).
  auto short_read = host->read_msr(0, kMsrVmCr);
  CHECK_FALSE(short_read);
}
