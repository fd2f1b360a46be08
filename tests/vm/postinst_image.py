# SPDX-License-Identifier: MIT
"""The image-postinst scenario: a site package whose postinst (contrib/site-package/postinst) runs
"kvmprov apply" is installed with dpkg into a debootstrapped Debian image, first in a chroot with
/proc and /sys bind-mounted and a private /dev (as image builders do), then in a container (an
unshared mount and PID namespace with /run/systemd/container, since systemd-nspawn cannot be
relied on in CI's own container). Neither may change anything on the build host. Then the image
boots, and kvmprov.service finishes the job.

register(run) adds it to tests/vm/run.py's scenarios; RUN is that module (the harness)."""

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

harness = None  # tests/vm/run.py, set by register()

SITE_PACKAGE = "kvmprov-site-vmtest"
SITE_PROFILE_PATH = "/etc/kvmprov/site.yaml"
# kvmprov.service applies the site's profile at boot: the drop-in a site package ships for it.
SITE_DROPIN = """[Service]
ExecStart=
ExecStart=/usr/sbin/kvmprov apply --profile /etc/kvmprov/site.yaml
"""
CONTAINER_MARKER = "kvmprov-vmtest"

# What kvmprov may write or change on a machine: none of it may change on the build host.
HOST_FILES = ["/etc/modules", "/etc/group", "/etc/gshadow", "/etc/passwd", "/etc/shadow"]
HOST_DIRS = ["/etc/modules-load.d", "/etc/modprobe.d", "/etc/udev/rules.d", "/etc/nova"]
HOST_NODES = ["/dev/kvm", "/dev/vhost-net", "/dev/net/tun"]

# A private /dev for the chroot: the nodes dpkg and a shell need, and a KVM node of its own whose
# owner and mode show whether anything in the chroot tried to set them.
PRIVATE_DEV = """set -e
dev=$1
mount -t tmpfs -o mode=0755,nosuid tmpfs "$dev"
mknod -m 666 "$dev/null" c 1 3
mknod -m 666 "$dev/zero" c 1 5
mknod -m 666 "$dev/full" c 1 7
mknod -m 666 "$dev/random" c 1 8
mknod -m 666 "$dev/urandom" c 1 9
mknod -m 666 "$dev/tty" c 5 0
mknod -m 600 "$dev/kvm" c 10 232
mkdir -m 755 "$dev/pts" "$dev/shm" "$dev/net"
ln -s /proc/self/fd "$dev/fd"
"""


# Inside the root: dpkg -i $1, then the private /dev/kvm's owner, group and mode in a file.
IN_ROOT = ("dpkg -i \"$1\"; rc=$?; stat -c \"%u %g %f\" /dev/kvm >/tmp/private-kvm; "
           "exit $rc")


def host_state():
    """What the build host must keep: loaded modules, its device nodes (ctime shows even a chown to
    the same owner), and every /etc file kvmprov writes."""
    state = {}
    try:
        state["/proc/modules"] = sorted(line.split()[0] for line in
                                        Path("/proc/modules").read_text().splitlines())
    except FileNotFoundError:
        state["/proc/modules"] = "absent"
    for node in HOST_NODES:
        try:
            st = os.lstat(node)
            state[node] = (st.st_uid, st.st_gid, oct(st.st_mode), st.st_ctime_ns)
        except FileNotFoundError:
            state[node] = "absent"
    paths = list(HOST_FILES)
    for d in HOST_DIRS:
        if os.path.isdir(d):
            paths += sorted(str(p) for p in Path(d).rglob("*"))
    for p in paths:
        try:
            st = os.lstat(p)
            digest = hashlib.sha256(Path(p).read_bytes()).hexdigest() if os.path.isfile(p) else ""
            state[p] = (st.st_uid, st.st_gid, oct(st.st_mode), st.st_mtime_ns, digest)
        except FileNotFoundError:
            state[p] = "absent"
    return state


def build_site_deb(work, profile):
    """The site package: the profile, the unit's drop-in, and contrib's postinst verbatim."""
    pkg = work / "site-deb"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN/control").write_text(
        f"Package: {SITE_PACKAGE}\nVersion: 1\nArchitecture: all\n"
        "Maintainer: kvmprov tests <root@localhost>\n"
        "Description: site profile for kvmprov's image-postinst scenario\n")
    postinst = pkg / "DEBIAN/postinst"
    shutil.copy2(harness.SOURCE_DIR / "contrib/site-package/postinst", postinst)
    postinst.chmod(0o755)
    (pkg / "etc/kvmprov").mkdir(parents=True)
    (pkg / SITE_PROFILE_PATH.lstrip("/")).write_text(profile)
    dropin = pkg / "etc/systemd/system/kvmprov.service.d"
    dropin.mkdir(parents=True)
    (dropin / "site.conf").write_text(SITE_DROPIN)
    deb = work / f"{SITE_PACKAGE}.deb"
    harness.run(["dpkg-deb", "--root-owner-group", "--build", str(pkg), str(deb)])
    return deb


def dpkg_env():
    # What dpkg gives a maintainer script in an image build: no tty, no stdin, the C locale.
    return {"LANG": "C", "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def install_in_chroot(root, deb_in_root):
    """dpkg -i in a chroot with /proc and /sys bind-mounted and a private /dev, in a mount
    namespace of its own so that nothing stays mounted."""
    script = PRIVATE_DEV + f"""mount --bind /proc "{root}/proc"
mount --bind /sys "{root}/sys"
exec chroot "{root}" /bin/sh -c '{IN_ROOT}' dpkg {deb_in_root}
"""
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                           "private-dev", str(root / "dev")], env=dpkg_env(),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)


def install_in_container(root, deb_in_root):
    """dpkg -i as PID 1 of a new PID namespace whose root is the image, with its own /proc and
    the marker systemd-nspawn leaves (/run/systemd/container)."""
    marker = root / "run/systemd/container"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(CONTAINER_MARKER + "\n")
    script = PRIVATE_DEV + f"""mount -t proc proc "{root}/proc"
exec chroot "{root}" /bin/sh -c '{IN_ROOT}' dpkg {deb_in_root}
"""
    try:
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "--pid",
                               "--fork", "sh", "-c", script, "private-dev", str(root / "dev")],
                              env=dpkg_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    finally:
        marker.unlink()


def package_status(root):
    r = subprocess.run(["dpkg-query", "--admindir", str(root / "var/lib/dpkg"), "-W",
                        "-f=${Status}", SITE_PACKAGE], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    return r.stdout.decode(errors="replace").strip()


def provision(env, root, host):
    """The package installed twice, in a chroot and in a container; what each did, and the build
    host's state before and after each."""
    harness.need_tool("dpkg-deb", "dpkg")
    harness.need_tool("unshare", "util-linux")
    if os.geteuid() != 0:
        raise harness.Skip("chroot and namespaces need root")
    work = Path(tempfile.mkdtemp(dir=env.cache, prefix=".site-deb."))
    try:
        deb = build_site_deb(work, harness.IMAGE_PROFILE)
        shutil.copy2(deb, root / "tmp/site.deb")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    before = host_state()
    for variant, install in (("chroot", install_in_chroot), ("container", install_in_container)):
        r = install(root, "/tmp/site.deb")
        host[f"{variant}.rc"] = r.returncode
        host[f"{variant}.out"] = r.stdout.decode(errors="replace")
        host[f"{variant}.err"] = r.stderr.decode(errors="replace")
        host[f"{variant}.status"] = package_status(root)
        after = host_state()
        host[f"{variant}.host_changes"] = {k: (before.get(k), after.get(k))
                                           for k in set(before) | set(after)
                                           if before.get(k) != after.get(k)}
        seen = root / "tmp/private-kvm"
        host[f"{variant}.private_kvm"] = seen.read_text().strip() if seen.is_file() else None
        for rel in ("etc/modules-load.d/kvmprov.conf", "etc/modprobe.d/kvmprov.conf",
                    "etc/udev/rules.d/65-kvmprov.rules", "etc/group"):
            f = root / rel
            host[f"{variant}.{rel}"] = f.read_text() if f.is_file() else None
    (root / "tmp/site.deb").unlink()


def check(v, host):
    h = harness
    for variant, said in (("chroot", "kvmprov: running in a chroot ("),
                          ("container", f"kvmprov: running in a container ({CONTAINER_MARKER}: ")):
        err = host[f"{variant}.err"]
        v.expect(host[f"{variant}.rc"] == 0, f"{variant}: dpkg -i of the site package exits 0",
                 f"{host[f'{variant}.rc']}; stderr: {err.strip()[-600:]!r}")
        v.expect(host[f"{variant}.status"] == "install ok installed",
                 f"{variant}: the package is configured", host[f"{variant}.status"])
        v.expect(said in err, f"{variant}: kvmprov says where it runs, in one line",
                 err.strip()[-600:])
        lines = [line for line in err.splitlines() if line.strip()]
        v.expect(all(line.startswith(("kvmprov:", "(Reading", "Selecting", "Preparing",
                                      "Unpacking", "Setting up", "dpkg:"))
                     or "kvmprov" not in line for line in lines),
                 f"{variant}: kvmprov's lines under dpkg start with \"kvmprov:\"", lines)
        v.expect(not host[f"{variant}.host_changes"],
                 f"{variant}: nothing on the build host changed (modules, device nodes, /etc)",
                 host[f"{variant}.host_changes"])
        # 0x2180: a character device, mode 0600.
        v.expect(host[f"{variant}.private_kvm"] == "0 0 2180",
                 f"{variant}: the private /dev/kvm was not touched either",
                 host[f"{variant}.private_kvm"])
    # The chroot wrote an image for any CPU: the vendor module comes from udev at boot.
    conf = host["chroot.etc/modules-load.d/kvmprov.conf"]
    v.expect(conf is not None and h.listed_modules(conf) == {"kvm", "vhost_net", "tun", "msr"},
             "chroot: the image lists kvm, vhost_net, tun, msr for boot (no vendor module)", conf)
    v.expect("options msr allow_writes=off" in (host["chroot.etc/modprobe.d/kvmprov.conf"] or ""),
             "chroot: the image's modprobe.d has the profile's option",
             host["chroot.etc/modprobe.d/kvmprov.conf"])
    v.expect('KERNEL=="kvm", GROUP="kvm", MODE="0660"' in
             (host["chroot.etc/udev/rules.d/65-kvmprov.rules"] or ""),
             "chroot: the image's udev rule gives /dev/kvm group kvm",
             host["chroot.etc/udev/rules.d/65-kvmprov.rules"])
    groups = host["chroot.etc/group"] or ""
    v.expect(any(line.startswith("kvm:") and "nobody" in line.split(":")[3].split(",")
                 for line in groups.splitlines()),
             "chroot: group kvm, with nobody in it, is in the image's /etc/group", groups)
    # The boot: kvmprov.service, pointed at the site's profile by the package's drop-in, does
    # what the chroot could not.
    h.expect_unit_runs(v, "the boot run finished the job and nothing failed")
    v.expect("--profile /etc/kvmprov/site.yaml" in v.blob("unit.exec"),
             "the unit applied the site's profile (the package's drop-in)", v.blob("unit.exec"))
    live = h.loaded_modules(v.blob("modules"))
    v.expect({"kvm", "kvm_amd", "vhost_net", "tun", "msr"} <= live,
             "kvm, kvm_amd, vhost_net, tun and msr are loaded", sorted(live))
    v.expect(v.result("msr.allow_writes") == "off", "msr loaded with allow_writes=off",
             v.result("msr.allow_writes"))
    v.expect(h.listed_modules(v.blob("modules_load_d")) == {"kvm", "kvm_amd", "vhost_net", "tun",
                                                            "msr"},
             "the unit listed this CPU's kvm_amd for the next boot", v.blob("modules_load_d"))
    gid = h.group_id(v, "kvm")
    v.expect(v.result("dev_kvm") == f"0 {gid} 660", "/dev/kvm is root:kvm 0660 after boot",
             v.result("dev_kvm"))


def register(run):
    """Adds the image-postinst scenario to RUN (tests/vm/run.py)."""
    global harness
    harness = run
    run.SCENARIOS["image-postinst"] = {
        "cpu": "qemu64", "needs": {"image"}, "script": None, "check": check,
        "provision": provision,
        "doc": "a site package's postinst runs kvmprov apply in a chroot and in a container "
               "without touching the build host; the image boots and kvmprov.service finishes"}
