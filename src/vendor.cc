// SPDX-License-Identifier: MIT
#include "vendor.h"

#include <array>

#include "util/text.h"

namespace kvmprov {

namespace {

constexpr std::array<VendorInfo, 5> kVendors = {{
    {Vendor::intel, "intel", "Intel", "GenuineIntel", VtFamily::vmx, "kvm_intel"},
    {Vendor::amd, "amd", "AMD", "AuthenticAMD", VtFamily::svm, "kvm_amd"},
    {Vendor::hygon, "hygon", "Hygon", "HygonGenuine", VtFamily::svm, "kvm_amd"},
    {Vendor::zhaoxin, "zhaoxin", "Zhaoxin", "Shanghai", VtFamily::vmx, "kvm_intel"},
    {Vendor::centaur, "centaur", "Centaur", "CentaurHauls", VtFamily::vmx, "kvm_intel"},
}};

struct VtInfo {
  std::string_view flag;              // /proc/cpuinfo's name
  std::string_view title;             // for sentences
  std::string_view firmware_setting;  // the firmware setup's name for the switch
};

// Indexed by VtFamily: none, vmx, svm.
constexpr std::array<VtInfo, 3> kVt = {{
    {"", "", ""},
    {"vmx", "VT-x", "Intel Virtualization Technology"},
    {"svm", "AMD-V", "SVM Mode"},
}};

const VtInfo& vt_info(VtFamily f) {
  return kVt[static_cast<std::size_t>(f)];
}

}  // namespace

std::span<const VendorInfo> known_vendors() {
  return kVendors;
}

const VendorInfo* vendor_info(Vendor v) {
  for (const VendorInfo& row : kVendors) {
    if (row.vendor == v) return &row;
  }
  return nullptr;
}

std::string_view vendor_name(Vendor v) {
  const VendorInfo* row = vendor_info(v);
  return row ? row->name : "unknown";
}

std::string_view vendor_title(Vendor v) {
  const VendorInfo* row = vendor_info(v);
  return row ? row->title : "unknown";
}

std::optional<Vendor> parse_vendor(std::string_view name) {
  for (const VendorInfo& row : kVendors) {
    if (row.name == name) return row.vendor;
  }
  return std::nullopt;
}

Vendor vendor_from_id(std::string_view vendor_id) {
  const std::string_view id = trim(vendor_id);
  for (const VendorInfo& row : kVendors) {
    if (row.cpuid_id == id) return row.vendor;
  }
  return Vendor::unknown;
}

std::string_view vendor_id_of(Vendor v) {
  const VendorInfo* row = vendor_info(v);
  return row ? row->cpuid_id : std::string_view();
}

VtFamily vendor_vt(Vendor v) {
  const VendorInfo* row = vendor_info(v);
  return row ? row->vt : VtFamily::none;
}

std::string_view vendor_kvm_module(Vendor v) {
  const VendorInfo* row = vendor_info(v);
  return row ? row->kvm_module : std::string_view();
}

bool is_vendor_module(std::string_view name) {
  return module_vt(name) != VtFamily::none;
}

VtFamily module_vt(std::string_view name) {
  for (const VendorInfo& row : kVendors) {
    if (row.kvm_module == name) return row.vt;
  }
  return VtFamily::none;
}

std::string_view vt_flag(VtFamily f) {
  return vt_info(f).flag;
}

std::string_view vt_title(VtFamily f) {
  return vt_info(f).title;
}

std::string_view vt_firmware_setting(VtFamily f) {
  return vt_info(f).firmware_setting;
}

}  // namespace kvmprov
