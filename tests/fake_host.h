// SPDX-License-Identifier: MIT
// FakeHost: an in-memory Host for plan/apply tests; records every write, removal, load and unload.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "host.h"
#include "memory_tree.h"

namespace kvmprov::test {

class FakeLock : public Lock {};

class FakeHost : public Host {
 public:
  // Inputs.
  bool live_ = true;
  std::string root_ = "/";
  MemoryTree target_;  // the target system's files
  MemoryTree kernel_;  // the running kernel's /proc, /sys and /dev
  std::string release_ = "6.1.0-test-amd64";
  CpuidIds cpuid_;
  bool systemd_ = false;
  std::map<std::string, ModuleFacts> modules_;  // state of the kernel's modules
  std::map<std::string, int> load_errors_;      // name -> errno a load fails with
  std::set<std::string> silent_refusals_;       // loads that "succeed" but leave it absent
  std::optional<int> open_as_result_;  // what open_device_as gives (0 or an errno); unset: no root
  KvmProbe probe_;
  // What probe_kvm_as gives for a user; unlisted: probe_ for a user who can open /dev/kvm, that
  // user's open error otherwise. Refused unless privileged_.
  std::map<std::string, KvmProbe> probes_as_;
  // Device nodes below /dev, by node name ("kvm", "net/tun").
  std::map<std::string, FileInfo> nodes_;
  // What a udev change event does to a node (set by a test to model udevd); none by default.
  std::map<std::string, FileInfo> udev_results_;
  std::map<std::pair<unsigned, uint32_t>, uint64_t> msrs_;  // (cpu, reg) -> value; absent: EIO
  std::optional<std::string> kernel_log_ = std::string();   // nullopt: unreadable (EPERM)
  bool privileged_ = true;
  std::map<uid_t, std::string> user_names_;
  std::map<gid_t, std::string> group_names_;
  std::map<std::string, UserAccess> accounts_;       // --user NAME; "" = this process
  std::map<std::string, GroupEntry> system_groups_;  // NSS beyond the files (LDAP, SSSD)
  std::map<std::string, SystemUser> system_users_;

  // Records.
  std::vector<std::string> loads_, unloads_;
  std::vector<std::string> groups_created_, members_added_, node_changes_, udev_events_;
  std::vector<std::string> probed_as_;  // users probe_kvm_as ran as
  int udev_reloads_ = 0;

  std::optional<ScopeFacts> scope_;  // unset: running system when live_, else an image
  bool live() const override { return live_; }
  ScopeFacts scope() const override { return scope_ ? *scope_ : Host::scope(); }
  const std::string& root() const override { return root_; }

  TargetFiles& target() override { return target_; }
  FileTree& kernel() override { return kernel_; }
  bool has_systemd() override { return systemd_; }

  // Edits /etc/group like groupadd and usermod do.
  std::map<std::string, std::string> group_errors_;  // group -> what groupadd says when it fails
  Result<void> create_group(const std::string& name, bool system) override {
    if (auto e = group_errors_.find(name); e != group_errors_.end()) return Error{0, e->second};
    groups_created_.push_back(name + (system ? " (system)" : ""));
    std::string& group = target_.files["/etc/group"];
    if (!group.empty() && group.back() != '\n') group += '\n';
    group += name + ":x:" + std::to_string(next_gid_--) + ":\n";
    return {};
  }
  Result<void> add_group_member(const std::string& group, const std::string& user) override {
    members_added_.push_back(group + ":" + user);
    std::string& text = target_.files["/etc/group"];
    size_t pos = text.find(group + ":");
    while (pos != std::string::npos && pos != 0 && text[pos - 1] != '\n')
      pos = text.find(group + ":", pos + 1);
    if (pos == std::string::npos) return Error{0, "no group \"" + group + "\""};
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    text.insert(eol, text[eol - 1] == ':' ? user : "," + user);
    return {};
  }

  std::string kernel_release() override { return release_; }
  CpuidIds cpuid() override { return cpuid_; }

  ModuleFacts module_facts(const std::string& name, const ModuleRead& read) override {
    auto it = modules_.find(name);
    ModuleFacts m;
    m.name = name;
    if (it != modules_.end()) m = it->second;
    if (!read.details) {
      m.params.clear();
      m.refcount = 0;
      m.holders.clear();
    } else if (read.params) {
      std::erase_if(m.params, [&](const auto& p) { return !read.params->contains(p.first); });
    }
    return m;
  }
  Result<void> load_module(const std::string& name,
                           const std::vector<ModuleOption>& options) override {
    loads_.push_back(name);
    if (auto e = load_errors_.find(name); e != load_errors_.end())
      return Error{e->second, "load of \"" + name + "\" failed"};
    if (silent_refusals_.count(name)) return {};
    // The msr driver creates a device file for every CPU.
    if (name == "msr")
      for (const auto& cpu : kernel_.dirs["/dev/cpu"]) kernel_.files["/dev/cpu/" + cpu + "/msr"];
    ModuleFacts& m = modules_[name];
    m.name = name;
    m.state = ModuleState::live;
    m.found = true;
    for (const auto& o : options) m.params[o.name] = o.value == "1" ? "Y" : o.value;
    return {};
  }
  Result<void> unload_module(const std::string& name) override {
    unloads_.push_back(name);
    if (name == "msr")
      for (const auto& cpu : kernel_.dirs["/dev/cpu"])
        kernel_.files.erase("/dev/cpu/" + cpu + "/msr");
    modules_[name].state = ModuleState::absent;
    modules_[name].params.clear();
    return {};
  }
  Result<KvmProbe> kvm_probe(const UserAccess* who) override {
    if (!who) return probe_;
    if (!privileged_)
      return Error{EPERM,
                   "cannot probe \"/dev/kvm\" as \"" + who->user + "\": not running as root"};
    probed_as_.push_back(who->user);
    if (auto it = probes_as_.find(who->user); it != probes_as_.end()) return it->second;
    if (!who->can_open) return KvmProbe{.open_errno = who->open_errno ? who->open_errno : EACCES};
    return probe_;
  }
  Result<std::optional<LogTail>> read_log(const std::string& path, size_t max_bytes) override {
    auto content = target_.read(path);
    if (!content) return content.error();
    if (!*content) return std::optional<LogTail>();
    return std::optional<LogTail>(log_tail(**content, max_bytes));
  }
  Result<FileInfo> device_node(const std::string& node) override {
    auto it = nodes_.find(node);
    return it == nodes_.end() ? FileInfo{} : it->second;
  }
  Result<void> set_device_node(const std::string& node, uid_t uid, gid_t gid,
                               unsigned mode) override {
    node_changes_.push_back(node);
    FileInfo& n = nodes_[node];
    n.uid = uid;
    n.gid = gid;
    n.mode = mode;
    return {};
  }
  Result<void> reload_udev_rules() override {
    ++udev_reloads_;
    return {};
  }
  Result<void> udev_change(const std::string& subsystem, const std::string& sysname) override {
    udev_events_.push_back(subsystem + "/" + sysname);
    for (const auto& [node, info] : udev_results_)
      if (node == sysname || node.ends_with("/" + sysname)) nodes_[node] = info;
    return {};
  }
  Result<int> open_device_as(const std::string& node, uid_t, gid_t,
                             const std::vector<gid_t>&) override {
    if (open_as_result_) return *open_as_result_;
    return Error{EPERM, "not running as root: cannot open \"" + node + "\" as another user"};
  }
  Result<uint64_t> read_msr(unsigned cpu, uint32_t reg) override {
    const std::string dev = "/dev/cpu/" + std::to_string(cpu) + "/msr";
    if (!kernel_.files.count(dev)) return errno_error("cannot read \"" + dev + "\"", ENOENT);
    auto it = msrs_.find({cpu, reg});
    if (it == msrs_.end()) return errno_error("cannot read \"" + dev + "\"", EIO);
    return it->second;
  }
  Result<std::string> kernel_log() override {
    if (!kernel_log_) return errno_error("cannot read the kernel log \"/dev/kmsg\"", EPERM);
    return *kernel_log_;
  }
  bool privileged() override { return privileged_; }
  std::string user_name(uid_t uid) override {
    auto it = user_names_.find(uid);
    return it == user_names_.end() ? "" : it->second;
  }
  std::string group_name(gid_t gid) override {
    auto it = group_names_.find(gid);
    return it == group_names_.end() ? "" : it->second;
  }
  std::optional<GroupEntry> system_group(const std::string& name) override {
    auto it = system_groups_.find(name);
    if (it == system_groups_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<SystemUser> system_user(const std::string& name) override {
    auto it = system_users_.find(name);
    if (it == system_users_.end()) return std::nullopt;
    return it->second;
  }
  Result<UserAccess> can_open_as(const std::string& user, const std::string&) override {
    auto it = accounts_.find(user);
    if (it == accounts_.end()) return Error{ENOENT, "unknown user \"" + user + "\""};
    return it->second;
  }
  Result<std::unique_ptr<Lock>> lock(std::chrono::milliseconds,
                                     const std::function<void(const std::string&)>&) override {
    return std::unique_ptr<Lock>(std::make_unique<FakeLock>());
  }

  // A character device node at /dev/NODE.
  void node(const std::string& node, uid_t uid, gid_t gid, unsigned mode) {
    FileInfo& n = nodes_[node];
    n.exists = n.char_device = true;
    n.uid = uid;
    n.gid = gid;
    n.mode = mode;
  }

  gid_t next_gid_ = 999;

  // A module file that can be loaded.
  void available(const std::string& name) {
    ModuleFacts& m = modules_[name];
    m.name = name;
    m.found = true;
    m.path = "/lib/modules/" + release_ + "/kernel/" + name + ".ko";
  }
};

}  // namespace kvmprov::test
