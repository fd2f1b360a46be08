// SPDX-License-Identifier: MIT
// The libkmod wrapper: module state read from a system root, loading, unloading, load errors.
#include "linux/kmod.h"

#include <libkmod.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "atomic_file.h"
#include "linux/dynlib.h"
#include "linux/modprobe_config.h"
#include "linux/sysfs_module.h"
#include "module_advice.h"
#include "util/text.h"

namespace kvmprov {
namespace {

// /proc/cpuinfo and modules.builtin are larger than most files read here, but bounded too.
constexpr size_t kMaxLargeFile = 8 * 1024 * 1024;

// libkmod's functions. libkmod is opened on first use rather than linked: it brings libcrypto,
// libzstd and liblzma, whose relocations were nearly half of every run's start-up, also of the
// runs that never touch a module (apply --root, validate, check on a kernel without modules).
// clang-format off
#define KVMPROV_LIBKMOD(X)                                                                         \
  X(kmod_config_get_blacklists) X(kmod_config_iter_free_iter) X(kmod_config_iter_get_key)          \
  X(kmod_config_iter_next) X(kmod_get_dirname) X(kmod_list_next) X(kmod_load_resources)            \
  X(kmod_module_get_dependencies) X(kmod_module_get_holders) X(kmod_module_get_initstate)          \
  X(kmod_module_get_module) X(kmod_module_get_name) X(kmod_module_get_path)                        \
  X(kmod_module_get_refcnt) X(kmod_module_new_from_lookup) X(kmod_module_new_from_name)            \
  X(kmod_module_probe_insert_module) X(kmod_module_remove_module) X(kmod_module_unref)             \
  X(kmod_module_unref_list) X(kmod_new) X(kmod_set_log_fn) X(kmod_unref)
// clang-format on

KVMPROV_DYNLIB_TABLE(Libkmod, KVMPROV_LIBKMOD);

// Filled by the first Kmod::open, before any handle exists.
Libkmod g_libkmod;

using CtxPtr = std::unique_ptr<kmod_ctx, Release<&g_libkmod, &Libkmod::kmod_unref>>;
using ModulePtr = std::unique_ptr<kmod_module, Release<&g_libkmod, &Libkmod::kmod_module_unref>>;
using ModuleList =
    std::unique_ptr<kmod_list, Release<&g_libkmod, &Libkmod::kmod_module_unref_list>>;
using ConfigIter =
    std::unique_ptr<kmod_config_iter, Release<&g_libkmod, &Libkmod::kmod_config_iter_free_iter>>;

// libkmod logs to stderr by default; library code stays silent and reports through results.
void discard_log(void*, int, const char*, int, const char*, const char*, va_list) {}

bool exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string clean_root(const std::string& root) {
  std::string r = root.empty() ? "/" : root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return r;
}

// The CPU facts a failed load is explained with.
CpuFacts read_cpu(const std::string& sys_root) {
  std::optional<std::string> text =
      read_small_file(path_on_disk(sys_root, "/proc/cpuinfo"), kMaxLargeFile);
  return text ? parse_cpuinfo(*text) : CpuFacts{};
}

class LibKmod final : public Kmod {
 public:
  LibKmod(CtxPtr ctx, std::string modules_dir, std::vector<std::string> config_dirs,
          std::string sys_root)
      : ctx_(std::move(ctx)),
        modules_dir_(std::move(modules_dir)),
        config_dirs_(std::move(config_dirs)),
        sys_root_(std::move(sys_root)) {}

  std::string resolve(const std::string& name) override {
    ModulePtr mod = lookup(name);
    return mod ? g_libkmod.kmod_module_get_name(mod.get()) : normalise_module_name(name);
  }

  using Kmod::query;
  ModuleFacts query(const std::string& name, const ModuleRead& read) override {
    ModuleFacts facts;
    facts.name = resolve(name);
    if (facts.name.empty()) return facts;
    ModulePtr mod = by_name(facts.name);
    if (mod) {
      const char* path = g_libkmod.kmod_module_get_path(mod.get());
      if (path != nullptr && exists(path)) facts.path = path;
    }
    facts.state = state_of(mod.get(), facts.name);
    facts.found = !facts.path.empty() || facts.state == ModuleState::builtin;
    facts.blacklisted_by = blacklisted_by(facts.name);
    if (!read.details) return facts;

    const SysModule sys(sys_root_, facts.name);
    facts.params = sys.parameters(read.params);
    if (facts.state == ModuleState::builtin || facts.state == ModuleState::absent) return facts;
    if (live_root() && mod) {
      facts.refcount = std::max(0, g_libkmod.kmod_module_get_refcnt(mod.get()));
      ModuleList holders(g_libkmod.kmod_module_get_holders(mod.get()));
      for (kmod_list* l = holders.get(); l != nullptr;
           l = g_libkmod.kmod_list_next(holders.get(), l)) {
        ModulePtr holder(g_libkmod.kmod_module_get_module(l));
        facts.holders.emplace_back(g_libkmod.kmod_module_get_name(holder.get()));
      }
    } else {
      facts.refcount = sys.refcount();
      facts.holders = sys.holders();
    }
    std::sort(facts.holders.begin(), facts.holders.end());
    return facts;
  }

  std::vector<std::string> dependencies(const std::string& name) override {
    std::vector<std::string> order;
    ModulePtr mod = lookup(name);
    if (!mod) return order;
    std::set<std::string> seen{g_libkmod.kmod_module_get_name(mod.get())};
    // Depth first, a module after everything it needs: the order modprobe loads them in.
    std::function<void(kmod_module*)> visit = [&](kmod_module* m) {
      ModuleList deps(g_libkmod.kmod_module_get_dependencies(m));
      for (kmod_list* l = deps.get(); l != nullptr; l = g_libkmod.kmod_list_next(deps.get(), l)) {
        ModulePtr dep(g_libkmod.kmod_module_get_module(l));
        std::string dep_name = g_libkmod.kmod_module_get_name(dep.get());
        if (!seen.insert(dep_name).second) continue;
        visit(dep.get());
        order.push_back(dep_name);
      }
    };
    visit(mod.get());
    return order;
  }

  Result<void> insert(const std::string& name, const std::vector<ModuleOption>& options) override {
    ModuleFacts facts = query(name);
    if (in_kernel(facts.state)) return {};
    if (!live_root()) return not_running_system(facts.name, "loaded");
    ModulePtr mod = lookup(name);
    if (!mod) {
      return Error{ENOENT, explain_load_error(facts.name, ENOENT, CpuFacts{}, modules_dir_, "")};
    }
    std::string extra;
    for (const ModuleOption& option : options) {
      if (!extra.empty()) extra += ' ';
      extra += option.name;
      if (!option.value.empty()) extra += "=" + option.value;
    }
    int rc = g_libkmod.kmod_module_probe_insert_module(mod.get(), KMOD_PROBE_APPLY_BLACKLIST,
                                                       extra.empty() ? nullptr : extra.c_str(),
                                                       nullptr, nullptr, nullptr);
    if (rc == 0 || rc == -EEXIST) return {};
    if (rc > 0) {
      // libkmod refused before touching the kernel: no errno.
      std::string by =
          facts.blacklisted_by.empty() ? std::string(kKernelCommandLine) : facts.blacklisted_by;
      return Error{0, explain_load_error(facts.name, 0, CpuFacts{}, modules_dir_, by)};
    }
    int err = -rc;
    if (err == ENOENT && facts.found) {
      // The file is there, so ENOENT came from the kernel: a symbol it could not resolve.
      return Error{
          err,
          "module \"" + facts.name +
              "\": unknown symbol, the module does not match the running kernel (see \"dmesg\"; reinstall the modules package for this kernel)"};
    }
    return Error{err, explain_load_error(facts.name, err, read_cpu(sys_root_), modules_dir_, "")};
  }

  Result<void> remove(const std::string& name) override {
    ModuleFacts facts = query(name);
    if (facts.state == ModuleState::absent) return {};
    if (facts.state == ModuleState::builtin) {
      return Error{
          0,
          "module \"" + facts.name +
              "\" is built into the kernel and cannot be unloaded (set its parameters on the kernel command line, e.g. " +
              facts.name + ".PARAM=VALUE)"};
    }
    if (!live_root()) return not_running_system(facts.name, "unloaded");
    ModulePtr mod = by_name(facts.name);
    int rc = mod ? g_libkmod.kmod_module_remove_module(mod.get(), 0) : -ENOMEM;
    if (rc == 0 || rc == -ENOENT) return {};
    int err = -rc;
    std::string quoted = "module \"" + facts.name + "\"";
    if (err == EAGAIN || err == EWOULDBLOCK || err == EBUSY) {
      std::string users;
      for (const std::string& h : facts.holders) users += (users.empty() ? "" : ", ") + h;
      return Error{err, quoted + " is in use (refcount " + std::to_string(facts.refcount) +
                            (users.empty() ? "" : ", used by " + users) +
                            ") (stop what uses it, such as running virtual machines, and retry)"};
    }
    if (err == EPERM) {
      return Error{
          err,
          quoted +
              " cannot be unloaded: not permitted (kernel.modules_disabled=1, kernel lockdown, or not running as root)"};
    }
    return Error{err, quoted + " cannot be unloaded: " + std::strerror(err)};
  }

 private:
  bool live_root() const { return sys_root_ == "/"; }

  Error not_running_system(const std::string& module, std::string_view verb) const {
    return Error{0, "module \"" + module + "\" not " + std::string(verb) +
                        ": the system root is \"" + sys_root_ +
                        "\", not the running system (kernel changes apply only with root \"/\")"};
  }

  // The module NAME resolves to, or null when no alias, name or builtin entry matches.
  ModulePtr lookup(const std::string& name) {
    if (name.empty()) return nullptr;
    kmod_list* raw = nullptr;
    if (g_libkmod.kmod_module_new_from_lookup(ctx_.get(), name.c_str(), &raw) < 0) return nullptr;
    ModuleList list(raw);
    if (!list) return nullptr;
    return ModulePtr(g_libkmod.kmod_module_get_module(list.get()));
  }

  ModulePtr by_name(const std::string& name) {
    kmod_module* raw = nullptr;
    if (g_libkmod.kmod_module_new_from_name(ctx_.get(), name.c_str(), &raw) < 0) return nullptr;
    return ModulePtr(raw);
  }

  ModuleState state_of(kmod_module* mod, const std::string& name) {
    const SysModule sys(sys_root_, name);
    if (live_root()) {
      int rc = mod ? g_libkmod.kmod_module_get_initstate(mod) : -ENOENT;
      switch (rc) {
        case KMOD_MODULE_BUILTIN:
          return ModuleState::builtin;
        case KMOD_MODULE_LIVE:
          return ModuleState::live;
        case KMOD_MODULE_GOING:
          return ModuleState::going;
        case KMOD_MODULE_COMING:
          // libkmod's answer for a /sys/module entry without initstate, which is what builtin
          // modules with parameters have when modules.builtin is missing, and always on a
          // kernel without loadable-module support.
          if (!exists("/proc/modules") || !exists(sys.dir() + "/initstate")) {
            return ModuleState::builtin;
          }
          return ModuleState::coming;
        default:
          return ModuleState::absent;
      }
    }
    // libkmod reads the running system's /sys; another root is read here instead.
    if (builtin_names().contains(name)) return ModuleState::builtin;
    if (const auto state = sys.initstate()) return *state;
    return sys.present() ? ModuleState::builtin : ModuleState::absent;
  }

  // Module names listed in <modules_dir>/modules.builtin, read once.
  const std::set<std::string>& builtin_names() {
    if (builtin_) return *builtin_;
    builtin_.emplace();
    std::optional<std::string> text =
        read_small_file(modules_dir_ + "/modules.builtin", kMaxLargeFile);
    if (!text) return *builtin_;
    for (std::string_view line : lines(*text)) {
      if (size_t slash = line.rfind('/'); slash != std::string_view::npos) {
        line.remove_prefix(slash + 1);
      }
      if (size_t dot = line.find(".ko"); dot != std::string_view::npos) {
        builtin_->insert(normalise_module_name(line.substr(0, dot)));
      }
    }
    return *builtin_;
  }

  // The first modprobe.d file with "blacklist NAME", or the kernel command line when libkmod
  // has NAME blacklisted from there (modprobe.blacklist=), or "".
  std::string blacklisted_by(const std::string& name) {
    if (std::string file = blacklisting_file(config_dirs_, name); !file.empty()) return file;
    ConfigIter iter(g_libkmod.kmod_config_get_blacklists(ctx_.get()));
    while (iter && g_libkmod.kmod_config_iter_next(iter.get())) {
      const char* key = g_libkmod.kmod_config_iter_get_key(iter.get());
      if (key != nullptr && name == key) return std::string(kKernelCommandLine);
    }
    return "";
  }

  CtxPtr ctx_;
  std::string modules_dir_;
  std::vector<std::string> config_dirs_;
  std::string sys_root_;
  std::optional<std::set<std::string>> builtin_;
};

}  // namespace

Result<std::unique_ptr<Kmod>> Kmod::open(const std::string& modules_dir,
                                         const std::vector<std::string>& config_paths,
                                         const std::string& sys_root) {
  if (auto loaded = load_table(g_libkmod, "libkmod.so.2", "libkmod2 or kmod-libs"); !loaded)
    return loaded.error();
  std::string root = clean_root(sys_root);
  std::vector<std::string> dirs = config_paths.empty() ? default_config_dirs(root) : config_paths;
  // libkmod's own defaults are the running system's; for another root, hand it that root's.
  bool defaults = config_paths.empty() && root == "/";
  std::vector<const char*> c_paths;
  for (const std::string& d : dirs) c_paths.push_back(d.c_str());
  c_paths.push_back(nullptr);

  CtxPtr ctx(g_libkmod.kmod_new(modules_dir.empty() ? nullptr : modules_dir.c_str(),
                                defaults ? nullptr : c_paths.data()));
  if (!ctx) {
    return Error{ENOMEM, "module tree \"" + modules_dir +
                             "\": libkmod could not set up its context (out of memory)"};
  }
  g_libkmod.kmod_set_log_fn(ctx.get(), discard_log, nullptr);
  // Missing indexes (no modules installed) are not an error: lookups then find nothing.
  (void)g_libkmod.kmod_load_resources(ctx.get());
  std::string dir = g_libkmod.kmod_get_dirname(ctx.get());
  return std::unique_ptr<Kmod>(
      std::make_unique<LibKmod>(std::move(ctx), std::move(dir), std::move(dirs), std::move(root)));
}

}  // namespace kvmprov
