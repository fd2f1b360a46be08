// SPDX-License-Identifier: MIT
// What OpenStack Compute brings: the INI editor that edits nova's files, libvirt's CPU map, the
// profile's nova section, and a shared nova.conf's owner and mode kept on a temporary root.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <utility>

#include "cpu_map.h"
#include "host.h"
#include "plan_nova.h"
#include "profile.h"
#include "test_util.h"
#include "util/ini_edit.h"

namespace kvmprov {
namespace {

const std::string kData = KVMPROV_TEST_DATA;

std::vector<IniSetting> settings(std::initializer_list<IniSetting> s) {
  return s;
}

TEST_CASE("ini_get reads as oslo.config: last occurrence wins, sections merge, quotes drop") {
  const std::string text =
      "[DEFAULT]\n"
      "debug = true\n"
      "[libvirt]\n"
      "#virt_type = kvm\n"
      "virt_type = qemu\n"
      "[DEFAULT]\n"
      "debug: false\n"
      "[libvirt]\n"
      "virt_type = \"lxc\"\n"
      "images_type = raw\n"
      "  and more\n"
      "; comment\n";
  CHECK(ini_get(text, "libvirt", "virt_type") == "lxc");
  CHECK(ini_get(text, "DEFAULT", "debug") == "false");
  CHECK(ini_get(text, "libvirt", "images_type") == "raw\nand more");
  CHECK_FALSE(ini_get(text, "libvirt", "cpu_mode"));
  CHECK_FALSE(ini_get(text, "api", "virt_type"));
}

TEST_CASE(
    "section names as oslo.config files them: DEFAULT exactly, every other group lower-cased") {
  CHECK(ini_group("DEFAULT") == "DEFAULT");
  CHECK(ini_group("default") == "default");  // a group of its own: nova never reads it
  CHECK(ini_group("Default") == "default");
  CHECK(ini_group("LIBVIRT") == "libvirt");
  CHECK(ini_group("LibVirt") == "libvirt");
  const std::string text =
      "[DEFAULT]\n"
      "compute_driver = libvirt.LibvirtDriver\n"
      "[default]\n"
      "compute_driver = fake.FakeDriver\n"
      "[libvirt]\n"
      "virt_type = kvm\n"
      "[LIBVIRT]\n"
      "virt_type = qemu\n";
  // [LIBVIRT] merges into [libvirt] and, coming later, wins; [default] is not DEFAULT.
  CHECK(ini_excerpt(text, settings({{"DEFAULT", "compute_driver", "x"},
                                    {"libvirt", "virt_type", "kvm"}})) ==
        "[DEFAULT] compute_driver = libvirt.LibvirtDriver\n[libvirt] virt_type = qemu\n");
  CHECK(ini_get(text, "libvirt", "virt_type") == "qemu");
  CHECK(ini_get(text, "DEFAULT", "compute_driver") == "libvirt.LibvirtDriver");
  // The line that wins is the one changed, under whichever spelling it stands.
  std::string want = text;
  const std::string winner = "[LIBVIRT]\nvirt_type = qemu\n";
  want.replace(want.find(winner), winner.size(), "[LIBVIRT]\nvirt_type = kvm\n");
  CHECK(ini_apply(text, settings({{"libvirt", "virt_type", "kvm"},
                                  {"DEFAULT", "compute_driver", "libvirt.LibvirtDriver"}})) ==
        want);
  // Removal reaches every spelling; an absent key goes under the first header of its group.
  CHECK(ini_apply(
            "[Libvirt]\ncpu_models = a\n[libvirt]\ncpu_models = b\n",
            settings({{"libvirt", "cpu_models", std::nullopt}, {"libvirt", "cpu_mode", "none"}})) ==
        "[Libvirt]\ncpu_mode = none\n[libvirt]\n");
  // [default] holds no DEFAULT key: compute_driver is added to a DEFAULT section of its own.
  CHECK(ini_apply("[default]\ncompute_driver = fake.FakeDriver\n",
                  settings({{"DEFAULT", "compute_driver", "libvirt.LibvirtDriver"}})) ==
        "[default]\ncompute_driver = fake.FakeDriver\n\n[DEFAULT]\ncompute_driver = "
        "libvirt.LibvirtDriver\n");
}

TEST_CASE("ini_apply sets the last live occurrence and leaves every other byte") {
  const std::string text =
      "# head\n"
      "[libvirt]\n"
      "#virt_type = kvm\n"
      "virt_type=qemu\n"
      "\n"
      "[api]\n"
      "auth = keystone\n"
      "[libvirt]\n"
      "virt_type   =   xen\n"
      "  continued\n"
      "other = 1\n";
  const std::string out = ini_apply(text, settings({{"libvirt", "virt_type", "kvm"}}));
  // Only the last live line changes, its continuation going with it.
  std::string want = text;
  const std::string last = "virt_type   =   xen\n  continued\n";
  want.replace(want.find(last), last.size(), "virt_type   =   kvm\n");
  CHECK(out == want);
  CHECK(ini_get(out, "libvirt", "virt_type") == "kvm");
  // Converging again changes nothing.
  CHECK(ini_apply(out, settings({{"libvirt", "virt_type", "kvm"}})) == out);
}

TEST_CASE("ini_apply adds absent keys under the first header, in order, and new sections last") {
  const std::string text =
      "[DEFAULT]\n"
      "#compute_driver = <None>\n"
      "[libvirt]\n"
      "#virt_type = kvm\n"
      "#cpu_mode = <None>";  // no final newline
  const std::string out =
      ini_apply(text, settings({{"DEFAULT", "compute_driver", "libvirt.LibvirtDriver"},
                                {"libvirt", "virt_type", "kvm"},
                                {"libvirt", "cpu_mode", "host-model"},
                                {"libvirt", "cpu_models", std::nullopt},
                                {"workarounds", "x", "1"}}));
  CHECK(out ==
        "[DEFAULT]\n"
        "compute_driver = libvirt.LibvirtDriver\n"
        "#compute_driver = <None>\n"
        "[libvirt]\n"
        "virt_type = kvm\n"
        "cpu_mode = host-model\n"
        "#virt_type = kvm\n"
        "#cpu_mode = <None>\n"
        "\n"
        "[workarounds]\n"
        "x = 1\n");
}

TEST_CASE("ini_apply removes every live occurrence with its continuation lines") {
  const std::string text =
      "[libvirt]\ncpu_models = a,\n  b\ncpu_mode = custom\n[libvirt]\ncpu_models = c\n#cpu_models "
      "= d\n";
  CHECK(ini_apply(text, settings({{"libvirt", "cpu_models", std::nullopt}})) ==
        "[libvirt]\ncpu_mode = custom\n[libvirt]\n#cpu_models = d\n");
}

TEST_CASE("ini_apply keeps CRLF line endings and uses them for added lines") {
  const std::string text = "[DEFAULT]\r\ndebug = true\r\n[libvirt]\r\nvirt_type = qemu\r\n";
  CHECK(ini_apply(text,
                  settings({{"libvirt", "virt_type", "kvm"}, {"libvirt", "cpu_mode", "none"}})) ==
        "[DEFAULT]\r\ndebug = true\r\n[libvirt]\r\ncpu_mode = none\r\nvirt_type = kvm\r\n");
}

TEST_CASE("ini_apply on an empty file creates the sections") {
  CHECK(ini_apply("", settings({{"DEFAULT", "compute_driver", "libvirt.LibvirtDriver"},
                                {"libvirt", "virt_type", "qemu"}})) ==
        "[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver\n\n[libvirt]\nvirt_type = qemu\n");
}

Result<std::optional<std::string>> read_disk(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::optional<std::string>();
  std::stringstream s;
  s << in.rdbuf();
  return std::optional<std::string>(s.str());
}

TEST_CASE("both CPU map layouts load, with inherited features") {
  for (const char* path :
       {"/cpu_map/modern", "/cpu_map/modern/index.xml", "/cpu_map/legacy/cpu_map.xml"}) {
    CAPTURE(path);
    auto map = load_cpu_map(kData + path, read_disk);
    REQUIRE(map);
    CHECK(map->models.count("Nehalem"));
    CHECK_FALSE(map->models.count("POWER9"));  // other architectures are left out
    const std::set<std::string> nehalem = {"fpu", "sse2", "pni", "sse4_1", "sse4_2", "lahf_lm"};
    ModelCheck ok = check_cpu_model(*map, "Nehalem", nehalem);
    CHECK(ok.found);
    CHECK(ok.missing.empty());
    ModelCheck lacking = check_cpu_model(*map, "Nehalem", {"fpu", "sse2", "pni", "sse4_1"});
    CHECK(lacking.missing == std::vector<std::string>{"sse4.2 (sse4_2)", "lahf_lm"});
    ModelCheck typo = check_cpu_model(*map, "nehalem", nehalem);
    CHECK_FALSE(typo.found);
    CHECK(typo.suggestion == "Nehalem");
    CHECK(check_cpu_model(*map, "Zen", nehalem).suggestion.empty());
  }
}

TEST_CASE("feature names are translated to cpuinfo's; MSR features are not checked") {
  auto map = load_cpu_map(kData + "/cpu_map/modern", read_disk);
  REQUIRE(map);
  CHECK(cpuinfo_flag_name(*map, "pclmuldq") == "pclmulqdq");
  CHECK(cpuinfo_flag_name(*map, "sse4.1") == "sse4_1");
  CHECK(cpuinfo_flag_name(*map, "cmt") == "cqm");
  CHECK(cpuinfo_flag_name(*map, "tsc-deadline") == "tsc_deadline_timer");
  CHECK(cpuinfo_flag_name(*map, "avx512-bf16") == "avx512_bf16");
  CHECK(cpuinfo_flag_name(*map, "osxsave").empty());
  ModelCheck c = check_cpu_model(
      *map, "Westmere", {"fpu", "sse2", "pni", "sse4_1", "sse4_2", "lahf_lm", "pclmulqdq"});
  CHECK(c.missing == std::vector<std::string>{"cmt (cqm)"});
  CHECK(c.unchecked == std::vector<std::string>{"osxsave", "rdctl-no"});
}

TEST_CASE("a missing or broken CPU map is an error naming the file") {
  auto none = load_cpu_map(kData + "/cpu_map/nowhere", read_disk);
  REQUIRE_FALSE(none);
  CHECK(none.error().message.find("nowhere/index.xml") != std::string::npos);
  auto broken = load_cpu_map("/x/index.xml", [](const std::string&) {
    return Result<std::optional<std::string>>(std::optional<std::string>("<cpus><arch"));
  });
  REQUIRE_FALSE(broken);
  CHECK(broken.error().message.find("cannot parse CPU map \"/x/index.xml\"") == 0);
  auto evil = load_cpu_map("/x/index.xml", [](const std::string&) {
    return Result<std::optional<std::string>>(std::optional<std::string>(
        "<cpus><arch name='x86'><include filename='../../etc/shadow'/></arch></cpus>"));
  });
  REQUIRE_FALSE(evil);
  CHECK(evil.error().message.find("refusing include") != std::string::npos);
}

std::vector<std::string> profile_errors(const std::string& nova) {
  ParseResult r = parse_profile("version: 1\nname: t\nnova:\n" + nova, "p.yaml");
  std::vector<std::string> out;
  for (const auto& e : r.errors) out.push_back(e.str());
  return out;
}

// Checks that each nova section (the YAML below "nova:") gives exactly one error, and the one
// given where it is not "".
void check_one_error(const std::vector<std::pair<std::string, std::string>>& cases) {
  for (const auto& c : cases) {
    // Named, not bound: CAPTURE's lambda cannot capture a structured binding before C++20's
    // P1091 reached clang (16).
    const std::string& nova = c.first;
    const std::string& error = c.second;
    CAPTURE(nova);
    const std::vector<std::string> errors = profile_errors(nova);
    if (error.empty())
      CHECK(errors.size() == 1);
    else
      CHECK(errors == std::vector<std::string>{error});
  }
}

TEST_CASE("the nova section: defaults, values and errors") {
  ParseResult r = parse_profile("version: 1\nname: t\nnova:\n", "p.yaml");
  REQUIRE(r.profile);
  REQUIRE(r.profile->nova);
  CHECK(r.profile->nova->config ==
        std::vector<std::string>{"/etc/nova/nova.conf.d/", "/etc/nova/nova-compute.conf.d/",
                                 "/etc/nova/nova.conf", "/etc/nova/nova-compute.conf"});
  CHECK(nova_main_config(*r.profile->nova) == "/etc/nova/nova.conf");
  CHECK(r.profile->nova->virt_type == NovaVirtType::automatic);
  // Unset: nova's own default for the host's architecture.
  CHECK_FALSE(r.profile->nova->cpu_mode);
  CHECK(nova_cpu_mode_for(*r.profile->nova, CpuArch::x86) == NovaCpuMode::host_model);
  CHECK(nova_cpu_mode_for(*r.profile->nova, CpuArch::unknown) == NovaCpuMode::host_model);
  CHECK(nova_cpu_mode_for(*r.profile->nova, CpuArch::arm64) == NovaCpuMode::host_passthrough);
  CHECK(nova_cpu_mode_for(*r.profile->nova, CpuArch::ppc64le) == NovaCpuMode::host_model);
  CHECK_FALSE(parse_profile("version: 1\nname: t\n", "p.yaml").profile->nova);

  r = parse_profile(
      "version: 1\nname: t\nnova:\n  config: /srv/nova.conf\n  virt_type: qemu\n"
      "  cpu_mode: custom\n  cpu_models: [Nehalem, Westmere-IBRS]\n  legacy_option_names: true\n"
      "  cpu_map: /usr/share/libvirt/cpu_map.xml\n",
      "p.yaml");
  REQUIRE(r.profile);
  CHECK(r.profile->nova->config == std::vector<std::string>{"/srv/nova.conf"});
  CHECK(r.profile->nova->cpu_models == std::vector<std::string>{"Nehalem", "Westmere-IBRS"});
  CHECK(r.profile->nova->legacy_option_names);
  CHECK(r.profile->nova->cpu_map == "/usr/share/libvirt/cpu_map.xml");

  check_one_error({
      {"  cpu_mode: custom\n",
       "p.yaml:4:13: cpu_mode \"custom\" needs at least one model in \"cpu_models\" of \"nova\" "
       "(e.g. [Nehalem]; see /usr/share/libvirt/cpu_map)"},
      {"  cpu_mode: host-model\n  cpu_models: [Nehalem]\n",
       "p.yaml:5:15: \"cpu_models\" of \"nova\" is only valid with cpu_mode \"custom\" (cpu_mode "
       "is \"host-model\"): remove it or set cpu_mode: custom"},
      {"  cpu_models: [Nehalem]\n",
       "p.yaml:4:15: \"cpu_models\" of \"nova\" is only valid with cpu_mode \"custom\" (cpu_mode "
       "is not set): remove it or set cpu_mode: custom"},
      {"  virt_type: kvmm\n", "p.yaml:4:14: unknown virt_type \"kvmm\" (did you mean \"kvm\"?)"},
      {"  cpu_mode: host_passthrough\n",
       "p.yaml:4:13: unknown cpu_mode \"host_passthrough\" (did you mean \"host-passthrough\"?)"},
      {"  cpu_mdoe: none\n",
       "p.yaml:4:3: unknown key \"cpu_mdoe\" in \"nova\" (did you mean \"cpu_mode\"?)"},
      // Nothing can smuggle a line, a key or a section into nova.conf.
      {"  cpu_mode: custom\n  cpu_models: [\"Nehalem\\n[DEFAULT]\"]\n",
       "p.yaml:5:16: invalid CPU model \"Nehalem\\n[DEFAULT]\": allowed characters are A-Z a-z "
       "0-9 . _ -"},
      {"  cpu_mode: custom\n  cpu_models: [Nehalem, 'a=b']\n", ""},
      {"  config: etc/nova.conf\n",
       "p.yaml:4:11: invalid path \"etc/nova.conf\" for \"config\" of \"nova\": must be an "
       "absolute path"},
      {"  config: /etc/../shadow\n", ""},
      {"  legacy_option_names: maybe\n",
       "p.yaml:4:24: invalid value \"maybe\" for \"legacy_option_names\" of \"nova\": expected "
       "true or false"},
  });
}

TEST_CASE("nova's config: files and directories in the order nova-compute reads them") {
  ParseResult r = parse_profile(
      "version: 1\nname: t\nnova:\n  config:\n    - /usr/share/nova/nova-dist.conf\n"
      "    - /etc/nova/nova.conf\n    - /etc/nova/nova.conf.d/\n",
      "p.yaml");
  REQUIRE(r.profile);
  CHECK(r.profile->nova->config == std::vector<std::string>{"/usr/share/nova/nova-dist.conf",
                                                            "/etc/nova/nova.conf",
                                                            "/etc/nova/nova.conf.d/"});
  // A package's defaults under /usr are read, never edited: nova.conf is the main file.
  CHECK(nova_main_config(*r.profile->nova) == "/etc/nova/nova.conf");

  const std::string no_file =
      "p.yaml:4:11: \"config\" of \"nova\" names no file kvmprov may edit: add nova's own file, "
      "e.g. /etc/nova/nova.conf (directories end in '/'; files under /usr are only read)";
  check_one_error({
      {"  config: [/etc/nova/nova.conf, /etc/nova/nova.conf]\n",
       "p.yaml:4:33: duplicate path \"/etc/nova/nova.conf\" in \"config\" of \"nova\", first "
       "listed at line 4"},
      {"  config: [/etc/nova/nova.conf, etc/x.conf]\n",
       "p.yaml:4:33: invalid path \"etc/x.conf\" for \"config\" of \"nova\": must be an absolute "
       "path"},
      {"  config: [/etc/nova/nova.conf, /etc/nova/../x/]\n", ""},
      {"  config: /etc/nova/nova.conf.d/\n", no_file},
      {"  config: [/usr/share/nova/nova-dist.conf, /etc/nova/nova.conf.d/]\n", no_file},
      {"  config: []\n", no_file},
      {"  config: {file: /etc/nova/nova.conf}\n",
       "p.yaml:4:11: expected a path or a list of paths for \"config\" of \"nova\", found a map"},
      {"  config: [[/etc/nova/nova.conf]]\n",
       "p.yaml:4:12: expected a single value for an entry of \"config\" of \"nova\", found a list"},
      // oslo.config's option names point at the one list.
      {"  config_dir: /etc/nova/nova.conf.d\n",
       "p.yaml:4:3: unknown key \"config_dir\" in \"nova\": list files and directories (ending in "
       "'/') in \"config\", in the order nova-compute reads them"},
      {"  config_files: [/etc/nova/nova.conf]\n", ""},
      {"  confg: /etc/nova/nova.conf\n",
       "p.yaml:4:3: unknown key \"confg\" in \"nova\" (did you mean \"config\"?)"},
  });
}

TEST_CASE("a shared file keeps owner, group and mode, and the same bytes are left alone") {
  test::TempDir dir("kvmprov-nova");
  const std::string root = dir.path();
  REQUIRE(::mkdir((root + "/etc").c_str(), 0755) == 0);
  const std::string path = root + "/etc/nova.conf";
  { std::ofstream(path) << "[libvirt]\n"; }
  REQUIRE(::chmod(path.c_str(), 0640) == 0);
  // As root, an owner and a group that are not the runner's: both must survive the rewrite.
  const uid_t uid = geteuid() == 0 ? 4243 : geteuid();
  const gid_t gid = geteuid() == 0 ? 4242 : getegid();
  REQUIRE(::chown(path.c_str(), uid, gid) == 0);
  struct stat before {};
  REQUIRE(::stat(path.c_str(), &before) == 0);

  LinuxHostOptions options;
  options.root = root;
  auto host = make_linux_host(options);
  auto r =
      host->target().write("/etc/nova.conf", "[libvirt]\nvirt_type = kvm\n", {.keep_owner = true});
  REQUIRE(r);
  CHECK(*r);
  struct stat after {};
  REQUIRE(::stat(path.c_str(), &after) == 0);
  CHECK((after.st_mode & 07777) == 0640);
  CHECK(after.st_gid == gid);
  CHECK(after.st_uid == uid);
  CHECK(test::slurp(path) == "[libvirt]\nvirt_type = kvm\n");
  auto same =
      host->target().write("/etc/nova.conf", "[libvirt]\nvirt_type = kvm\n", {.keep_owner = true});
  REQUIRE(same);
  CHECK_FALSE(*same);
  // A shared file that does not exist yet (/etc/modules) is created as kvmprov's own would be.
  auto created = host->target().write("/etc/other.conf", "x", {.mode = 0644, .keep_owner = true});
  REQUIRE(created);
  CHECK(*created);
  struct stat made {};
  REQUIRE(::stat((root + "/etc/other.conf").c_str(), &made) == 0);
  CHECK((made.st_mode & 07777) == 0644);
  CHECK(made.st_uid == geteuid());
}

}  // namespace
}  // namespace kvmprov
