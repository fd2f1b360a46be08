// SPDX-License-Identifier: MIT
// OpenStack Compute: the INI editor, libvirt's CPU map, the nova profile section, the planner
// against FakeHost, and a shared file's ownership on a temporary root.
#include <doctest/doctest.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "action_checks.h"
#include "apply.h"
#include "atomic_file.h"
#include "cpu_map.h"
#include "fake_host.h"
#include "plan.h"
#include "plan_nova.h"
#include "report.h"
#include "test_util.h"
#include "util/ini_edit.h"

namespace kvmprov {
namespace {

using test::check_action;
using test::FakeHost;
using test::find;

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
  CHECK(ini_get(text, "libvirt", "virt_type") == "qemu");
  CHECK(ini_get(text, "DEFAULT", "compute_driver") == "libvirt.LibvirtDriver");
  CHECK(ini_excerpt(text, settings({{"DEFAULT", "compute_driver", "x"},
                                    {"libvirt", "virt_type", "kvm"}})) ==
        "[DEFAULT] compute_driver = libvirt.LibvirtDriver\n[libvirt] virt_type = qemu\n");
  // The line that wins is the one changed, under whichever spelling it stands.
  CHECK(ini_apply(text, settings({{"libvirt", "virt_type", "kvm"},
                                  {"DEFAULT", "compute_driver", "libvirt.LibvirtDriver"}})) ==
        "[DEFAULT]\n"
        "compute_driver = libvirt.LibvirtDriver\n"
        "[default]\n"
        "compute_driver = fake.FakeDriver\n"
        "[libvirt]\n"
        "virt_type = kvm\n"
        "[LIBVIRT]\n"
        "virt_type = kvm\n");
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
  CHECK(out ==
        "# head\n"
        "[libvirt]\n"
        "#virt_type = kvm\n"
        "virt_type=qemu\n"
        "\n"
        "[api]\n"
        "auth = keystone\n"
        "[libvirt]\n"
        "virt_type   =   kvm\n"
        "other = 1\n");
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

TEST_CASE("the nova section: defaults, values and errors") {
  ParseResult r = parse_profile("version: 1\nname: t\nnova:\n", "p.yaml");
  REQUIRE(r.profile);
  REQUIRE(r.profile->nova);
  CHECK(r.profile->nova->config ==
        std::vector<std::string>{"/etc/nova/nova.conf.d/", "/etc/nova/nova-compute.conf.d/",
                                 "/etc/nova/nova.conf", "/etc/nova/nova-compute.conf"});
  CHECK(nova_main_config(*r.profile->nova) == "/etc/nova/nova.conf");
  CHECK(r.profile->nova->virt_type == NovaVirtType::automatic);
  CHECK(r.profile->nova->cpu_mode == NovaCpuMode::host_model);
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

  CHECK(profile_errors("  cpu_mode: custom\n") ==
        std::vector<std::string>{
            "p.yaml:4:13: cpu_mode \"custom\" needs at least one model in \"cpu_models\" of "
            "\"nova\" (e.g. [Nehalem]; see /usr/share/libvirt/cpu_map)"});
  CHECK(profile_errors("  cpu_mode: host-model\n  cpu_models: [Nehalem]\n") ==
        std::vector<std::string>{
            "p.yaml:5:15: \"cpu_models\" of \"nova\" is only valid with cpu_mode \"custom\" "
            "(cpu_mode is \"host-model\"): remove it or set cpu_mode: custom"});
  CHECK(
      profile_errors("  virt_type: kvmm\n") ==
      std::vector<std::string>{"p.yaml:4:14: unknown virt_type \"kvmm\" (did you mean \"kvm\"?)"});
  CHECK(profile_errors("  cpu_mode: host_passthrough\n") ==
        std::vector<std::string>{"p.yaml:4:13: unknown cpu_mode \"host_passthrough\" (did you mean "
                                 "\"host-passthrough\"?)"});
  CHECK(profile_errors("  cpu_mdoe: none\n") ==
        std::vector<std::string>{
            "p.yaml:4:3: unknown key \"cpu_mdoe\" in \"nova\" (did you mean \"cpu_mode\"?)"});
  // Nothing can smuggle a line, a key or a section into nova.conf.
  CHECK(profile_errors("  cpu_mode: custom\n  cpu_models: [\"Nehalem\\n[DEFAULT]\"]\n") ==
        std::vector<std::string>{
            "p.yaml:5:16: invalid CPU model \"Nehalem\\n[DEFAULT]\": allowed characters are "
            "A-Z a-z 0-9 . _ -"});
  CHECK(profile_errors("  cpu_mode: custom\n  cpu_models: [Nehalem, 'a=b']\n").size() == 1);
  CHECK(profile_errors("  config: etc/nova.conf\n") ==
        std::vector<std::string>{
            "p.yaml:4:11: invalid path \"etc/nova.conf\" for \"config\" of \"nova\": must be an "
            "absolute path"});
  CHECK(profile_errors("  config: /etc/../shadow\n").size() == 1);
  CHECK(profile_errors("  legacy_option_names: maybe\n") ==
        std::vector<std::string>{
            "p.yaml:4:24: invalid value \"maybe\" for \"legacy_option_names\" of \"nova\": "
            "expected true or false"});
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

  CHECK(profile_errors("  config: [/etc/nova/nova.conf, /etc/nova/nova.conf]\n") ==
        std::vector<std::string>{"p.yaml:4:33: duplicate path \"/etc/nova/nova.conf\" in "
                                 "\"config\" of \"nova\", first listed at line 4"});
  CHECK(profile_errors("  config: [/etc/nova/nova.conf, etc/x.conf]\n") ==
        std::vector<std::string>{"p.yaml:4:33: invalid path \"etc/x.conf\" for \"config\" of "
                                 "\"nova\": must be an absolute path"});
  CHECK(profile_errors("  config: [/etc/nova/nova.conf, /etc/nova/../x/]\n").size() == 1);
  const std::string no_file =
      "\"config\" of \"nova\" names no file kvmprov may edit: add nova's own file, e.g. "
      "/etc/nova/nova.conf (directories end in '/'; files under /usr are only read)";
  CHECK(profile_errors("  config: /etc/nova/nova.conf.d/\n") ==
        std::vector<std::string>{"p.yaml:4:11: " + no_file});
  CHECK(profile_errors("  config: [/usr/share/nova/nova-dist.conf, /etc/nova/nova.conf.d/]\n") ==
        std::vector<std::string>{"p.yaml:4:11: " + no_file});
  CHECK(profile_errors("  config: []\n") == std::vector<std::string>{"p.yaml:4:11: " + no_file});
  CHECK(profile_errors("  config: {file: /etc/nova/nova.conf}\n") ==
        std::vector<std::string>{"p.yaml:4:11: expected a path or a list of paths for \"config\" "
                                 "of \"nova\", found a map"});
  CHECK(profile_errors("  config: [[/etc/nova/nova.conf]]\n") ==
        std::vector<std::string>{"p.yaml:4:12: expected a single value for an entry of "
                                 "\"config\" of \"nova\", found a list"});
  // oslo.config's option names point at the one list.
  CHECK(profile_errors("  config_dir: /etc/nova/nova.conf.d\n") ==
        std::vector<std::string>{
            "p.yaml:4:3: unknown key \"config_dir\" in \"nova\": list files and directories "
            "(ending in '/') in \"config\", in the order nova-compute reads them"});
  CHECK(profile_errors("  config_files: [/etc/nova/nova.conf]\n").size() == 1);
  CHECK(profile_errors("  confg: /etc/nova/nova.conf\n") ==
        std::vector<std::string>{
            "p.yaml:4:3: unknown key \"confg\" in \"nova\" (did you mean \"config\"?)"});
}

Profile nova_profile(NovaSpec spec) {
  Profile p;
  p.source = "/etc/kvmprov/profile.yaml";
  p.name = "compute";
  p.nova = std::move(spec);
  return p;
}

const std::string kConf = "/etc/nova/nova.conf";

FakeHost nova_host() {
  FakeHost h;
  h.files_[kConf] = "[DEFAULT]\n#compute_driver = <None>\n\n[libvirt]\n#virt_type = kvm\n";
  h.kernel_files_["/proc/cpuinfo"] =
      "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 pni sse4_1 sse4_2 vmx\n\n"
      "processor\t: 1\nvendor_id\t: GenuineIntel\nflags\t\t: fpu sse2 pni sse4_1 vmx lahf_lm\n\n";
  return h;
}

TEST_CASE("cpuinfo flags are the ones every CPU has") {
  FakeHost h = nova_host();
  CpuFacts cpu = parse_cpuinfo(*h.read_kernel_file("/proc/cpuinfo"));
  CHECK(cpu.flags == std::set<std::string>{"fpu", "sse2", "pni", "sse4_1", "vmx"});
}

TEST_CASE("virt_type auto: kvm when check says usable, qemu with the reason otherwise") {
  FakeHost h = nova_host();
  Profile p = nova_profile({});
  Facts f = observe(h, p);
  f.nova.kvm = KvmVerdict{.usable = true, .reason = "ok", .source = "check"};
  Plan plan = make_plan(p, f, {.live = true});
  const Action* vt = find(plan.actions, "nova:virt_type");
  REQUIRE(vt);
  CHECK(vt->target == "kvm");
  const Action* file = find(plan.actions, "file:" + kConf);
  REQUIRE(file);
  CHECK(file->status == Status::changed);
  CHECK(file->shared);
  CHECK(*file->after ==
        "[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver\n#compute_driver = <None>\n\n"
        "[libvirt]\nvirt_type = kvm\ncpu_mode = host-model\n#virt_type = kvm\n");

  f.nova.kvm = KvmVerdict{.usable = false,
                          .reason = "disabled-in-firmware",
                          .advice = "VT-x is disabled in the firmware",
                          .source = "check"};
  plan = make_plan(p, f, {.live = true});
  vt = find(plan.actions, "nova:virt_type");
  CHECK(vt->target == "qemu");
  CHECK(vt->nova.reason == "disabled-in-firmware");
  CHECK(vt->detail.find("disabled-in-firmware") != std::string::npos);
  RunReport report{.verb = "plan", .profile = &p, .facts = &f, .actions = plan.actions};
  auto json = report_json(report);
  bool seen = false;
  for (const auto& a : json["actions"]) {
    if (a["id"] == "nova:virt_type") {
      CHECK(a["nova"]["virt_type"] == "qemu");
      CHECK(a["nova"]["reason"] == "disabled-in-firmware");
      seen = true;
    }
    if (a["id"] == "file:" + kConf)
      CHECK(a["diff"].get<std::string>().find("+[libvirt] virt_type = qemu") != std::string::npos);
  }
  CHECK(seen);
}

TEST_CASE("reports never carry nova.conf's own lines: only the managed keys, old and new") {
  FakeHost h = nova_host();
  h.files_[kConf] =
      "[DEFAULT]\ntransport_url = rabbit://nova:S3cretMQ@ctl:5672/\n# a comment with a secret\n"
      "[database]\nconnection = mysql+pymysql://nova:S3cretDB@ctl/nova\n"
      "[keystone_authtoken]\npassword = S3cretKS\n[libvirt]\nvirt_type = qemu\n";
  Profile p = nova_profile({});
  Facts f = observe(h, p);
  f.nova.kvm = KvmVerdict{.usable = true, .reason = "ok", .source = "check"};
  RunReport plan{.verb = "plan", .dry_run = true, .profile = &p, .facts = &f};
  plan.actions = make_plan(p, f, {.live = true}).actions;
  RunReport applied{.verb = "apply", .profile = &p, .facts = &f};
  applied.actions = apply_plan(h, Plan{plan.actions});
  REQUIRE(h.files_[kConf].find("S3cretDB") != std::string::npos);  // the file keeps them
  for (const RunReport* r : {&plan, &applied}) {
    const std::string json = json_text(report_json(*r));
    const std::string text = render_text(*r, {});
    for (const char* secret : {"S3cret", "rabbit://", "mysql", "a comment", "[database]"}) {
      CAPTURE(secret);
      CHECK(json.find(secret) == std::string::npos);
      CHECK(text.find(secret) == std::string::npos);
    }
    const Action* file = find(r->actions, "file:" + kConf);
    REQUIRE(file);
    CHECK(*shown_before(*file) == "[libvirt] virt_type = qemu\n");
    CHECK(*shown_after(*file) ==
          "[DEFAULT] compute_driver = libvirt.LibvirtDriver\n[libvirt] virt_type = kvm\n"
          "[libvirt] cpu_mode = host-model\n");
  }
  const std::string text = render_text(plan, {});
  CHECK(text.find("\n-[libvirt] virt_type = qemu\n") != std::string::npos);
  CHECK(text.find("\n+[libvirt] virt_type = kvm\n") != std::string::npos);
}

TEST_CASE("virt_type auto with the modules about to be loaded: kvm, unless a load fails") {
  FakeHost h = nova_host();
  h.kernel_files_["/proc/modules"] = "";
  h.available("kvm");
  h.available("kvm_intel");
  Profile p = nova_profile({});
  p.modules = {{.name = "kvm"}, {.name = "kvm_intel"}};
  p.persist = PersistMode::none;
  Facts f = observe(h, p);
  f.nova.kvm = KvmVerdict{.usable = false, .reason = "module-not-loaded", .source = "check"};
  Plan plan = make_plan(p, f, {.live = true});
  CHECK(find(plan.actions, "nova:virt_type")->target == "kvm");
  h.load_errors_["kvm_intel"] = EPERM;
  check_action(apply_plan(h, plan), "file:" + kConf, Status::failed,
               "not done: it depends on \"module:kvm_intel\", which failed");
  CHECK(h.writes_.empty());
}

TEST_CASE("under --root auto assumes kvm unless --fact kvm_usable=false") {
  FakeHost h = nova_host();
  h.live_ = false;
  Profile p = nova_profile({});
  Facts f = observe(h, p);
  CHECK(find(make_plan(p, f, {.live = false}).actions, "nova:virt_type")->target == "kvm");
  REQUIRE(override_fact(f, "kvm_usable=false"));
  Plan plan = make_plan(p, f, {.live = false});
  const Action* vt = find(plan.actions, "nova:virt_type");
  CHECK(vt->target == "qemu");
  CHECK(vt->nova.source == "--fact");
}

TEST_CASE("a missing nova.conf is pending, never created") {
  FakeHost h = nova_host();
  h.files_.clear();
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm});
  Facts f = observe(h, p);
  check_action(apply_plan(h, make_plan(p, f, {.live = true})), "file:" + kConf, Status::pending,
               "nova.conf not found: install nova-compute first, then run again");
  CHECK(h.writes_.empty());
}

TEST_CASE("custom CPU models: checked against the map and this CPU") {
  FakeHost h = nova_host();
  for (const char* name :
       {"index.xml", "x86_features.xml", "x86_Penryn.xml", "x86_Nehalem.xml", "x86_Westmere.xml"})
    h.files_[std::string(kCpuMapDir) + "/" + name] = **read_disk(kData + "/cpu_map/modern/" + name);
  NovaSpec spec{.virt_type = NovaVirtType::qemu, .cpu_mode = NovaCpuMode::custom};
  spec.cpu_models = {"Penryn"};
  Profile p = nova_profile(spec);
  Facts f = observe(h, p);
  Plan plan = make_plan(p, f, {.live = true});
  CHECK(find(plan.actions, "nova:cpu_mode")->status == Status::unchanged);
  CHECK(find(plan.actions, "file:" + kConf)->after->find("cpu_models = Penryn\n") !=
        std::string::npos);

  p.nova->cpu_models = {"Nehalem"};
  plan = make_plan(p, f, {.live = true});
  const Action* cpu = find(plan.actions, "nova:cpu_mode");
  CHECK(cpu->status == Status::failed);
  CHECK(cpu->detail == "this CPU cannot run \"Nehalem\": it lacks sse4.2 (sse4_2), lahf_lm");
  CHECK(cpu->nova.missing_features == std::vector<std::string>{"Nehalem: sse4.2 (sse4_2) lahf_lm"});
  CHECK(find(plan.actions, "file:" + kConf)->status == Status::failed);
  CHECK(find(plan.actions, "file:" + kConf)->detail ==
        "not written: the CPU models are wrong (see nova:cpu_mode)");

  p.nova->cpu_models = {"Nehalen"};
  plan = make_plan(p, f, {.live = true});
  cpu = find(plan.actions, "nova:cpu_mode");
  CHECK(cpu->detail ==
        "unknown CPU model \"Nehalen\" (not in /usr/share/libvirt/cpu_map/index.xml) (did you mean "
        "\"Nehalem\"?)");
}

TEST_CASE("host-passthrough warns about live migration; legacy names on request") {
  FakeHost h = nova_host();
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm,
                            .cpu_mode = NovaCpuMode::host_passthrough,
                            .legacy_option_names = true});
  h.files_[kConf] = "[libvirt]\ncpu_model = Nehalem\ncpu_models = Nehalem\n";
  Facts f = observe(h, p);
  Plan plan = make_plan(p, f, {.live = true});
  CHECK(find(plan.actions, "nova:cpu_mode")->detail.find("live migration") != std::string::npos);
  CHECK(*find(plan.actions, "file:" + kConf)->after ==
        "[libvirt]\nvirt_type = kvm\ncpu_mode = host-passthrough\n\n[DEFAULT]\n"
        "compute_driver = libvirt.LibvirtDriver\nlibvirt_type = kvm\n"
        "libvirt_cpu_mode = host-passthrough\n");
  apply_plan(h, plan);
  h.writes_.clear();
  auto again = apply_plan(h, make_plan(p, observe(h, p), {.live = true}));
  CHECK(find(again, "file:" + kConf)->status == Status::unchanged);
  CHECK(h.writes_.empty());
}

// /etc/nova/nova-compute.conf as Debian's nova-compute-kvm ships it (2:26.2.2-1~deb12u5).
const std::string kComputeConf = "/etc/nova/nova-compute.conf";
const std::string kKvmComputeConf =
    "[DEFAULT]\ncompute_driver=libvirt.LibvirtDriver\nneutron_ovs_bridge=br-int\n[libvirt]\n"
    "virt_type=kvm\nvif_driver=nova.virt.libvirt.vif.LibvirtGenericVIFDriver\n"
    "use_virtio_for_bridges=true\n# This may be needed for \n#cpu_mode=host-passthrough\n";

// The value nova-compute reads for SECTION/KEY: the last file in FILES (oslo.config's order)
// that sets it decides.
std::optional<std::string> effective(const FakeHost& h, const std::vector<std::string>& files,
                                     const std::string& section, const std::string& key) {
  for (auto it = files.rbegin(); it != files.rend(); ++it) {
    auto f = h.files_.find(*it);
    if (f == h.files_.end()) continue;
    if (auto v = ini_get(f->second, section, key)) return v;
  }
  return std::nullopt;
}

// Plans with the verdict given, applies, and checks what nova-compute then reads: every managed
// key as the profile wants it, and a second run that changes nothing.
std::vector<Action> converge(FakeHost& h, const Profile& p, bool kvm_usable) {
  Facts f = observe(h, p);
  f.nova.kvm = KvmVerdict{
      .usable = kvm_usable, .reason = kvm_usable ? "ok" : "no-device-node", .source = "check"};
  Plan plan = make_plan(p, f, {.live = true});
  apply_plan(h, plan);
  const std::string virt_type = kvm_usable ? "kvm" : "qemu";
  for (const auto& s : nova_settings(*p.nova, virt_type)) {
    CAPTURE(s.key);
    CHECK(effective(h, f.nova.config_files, s.section, s.key) == s.value);
  }
  h.writes_.clear();
  Facts again = observe(h, p);
  again.nova.kvm = f.nova.kvm;
  for (const auto& a : apply_plan(h, make_plan(p, again, {.live = true})))
    if (a.kind == ActionKind::write_file) CHECK(a.status == Status::unchanged);
  CHECK(h.writes_.empty());
  return plan.actions;
}

TEST_CASE("nova-compute.conf decides virt_type on Debian: it is corrected where it wins") {
  FakeHost h = nova_host();
  h.files_[kComputeConf] = kKvmComputeConf;
  Profile p = nova_profile({});
  std::vector<Action> actions = converge(h, p, false);
  const Action* conf = find(actions, "file:" + kConf);
  const Action* compute = find(actions, "file:" + kComputeConf);
  REQUIRE(conf);
  REQUIRE(compute);
  // The package's file keeps every other byte; virt_type is set where nova-compute reads it.
  CHECK(h.files_[kComputeConf] ==
        "[DEFAULT]\ncompute_driver=libvirt.LibvirtDriver\nneutron_ovs_bridge=br-int\n[libvirt]\n"
        "virt_type=qemu\nvif_driver=nova.virt.libvirt.vif.LibvirtGenericVIFDriver\n"
        "use_virtio_for_bridges=true\n# This may be needed for \n#cpu_mode=host-passthrough\n");
  // nova.conf gets only what no later file sets.
  CHECK(h.files_[kConf] ==
        "[DEFAULT]\n#compute_driver = <None>\n\n[libvirt]\ncpu_mode = host-model\n#virt_type = "
        "kvm\n");
  CHECK(compute->status == Status::changed);
  CHECK(compute->shared);
  CHECK(
      compute->detail ==
      "update: decides [DEFAULT] compute_driver, [libvirt] virt_type; owner, group and mode kept");
  CHECK(compute->nova.decides ==
        std::vector<std::string>{"[DEFAULT] compute_driver", "[libvirt] virt_type"});
  CHECK(conf->detail ==
        "update: virt_type=qemu, cpu_mode=host-model; decides [libvirt] cpu_mode; owner, group and "
        "mode kept");
  // The excerpt shows the managed keys only, never the package's other lines.
  CHECK(*compute->shown_before ==
        "[DEFAULT] compute_driver = libvirt.LibvirtDriver\n[libvirt] virt_type = kvm\n");
  CHECK(*compute->shown_after ==
        "[DEFAULT] compute_driver = libvirt.LibvirtDriver\n[libvirt] virt_type = qemu\n");
  CHECK(*compute->before == kKvmComputeConf);  // apply writes only over what plan read

  // Converged, a file that decides keys still says so.
  Facts f = observe(h, p);
  f.nova.kvm = KvmVerdict{.usable = false, .reason = "no-device-node", .source = "check"};
  Plan plan = make_plan(p, f, {.live = true});
  CHECK(find(plan.actions, "file:" + kComputeConf)->detail ==
        "up to date: decides [DEFAULT] compute_driver, [libvirt] virt_type");
  CHECK(find(plan.actions, "file:" + kConf)->detail ==
        "up to date (virt_type=qemu, cpu_mode=host-model); decides [libvirt] cpu_mode");
  RunReport report{
      .verb = "plan", .dry_run = true, .profile = &p, .facts = &f, .actions = plan.actions};
  // Kept in a variable: a range-for over a member of a temporary iterates freed memory.
  const nlohmann::json json = report_json(report);
  for (const auto& a : json["actions"])
    if (a["id"] == "file:" + kComputeConf)
      CHECK(a["nova"]["decides"] ==
            nlohmann::json::array({"[DEFAULT] compute_driver", "[libvirt] virt_type"}));

  // And back to kvm when KVM works: the same line again.
  converge(h, p, true);
  CHECK(h.files_[kComputeConf] == kKvmComputeConf);
}

TEST_CASE("a later [LIBVIRT] is [libvirt] to nova: its line is the one converged") {
  FakeHost h = nova_host();
  h.files_[kConf] = "[libvirt]\nvirt_type = qemu\n";
  h.files_[kComputeConf] = "[LIBVIRT]\nvirt_type = kvm\n";
  Profile p = nova_profile({});
  std::vector<Action> actions = converge(h, p, false);
  CHECK(h.files_[kComputeConf] == "[LIBVIRT]\nvirt_type = qemu\n");
  CHECK(find(actions, "file:" + kComputeConf)->nova.decides ==
        std::vector<std::string>{"[libvirt] virt_type"});
  // The shadowed line in nova.conf is left as it is: nova-compute does not read it.
  CHECK(h.files_[kConf] ==
        "[libvirt]\ncpu_mode = host-model\nvirt_type = qemu\n\n[DEFAULT]\ncompute_driver = "
        "libvirt.LibvirtDriver\n");
}

TEST_CASE("a missing later file is skipped; only the files nova reads get actions") {
  FakeHost h = nova_host();
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm});
  Facts f = observe(h, p);
  CHECK(f.nova.config_files ==
        std::vector<std::string>{"/etc/nova/nova.conf", "/etc/nova/nova-compute.conf"});
  Plan plan = make_plan(p, f, {.live = true});
  CHECK(find(plan.actions, "file:" + kConf)->status == Status::changed);
  CHECK_FALSE(find(plan.actions, "file:" + kComputeConf));
  // A file that neither changes nor decides a key is not listed.
  h.files_[kComputeConf] = "[DEFAULT]\ndebug = true\n";
  f = observe(h, p);
  CHECK_FALSE(find(make_plan(p, f, {.live = true}).actions, "file:" + kComputeConf));
  // Without a verdict only nova.conf is shown, pending: which file changes is not known yet.
  h.files_[kComputeConf] = kKvmComputeConf;
  p.nova->virt_type = NovaVirtType::automatic;
  plan = make_plan(p, observe(h, p), {.live = true});
  CHECK(find(plan.actions, "file:" + kConf)->status == Status::pending);
  CHECK_FALSE(find(plan.actions, "file:" + kComputeConf));
}

TEST_CASE(
    "config directories: *.conf sorted; read before the files on Debian, after when listed so") {
  const std::string d = "/etc/nova/nova.conf.d";
  FakeHost h = nova_host();
  h.files_[kConf] = "[libvirt]\nvirt_type = qemu\n";
  h.files_[d + "/20-b.conf"] = "[libvirt]\nvirt_type = lxc\n";
  h.files_[d + "/10-a.conf"] = "[libvirt]\ncpu_mode = none\n";
  h.files_[d + "/.hidden.conf"] = "[libvirt]\ncpu_mode = custom\n";  // glob leaves it out
  h.files_[d + "/30-c.conf.dpkg-old"] = "[libvirt]\ncpu_mode = custom\n";

  // Debian: oslo.config's default directories, then --config-file nova.conf, nova-compute.conf.
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm});
  Facts f = observe(h, p);
  CHECK(f.nova.config_files ==
        std::vector<std::string>{d + "/10-a.conf", d + "/20-b.conf", kConf, kComputeConf});
  std::vector<Action> actions = converge(h, p, true);
  CHECK(h.files_[kConf] ==
        "[libvirt]\nvirt_type = kvm\n\n[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver\n");
  // cpu_mode is set only in 10-a.conf: it decides there. 20-b.conf's virt_type is shadowed.
  CHECK(h.files_[d + "/10-a.conf"] == "[libvirt]\ncpu_mode = host-model\n");
  CHECK(h.files_[d + "/20-b.conf"] == "[libvirt]\nvirt_type = lxc\n");
  CHECK_FALSE(find(actions, "file:" + d + "/20-b.conf"));
  CHECK(find(actions, "file:" + d + "/10-a.conf")->nova.decides ==
        std::vector<std::string>{"[libvirt] cpu_mode"});

  // --config-dir after the files: the directory's files win, so they are the ones changed.
  h = nova_host();
  h.files_[kConf] = "[libvirt]\nvirt_type = qemu\n";
  h.files_[d + "/20-b.conf"] = "[libvirt]\nvirt_type = lxc\n";
  h.files_[d + "/10-a.conf"] = "[libvirt]\nvirt_type = qemu\n";
  p.nova->config = {kConf, d + "/"};
  CHECK(observe(h, p).nova.config_files ==
        std::vector<std::string>{kConf, d + "/10-a.conf", d + "/20-b.conf"});
  actions = converge(h, p, true);
  CHECK(h.files_[d + "/20-b.conf"] == "[libvirt]\nvirt_type = kvm\n");
  CHECK(h.files_[d + "/10-a.conf"] == "[libvirt]\nvirt_type = qemu\n");
  CHECK(find(actions, "file:" + d + "/20-b.conf")->nova.decides ==
        std::vector<std::string>{"[libvirt] virt_type"});
}

TEST_CASE("a key nova must not read goes from every file that sets it") {
  FakeHost h = nova_host();
  h.files_[kConf] = "[libvirt]\ncpu_mode = custom\ncpu_models = Nehalem\n";
  h.files_[kComputeConf] = "[Libvirt]\ncpu_model = Penryn\n";
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm});
  std::vector<Action> actions = converge(h, p, true);
  CHECK(h.files_[kComputeConf] == "[Libvirt]\n");
  CHECK(find(actions, "file:" + kComputeConf)->detail ==
        "update: removes [libvirt] cpu_model; owner, group and mode kept");
  CHECK(h.files_[kConf].find("cpu_models") == std::string::npos);
}

TEST_CASE("RDO: nova-dist.conf under /usr is read and never written") {
  const std::string dist = "/usr/share/nova/nova-dist.conf";
  const std::string dist_text =
      "[DEFAULT]\ncompute_driver = libvirt.LibvirtDriver\n[libvirt]\nvirt_type = qemu\n";
  FakeHost h = nova_host();
  h.files_[dist] = dist_text;
  h.files_[kConf] = "[DEFAULT]\n";
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm});
  p.nova->config = {dist, kConf, "/etc/nova/nova.conf.d/"};
  std::vector<Action> actions = converge(h, p, true);
  CHECK(h.files_[dist] == dist_text);
  // Its compute_driver is right and decides; its virt_type is overridden from nova.conf.
  CHECK(find(actions, "file:" + dist)->status == Status::unchanged);
  CHECK(find(actions, "file:" + dist)->detail == "up to date: decides [DEFAULT] compute_driver");
  CHECK(h.files_[kConf] == "[DEFAULT]\n\n[libvirt]\nvirt_type = kvm\ncpu_mode = host-model\n");

  // Read after nova.conf, a file under /usr that decides cannot be corrected: the plan says so.
  h.files_[kConf] = "[DEFAULT]\n";
  p.nova->config = {kConf, dist};
  Plan plan = make_plan(p, observe(h, p), {.live = true});
  const Action* late = find(plan.actions, "file:" + dist);
  REQUIRE(late);
  CHECK(late->status == Status::failed);
  CHECK(late->detail ==
        "decides [libvirt] virt_type and is read after \"/etc/nova/nova.conf\", and kvmprov does "
        "not write a package's file under /usr: set it in a file read later");
  h.files_[dist] = "[libvirt]\ncpu_models = Nehalem\n";
  plan = make_plan(p, observe(h, p), {.live = true});
  CHECK(find(plan.actions, "file:" + dist)->detail ==
        "sets [libvirt] cpu_models, which must go, and kvmprov does not write a package's file "
        "under /usr: remove it there");
}

TEST_CASE("a file nova-compute reads that cannot be read: nothing is written") {
  FakeHost h = nova_host();
  h.files_[kComputeConf] = kKvmComputeConf;
  h.read_errors_[kComputeConf] = EACCES;
  Profile p = nova_profile({.virt_type = NovaVirtType::qemu});
  auto done = apply_plan(h, make_plan(p, observe(h, p), {.live = true}));
  const Action* compute = find(done, "file:" + kComputeConf);
  REQUIRE(compute);
  CHECK(compute->status == Status::failed);
  CHECK(compute->detail == "cannot read \"/etc/nova/nova-compute.conf\": Permission denied");
  CHECK(find(done, "file:" + kConf)->detail ==
        "not written: what nova-compute reads is not known whole: cannot read "
        "\"/etc/nova/nova-compute.conf\": Permission denied");
  CHECK(h.writes_.empty());
}

TEST_CASE("no CPU map is not wrong CPU models: the plan says which, and where under --root") {
  FakeHost h = nova_host();
  NovaSpec spec{.virt_type = NovaVirtType::kvm, .cpu_mode = NovaCpuMode::custom};
  spec.cpu_models = {"Nehalem"};
  Profile p = nova_profile(spec);
  const std::string no_map =
      "no libvirt CPU map: neither \"/usr/share/libvirt/cpu_map/index.xml\" nor "
      "\"/usr/share/libvirt/cpu_map.xml\" exists (install libvirt, or set nova: cpu_map)";
  Plan plan = make_plan(p, observe(h, p), {.live = true});
  CHECK(find(plan.actions, "nova:cpu_mode")->detail == "cannot check the CPU models: " + no_map);
  CHECK(find(plan.actions, "file:" + kConf)->detail ==
        "not written: the CPU models cannot be checked: no libvirt CPU map (see nova:cpu_mode)");
  h.live_ = false;
  plan = make_plan(p, observe(h, p), {.live = false});
  CHECK(find(plan.actions, "nova:cpu_mode")->detail ==
        "cannot check the CPU models in the image (--root): " + no_map);
  CHECK(find(plan.actions, "file:" + kConf)->detail ==
        "not written: the CPU models cannot be checked: no libvirt CPU map in the image (--root) "
        "(see nova:cpu_mode)");
  h.files_[std::string(kCpuMapDir) + "/index.xml"] = "<cpus><arch";
  plan = make_plan(p, observe(h, p), {.live = false});
  CHECK(find(plan.actions, "file:" + kConf)->detail ==
        "not written: the CPU models cannot be checked: the libvirt CPU map cannot be used (see "
        "nova:cpu_mode)");
}

TEST_CASE("a symlinked nova.conf or nova-compute.conf: plan predicts apply's refusal") {
  test::TempDir root("kvmprov-nova");
  test::put(root / "/etc/nova/real.conf", "[libvirt]\nvirt_type = qemu\n");
  test::put(root / "/etc/nova/compute-real.conf", kKvmComputeConf);
  auto host = make_linux_host({.root = root.path()});
  Profile p = nova_profile({.virt_type = NovaVirtType::qemu});
  for (const std::string& link : {kConf, kComputeConf}) {
    CAPTURE(link);
    const std::string other = link == kConf ? kComputeConf : kConf;
    std::filesystem::remove(root / link);
    std::filesystem::remove(root / other);
    test::put(root / other, link == kConf ? kKvmComputeConf : "[libvirt]\n");
    std::filesystem::create_symlink(link == kConf ? "real.conf" : "compute-real.conf", root / link);
    Plan plan = make_plan(p, observe(*host, p), {.live = false});
    const Action* a = find(plan.actions, "file:" + link);
    REQUIRE(a);
    CHECK(a->status == Status::failed);
    CHECK(a->detail.find("symbolic link") != std::string::npos);
    auto done = apply_plan(*host, plan);
    CHECK(find(done, "file:" + link)->status == Status::failed);
    CHECK(std::filesystem::is_symlink(root / link));
    CHECK(test::slurp(root / "/etc/nova/real.conf") == "[libvirt]\nvirt_type = qemu\n");
    CHECK(test::slurp(root / "/etc/nova/compute-real.conf") == kKvmComputeConf);
  }
}

TEST_CASE("a config directory that cannot be listed: nothing is written") {
  test::TempDir root("kvmprov-nova");
  test::put(root / "/etc/nova/nova.conf", "[libvirt]\n");
  std::filesystem::create_symlink("nova.conf.d", root / "/etc/nova/nova.conf.d");  // a loop
  auto host = make_linux_host({.root = root.path()});
  Profile p = nova_profile({.virt_type = NovaVirtType::kvm});
  Facts f = observe(*host, p);
  REQUIRE(f.nova.config_errors.size() == 1);
  CHECK(f.nova.config_errors[0].find("cannot list") == 0);
  auto done = apply_plan(*host, make_plan(p, f, {.live = false}));
  const Action* conf = find(done, "file:" + kConf);
  CHECK(conf->status == Status::failed);
  CHECK(conf->detail ==
        "not written: what nova-compute reads is not known whole: " + f.nova.config_errors[0]);
  CHECK(test::slurp(root / "/etc/nova/nova.conf") == "[libvirt]\n");
}

int remove_entry(const char* path, const struct stat*, int, FTW*) {
  return ::remove(path);
}

TEST_CASE("a shared file keeps owner, group and mode, and the same bytes are left alone") {
  char tmpl[] = "/tmp/kvmprov-nova.XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  const std::string root = tmpl;
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

  auto host = make_linux_host({.root = root});
  auto r = host->write_file("/etc/nova.conf", "[libvirt]\nvirt_type = kvm\n", {.keep_owner = true});
  REQUIRE(r);
  CHECK(*r);
  struct stat after {};
  REQUIRE(::stat(path.c_str(), &after) == 0);
  CHECK((after.st_mode & 07777) == 0640);
  CHECK(after.st_gid == gid);
  CHECK(after.st_uid == uid);
  CHECK(**read_disk(path) == "[libvirt]\nvirt_type = kvm\n");
  auto same =
      host->write_file("/etc/nova.conf", "[libvirt]\nvirt_type = kvm\n", {.keep_owner = true});
  REQUIRE(same);
  CHECK_FALSE(*same);
  // A shared file that does not exist yet (/etc/modules) is created as kvmprov's own would be.
  auto created = host->write_file("/etc/other.conf", "x", {.mode = 0644, .keep_owner = true});
  REQUIRE(created);
  CHECK(*created);
  struct stat made {};
  REQUIRE(::stat((root + "/etc/other.conf").c_str(), &made) == 0);
  CHECK((made.st_mode & 07777) == 0644);
  CHECK(made.st_uid == geteuid());
  nftw(root.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

}  // namespace
}  // namespace kvmprov
