// SPDX-License-Identifier: MIT
// libkmod behind a small RAII wrapper: module state, loading with options, unloading.
// Only kmod.cc includes libkmod.h.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "facts.h"
#include "profile.h"
#include "util/result.h"

namespace kvmprov {

class Kmod {
 public:
  // MODULES_DIR: the /lib/modules/<release> tree libkmod reads (its own root, like
  // kmod_new(dirname, ...)). CONFIG_PATHS: modprobe.d directories ({} = libkmod's defaults).
  // SYS_ROOT: where /sys and /proc are read ("/" on a live host).
  static Result<std::unique_ptr<Kmod>> open(const std::string& modules_dir,
                                            const std::vector<std::string>& config_paths,
                                            const std::string& sys_root);
  virtual ~Kmod() = default;

  // Resolves an alias or a name ("kvm-intel") to the module name ("kvm_intel"); the normalised
  // input when nothing matches.
  virtual std::string resolve(const std::string& name) = 0;
  // State, file, blacklist, parameters, refcount and holders. A kernel without loadable-module
  // support (no /proc/modules) with /sys/module/<m> present reports the module as builtin.
  ModuleFacts query(const std::string& name) { return query(name, {}); }
  // As READ says: no parameters, refcount or holders without details (Host::module_state), only
  // some parameters (Host::module with a set).
  virtual ModuleFacts query(const std::string& name, const ModuleRead& read) = 0;
  // Dependencies, in load order, not including NAME itself.
  virtual std::vector<std::string> dependencies(const std::string& name) = 0;
  // kmod_module_probe_insert_module with KMOD_PROBE_APPLY_BLACKLIST, OPTIONS passed to NAME.
  // Error.code carries the errno; Error.message is the operator-facing cause.
  virtual Result<void> insert(const std::string& name,
                              const std::vector<ModuleOption>& options) = 0;
  virtual Result<void> remove(const std::string& name) = 0;
};

}  // namespace kvmprov
