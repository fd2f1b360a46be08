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
  std::map<std::string, int> read_errors_;      // path -> errno a read fails with
  std::optional<int> open_as_result_;  // what open_device_as gives (0 or an errno); unset: no root
  KvmProbe probe_;
  // What probe_kvm_as gives for a user; unlisted: probe_ for a user who can open /dev/kvm, that
  // user's open error otherwise. Refused unless privileged_.
  std::map<std::string, KvmProbe> probes_as_;
  // Device nodes below /dev, by node name ("kvm", "net/tun").
  std::map<std::string, FileInfo> nodes_;
  // What a udev change event does to a node (set by a test to model udevd); none by default.
  std::map<std::string, FileInfo> udev_results_;
  std::map<std::string, FileInfo> kernel_stats_;  // /dev nodes for kernel_stat
  std::map<std::string, std::vector<std::string>> kernel_dirs_;
  std::map<std::pair<unsigned, uint32_t>, uint64_t> msrs_;  // (cpu, reg) -> value; absent: EIO
  std::optional<std::string> kernel_log_ = std::string();   // nullopt: unreadable (EPERM)
  bool privileged_ = true;
  std::map<uid_t, std::string> user_names_;
  std::map<gid_t, std::string> group_names_;
  std::map<std::string, UserAccess> accounts_;       // --user NAME; "" = this process
  std::map<std::string, GroupEntry> system_groups_;  // NSS beyond the files (LDAP, SSSD)
  std::map<std::string, SystemUser> system_users_;

  // Records.
  std::vector<std::string> writes_, removals_, loads_, unloads_;
  std::vector<std::string> groups_created_, members_added_, node_changes_, udev_events_;
  std::vector<std::string> sweeps_;     // paths beside which stale temporaries were removed
  std::vector<std::string> probed_as_;  // users probe_kvm_as ran as
  int udev_reloads_ = 0;

  std::optional<ScopeFacts> scope_;  // unset: running system when live_, else an image
  bool live() const override { return live_; }
  ScopeFacts scope() const override { return scope_ ? *scope_ : Host::scope(); }
  const std::string& root() const override { return root_; }

  Result<std::optional<std::string>> read_file(const std::string& path) override {
    if (auto e = read_errors_.find(path); e != read_errors_.end())
      return errno_error("cannot read \"" + path + "\"", e->second);
    auto it = files_.find(path);
    if (it == files_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  // Paths whose replacement or removal is refused, with the refusal (a symlink, a directory).
  std::map<std::string, std::string> refusals_;
  Result<bool> write_file(const std::string& path, std::string_view content,
                          const WriteOptions& options) override {
    if (auto e = write_errors_.find(path); e != write_errors_.end())
      return errno_error("cannot write \"" + path + "\"", e->second);
    if (auto r = can_write(path, options); !r) return r.error();
    auto it = files_.find(path);
    if (options.expected &&
        *options.expected !=
            (it == files_.end() ? std::nullopt : std::optional<std::string>(it->second)))
      return Error{ESTALE, "refusing to write \"" + path + "\": it changed since it was read"};
    if (it != files_.end() && it->second == content) return false;
    files_[path] = std::string(content);
    writes_.push_back(path);
    return true;
  }
  // Owner, group and mode of files (absent: root:root 0644).
  std::map<std::string, FileInfo> file_info_;
  Result<bool> remove_file(const std::string& path, const Expected& expected) override {
    if (auto r = can_remove(path); !r) return r.error();
    auto it = files_.find(path);
    if (it == files_.end()) return false;
    if (expected && *expected != it->second)
      return Error{ESTALE, "refusing to remove \"" + path + "\": it changed since it was read"};
    files_.erase(it);
    removals_.push_back(path);
    return true;
  }
  Result<void> can_write(const std::string& path, const WriteOptions&) override {
    if (auto it = refusals_.find(path); it != refusals_.end()) return Error{EINVAL, it->second};
    return {};
  }
  Result<void> can_remove(const std::string& path) override { return can_write(path, {}); }
  void remove_stale_temporaries(const std::string& path) override { sweeps_.push_back(path); }
  Result<FileInfo> stat(const std::string& path) override {
    FileInfo info;
    if (files_.count(path)) {
      info.exists = info.regular = true;
      info.mode = 0644;
      if (auto it = file_info_.find(path); it != file_info_.end()) info = it->second;
    }
    return info;
  }
  bool has_systemd() override { return systemd_; }
  Result<std::vector<std::string>> list_dir(const std::string& dir) override {
    std::set<std::string> names;
    const std::string prefix = dir + "/";
    for (const auto& [path, content] : files_) {
      if (!path.starts_with(prefix)) continue;
      std::string rest = path.substr(prefix.size());
      names.insert(rest.substr(0, rest.find('/')));
    }
    return std::vector<std::string>(names.begin(), names.end());
  }

  // Edits /etc/group like groupadd and usermod do.
  std::map<std::string, std::string> group_errors_;  // group -> what groupadd says when it fails
  Result<void> create_group(const std::string& name, bool system) override {
    if (auto e = group_errors_.find(name); e != group_errors_.end()) return Error{0, e->second};
    groups_created_.push_back(name + (system ? " (system)" : ""));
    std::string& group = files_["/etc/group"];
    if (!group.empty() && group.back() != '\n') group += '\n';
    group += name + ":x:" + std::to_string(next_gid_--) + ":\n";
    return {};
  }
  Result<void> add_group_member(const std::string& group, const std::string& user) override {
    members_added_.push_back(group + ":" + user);
    std::string& text = files_["/etc/group"];
    size_t pos = text.find(group + ":");
    while (pos != std::string::npos && pos != 0 && text[pos - 1] != '\n')
      pos = text.find(group + ":", pos + 1);
    if (pos == std::string::npos) return Error{0, "no group \"" + group + "\""};
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    text.insert(eol, text[eol - 1] == ':' ? user : "," + user);
    return {};
  }

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
    // The msr driver creates a device file for every CPU.
    if (name == "msr")
      for (const auto& cpu : kernel_dirs_["/dev/cpu"]) kernel_files_["/dev/cpu/" + cpu + "/msr"];
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
      for (const auto& cpu : kernel_dirs_["/dev/cpu"])
        kernel_files_.erase("/dev/cpu/" + cpu + "/msr");
    modules_[name].state = ModuleState::absent;
    modules_[name].params.clear();
    return {};
  }
  KvmProbe probe_kvm() override { return probe_; }
  Result<KvmProbe> probe_kvm_as(const UserAccess& who) override {
    if (!privileged_)
      return Error{EPERM, "cannot probe \"/dev/kvm\" as \"" + who.user + "\": not running as root"};
    probed_as_.push_back(who.user);
    if (auto it = probes_as_.find(who.user); it != probes_as_.end()) return it->second;
    if (!who.can_open) return KvmProbe{.open_errno = who.open_errno ? who.open_errno : EACCES};
    return probe_;
  }
  Result<std::optional<LogTail>> read_log(const std::string& path, size_t max_bytes) override {
    auto content = read_file(path);
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
  Result<FileInfo> kernel_stat(const std::string& path) override {
    auto it = kernel_stats_.find(path);
    return it == kernel_stats_.end() ? FileInfo{} : it->second;
  }
  std::optional<std::vector<std::string>> list_kernel_dir(const std::string& path) override {
    auto it = kernel_dirs_.find(path);
    if (it == kernel_dirs_.end()) return std::nullopt;
    return it->second;
  }
  Result<uint64_t> read_msr(unsigned cpu, uint32_t reg) override {
    const std::string dev = "/dev/cpu/" + std::to_string(cpu) + "/msr";
    if (!kernel_files_.count(dev)) return errno_error("cannot read \"" + dev + "\"", ENOENT);
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
