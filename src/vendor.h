// SPDX-License-Identifier: MIT
// What kvmprov knows about each x86 CPU vendor, in one table: the profile's word for it, its
// CPUID vendor string, its KVM module and the CPU flag that module needs.
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace kvmprov {

enum class Vendor { unknown, intel, amd, hygon, zhaoxin, centaur };

// Which of the two x86 virtualisation extensions a vendor implements.
enum class VtFamily { none, vmx, svm };

struct VendorInfo {
  Vendor vendor;
  std::string_view name;        // the profile's and the report's word: "intel", "amd", ...
  std::string_view title;       // for sentences: "Intel", "AMD", ...
  std::string_view cpuid_id;    // CPUID leaf 0's vendor string, trimmed: "GenuineIntel"
  VtFamily vt;                  // the extension its CPUs implement
  std::string_view kvm_module;  // "kvm_intel" or "kvm_amd"
};

// The known vendors, in the order the profile's messages list them; not Vendor::unknown.
std::span<const VendorInfo> known_vendors();

// The row of V; nullptr for Vendor::unknown.
const VendorInfo* vendor_info(Vendor v);

std::string_view vendor_name(Vendor v);                     // "intel", "amd", ...; "unknown"
std::string_view vendor_title(Vendor v);                    // "Intel", "AMD", ...; "unknown"
std::optional<Vendor> parse_vendor(std::string_view name);  // inverse of vendor_name, not "unknown"

// The vendor of a CPUID vendor string; padding is ignored (Zhaoxin reports "  Shanghai  ").
Vendor vendor_from_id(std::string_view vendor_id);
// The CPUID vendor string of V, trimmed; "" for unknown.
std::string_view vendor_id_of(Vendor v);

// The extension V implements; VtFamily::none for unknown.
VtFamily vendor_vt(Vendor v);
// The KVM vendor module a CPU vendor uses: kvm_intel (intel, zhaoxin, centaur), kvm_amd (amd,
// hygon), "" for unknown.
std::string_view vendor_kvm_module(Vendor v);

// Whether NAME is a KVM vendor module (kvm_intel or kvm_amd), and the extension it drives.
bool is_vendor_module(std::string_view name);
VtFamily module_vt(std::string_view name);

// The flag /proc/cpuinfo shows for F ("vmx", "svm"), and its name for people ("VT-x", "AMD-V").
std::string_view vt_flag(VtFamily f);
std::string_view vt_title(VtFamily f);
// The firmware setup's name for the switch of F: "Intel Virtualization Technology", "SVM Mode".
std::string_view vt_firmware_setting(VtFamily f);

}  // namespace kvmprov
