// SPDX-License-Identifier: MIT
// FakeHost: an in-memory Host for plan/apply tests; records every write, removal, load and unload.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "host.h"

namespace kvmprov::test {

class FakeLock : public Lock {};

class FakeHost : public Host {
 public:
  // Inputs.
  bool live_ = true;
  std::string root_ = "/";
  std::map<std::string, std::string> files_;         // target-system files
  std::map<std::string, std::string> kernel_files_;  // /proc and /sys
  std::string release_ = "6.1.0-test-amd64";
  std::string hypervisor_id_;
  std::string cpuid_vendor_;
  bool systemd_ = false;
  std::map<std::string, ModuleFacts> modules_;  // state of the kernel's modules
  std::map<std::string, int> load_errors_;      // name -> errno a load fails with
  std::set<std::string> silent_refusals_;       // loads that "succeed" but leave it absent
  std::map<std::string, int> write_errors_;     // path -> errno a write fails with
  KvmProbe probe_;

  // Records.
  std::vector<std::string> writes_, removals_, loads_, unloads_;

  bool live() const override { return live_; }
  const std::string& root() const override { return root_; }

  Result<std::optional<std::string>> read_file(const std::string& path) override {
    auto it = files_.find(path);
    if (it == files_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Result<bool> write_file(const std::string& path, std::string_view content, unsigned) override {
    if (auto e = write_errors_.find(path); e != write_errors_.end())
      return errno_error("cannot write \"" + path + "\"", e->second);
    auto it = files_.find(path);
    if (it != files_.end() && it->second == content) return false;
    files_[path] = std::string(content);
    writes_.push_back(path);
    return true;
  }
  Result<bool> remove_file(const std::string& path) override {
    if (files_.erase(path) == 0) return false;
    removals_.push_back(path);
    return true;
  }
  Result<FileInfo> stat(const std::string& path) override {
    FileInfo info;
    if (files_.count(path)) {
      info.exists = info.regular = true;
      info.mode = 0644;
    }
    return info;
  }
  bool has_systemd() override { return systemd_; }

  std::optional<std::string> read_kernel_file(const std::string& path) override {
    auto it = kernel_files_.find(path);
    if (it == kernel_files_.end()) return std::nullopt;
    return it->second;
  }
  bool kernel_path_exists(const std::string& path) override { return kernel_files_.count(path); }
  std::string kernel_release() override { return release_; }
  std::string cpuid_hypervisor_id() override { return hypervisor_id_; }
  std::string cpuid_vendor_id() override { return cpuid_vendor_; }

  ModuleFacts module(const std::string& name) override {
    auto it = modules_.find(name);
    if (it != modules_.end()) return it->second;
    ModuleFacts m;
    m.name = name;
    return m;
  }
  Result<void> load_module(const std::string& name,
                           const std::vector<ModuleOption>& options) override {
    loads_.push_back(name);
    if (auto e = load_errors_.find(name); e != load_errors_.end())
      return Error{e->second, "load of \"" + name + "\" failed"};
    if (silent_refusals_.count(name)) return {};
    ModuleFacts& m = modules_[name];
    m.name = name;
    m.state = ModuleState::live;
    m.found = true;
    for (const auto& o : options) m.params[o.name] = o.value == "1" ? "Y" : o.value;
    return {};
  }
  Result<void> unload_module(const std::string& name) override {
    unloads_.push_back(name);
    modules_[name].state = ModuleState::absent;
    modules_[name].params.clear();
    return {};
  }
  KvmProbe probe_kvm() override { return probe_; }
  Result<std::unique_ptr<Lock>> lock(std::chrono::milliseconds) override {
    return std::unique_ptr<Lock>(std::make_unique<FakeLock>());
  }

  // A module file that can be loaded.
  void available(const std::string& name) {
    ModuleFacts& m = modules_[name];
    m.name = name;
    m.found = true;
    m.path = "/lib/modules/" + release_ + "/kernel/" + name + ".ko";
  }
};

}  // namespace kvmprov::test
