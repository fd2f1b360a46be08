// SPDX-License-Identifier: MIT
// LinuxHost: the Host seam on a real machine, with files below --root and facts from the kernel.
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "accounts.h"
#include "atomic_file.h"
#include "host.h"
#include "kernel_log.h"
#include "linux/kmod.h"
#include "linux/lock.h"
#include "linux/subprocess.h"
#include "linux/sysfs_module.h"
#include "linux/udev.h"
#include "linux/user_access.h"
#include "msr.h"
#include "util/read_all.h"
#include "util/text.h"

namespace kvmprov {
namespace {

// Larger files are not configuration; reading one whole would only waste memory.
constexpr size_t kMaxFileSize = size_t{16} << 20;

// How long apply waits for udevd to finish one change event.
constexpr std::chrono::milliseconds kUdevEventTimeout{10000};

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};

// PATH made absolute and free of symlinks when it exists, else as given without trailing slashes.
std::string canonical_or_given(const std::string& path) {
  std::unique_ptr<char, FreeDeleter> real(realpath(path.c_str(), nullptr));
  std::string result = real ? std::string(real.get()) : path;
  while (result.size() > 1 && result.back() == '/') result.pop_back();
  return result.empty() ? std::string("/") : result;
}

std::string trim_trailing_space(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

FileInfo file_info(const struct stat& st) {
  FileInfo info;
  info.exists = true;
  info.regular = S_ISREG(st.st_mode);
  info.directory = S_ISDIR(st.st_mode);
  info.symlink = S_ISLNK(st.st_mode);
  info.char_device = S_ISCHR(st.st_mode);
  info.mode = st.st_mode & 07777;
  info.uid = st.st_uid;
  info.gid = st.st_gid;
  info.mtime_ns = static_cast<long long>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  return info;
}

class LinuxHost final : public Host {
 public:
  explicit LinuxHost(const LinuxHostOptions& options)
      : root_(canonical_or_given(options.root)),
        kernel_root_(canonical_or_given(options.kernel_root)),
        modules_dir_(options.modules_dir),
        scope_(root_ == "/" ? options.scope : ScopeFacts{.scope = Scope::image}) {}

  bool live() const override { return scope_.scope == Scope::running_system; }
  // NSS in this process reads this system's nsswitch.conf: for "/" of the running system or a
  // container. A chroot's would load the image's NSS modules against the build host's daemons.
  bool nss_answers() const {
    return root_ == "/" &&
           (scope_.scope == Scope::running_system || scope_.scope == Scope::container);
  }
  ScopeFacts scope() const override { return scope_; }
  const std::string& root() const override { return root_; }

  Result<std::optional<std::string>> read_file(const std::string& path) override {
    if (auto parts = split_target_path(root_, path); !parts) return parts.error();
    const std::string context = "cannot read " + quote_path(path_on_disk(root_, path));
    // O_NONBLOCK: a FIFO planted at PATH must not hang the run before fstat refuses it.
    auto fd = open_below_root(root_, path, O_RDONLY | O_NOCTTY | O_NONBLOCK);
    if (!fd) {
      if (fd.error().code == ENOENT) return std::optional<std::string>();
      return errno_error(context, fd.error().code);
    }
    struct stat st {};
    if (fstat(fd->get(), &st) != 0) {
      const int err = errno;
      return errno_error(context, err);
    }
    if (S_ISDIR(st.st_mode)) return errno_error(context, EISDIR);
    if (!S_ISREG(st.st_mode)) return Error{EINVAL, context + ": not a regular file"};
    auto content = read_all(fd->get(), kMaxFileSize);
    if (!content) return errno_error(context, content.error().code);
    return std::optional<std::string>(std::move(*content));
  }

  Result<bool> write_file(const std::string& path, std::string_view content,
                          const WriteOptions& options) override {
    return replace_file(root_, path, content, options);
  }

  Result<bool> remove_file(const std::string& path, const Expected& expected) override {
    return remove_file_below(root_, path, expected);
  }

  Result<void> can_write(const std::string& path, const WriteOptions& options) override {
    return check_replaceable(root_, path, options);
  }

  Result<void> can_remove(const std::string& path) override { return check_removable(root_, path); }

  void remove_stale_temporaries(const std::string& path) override {
    remove_stale_temporaries_beside(root_, path);
  }

  Result<FileInfo> stat(const std::string& path) override {
    auto parts = split_target_path(root_, path);
    if (!parts) return parts.error();
    const std::string context = "cannot stat " + quote_path(path_on_disk(root_, path));
    std::string parent(1, '/');
    for (size_t i = 0; i + 1 < parts->size(); ++i) {
      parent += (*parts)[i];
      parent += '/';
    }
    auto dir = open_below_root(root_, parent, O_PATH | O_DIRECTORY);
    if (!dir) {
      const int err = dir.error().code;
      if (err == ENOENT || err == ENOTDIR) return FileInfo{};
      return errno_error(context, err);
    }
    struct stat st {};
    const char* leaf = parts->empty() ? "." : parts->back().c_str();
    if (fstatat(dir->get(), leaf, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      const int err = errno;
      if (err == ENOENT) return FileInfo{};
      return errno_error(context, err);
    }
    return file_info(st);
  }

  // The running system: systemd is PID 1 (its runtime directory exists), not merely installed,
  // since a container may ship systemd without running it. An image (--root): installed.
  bool has_systemd() override {
    if (live()) return kernel_path_exists("/run/systemd/system");
    for (const char* binary : {"/lib/systemd/systemd", "/usr/lib/systemd/systemd"}) {
      auto fd = open_below_root(root_, binary, O_PATH);
      struct stat st {};
      if (fd && fstat(fd->get(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0) {
        return true;
      }
    }
    return false;
  }

  Result<std::vector<std::string>> list_dir(const std::string& dir) override {
    std::vector<std::string> names;
    auto fd = open_below_root(root_, dir, O_RDONLY | O_DIRECTORY);
    if (!fd) {
      if (fd.error().code == ENOENT || fd.error().code == ENOTDIR) return names;
      return errno_error("cannot list " + quote_path(path_on_disk(root_, dir)), fd.error().code);
    }
    UniqueDir d = UniqueDir::adopt(*fd);
    if (!d.valid()) return errno_error("cannot list " + quote_path(path_on_disk(root_, dir)));
    names = d.names();
    std::sort(names.begin(), names.end());
    return names;
  }

  Result<void> create_group(const std::string& name, bool system) override {
    std::string groupadd = find_program({"/usr/sbin/groupadd", "/sbin/groupadd"});
    if (groupadd.empty())
      return Error{ENOENT, "cannot create group " + quote(name) +
                               ": groupadd not found (install the \"passwd\" package)"};
    std::vector<std::string> argv{groupadd};
    if (system) argv.emplace_back("--system");
    if (!live()) argv.insert(argv.end(), {"--root", root_});
    argv.push_back(name);
    if (auto r = run_program(argv); !r)
      return Error{r.error().code, "cannot create group " + quote(name) + ": " + r.error().message};
    return {};
  }

  Result<void> add_group_member(const std::string& group, const std::string& user) override {
    // usermod edits only users of /etc/passwd; gpasswd adds a user NSS knows (LDAP, SSSD) to a
    // group of /etc/group.
    const bool nss_user = nss_answers() && !local_accounts().user(user) && system_user(user);
    std::string tool = nss_user ? find_program({"/usr/bin/gpasswd", "/bin/gpasswd"})
                                : find_program({"/usr/sbin/usermod", "/sbin/usermod"});
    if (tool.empty())
      return Error{ENOENT, "cannot add " + quote(user) + " to group " + quote(group) + ": " +
                               (nss_user ? "gpasswd" : "usermod") +
                               " not found (install the \"passwd\" package)"};
    std::vector<std::string> argv{tool};
    if (nss_user)
      argv.insert(argv.end(), {"--add", user});
    else
      argv.insert(argv.end(), {"--append", "--groups", group});
    if (!live()) argv.insert(argv.end(), {"--root", root_});
    argv.push_back(nss_user ? group : user);
    if (auto r = run_program(argv); !r)
      return Error{r.error().code, "cannot add " + quote(user) + " to group " + quote(group) +
                                       ": " + r.error().message};
    return {};
  }

  std::optional<std::string> read_kernel_file(const std::string& path) override {
    const std::optional<std::string> full = kernel_path(path);
    if (!full) return std::nullopt;
    return read_small_file(*full, kMaxFileSize);
  }

  bool kernel_path_exists(const std::string& path) override {
    const std::optional<std::string> full = kernel_path(path);
    struct stat st {};
    return full && ::stat(full->c_str(), &st) == 0;
  }

  std::string kernel_release() override {
    if (!kernel_release_) {
      if (kernel_root_ == "/") {
        struct utsname uts {};
        kernel_release_ = uname(&uts) == 0 ? std::string(uts.release) : std::string();
      } else {
        kernel_release_ =
            trim_trailing_space(read_kernel_file("/proc/sys/kernel/osrelease").value_or(""));
      }
    }
    return *kernel_release_;
  }

  std::string cpuid_hypervisor_id() override { return kvmprov::cpuid_hypervisor_id(); }
  std::string cpuid_vendor_id() override { return kvmprov::cpuid_vendor_id(); }

  ModuleFacts module(const std::string& name) override { return query_module(name, true); }
  ModuleFacts module_state(const std::string& name) override { return query_module(name, false); }

  Result<void> load_module(const std::string& name,
                           const std::vector<ModuleOption>& options) override {
    Kmod* kmod = open_kmod();
    if (!kmod) return *kmod_error_;
    return kmod->insert(name, options);
  }

  Result<void> unload_module(const std::string& name) override {
    Kmod* kmod = open_kmod();
    if (!kmod) return *kmod_error_;
    return kmod->remove(name);
  }

  KvmProbe probe_kvm() override {
    return probe_kvm_device(kernel_path("/dev/kvm").value_or("/dev/kvm"));
  }

  Result<KvmProbe> probe_kvm_as(const UserAccess& who) override {
    if (geteuid() != 0)
      return Error{EPERM, "cannot probe \"/dev/kvm\" as \"" + who.user + "\": not running as root"};
    return probe_as(who, kernel_path("/dev/kvm").value_or("/dev/kvm"));
  }

  Result<FileInfo> device_node(const std::string& node) override {
    const std::optional<std::string> full = kernel_path("/dev/" + node);
    if (!full) return Error{EINVAL, "invalid device node " + quote_path(node)};
    struct stat st {};
    if (::lstat(full->c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR) return FileInfo{};
      return errno_error("cannot stat " + quote_path(*full), err);
    }
    return file_info(st);
  }

  Result<FileInfo> kernel_stat(const std::string& path) override {
    const std::optional<std::string> full = kernel_path(path);
    if (!full) return Error{EINVAL, "cannot stat \"" + path + "\": not an absolute path"};
    struct stat st {};
    if (::stat(full->c_str(), &st) != 0) {
      const int err = errno;
      if (err == ENOENT || err == ENOTDIR) return FileInfo{};
      return errno_error("cannot stat " + quote_path(*full), err);
    }
    return file_info(st);
  }

  Result<void> set_device_node(const std::string& node, uid_t uid, gid_t gid,
                               unsigned mode) override {
    const std::optional<std::string> full = kernel_path("/dev/" + node);
    if (!full) return Error{EINVAL, "invalid device node " + quote_path(node)};
    // O_PATH: opening a device for real would run its driver's open.
    UniqueFd fd(open(full->c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) return errno_error("cannot set permissions of " + quote_path(*full));
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) return errno_error("cannot stat " + quote_path(*full));
    if (!S_ISCHR(st.st_mode))
      return Error{EINVAL, "refusing to change " + quote_path(*full) + ": not a character device"};
    if (fchownat(fd.get(), "", uid, gid, AT_EMPTY_PATH) != 0)
      return errno_error("cannot change the owner of " + quote_path(*full));
    const std::string via = "/proc/self/fd/" + std::to_string(fd.get());
    if (::chmod(via.c_str(), static_cast<mode_t>(mode)) != 0)
      return errno_error("cannot change the mode of " + quote_path(*full));
    return {};
  }

  Result<void> reload_udev_rules() override {
    std::string udevadm = find_program({"/usr/bin/udevadm", "/bin/udevadm", "/sbin/udevadm"});
    if (udevadm.empty()) return Error{ENOENT, "cannot reload udev rules: udevadm not found"};
    if (auto r = run_program({udevadm, "control", "--reload"}); !r)
      return Error{r.error().code, "cannot reload udev rules: " + r.error().message};
    return {};
  }

  Result<void> udev_change(const std::string& subsystem, const std::string& sysname) override {
    return udev_change_and_wait(subsystem, sysname, kUdevEventTimeout);
  }

  Result<int> open_device_as(const std::string& node, uid_t uid, gid_t gid,
                             const std::vector<gid_t>& groups) override {
    const std::optional<std::string> full = kernel_path("/dev/" + node);
    if (!full) return Error{EINVAL, "invalid device node " + quote_path(node)};
    if (geteuid() != 0) return Error{EPERM, "not running as root: cannot open as another user"};
    UserAccess who;
    who.user = "uid " + std::to_string(uid);
    who.uid = uid;
    who.gid = gid;
    who.groups = groups;
    return open_as(who, *full);
  }

  std::optional<std::vector<std::string>> list_kernel_dir(const std::string& path) override {
    const std::optional<std::string> full = kernel_path(path);
    if (!full) return std::nullopt;
    return sorted_entries(*full);
  }

  Result<uint64_t> read_msr(unsigned cpu, uint32_t reg) override {
    return read_msr_device(path_on_disk(kernel_root_, fmt::format("/dev/cpu/{}/msr", cpu)), reg);
  }

  Result<std::optional<LogTail>> read_log(const std::string& path, size_t max_bytes) override {
    return read_log_tail(path, max_bytes);
  }

  Result<std::string> kernel_log() override {
    // syslog(2) reads the running kernel, so it is no fallback for a snapshot tree.
    return read_kernel_log(path_on_disk(kernel_root_, "/dev/kmsg"), kernel_root_ == "/");
  }

  bool privileged() override { return geteuid() == 0; }

  // The local files first, read once (the system accounts owning device nodes are there), then,
  // on the running system, the name service for accounts they lack (LDAP, sssd).
  std::string user_name(uid_t uid) override {
    if (const UserEntry* u = local_accounts().user_by_uid(uid)) return u->name;
    return kernel_root_ == "/" ? nss_user_name(uid) : "";
  }
  std::string group_name(gid_t gid) override {
    if (const GroupEntry* g = local_accounts().group_by_gid(gid)) return g->name;
    return kernel_root_ == "/" ? nss_group_name(gid) : "";
  }

  std::optional<GroupEntry> system_group(const std::string& name) override {
    if (!nss_answers()) return std::nullopt;
    std::vector<char> buf(16384);
    struct group gr {};
    struct group* found = nullptr;
    while (getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) == ERANGE &&
           buf.size() < (size_t{1} << 24))
      buf.resize(buf.size() * 2);
    if (!found) return std::nullopt;
    GroupEntry g{.name = gr.gr_name, .gid = gr.gr_gid};
    for (char** m = gr.gr_mem; m && *m; ++m) g.members.emplace_back(*m);
    return g;
  }

  std::optional<SystemUser> system_user(const std::string& name) override {
    if (!nss_answers()) return std::nullopt;
    auto who = lookup_account(name);  // getpwnam_r and getgrouplist
    if (!who) return std::nullopt;
    return SystemUser{.user = {.name = name, .uid = who->uid, .gid = who->gid},
                      .gids = who->groups};
  }

  Result<UserAccess> can_open_as(const std::string& user, const std::string& path) override {
    const std::optional<std::string> full = kernel_path(path);
    if (!full) return Error{EINVAL, "cannot open \"" + path + "\": not an absolute path"};
    if (user.empty()) {
      UserAccess self;
      self.uid = geteuid();
      self.gid = getegid();
      self.user = user_name(self.uid);
      self.groups.push_back(self.gid);
      int n = getgroups(0, nullptr);
      if (n > 0) {
        std::vector<gid_t> more(static_cast<size_t>(n));
        n = getgroups(n, more.data());
        if (n > 0) self.groups.insert(self.groups.end(), more.begin(), more.begin() + n);
      }
      UniqueFd fd(open(full->c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
      self.can_open = fd.valid();
      self.open_errno = self.can_open ? 0 : errno;
      self.opened_as_user = true;
      return self;
    }
    auto who = kernel_root_ == "/" ? lookup_account(user) : lookup_account(user, local_accounts());
    if (!who) return who.error();
    // Really trying is exact (ACLs, LSMs); it needs root and the running system.
    if (geteuid() == 0 && kernel_root_ == "/") {
      auto err = open_as(*who, *full);
      if (!err) return err.error();
      who->can_open = *err == 0;
      who->open_errno = *err;
      who->opened_as_user = true;
      return who;
    }
    auto info = kernel_stat(path);
    if (!info) return info.error();
    if (!info->exists) {
      who->open_errno = ENOENT;
      return who;
    }
    who->can_open = may_open_rw(who->uid, who->groups, info->uid, info->gid, info->mode);
    who->open_errno = who->can_open ? 0 : EACCES;
    return who;
  }

  Result<std::unique_ptr<Lock>> lock(
      std::chrono::milliseconds timeout,
      const std::function<void(const std::string&)>& on_wait) override {
    if (live())
      return take_run_lock(path_on_disk(kernel_root_, std::string(kLiveLockDir)), true, timeout,
                           on_wait);
    return take_run_lock(root_, false, timeout, on_wait);
  }

 private:
  // PATH below the kernel root; nullopt for a relative path or one with "..".
  std::optional<std::string> kernel_path(const std::string& path) const {
    if (!split_target_path(kernel_root_, path)) return std::nullopt;
    return path_on_disk(kernel_root_, path);
  }

  ModuleFacts query_module(const std::string& name, bool details) {
    // A kernel without loadable-module support has nothing libkmod could load or find: /sys
    // tells all there is, and the run is spared mapping libkmod and its libraries.
    if (!kernel_path_exists("/proc/modules")) return sys_module_facts(name, details);
    if (Kmod* kmod = open_kmod()) return kmod->query(name, details);
    ModuleFacts facts = sys_module_facts(name, details);
    facts.unknown_because = kmod_error_->message;
    return facts;
  }

  // The kernel root's /etc/group and /etc/passwd, parsed on first use.
  const Accounts& local_accounts() {
    if (!local_accounts_) {
      local_accounts_ = parse_accounts(read_kernel_file("/etc/group").value_or(""),
                                       read_kernel_file("/etc/passwd").value_or(""));
    }
    return *local_accounts_;
  }

  // libkmod is opened on first use, so runs that never touch modules never need it.
  Kmod* open_kmod() {
    if (kmod_ || kmod_error_) return kmod_.get();
    const std::string dir = modules_dir_.empty()
                                ? path_on_disk(kernel_root_, "/lib/modules/" + kernel_release())
                                : modules_dir_;
    // Kmod::open finds the modprobe.d directories below the kernel root itself.
    auto kmod = Kmod::open(dir, {}, kernel_root_);
    if (kmod) {
      kmod_ = std::move(kmod.value());
    } else {
      kmod_error_ = kmod.error();
    }
    return kmod_.get();
  }

  // What /sys alone tells about NAME: on a kernel without loadable-module support, or when
  // libkmod is unavailable.
  ModuleFacts sys_module_facts(const std::string& name, bool details) {
    ModuleFacts facts;
    facts.name = normalise_module_name(name);
    if (!kernel_path_exists("/sys/module/" + facts.name)) return facts;
    const SysModule sys(kernel_root_, facts.name);
    if (details) facts.params = sys.parameters();
    // Without loadable-module support, or without an initstate, a /sys/module entry is builtin.
    const std::optional<ModuleState> state =
        kernel_path_exists("/proc/modules") ? sys.initstate() : std::nullopt;
    if (!state) {
      facts.state = ModuleState::builtin;
      facts.found = true;
      return facts;
    }
    facts.state = *state;
    return facts;
  }

  std::string root_;
  std::string kernel_root_;
  std::string modules_dir_;
  ScopeFacts scope_;
  std::optional<std::string> kernel_release_;
  std::unique_ptr<Kmod> kmod_;
  std::optional<Error> kmod_error_;
  std::optional<Accounts> local_accounts_;
};

// The container manager's name from the markers they leave, "" when none.
std::string container_marker(const std::string& kernel_root, std::string* evidence) {
  const auto read_small = [&](const std::string& path) {
    return read_small_file(path_on_disk(kernel_root, path), kMaxFileSize);
  };
  // systemd-nspawn, LXC, podman and systemd's own detection write the manager's name here.
  if (auto name = read_small("/run/systemd/container")) {
    *evidence = "/run/systemd/container says \"" + trim_trailing_space(*name) + "\"";
    const std::string n = trim_trailing_space(*name);
    return n.empty() ? std::string("container") : n;
  }
  if (auto environ = read_small("/proc/1/environ")) {
    // NUL-separated; "container=" is set by every manager for PID 1.
    for (size_t pos = 0; pos < environ->size();) {
      const size_t end = std::min(environ->find('\0', pos), environ->size());
      const std::string_view var = std::string_view(*environ).substr(pos, end - pos);
      if (var.starts_with("container=") && var.size() > 10) {
        *evidence = "PID 1's environment says " + std::string(var);
        return std::string(var.substr(10));
      }
      pos = end + 1;
    }
  }
  struct stat st {};
  if (::stat(path_on_disk(kernel_root, "/.dockerenv").c_str(), &st) == 0) {
    *evidence = "/.dockerenv exists";
    return "docker";
  }
  if (::stat(path_on_disk(kernel_root, "/run/.containerenv").c_str(), &st) == 0) {
    *evidence = "/run/.containerenv exists";
    return "podman";
  }
  return "";
}

}  // namespace

ScopeFacts detect_scope(const std::string& kernel_root) {
  ScopeFacts f;
  struct stat root {};
  struct stat init_root {};
  const std::string proc = path_on_disk(kernel_root, "/proc/self");
  if (::stat(proc.c_str(), &root) != 0) {
    f.scope = Scope::chroot;
    f.evidence = "there is no /proc: the running kernel cannot be seen";
    return f;
  }
  const bool init_seen = ::stat(path_on_disk(kernel_root, "/proc/1/root").c_str(), &init_root) == 0;
  if (::stat(kernel_root.c_str(), &root) == 0 && init_seen &&
      (root.st_dev != init_root.st_dev || root.st_ino != init_root.st_ino)) {
    f.scope = Scope::chroot;
    f.evidence = "/ is not the root directory of PID 1";
    return f;
  }
  // PID 1's root cannot always be examined, even by root (a container runtime that withholds
  // ptrace access). Then the mount table answers for the common chroot, a directory of another
  // file system: the kernel lists only the mounts below this root, so "/" is missing from it.
  if (!init_seen) {
    if (auto table =
            read_small_file(path_on_disk(kernel_root, "/proc/self/mountinfo"), kMaxFileSize)) {
      bool root_mounted = false;
      for (const std::string_view line : lines(*table)) {
        // ID PARENT MAJOR:MINOR ROOT MOUNT-POINT ...
        std::istringstream fields{std::string(line)};
        std::string id, parent, device, mount_root, mount_point;
        if (fields >> id >> parent >> device >> mount_root >> mount_point && mount_point == "/") {
          root_mounted = true;
          break;
        }
      }
      if (!root_mounted) {
        f.scope = Scope::chroot;
        f.evidence =
            "/ is not a mount point (/proc/self/mountinfo), and PID 1's root cannot be examined";
        return f;
      }
    }
  }
  f.container = container_marker(kernel_root, &f.evidence);
  if (!f.container.empty()) f.scope = Scope::container;
  return f;
}

std::unique_ptr<Host> make_linux_host(const LinuxHostOptions& options) {
  return std::make_unique<LinuxHost>(options);
}

}  // namespace kvmprov
