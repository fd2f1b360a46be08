# SPDX-License-Identifier: MIT
"""The arm64 scenarios of tests/vm/run.py: Debian's arm64 kernel under qemu-system-aarch64 (TCG),
started at EL2 in VHE or nVHE mode, or at EL1, with an arm64 kvmprov inside.

The initramfs holds the arm64 busybox-static (its applet links are made at boot: the host cannot
run it to list them), kvmprov with the arm64 libraries its ELF headers name (ldd cannot run a
foreign program), vhost_net and tun with their dependencies (kvm is built into arm64 kernels),
and the shipped profiles. There is no udevd or groupadd for arm64 here: group kvm is in the
initramfs's /etc/group, and kvmprov sets the nodes' group and mode itself.
"""

import os
import re
from pathlib import Path

harness = None  # tests/vm/run.py, set by register()

MODULES = ["vhost_net", "tun"]
LIB_DIRS = [Path("/usr/lib/aarch64-linux-gnu"), Path("/lib/aarch64-linux-gnu")]
# Opened with dlopen by kvmprov (src/linux/kmod.cc, src/linux/udev.cc), so not in its NEEDED.
DLOPENED = ["libkmod.so.2", "libudev.so.1"]
GROUP = "root:x:0:\nkvm:x:994:\n"
MACHINE = "virt,virtualization=on,gic-version=3"
# Each kvmprov run in the guest is bounded: a guest that runs garbage hangs in KVM_RUN.
GUEST_TIMEOUT = 120
# Links to busybox's applets, made by busybox itself, which needs /proc/self/exe for it.
INIT_PRELUDE = """/usr/bin/busybox mount -t proc proc /proc
/usr/bin/busybox --install -s /usr/bin
/usr/bin/busybox umount /proc
"""


def find_busybox():
    """The statically linked arm64 busybox: KVMPROV_VM_BUSYBOX_ARM64, else the one unpacked in
    tests/.cache/busybox-arm64/."""
    default = harness.SOURCE_DIR / "tests/.cache/busybox-arm64/bin/busybox"
    path = Path(os.environ.get("KVMPROV_VM_BUSYBOX_ARM64", default))
    if (path.is_file() and harness.elf_machine(path) == harness.ARCHES["arm64"]["elf_machine"]
            and harness.is_static_elf(path)):
        return path
    raise harness.Skip(f"no statically linked arm64 busybox at \"{path}\": (cd tests/.cache && "
                       "apt-get download busybox-static:arm64 && dpkg-deb -x "
                       "busybox-static_*_arm64.deb busybox-arm64)")


def elf_deps(path):
    """(interpreter or None, NEEDED sonames) of an ELF file, as readelf reads them."""
    out = harness.run(["readelf", "-d", "-l", "-W", str(path)]).stdout.decode()
    interp = re.search(r"Requesting program interpreter: (/\S+)\]", out)
    return (interp.group(1) if interp else None,
            re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))


def find_lib(soname):
    for d in LIB_DIRS:
        if (d / soname).exists():
            return d / soname
    raise harness.Skip(f"arm64 library \"{soname}\" not found in "
                       f"{' or '.join(map(str, LIB_DIRS))}: install its package for arm64 "
                       "(apt-get install PACKAGE:arm64)")


def foreign_libs(binaries):
    """The arm64 libraries (and the dynamic loader) BINARIES need, transitively."""
    seen, todo = {}, list(binaries)
    while todo:
        interp, needed = elf_deps(todo.pop())
        if interp and interp not in seen:
            seen[interp] = Path(interp)
        for soname in needed:
            if soname not in seen and not soname.startswith("ld-linux"):
                seen[soname] = find_lib(soname)
                todo.append(seen[soname])
    return list(seen.values())


def prepare_base(cache, kvmprov, busybox, modules, release):
    """The initramfs without /init: busybox, kvmprov and its libraries, modules, profiles."""
    profiles = sorted((harness.SOURCE_DIR / "profiles").glob("*.yaml"))
    dlopened = [find_lib(s) for s in DLOPENED]
    key = harness.key_of(kvmprov, busybox, modules / "lib/modules" / release / "modules.dep",
                         *profiles, *dlopened, Path(__file__))
    return harness.cached_cpio(
        cache, f"arm64-base-{release}", key,
        lambda t: fill_base(t, kvmprov, busybox, modules, profiles, dlopened))


def fill_base(t, kvmprov, busybox, modules, profiles, dlopened):
    t.copy(busybox, "/usr/bin/busybox")
    os.symlink("busybox", t.dest("/usr/bin/sh"))
    # The host's strip may not know arm64 debug sections: aarch64-linux-gnu-strip when present.
    strip = harness.shutil.which("aarch64-linux-gnu-strip")
    if strip:
        harness.run([strip, "--strip-debug", "-o", str(t.dest("/usr/bin/kvmprov")),
                     str(kvmprov.resolve())])
    else:
        t.copy(kvmprov, "/usr/bin/kvmprov")
    for lib in foreign_libs([kvmprov, *dlopened]) + dlopened:
        t.copy(lib)
    for p in profiles:
        t.copy(p, f"/usr/share/kvmprov/profiles/{p.name}")
    harness.shutil.copytree(modules / "lib/modules", t.dest("/lib/modules"), symlinks=True,
                            dirs_exist_ok=True)
    t.write("/etc/passwd", harness.PASSWD)
    t.write("/etc/group", GROUP)
    t.write("/etc/gshadow", "root:*::\nkvm:!::\n", 0o640)
    t.write("/etc/modules", "# /etc/modules: kernel modules to load at boot time.\n")


def prepare(env, needs):
    """Env.prepare for arm64: qemu-system-aarch64, the arm64 kernel, busybox and initramfs."""
    arch = harness.ARCHES["arm64"]
    harness.need_tool(arch["qemu"], arch["qemu_package"])
    harness.need_tool("cpio", "cpio")
    harness.need_tool("readelf", "binutils")
    depmod = harness.need_tool("depmod", "kmod")
    busybox = find_busybox()
    release, tree = harness.find_kernel("arm64", env.suite)
    with harness.CacheLock(env.cache):
        env.kernel = tree / "boot" / f"vmlinuz-{release}"
        env.modules = harness.prepare_modules(env.cache, release, tree, depmod, MODULES)
        env.base = prepare_base(env.cache, env.kvmprov, busybox, env.modules, release)
    env.release = release
    env.init_head = harness.INIT_HEAD.replace(
        "#!/bin/sh\n", "#!/bin/sh\n" + INIT_PRELUDE, 1).replace(
        "exec 3>/dev/ttyS1", "exec 3>" + arch["results_tty"])


# --- Scenarios --------------------------------------------------------------------------------

CHECK_BODY = r"""
run check timeout {t} kvmprov check --json
run check_text timeout {t} kvmprov check
cat /proc/cpuinfo >/tmp/cpuinfo; blob cpuinfo /tmp/cpuinfo
devstat dev_kvm /dev/kvm
if [ -d /sys/module/kvm ]; then result sys_module_kvm present; else result sys_module_kvm absent; fi
""".replace("{t}", str(GUEST_TIMEOUT))

APPLY_BODY = r"""
run apply1 timeout {t} kvmprov apply --json
cat /proc/modules >/tmp/modules.after; blob modules.after /tmp/modules.after
blob modules_load /etc/modules-load.d/kvmprov.conf
blob etc_modules /etc/modules
blob modprobe_d /etc/modprobe.d/kvmprov.conf
blob rules /etc/udev/rules.d/65-kvmprov.rules
blob group /etc/group
devstat dev_kvm.after /dev/kvm
devstat dev_vhost_net /dev/vhost-net
run apply2 timeout {t} kvmprov apply --json
run check2 timeout {t} kvmprov check --json
""".replace("{t}", str(GUEST_TIMEOUT))


def expect_usable(v, name, mode):
    """check NAME said KVM is usable, in MODE ("VHE", "nVHE"), with the probe passing."""
    v.expect_rc(name, 0)
    report = v.json(name)
    verdict = report.get("verdict", {})
    v.expect(verdict.get("usable") is True and verdict.get("reason") == "ok" and
             verdict.get("virt_type") == "kvm", f"{name}: usable, reason ok, virt_type kvm",
             verdict)
    v.expect(verdict.get("advice") == f"KVM acceleration can be used (arm64, {mode} mode)",
             f"{name}: the verdict names arm64 and {mode} mode", verdict.get("advice"))
    items = {c.get("id"): c for c in report.get("checks", [])}
    fw = items.get("firmware", {})
    v.expect(fw.get("state") == "PASS" and fw.get("detail", "").startswith(
        f"started at EL2, KVM in {mode} mode: "), f"{name}: firmware (EL2) passes, {mode}", fw)
    probe = items.get("probe", {})
    v.expect(probe.get("state") == "PASS", f"{name}: KVM_CREATE_VM probe passes", probe)
    v.expect(items.get("kernel", {}).get("detail") == "kvm built in", f"{name}: kvm built in",
             items.get("kernel"))


def expect_no_vendor_module(v):
    """kvm_intel and kvm_amd: skipped for arm64's reason, not loaded, not persisted."""
    acts = harness.actions(v.json("apply1"))
    files = v.blob("etc_modules") + v.out.blobs.get("modules_load", "") + \
        v.out.blobs.get("modprobe_d", "")
    for m in ("kvm_intel", "kvm_amd"):
        a = acts.get(f"module:{m}", {})
        v.expect(a.get("status") == "skipped" and a.get("detail") == "an x86 KVM module; this "
                 "CPU is arm64, whose KVM needs no vendor module",
                 f"apply skips {m}: an x86 module", a)
        v.expect(m not in files, f"{m} in no persisted file", files)
    live = harness.loaded_modules(v.blob("modules.after"))
    v.expect(not live & {"kvm_intel", "kvm_amd"}, "no vendor module loaded", sorted(live))


def expect_apply_loads(v):
    """apply1: kvm is built in, vhost_net is loaded and persisted for the next boot."""
    acts = harness.actions(v.json("apply1"))
    kvm, vhost = acts.get("module:kvm", {}), acts.get("module:vhost_net", {})
    v.expect(kvm.get("status") == "unchanged" and kvm.get("detail") == "built into the kernel",
             "apply: kvm unchanged, built into the kernel", kvm)
    v.expect(vhost.get("status") == "changed", "apply loads vhost_net", vhost)
    live = harness.loaded_modules(v.blob("modules.after"))
    v.expect({"vhost_net", "tun"} <= live, "/proc/modules has vhost_net and tun", sorted(live))
    persisted = harness.listed_modules(v.blob("etc_modules"))
    v.expect(persisted == {"kvm", "vhost_net"}, "/etc/modules (no systemd) lists kvm, vhost_net",
             v.blob("etc_modules"))
    expect_no_vendor_module(v)


def check_vhe(v):
    """Started at EL2 with VHE: usable; apply converges and a second run changes nothing."""
    expect_usable(v, "check", "VHE")
    v.expect("verdict: usable (ok): KVM acceleration can be used (arm64, VHE mode)" in
             v.blob("check_text.out"), "check's text names VHE mode", v.blob("check_text.out"))
    v.expect_rc("apply1", 0)
    harness.expect_apply_summary(v, "apply1", failed=0, pending=0)
    expect_apply_loads(v)
    gid = harness.group_id(v, "kvm")
    for node, key in (("/dev/kvm", "dev_kvm.after"), ("/dev/vhost-net", "dev_vhost_net")):
        v.expect(v.result(key) == f"0 {gid} 660", f"{node} is root:kvm 0660 (default profile)",
                 v.result(key))
    v.expect('KERNEL=="kvm", GROUP="kvm", MODE="0660"' in v.blob("rules"),
             "the udev rule for later boots gives /dev/kvm group kvm, mode 0660", v.blob("rules"))
    v.expect_rc("apply2", 0)
    harness.expect_apply_summary(v, "apply2", changed=0, failed=0, pending=0)
    expect_usable(v, "check2", "VHE")


def expect_el1_check(v, name):
    """check NAME: not usable, for arm64's EL1 reason (src/check_arch.cc), no KVM_CREATE_VM."""
    v.expect_rc(name, 1)
    report = v.json(name)
    verdict = report.get("verdict", {})
    v.expect(verdict.get("usable") is False and verdict.get("reason") == "no-hardware-support"
             and verdict.get("virt_type") == "qemu",
             f"{name}: not usable, reason no-hardware-support, virt_type qemu", verdict)
    advice = verdict.get("advice", "")
    v.expect(advice.startswith("the kernel was started at EL1 (") and "so the firmware or the "
             "hypervisor below it did not hand over EL2" in advice,
             f"{name}: the reason says the kernel started at EL1 without EL2", advice)
    fw = next((c for c in report.get("checks", []) if c.get("id") == "firmware"), {})
    v.expect(fw.get("state") == "FAIL" and fw.get("detail", "").startswith(
        'started at EL1, no EL2 for KVM: "CPU: All CPU(s) started at EL1"'),
        f"{name}: firmware (EL2) fails, quoting the kernel's EL1 line", fw)


def check_el1(v):
    """Started at EL1: kvm is built in but has no EL2, so no /dev/kvm; check says so, and apply
    does the rest without claiming /dev/kvm."""
    v.expect((v.result("dev_kvm"), v.result("sys_module_kvm")) == ("absent", "present"),
             "/sys/module/kvm exists, /dev/kvm does not",
             (v.result("dev_kvm"), v.result("sys_module_kvm")))
    expect_el1_check(v, "check")
    last = (v.blob("check_text.out").splitlines() or [""])[-1]
    v.expect(last.startswith("verdict: not usable (no-hardware-support): the kernel was started "
                             "at EL1 ("), "check's text verdict: not usable, started at EL1", last)
    v.expect_rc("apply1", 0)
    harness.expect_apply_summary(v, "apply1", failed=0, pending=1)
    expect_apply_loads(v)
    node = harness.actions(v.json("apply1")).get("node:kvm", {})
    v.expect(node.get("status") == "pending", "apply: /dev/kvm pending, not changed", node)
    v.expect(node.get("detail", "").startswith('does not exist although module "kvm" is built '
                                               "into the kernel: loading it will not create the "
                                               "node (kvmprov check says why)"),
             "apply says loading kvm will not create /dev/kvm", node.get("detail"))
    v.expect(v.result("dev_kvm.after") == "absent", "/dev/kvm still absent after apply",
             v.result("dev_kvm.after"))
    v.expect_rc("apply2", 0)
    harness.expect_apply_summary(v, "apply2", changed=0, failed=0, pending=1)
    expect_el1_check(v, "check2")


def check_nvhe(v):
    """A Cortex-A57 (ARMv8.0, no VHE) started at EL2: KVM runs in nVHE mode and is usable."""
    v.expect(re.search(r"^CPU part\s*: 0xd07$", v.blob("cpuinfo"), re.M) is not None,
             "the guest's CPU is a Cortex-A57 (part 0xd07)")
    expect_usable(v, "check", "nVHE")
    v.expect("(arm64, nVHE mode); virt_type=kvm" in v.blob("check_text.out"),
             "check's text names nVHE mode", v.blob("check_text.out"))
    v.expect(v.result("dev_kvm") == "0 0 600", "/dev/kvm is there, as the kernel makes it",
             v.result("dev_kvm"))


def register(run):
    """Adds the arm64 scenarios to RUN (tests/vm/run.py)."""
    global harness
    harness = run
    run.PREPARERS["arm64"] = prepare

    def add(name, cpu, machine, body, check, doc):
        run.SCENARIOS[name] = {"cpu": cpu, "needs": set(), "script": body, "check": check,
                               "doc": doc, "arch": "arm64", "qemu": ("-M", machine)}

    add("arm64-vhe", "max,pauth-impdef=on", MACHINE, CHECK_BODY + APPLY_BODY, check_vhe,
        "arm64 started at EL2, KVM in VHE mode: check usable; apply loads vhost_net, no vendor "
        "module; a second apply changes nothing")
    add("arm64-el1", "max,pauth-impdef=on", "virt,gic-version=3", CHECK_BODY + APPLY_BODY,
        check_el1, "arm64 started at EL1 (no EL2): check not usable for that reason; apply "
        "loads vhost_net and leaves /dev/kvm pending")
    add("arm64-nvhe", "cortex-a57", MACHINE, CHECK_BODY, check_nvhe,
        "arm64 Cortex-A57 started at EL2, KVM in nVHE mode: check usable, names nVHE")
