# SPDX-License-Identifier: MIT
"""The libvirt scenarios of tests/vm/run.py: the whole chain on a real boot, kernel -> /dev/kvm ->
libvirt -> a running guest.

A debootstrapped Debian 12 (the image scenario's) with libvirt-daemon-system and, but for the
"noqemu" variant, qemu-system-x86 installed by apt in a chroot is kept in the cache as an ext4
file. Each scenario boots it unchanged (qemu's snapshot=on) with systemd as init, through the
image scenario's initramfs and a small archive appended to it: its /boot-hook copies kvmprov, its
unit and profile, the report unit and the guest below into the root before the hand-over. So once
the image is built a scenario prepares in about a second, and what it boots is the image as apt
left it plus those files.

The guest libvirt starts inside the test VM is tests/vm/l2-stub.S, a BIOS image of a few
instructions: it prints the hypervisor signature it runs under (KVMKVMKVM under KVM, TCGTCGTCGTCG
under QEMU's emulator) on its serial port and powers off. That line, in the file the domain's
serial port wrote, is the proof that a libvirt domain of that type ran.
"""

import configparser
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_DIR = HERE.parent.parent
harness = None  # tests/vm/run.py, set by register()

# The packages each image variant adds to the image scenario's, without recommends (apparmor,
# dnsmasq-base, ...: none of them is needed to run a guest).
VARIANTS = {
    "libvirt": ["libvirt-daemon-system", "qemu-system-x86"],
    "noqemu": ["libvirt-daemon-system"],
}
HOSTNAME = "kvmprov-vm"
BOOT_TIMEOUT = 420  # seconds per boot: the emulator needs 40-90 s of CPU, a busy machine twice that
EXTRA_SPACE = 256 << 20  # free bytes in the image for what the boot writes (the disk is a snapshot)

# Runs as "unshare --mount --pid --fork --kill-child --propagation private sh -c SCRIPT sh ROOT
# COMMAND...". The chroot gets a private /dev (never the host's: a package script there would
# change the host's /dev/kvm) and its own /proc, and no /sys, so no package script can trigger the
# host's udev. Whatever way the script ends, its mounts go with the namespace, and so does every
# process a package script left running.
CHROOT_SCRIPT = r"""set -eu
root=$1; shift
mount -t tmpfs -o mode=0755,size=16m chroot-dev "$root/dev"
mknod -m 0666 "$root/dev/null" c 1 3
mknod -m 0666 "$root/dev/zero" c 1 5
mknod -m 0666 "$root/dev/full" c 1 7
mknod -m 0666 "$root/dev/random" c 1 8
mknod -m 0666 "$root/dev/urandom" c 1 9
mknod -m 0666 "$root/dev/tty" c 5 0
mkdir "$root/dev/pts" "$root/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
ln -s pts/ptmx "$root/dev/ptmx"
mount -t proc proc "$root/proc"
# apt needs a resolver; whatever the image had there (debootstrap's copy, a symlink) goes.
rm -f "$root/etc/resolv.conf"
cat /etc/resolv.conf >"$root/etc/resolv.conf"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 PATH=/usr/sbin:/usr/bin:/sbin:/bin
status=0
chroot "$root" "$@" || status=$?
rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
exit $status
"""

# The test VM has no network: with a resolv.conf, each lookup of the host name waits for a DNS
# timeout (libvirtd looks its host name up on every capabilities request: 15-30 s each).
HOSTS = f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n"

# Runs in the boot initramfs with the image mounted at $1 (run.py's BOOT_INIT calls it).
BOOT_HOOK = r"""#!/bin/sh
set -e
mkdir -p "$1/lib/modules"
cp -a /lib/modules/. "$1/lib/modules/"
cp -a /kvmprov-overlay/. "$1/"
"""

REPORT_UNIT = """[Unit]
Description=Report for the kvmprov libvirt test
After=systemd-modules-load.service systemd-udev-trigger.service kvmprov.service libvirtd.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/kvmprov-vmtest

[Install]
WantedBy=multi-user.target
"""

STUB_DIR = "/var/lib/libvirt/boot"
SERIAL_DIR = "/var/lib/libvirt/qemu"


def domain_xml(virt_type):
    """A transient domain whose firmware is the stub. ACPI is on: the stub powers off through it
    (without it qemu has no power management device, and the guest never ends)."""
    return f"""<domain type='{virt_type}'>
  <name>kvmprov-l2-{virt_type}</name>
  <memory unit='MiB'>16</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <loader type='rom'>{STUB_DIR}/kvmprov-l2-stub.bin</loader>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <serial type='file'>
      <source path='{SERIAL_DIR}/kvmprov-l2-{virt_type}.serial'/>
      <target port='0'/>
    </serial>
    <memballoon model='none'/>
  </devices>
</domain>
"""


# The guest's side: run.py's report functions, a run() whose commands cannot hang the boot, and
# the facts every libvirt scenario reports first.
REPORT_HEAD = r"""
uptime() { cut -d' ' -f1 /proc/uptime; }
since() { echo "$1 $(uptime)" | awk '{print $2 - $1}'; }
# run NAME COMMAND...: its exit status, stdout, stderr and time as NAME.rc, .out, .err, .seconds
run() {
  name=$1; shift
  start=$(uptime)
  timeout 150 "$@" >$tmp/"$name".out 2>$tmp/"$name".err </dev/null
  result "$name".rc $?
  result "$name".seconds "$(since $start)"
  blob "$name".out $tmp/"$name".out
  blob "$name".err $tmp/"$name".err
}
# domain TYPE: starts the transient kvmprov-l2-TYPE, waits (at most 90 s) until it has gone, and
# reports the serial output of the guest and QEMU's log.
domain() {
  begin=$(uptime)
  run create.$1 virsh -c qemu:///system create /usr/local/share/kvmprov-test/l2-$1.xml
  i=0
  while [ $i -lt 900 ] && virsh -c qemu:///system domstate kvmprov-l2-$1 >/dev/null 2>&1; do
    sleep 0.1; i=$((i + 1))
  done
  result domain.$1.gone "$([ $i -lt 900 ] && echo yes || echo no)"
  result domain.$1.seconds "$(since $begin)"
  blob serial.$1 """ + SERIAL_DIR + r"""/kvmprov-l2-$1.serial
  blob qemulog.$1 /var/log/libvirt/qemu/kvmprov-l2-$1.log
}
tmp=$(mktemp -d)
echo KVMPROV-BEGIN >&3
result uptime.report "$(uptime)"
udevadm settle --timeout=60
result udev.settled $?
result failed_units "$(systemctl list-units --failed --plain --no-legend | cut -d' ' -f1 | tr '\n' ' ')"
result kvmprov.state "$(systemctl is-active kvmprov.service)"
journalctl -b -o cat -u kvmprov.service >$tmp/kvmprov.journal
blob kvmprov.journal $tmp/kvmprov.journal
cat /proc/modules >$tmp/modules; blob modules $tmp/modules
ls /etc/modules-load.d >$tmp/modules-load.d; blob modules-load.d $tmp/modules-load.d
blob group /etc/group
devstat dev_kvm /dev/kvm
for s in /run/libvirt/*-sock-ro; do [ -S "$s" ] && echo "$s"; done >$tmp/sockets
blob sockets $tmp/sockets
result libvirtd.pid "$(systemctl show -P MainPID libvirtd.service)"
run domcaps.kvm virsh -c qemu:///system domcapabilities --virttype kvm --arch x86_64
run domcaps.qemu virsh -c qemu:///system domcapabilities --virttype qemu --arch x86_64
run caps.ro virsh -r -c qemu:///system capabilities
"""

REPORT_TAIL = r"""
result uptime.end "$(uptime)"
echo KVMPROV-END >&3
exec 3>&-
systemctl poweroff --force --force
"""


# --- Building ---------------------------------------------------------------------------------

def in_chroot(root, logfile, *command):
    """Runs COMMAND in ROOT through CHROOT_SCRIPT; True when it succeeded. Output goes to
    LOGFILE."""
    with open(logfile, "ab") as f:
        f.write(f"# {' '.join(command)}\n".encode())
        f.flush()
        r = subprocess.run(["unshare", "--mount", "--pid", "--fork", "--kill-child",
                            "--propagation", "private", "sh", "-c", CHROOT_SCRIPT, "sh", str(root),
                            *command], stdout=f, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
    return r.returncode == 0


def prepare_image(run, cache, variant):
    """The image file of VARIANT, built once from the image scenario's root and kept, keyed by
    that root, the packages and how they are installed. The caller holds the cache lock."""
    packages = VARIANTS[variant]
    base = run.prepare_rootfs(cache)
    key = run.key_of(base.parent.name, variant, *packages, CHROOT_SCRIPT, HOSTS, HOSTNAME)
    entry = cache / f"image-{variant}-{key}"
    image = entry / "image.ext4"
    if image.is_file():
        return image
    if os.geteuid() != 0:
        raise run.Skip("building the libvirt image needs root (chroot, mount namespaces)")
    run.need_tool("unshare", "util-linux")
    run.need_tool("mke2fs", "e2fsprogs")
    for old in cache.glob(f"image-{variant}-*"):
        shutil.rmtree(old, ignore_errors=True)
    logfile = cache / "logs" / f"image-{variant}.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    logfile.write_text("")
    run.log(f"building the {variant} image: {' '.join(packages)} (once; log: {logfile})")
    work = Path(tempfile.mkdtemp(dir=cache, prefix=f".image-{variant}."))
    try:
        root = work / "root"
        run.run(["cp", "-a", str(base), str(root)])
        if not (in_chroot(root, logfile, "apt-get", "update", "-q") and
                in_chroot(root, logfile, "apt-get", "install", "-y", "-q",
                          "--no-install-recommends", *packages)):
            raise run.Skip(f"apt-get in the image failed (network?): see {logfile}")
        if not in_chroot(root, logfile, "apt-get", "clean"):
            raise run.HarnessError(f"apt-get clean in the image failed: see {logfile}")
        for f in (root / "var/lib/apt/lists").glob("*"):
            if f.is_file():
                f.unlink()
        (root / "etc/hostname").write_text(HOSTNAME + "\n")
        (root / "etc/hosts").write_text(HOSTS)
        used = int(run.run(["du", "-sb", str(root)]).stdout.split()[0])
        run.run(["mke2fs", "-q", "-t", "ext4", "-d", str(root), "-F", str(work / "image.ext4"),
                 str((used * 13 // 10 + EXTRA_SPACE) // 1024) + "k"])
        shutil.rmtree(root)
        run.publish_dir(work, entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return image


def prepare_stub(run, cache):
    """tests/vm/l2-stub.S assembled and linked into a 64 KiB BIOS image (binutils), kept in the
    cache."""
    src = HERE / "l2-stub.S"
    out = cache / f"l2-stub-{run.key_of(src)}"
    if out.is_file():
        return out
    as_ = run.need_tool("as", "binutils")
    ld = run.need_tool("ld", "binutils")
    work = Path(tempfile.mkdtemp(dir=cache, prefix=".l2-stub."))
    try:
        run.run([as_, "--32", "-o", str(work / "stub.o"), str(src)])
        run.run([ld, "-m", "elf_i386", "-Ttext=0", "--oformat=binary", "-o",
                 str(work / "stub"), str(work / "stub.o")])
        if (work / "stub").stat().st_size != 0x10000:
            raise run.HarnessError("l2-stub.S did not link into a 64 KiB BIOS image")
        os.rename(work / "stub", out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def libvirt_check(env):
    """The driver tests/vm/libvirt_check.cc builds: ctest names it, else it is beside kvmprov's
    build tree."""
    path = Path(os.environ.get("KVMPROV_LIBVIRT_CHECK") or
                env.kvmprov.parent / "tests/kvmprov-libvirt-check")
    if not path.is_file():
        raise harness.HarnessError(f"\"{path}\" not found: build kvmprov-libvirt-check first")
    return path


def boot_image(env, name, start, sc):
    """Boots the scenario's image with its files appended to the initramfs; returns (results
    text, seconds, preparation seconds, host-side facts) as run.py's runners do."""
    run = harness
    cache = env.cache
    if env.suite and env.suite != run.IMAGE_SUITE:
        raise run.HarnessError(f"the libvirt scenarios boot a {run.IMAGE_SUITE} image only: run "
                               f"them without --suite {env.suite}")
    with run.CacheLock(cache):
        image = prepare_image(run, cache, sc["variant"])
        initrd = run.prepare_boot_initrd(cache, run.find_busybox(), env.modules, env.release)
        stub = prepare_stub(run, cache)
    work = Path(tempfile.mkdtemp(dir=cache, prefix=f".{name}."))
    try:
        t = run.Tree(work / "root")
        t.write("/boot-hook", BOOT_HOOK, 0o755)
        o = "/kvmprov-overlay"
        # As the package installs it; the unit and profile only where the scenario enables it. (No
        # top-level /lib here: on the merged-/usr image that is a symlink cp cannot merge into.)
        t.copy(env.kvmprov, f"{o}/usr/sbin/kvmprov")
        t.copy(libvirt_check(env), f"{o}/usr/local/sbin/kvmprov-libvirt-check")
        if sc["kvmprov_unit"]:
            t.copy(SOURCE_DIR / "systemd/kvmprov.service",
                   f"{o}/usr/lib/systemd/system/kvmprov.service")
            t.copy(SOURCE_DIR / "contrib/profile.yaml", f"{o}/etc/kvmprov/profile.yaml")
            wants = t.dest(f"{o}/etc/systemd/system/multi-user.target.wants/kvmprov.service")
            os.symlink("/lib/systemd/system/kvmprov.service", wants)
        t.write(f"{o}/usr/local/sbin/kvmprov-vmtest", "#!/bin/sh\nexec 3>/dev/ttyS1\n"
                "exec </dev/null >/dev/console 2>&1\n" + run.GUEST_REPORT_FUNCS + REPORT_HEAD +
                sc["body"] + REPORT_TAIL, 0o755)
        t.write(f"{o}/etc/systemd/system/kvmprov-vmtest.service", REPORT_UNIT)
        os.symlink("../kvmprov-vmtest.service",
                   t.dest(f"{o}/etc/systemd/system/multi-user.target.wants/kvmprov-vmtest.service"))
        # No login prompts: they only compete for the one emulated CPU.
        os.symlink("/dev/null", t.dest(f"{o}/etc/systemd/system/getty.target"))
        t.copy(stub, f"{o}{STUB_DIR}/kvmprov-l2-stub.bin")
        for virt_type in ("kvm", "qemu"):
            t.write(f"{o}/usr/local/share/kvmprov-test/l2-{virt_type}.xml", domain_xml(virt_type))
        t.write(f"{o}/usr/local/share/kvmprov-test/nova-auto.yaml", NOVA_AUTO_PROFILE)
        t.write(f"{o}/usr/local/share/kvmprov-test/nova-kvm.yaml", NOVA_KVM_PROFILE)
        t.cpio(work / "overlay.cpio")
        full = work / "initrd"
        with open(full, "wb") as f:
            for part in (initrd, work / "overlay.cpio"):
                with open(part, "rb") as p:
                    shutil.copyfileobj(p, f)
        prep = time.monotonic() - start
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        text, _, seconds = run.boot(env.kernel, full, sc["cpu"], env.logdir, name,
                                    timeout=BOOT_TIMEOUT,
                                    extra=["-drive", f"file={image},format=raw,if=virtio,"
                                                     "snapshot=on"],
                                    append="rw systemd.show_status=0")
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        # The emulator's CPU time: about what the boot takes on an idle core, whatever the load.
        cpu = (cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime -
               cpu_before.ru_stime)
        print(f"  qemu used {cpu:.1f} s of CPU (load average {os.getloadavg()[0]:.1f})")
        return text, seconds, prep, {}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- Assertions -------------------------------------------------------------------------------

def seconds_note(v, *names):
    v.note(", ".join(f"{n} {v.out.results.get(n + '.seconds', '?')} s" for n in names) +
           f"; report unit from {v.out.results.get('uptime.report', '?')} s to "
           f"{v.out.results.get('uptime.end', '?')} s after boot")


def expect_kvm_loaded_by(v, who):
    """Who loaded kvm_amd: kvmprov.service says "changed load kvm_amd" when it did."""
    journal = v.blob("kvmprov.journal")
    if who == "kvmprov or udev":
        by = ("kvmprov.service" if "changed   load kvm_amd" in journal else
              "udev (CPU modalias), before kvmprov.service")
        v.note(f"kvm_amd was loaded by {by}")
        return
    v.expect("modules-load.d/kvmprov.conf" not in v.blob("modules-load.d") and
             not journal.strip(),
             "no kvmprov unit ran and no kvmprov file asks for a module",
             (v.blob("modules-load.d"), journal))
    v.expect("kvm_amd" in harness.loaded_modules(v.blob("modules")),
             "kvm_amd loaded at boot all the same: udev, from the CPU's modalias",
             sorted(harness.loaded_modules(v.blob("modules"))))


def expect_dev_kvm(v):
    gid = harness.group_id(v, "kvm")
    v.expect(gid is not None and v.result("dev_kvm") == f"0 {gid} 660", "/dev/kvm is root:kvm 0660",
             v.result("dev_kvm"))


def expect_libvirtd(v):
    sockets = v.blob("sockets").split()
    v.expect(sockets == ["/run/libvirt/libvirt-sock-ro"],
             "the monolithic libvirtd listens (/run/libvirt/libvirt-sock-ro), no virtqemud",
             sockets)


def domain_marker(v, virt_type):
    serial = v.out.blobs.get(f"serial.{virt_type}", "")
    return next((line.strip() for line in serial.splitlines()
                 if line.startswith("KVMPROV-L2 ")), None)


def expect_domain_ran(v, virt_type, signature):
    v.expect_rc(f"create.{virt_type}", 0)
    v.expect(v.result(f"domain.{virt_type}.gone") == "yes",
             f"the {virt_type} domain powered itself off (gone within 90 s)")
    marker = domain_marker(v, virt_type)
    v.expect(marker == f"KVMPROV-L2 hypervisor={signature}",
             f"the {virt_type} domain's guest printed its marker: it ran under {signature}",
             marker)
    accel = f"-accel {'kvm' if virt_type == 'kvm' else 'tcg'}"
    log = v.out.blobs.get(f"qemulog.{virt_type}", "")
    v.expect(accel in log, f"libvirt started QEMU with {accel}", log[-300:])


def expect_check(v, name, state, reason, detail=None, hint=None):
    """The libvirt check's verdict as tests/vm/libvirt_check.cc printed it."""
    v.expect_rc(name, 0)
    got = v.json(name)
    v.expect(got.get("state") == state and got.get("reason") == reason,
             f"libvirt check ({name}): {state} {reason}",
             {k: got.get(k) for k in ("state", "reason", "detail", "hint")})
    if detail is not None:
        v.expect(detail in got.get("detail", ""), f"... detail has {detail!r}", got.get("detail"))
    if hint is not None:
        v.expect(got.get("hint") == hint, f"... hint {hint!r}", got.get("hint"))
    return got


def expect_kvmprov_check(v, name, driver, rc, reason):
    """"kvmprov check --json" (NAME) carries the libvirt item the driver (DRIVER) printed, and its
    verdict and exit status follow it."""
    v.expect_rc(name, rc)
    report = v.json(name)
    ids = [c.get("id") for c in report.get("checks", [])]
    v.expect(ids[4:6] == ["probe", "libvirt"], f"{name}: the libvirt item follows the probe", ids)
    item = next((c for c in report.get("checks", []) if c.get("id") == "libvirt"), {})
    want = v.json(driver)
    # The driver names no verdict reason of its own ("probe-failed"), so a SKIP's detail differs.
    keys = ("state",) if want.get("state") == "SKIP" else ("state", "detail", "hint")
    v.expect(all(item.get(k) == want.get(k) for k in keys),
             f"{name}: the same libvirt item as the driver's",
             {"kvmprov": item, "driver": {k: want.get(k) for k in ("state", "detail", "hint")}})
    verdict = report.get("verdict", {})
    v.expect(verdict.get("reason") == reason and verdict.get("usable") == (rc == 0),
             f"{name}: verdict {reason}, exit {rc}", verdict)
    return report


def check_libvirt(v):
    expect_kvm_loaded_by(v, "kvmprov or udev")
    v.expect(v.result("kvmprov.state") == "active", "kvmprov.service applied the profile",
             v.blob("kvmprov.journal").strip()[-300:])
    v.expect(v.result("failed_units") == "", "no failed unit", v.result("failed_units"))
    expect_dev_kvm(v)
    expect_libvirtd(v)
    v.expect_rc("domcaps.kvm", 0)
    caps = v.blob("domcaps.kvm.out")
    v.expect("<domain>kvm</domain>" in caps and
             "<path>/usr/bin/qemu-system-x86_64</path>" in caps,
             "virsh domcapabilities --virttype kvm: kvm, /usr/bin/qemu-system-x86_64", caps[:300])
    v.expect("<domain type='kvm'/>" in v.blob("caps.ro.out"),
             "virsh -r capabilities offers a kvm domain", v.blob("caps.ro.out")[:300])
    v.expect_rc("domcaps.ro", 1)
    v.expect("read only access prevents virConnectGetDomainCapabilities" in
             v.blob("domcaps.ro.err"),
             "domain capabilities are refused on a read-only connection",
             v.blob("domcaps.ro.err").strip())
    expect_domain_ran(v, "kvm", "KVMKVMKVM")
    got = expect_check(v, "check.libvirt", "PASS", "libvirt-kvm",
                       detail="libvirt offers kvm for x86_64 (\"/usr/bin/qemu-system-x86_64\"")
    inputs = got.get("inputs", {})
    v.expect(inputs.get("source") == "domain capabilities" and
             inputs.get("guest", {}).get("kvm") and
             inputs.get("qemu_user") == "libvirt-qemu" and inputs.get("qemu_group") ==
             "libvirt-qemu" and inputs.get("qemu_user_can_open") is True,
             "... from the domain capabilities (read-write, as root) and qemu.conf's defaults",
             inputs)
    # Not root: the host capabilities, read-only.
    got = expect_check(v, "check.nonroot", "PASS", "libvirt-kvm")
    v.expect(got.get("inputs", {}).get("source") == "capabilities",
             "... from the host capabilities (read-only, as a member of group kvm)",
             got.get("inputs", {}).get("source"))
    # The QEMU user loses the group that opens /dev/kvm: the capabilities, asked again, still
    # offer kvm, and only starting a domain shows it.
    v.expect_rc("usermod.away", 0)
    v.expect_rc("domcaps.user_away", 0)
    v.expect("<domain>kvm</domain>" in v.blob("domcaps.user_away.out"),
             "with the QEMU user outside group kvm libvirt still offers kvm")
    v.expect_rc("create.user_away", 1)
    v.expect("Could not access KVM kernel module: Permission denied" in
             v.blob("create.user_away.err"),
             "... and the kvm domain fails: \"Could not access KVM kernel module: Permission "
             "denied\"", v.blob("create.user_away.err").strip())
    expect_check(v, "check.user_away", "FAIL", "qemu-user-cannot-open-kvm",
                 hint="add it to the device's group: usermod -a -G kvm libvirt-qemu (takes "
                      "effect at the next domain start)")
    # The capabilities follow /dev/kvm without a restart: gone with the module, back with it.
    v.expect(v.result("dev_kvm.unloaded") == "absent", "kvm_amd unloaded: no /dev/kvm",
             v.result("dev_kvm.unloaded"))
    v.expect_rc("domcaps.unloaded", 1)
    v.expect("the accel 'kvm' is not supported by '/usr/bin/qemu-system-x86_64' on this host" in
             v.blob("domcaps.unloaded.err"),
             "without /dev/kvm libvirt says kvm is not supported, at once",
             v.blob("domcaps.unloaded.err").strip())
    v.expect_rc("domcaps.reloaded", 0)
    v.expect("<domain>kvm</domain>" in v.blob("domcaps.reloaded.out"),
             "kvm_amd loaded again: libvirt offers kvm again, without a restart")
    # A mode set by hand does not last where udevd runs: KVM sends a change uevent for every VM
    # it creates or destroys (libvirt's probe of QEMU makes one), and udev applies the rules.
    v.note(f"/dev/kvm after chmod 0600: {v.result('dev_kvm.chmod')}; domcapabilities then "
           f"exit {v.rc('domcaps.chmod')}; /dev/kvm after it: "
           f"{v.result('dev_kvm.chmod_after')}")
    # kvmprov's apply changes the mode (the profile says 0666), and its report says what libvirt
    # offers after that change.
    expect_followup(v)
    gid = harness.group_id(v, "kvm")
    v.expect(v.result("dev_kvm.applied") == f"0 {gid} 666", "apply made /dev/kvm root:kvm 0666",
             v.result("dev_kvm.applied"))
    v.expect_rc("domcaps.applied", 0)
    v.expect("<domain>kvm</domain>" in v.blob("domcaps.applied.out"),
             "libvirt offers kvm after the change, without a restart")
    pid = v.result("libvirtd.pid")
    v.expect(pid not in (None, "", "0") and v.result("libvirtd.pid.end") == pid,
             "the same libvirtd throughout", (pid, v.result("libvirtd.pid.end")))
    seconds_note(v, "domcaps.kvm", "domain.kvm", "domcaps.reloaded")
    # kvmprov check carries the same item; the verdict follows it.
    expect_kvmprov_check(v, "kcheck.libvirt", "check.libvirt", 0, "ok")
    expect_kvmprov_check(v, "kcheck.user_away", "check.user_away", 1, "qemu-user-cannot-open-kvm")


LIBVIRT_BODY = r"""
run domcaps.ro virsh -r -c qemu:///system domcapabilities --virttype kvm --arch x86_64
domain kvm
run check.libvirt kvmprov-libvirt-check
run kcheck.libvirt kvmprov check --json
run check.nonroot setpriv --reuid=libvirt-qemu --regid=kvm --init-groups kvmprov-libvirt-check
run usermod.away usermod -g libvirt-qemu libvirt-qemu
run domcaps.user_away virsh -c qemu:///system domcapabilities --virttype kvm --arch x86_64
run create.user_away virsh -c qemu:///system create /usr/local/share/kvmprov-test/l2-kvm.xml
run check.user_away kvmprov-libvirt-check
run kcheck.user_away kvmprov check --json
run usermod.back usermod -g kvm libvirt-qemu
run rmmod rmmod kvm_amd kvm
devstat dev_kvm.unloaded /dev/kvm
run domcaps.unloaded virsh -c qemu:///system domcapabilities --virttype kvm --arch x86_64
modprobe kvm_amd
udevadm settle --timeout=60
run domcaps.reloaded virsh -c qemu:///system domcapabilities --virttype kvm --arch x86_64
chmod 0600 /dev/kvm
devstat dev_kvm.chmod /dev/kvm
run domcaps.chmod virsh -c qemu:///system domcapabilities --virttype kvm --arch x86_64
devstat dev_kvm.chmod_after /dev/kvm
mkdir -p /etc/nova
printf '[DEFAULT]\n\n[libvirt]\nvirt_type = kvm\n' >/etc/nova/nova.conf
run nova.apply kvmprov apply --json --profile /usr/local/share/kvmprov-test/nova-kvm.yaml
devstat dev_kvm.applied /dev/kvm
run domcaps.applied virsh -c qemu:///system domcapabilities --virttype kvm --arch x86_64
result libvirtd.pid.end "$(systemctl show -P MainPID libvirtd.service)"
"""


def expect_followup(v):
    """kvmprov apply converged /dev/kvm and then asked libvirt: kvm offered, nothing pending."""
    v.expect_rc("nova.apply", 0)
    try:
        actions = {a["id"]: a for a in json.loads(v.blob("nova.apply.out"))["actions"]}
    except (ValueError, KeyError, TypeError) as e:
        v.expect(False, "apply --json gives a report", f"{e}: {v.blob('nova.apply.out')[:300]}")
        return
    node = actions.get("node:kvm", {})
    v.expect(node.get("status") == "changed", "apply changed /dev/kvm's mode", node)
    lv = actions.get("libvirt:capabilities", {})
    v.expect(lv.get("kind") == "libvirt" and lv.get("status") == "unchanged" and
             lv.get("detail", "").startswith("libvirt offers kvm for x86_64"),
             "... and its libvirt item says libvirt offers kvm after the change", lv)


def check_libvirt_intel(v):
    v.expect(v.result("kvmprov.state") == "failed",
             "kvmprov.service failed: kvm_intel cannot load", v.result("kvmprov.state"))
    v.expect("no hardware support" in v.blob("kvmprov.journal"),
             "its journal says \"no hardware support\"", v.blob("kvmprov.journal").strip()[-300:])
    v.expect(v.result("dev_kvm") == "absent", "no /dev/kvm", v.result("dev_kvm"))
    expect_libvirtd(v)
    v.expect_rc("domcaps.kvm", 1)
    v.expect("the accel 'kvm' is not supported by '/usr/bin/qemu-system-x86_64' on this host" in
             v.blob("domcaps.kvm.err"), "libvirt agrees: no kvm domain",
             v.blob("domcaps.kvm.err").strip())
    v.expect_rc("domcaps.qemu", 0)
    v.expect("<domain>qemu</domain>" in v.blob("domcaps.qemu.out"),
             "virsh domcapabilities --virttype qemu: qemu")
    caps = v.blob("caps.ro.out")
    v.expect("<domain type='qemu'/>" in caps and "<domain type='kvm'/>" not in caps,
             "virsh -r capabilities: qemu domains only", caps[:300])
    v.expect_rc("create.kvm", 1)
    v.expect("does not support virt type 'kvm'" in v.blob("create.kvm.err"),
             "a kvm domain is refused", v.blob("create.kvm.err").strip())
    expect_domain_ran(v, "qemu", "TCGTCGTCGTCG")
    expect_check(v, "check.libvirt", "SKIP", "kvm-not-usable")
    seconds_note(v, "domcaps.kvm", "domain.qemu")
    expect_kvmprov_check(v, "kcheck.libvirt", "check.libvirt", 1, "no-hardware-support")
    # nova: virt_type: auto, with nova-compute-kvm's override file installed: the value
    # nova-compute reads (the later file wins) is qemu.
    v.expect_rc("nova.apply", 0)
    effective = None
    for name in ("nova.conf", "nova_compute.conf"):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.read_string(v.blob(name))
        for section in parser.sections():
            if section.lower() == "libvirt" and parser.has_option(section, "virt_type"):
                effective = parser.get(section, "virt_type")
    v.expect(effective == "qemu", "nova: virt_type: auto makes nova-compute read qemu",
             {"nova.conf": v.blob("nova.conf"), "nova-compute.conf": v.blob("nova_compute.conf")})


# /dev/kvm for everyone (not Debian's 0660), and nova: what an apply changes below libvirt, its
# report follows up.
NOVA_KVM_PROFILE = """version: 1
name: nova-kvm
modules:
  - name: kvm
  - name: kvm_amd
devices:
  - node: kvm
    group: kvm
    mode: "0666"
groups:
  - name: kvm
    system: true
nova:
  virt_type: auto
  cpu_mode: none
"""


# nova's virt_type decided by kvmprov's verdict; the image's CPU map is not needed for it.
NOVA_AUTO_PROFILE = """version: 1
name: nova-auto
nova:
  virt_type: auto
  cpu_mode: none
"""

INTEL_BODY = r"""
run create.kvm virsh -c qemu:///system create /usr/local/share/kvmprov-test/l2-kvm.xml
domain qemu
run check.libvirt kvmprov-libvirt-check
run kcheck.libvirt kvmprov check --json
mkdir -p /etc/nova
printf '[DEFAULT]\n\n[libvirt]\nvirt_type = kvm\n' >/etc/nova/nova.conf
# As nova-compute-kvm ships it; nova-compute reads it after nova.conf.
printf '[libvirt]\nvirt_type=kvm\n' >/etc/nova/nova-compute.conf
run nova.apply kvmprov apply --profile /usr/local/share/kvmprov-test/nova-auto.yaml
blob nova.conf /etc/nova/nova.conf
blob nova_compute.conf /etc/nova/nova-compute.conf
"""


def check_libvirt_noqemu(v):
    expect_kvm_loaded_by(v, "udev")
    expect_dev_kvm(v)
    expect_libvirtd(v)
    v.expect(v.result("emulator") == "absent", "the image has no /usr/bin/qemu-system-x86_64",
             v.result("emulator"))
    v.expect_rc("domcaps.kvm", 1)
    v.expect("unable to find any emulator to serve 'x86_64' architecture" in
             v.blob("domcaps.kvm.err"), "libvirt: no emulator for x86_64",
             v.blob("domcaps.kvm.err").strip())
    v.expect("<guest>" not in v.blob("caps.ro.out"),
             "virsh -r capabilities: no guest at all", v.blob("caps.ro.out")[:300])
    v.expect_rc("create.kvm", 1)
    v.expect("No emulator found for arch 'x86_64'" in v.blob("create.kvm.err"),
             "a kvm domain is refused: no emulator", v.blob("create.kvm.err").strip())
    expect_check(v, "check.libvirt", "FAIL", "qemu-emulator-missing",
                 detail="\"/usr/bin/qemu-system-x86_64\" is missing (libvirt: \"unsupported "
                        "configuration: unable to find any emulator to serve 'x86_64' "
                        "architecture\")",
                 hint="install it: apt-get install qemu-system-x86")
    # With the daemon stopped, the check names it, and its hint brings it back.
    expect_check(v, "check.stopped", "FAIL", "libvirt-daemon-not-running",
                 detail="no libvirt daemon listens on \"/run/libvirt/libvirt-sock-ro\"",
                 hint=f"start it: {RESTART}")
    v.expect_rc("restart", 0)
    expect_check(v, "check.restarted", "FAIL", "qemu-emulator-missing")
    seconds_note(v, "domcaps.kvm")
    # The kernel runs KVM guests, libvirt cannot: kvmprov check's verdict names libvirt's cause.
    expect_kvmprov_check(v, "kcheck.libvirt", "check.libvirt", 1, "qemu-emulator-missing")
    expect_kvmprov_check(v, "kcheck.stopped", "check.stopped", 1, "libvirt-daemon-not-running")


RESTART = "systemctl enable --now libvirtd.service"
NOQEMU_BODY = r"""
if [ -e /usr/bin/qemu-system-x86_64 ]; then result emulator present; else result emulator absent; fi
run create.kvm virsh -c qemu:///system create /usr/local/share/kvmprov-test/l2-kvm.xml
run check.libvirt kvmprov-libvirt-check
run kcheck.libvirt kvmprov check --json
systemctl stop libvirtd.service libvirtd.socket libvirtd-ro.socket libvirtd-admin.socket
run check.stopped kvmprov-libvirt-check
run kcheck.stopped kvmprov check --json
run restart """ + RESTART + r"""
run check.restarted kvmprov-libvirt-check
"""


def record(v, name):
    """With KVMPROV_VM_RECORD=DIR, keeps what libvirt printed in DIR/NAME/ (the fixtures in
    tests/data/libvirt/ were recorded so)."""
    where = os.environ.get("KVMPROV_VM_RECORD")
    if not where:
        return
    out = Path(where) / name
    out.mkdir(parents=True, exist_ok=True)
    for blob, text in v.out.blobs.items():
        if blob.startswith(("domcaps.", "caps.", "create.")):
            (out / blob).write_text(text)


def register(run):
    """Adds the libvirt scenarios to RUN (tests/vm/run.py)."""
    global harness
    harness = run

    def add(name, cpu, variant, kvmprov_unit, body, check, doc):
        run.SCENARIOS[name] = {
            "cpu": cpu, "needs": {"image"}, "script": None,
            "check": lambda v, host: (record(v, name), check(v)),
            "doc": doc,
            "run": lambda env, n, start: boot_image(env, n, start, run.SCENARIOS[n]),
            "variant": variant, "kvmprov_unit": kvmprov_unit, "body": body}

    add("libvirt", "qemu64,+npt", "libvirt", True, LIBVIRT_BODY, check_libvirt,
        "Debian image with libvirt and kvmprov.service, AMD: libvirt offers kvm and a kvm domain "
        "runs a guest to its end")
    # An Intel model without AVX: QEMU and glibc inside run their SSE code, which TCG emulates
    # several times faster.
    add("libvirt-intel", "Nehalem,+vmx", "libvirt", True, INTEL_BODY, check_libvirt_intel,
        "the same image on an Intel CPU without VMX: no kvm domain, a qemu domain runs")
    add("libvirt-noqemu", "qemu64,+npt", "noqemu", False, NOQEMU_BODY, check_libvirt_noqemu,
        "Debian image with libvirt but no qemu-system-x86 and no kvmprov unit: udev loads "
        "kvm_amd, libvirt has no emulator")
