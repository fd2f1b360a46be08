// SPDX-License-Identifier: MIT
// MSR decoding and its summary across CPUs, and reading /dev/cpu/N/msr through LinuxHost from a
// sparse file in a temp tree.
#include "msr.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "host.h"
#include "test_util.h"
#include "util/unique_fd.h"

using namespace kvmprov;
using kvmprov::test::TempDir;

namespace {

// Puts VALUE at offset REG of DIR's /dev/cpu/CPU/msr (a sparse file, like the device).
void put_msr(const TempDir& dir, unsigned cpu, uint32_t reg, uint64_t value) {
  const std::string path = dir / ("/dev/cpu/" + std::to_string(cpu) + "/msr");
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
  REQUIRE(fd.valid());
  REQUIRE(pwrite(fd.get(), &value, sizeof value, static_cast<off_t>(reg)) == sizeof value);
}

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

TEST_CASE("the VT register by family, and its values summed up across CPUs") {
  CHECK(vt_msr(VtFamily::vmx) == kMsrFeatureControl);
  CHECK(vt_msr(VtFamily::svm) == kMsrVmCr);
  CHECK(vt_msr_name(VtFamily::svm) == "VM_CR");
  CHECK(decode_vt_msr(VtFamily::svm, 0x10).vt == FirmwareVt::disabled);
  CHECK(decode_vt_msr(VtFamily::vmx, 0x1).vt == FirmwareVt::disabled);
  CHECK(cpu_ranges({0, 1, 3, 5, 6, 7}) == "0-1,3,5-7");
  CHECK(cpu_ranges({}).empty());
  const VtMsrSummary s = summarise_vt_msrs(VtFamily::vmx, {{0, 0x5}, {1, 0x1}, {2, 0x5}});
  CHECK(s.text ==
        "IA32_FEATURE_CONTROL=0x1: locked, VMX outside SMX off, inside SMX off on CPU 1, "
        "IA32_FEATURE_CONTROL=0x5: locked, VMX outside SMX on, inside SMX off on CPU 0,2");
  CHECK(s.disabled == std::vector<unsigned>{1});
  CHECK(s.any_enabled);
}

TEST_CASE("LinuxHost reads MSRs at their offset on each CPU below the kernel root") {
  TempDir tree("kvmprov-msr");
  put_msr(tree, 0, kMsrFeatureControl, 0x5);
  put_msr(tree, 1, kMsrVmCr, 0x18);
  LinuxHostOptions options;
  options.kernel_root = tree.path();
  auto host = make_linux_host(options);
  auto v0 = host->read_msr(0, kMsrFeatureControl);
  REQUIRE(v0);
  CHECK(*v0 == 0x5);
  auto v1 = host->read_msr(1, kMsrVmCr);
  REQUIRE(v1);
  CHECK(*v1 == 0x18);
  CHECK(*host->kernel().list("/dev/cpu") == std::vector<std::string>{"0", "1"});
  auto missing = host->read_msr(2, kMsrFeatureControl);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ENOENT);
  CHECK(missing.error().message.find("/dev/cpu/2/msr") != std::string::npos);
  // Past the end of the file: what the device does for a register the CPU lacks (EIO).
  auto short_read = host->read_msr(0, kMsrVmCr);
  CHECK_FALSE(short_read);
}
