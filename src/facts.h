// SPDX-License-Identifier: MIT
// Observed host state: plain data filled by observe() through the Host seam, read by plan().
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "cpu_map.h"
#include "device_facts.h"
#include "profile.h"

namespace kvmprov {

// The CPU architecture, known by the format of /proc/cpuinfo (each has keys of its own).
// unknown (no /proc/cpuinfo, or a format not listed) is judged as x86, as before there were others.
enum class CpuArch { unknown, x86, arm64, ppc64le, s390x };
std::string_view arch_name(CpuArch a);  // "x86", "arm64", "ppc64le", "s390x"; "unknown"
// The architecture's name in libvirt's CPU map: "x86" (also for unknown), "arm", "ppc64", "s390".
std::string_view cpu_map_arch(CpuArch a);
// Whether KVM there is x86's: VT flags, a vendor module, the firmware's VT lock (unknown too).
bool is_x86(CpuArch a);

struct CpuFacts {
  CpuArch arch = CpuArch::unknown;
  std::string vendor_id;  // "GenuineIntel", "AuthenticAMD", "HygonGenuine", ...
  Vendor vendor = Vendor::unknown;
  std::string model_name;
  unsigned cpus = 0;  // processors listed
  bool vmx = false;   // present on every listed processor
  bool svm = false;
  bool hypervisor = false;  // running as a guest
  std::string
      hypervisor_id;  // CPUID 0x40000000 signature ("KVMKVMKVM", "TCGTCGTCGTCG"), "" if none
  std::set<std::string> flags;  // the "flags" every listed processor has (/proc/cpuinfo names)
  // arm64's "CPU implementer" and "CPU part" of the first processor ("0x41", "0xd0c"); its
  // "Features" are FLAGS, as s390x's "features" are.
  std::string implementer;
  std::string part;
};

// Parses /proc/cpuinfo text: x86's, and arm64's, ppc64le's and s390x's, which name no x86 vendor
// and say nothing of virtualisation. Unknown vendors give Vendor::unknown.
CpuFacts parse_cpuinfo(std::string_view text);
// The architecture a program is built for, from the start of its ELF file (e_ident and
// e_machine): x86-64 and i386 give x86, AArch64 arm64, little-endian PPC64 ppc64le, 64-bit S390
// s390x. Anything else, or not an ELF file, gives unknown; *MACHINE names what was found
// ("aarch64", "armhf", "riscv64", "ELF machine 4660", "not an ELF file").
CpuArch elf_arch(std::string_view head, std::string* machine);
// What CPUID on the running CPU says of who made it and what runs it.
struct CpuidIds {
  std::string vendor;      // leaf 0's vendor string, trimmed ("" when not x86)
  std::string hypervisor;  // leaf 0x40000000's signature ("" when not a guest or not x86)
};
CpuidIds read_cpuid();

enum class ModuleState {
  absent,   // not loaded (may or may not be loadable)
  live,     // loaded
  builtin,  // compiled into the kernel
  coming,   // being loaded
  going,    // being unloaded
};
std::string_view module_state_name(ModuleState s);
// Whether a module in state S is part of the running kernel: loaded or built in.
inline bool in_kernel(ModuleState s) {
  return s == ModuleState::live || s == ModuleState::builtin;
}

struct ModuleFacts {
  std::string name;  // normalised
  ModuleState state = ModuleState::absent;
  bool found = false;          // a module file exists under /lib/modules/<release>, or builtin
  std::string path;            // the module file, when found
  std::string blacklisted_by;  // the modprobe.d file that blacklists it, "" if none
  std::map<std::string, std::string> params;  // /sys/module/<m>/parameters, when readable
  int refcount = 0;
  std::vector<std::string> holders;
  // Why only /sys could be asked although the kernel loads modules (libkmod is missing): the
  // state is then known, whether a file exists or a blacklist applies is not.
  std::string unknown_because;
};

// What is read of a module besides its state (Host::module_facts).
struct ModuleRead {
  bool details = true;  // its parameters, refcount and holders
  // With DETAILS: only these parameters (those a profile sets); every one when null.
  const std::set<std::string>* params = nullptr;
};

// check's verdict, for nova's virt_type: auto.
struct KvmVerdict {
  bool usable = false;
  std::string reason;  // check's reason code: "ok", "module-not-loaded", ...; "overridden"
  std::string advice;  // check's advice, one line
  std::string source;  // "check" (probed) or "--fact" (kvm_usable)
};

// The files themselves are in Facts::files.
struct NovaFacts {
  // What nova-compute reads, in its order: the profile's files, and in place of each directory
  // its *.conf files sorted by name (hidden ones left out, as oslo.config's glob does). A file
  // that does not exist is listed too.
  std::vector<std::string> config_files;
  std::vector<std::string> config_errors;  // directories that could not be listed
  std::optional<CpuMap> cpu_map;           // parsed libvirt CPU map, when the profile needs one
  std::string cpu_map_error;               // why there is none
  bool cpu_map_missing = false;            // ... because no map exists where it was looked for
  std::optional<KvmVerdict> kvm;           // virt_type: auto only
};

// What observe saw of one file kvmprov writes or removes, and what apply would make of it.
struct FileFacts {
  std::optional<std::string> content;  // nullopt: absent, or unreadable (read_error says)
  std::string read_error;              // why it could not be read; "" when it could (or is absent)
  std::string write_refusal;           // why apply would refuse to replace it; "" if it would not
  std::string remove_refusal;          // why apply would refuse to remove it; "" if it would not
};

struct Facts {
  CpuFacts cpu;
  // Whether CPU describes the machine the plan is for: false for an image (--root) unless
  // --fact cpu_vendor names its CPU. The build machine's CPU says nothing about the hosts an
  // image will boot on.
  bool cpu_known = true;
  // For an image: how its architecture (CPU.arch) was found, "its /bin/sh is built for aarch64";
  // "" for the running system, or when the image has no /bin/sh.
  std::string arch_evidence;
  // For an image whose /bin/sh is there but cannot be read (a directory, a FIFO): why, the first
  // such error; "" otherwise. Its architecture is then not known.
  std::string arch_problem;
  // /lib/modules/<release> exists: modprobe (systemd-modules-load) can find even a built-in module.
  bool modules_dir = false;
  std::string kernel_release;
  bool modules_supported = false;  // the kernel can load modules (/proc/modules exists)
  bool modules_disabled = false;   // /proc/sys/kernel/modules_disabled = 1
  bool systemd = false;            // systemd is PID 1 (/run/systemd/system exists)
  // A KVM backend other than the vendor modules that is live or built in ("kvm_pvm"), "" if none.
  // With one, the vendor module is not needed: /dev/kvm works without it.
  std::string kvm_provider;
  std::map<std::string, ModuleFacts> modules;  // keyed by normalised name
  std::map<std::string, FileFacts> files;      // every file kvmprov may write or remove
  std::vector<std::string> overridden;         // fact keys set by --fact
  DeviceFacts devices;                         // for the profile's devices and groups
  NovaFacts nova;                              // for the profile's "nova" section
};

// Applies one "--fact KEY=VALUE" override. Keys: cpu_vendor, vmx, svm, hypervisor,
// kernel_release, modules_supported, systemd, kvm_usable (the verdict nova's virt_type: auto
// uses), cpu_flags (comma-separated /proc/cpuinfo flags, for CPU model checks). Returns an error
// naming the key or value at fault.
Result<void> override_fact(Facts& facts, std::string_view assignment);
// The keys override_fact accepts, for --help and completion.
const std::vector<std::string_view>& fact_keys();

}  // namespace kvmprov
