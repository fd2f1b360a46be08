#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Real-kernel tests: boots a Debian kernel under qemu (TCG) with kvmprov inside and checks what
it did to that kernel.

Usage: tests/vm/run.py --kvmprov BUILD/kvmprov [--cache DIR] [--suite SUITE] SCENARIO...
       tests/vm/run.py --list

--suite trixie boots Debian 13's kernel (tests/fetch-kernel.sh --suite trixie) and makes the
image scenarios' image from trixie; logs go to the cache's logs/trixie/.

The arm64-* scenarios (tests/vm/arm64.py) boot Debian's arm64 kernel under qemu-system-aarch64
and need an arm64 kvmprov; the others boot amd64's and need an amd64 one.

Each scenario boots once. The guest runs a shell script (the scenario's body) and writes its
results to the second serial port as lines

    KVMPROV-RESULT name=value          one value
    KVMPROV-BLOB name BASE64           a file or a command's output, in chunks
    KVMPROV-BLOB-END name              ... complete
    KVMPROV-BLOB-MISSING name          the file does not exist
    KVMPROV-END                        the script ran to its end

and powers off. The image scenario provisions a debootstrapped Debian with kvmprov apply --root on
the host instead, installs kvmprov and its hardened kvmprov.service in it, boots it with systemd as
init, and a unit in the image reports the same way.
The host parses them strictly (an unknown line, a repeated name or a missing END
fails the scenario) and asserts on them.

Nothing is installed here. When qemu, busybox-static, cpio, depmod or the kernel tree from
tests/fetch-kernel.sh is missing, the scenario is reported as skipped with the reason and the
exit status is 77 (ctest's SKIP_RETURN_CODE); it is never reported as passed.

Shared pieces (vmlinux, trimmed module tree, the initramfs base, the image) are built once into the cache
(tests/.cache/vm/) under a lock, keyed by their inputs, so parallel ctest runs share them.
"""

import argparse
import base64
import fcntl
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import gzip
import io
import lzma
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_DIR = HERE.parent.parent
EXIT_SKIP = 77

# Modules the scenarios use, and the boot modules the image scenario needs; dependencies
# (irqbypass, ccp, vhost, vhost_iotlb, tap, virtio, jbd2, ...) come from modules.dep.
TEST_MODULES = ["kvm", "kvm_amd", "kvm_intel", "vhost_net", "tun", "msr"]
BOOT_MODULES = ["virtio_pci", "virtio_blk", "ext4", "crc32c_generic"]

BOOT_TIMEOUT = 150  # seconds, per initramfs boot (3-8 s on an idle 2-core machine)

# What differs between the machines qemu emulates. The results port is a second 16550 on the
# PC; arm64's virt machine (qemu 7.2) has one non-secure UART, the console, so results go to a
# 16550 on PCI, which the guest's built-in 8250_pci driver names ttyS0.
ARCHES = {
    "amd64": {"qemu": "qemu-system-x86_64", "qemu_package": "qemu-system-x86", "elf_machine": 62,
              "console": "ttyS0", "results_tty": "/dev/ttyS1"},
    "arm64": {"qemu": "qemu-system-aarch64", "qemu_package": "qemu-system-arm", "elf_machine": 183,
              "console": "ttyAMA0", "results_tty": "/dev/ttyS0"},
}


class Skip(Exception):
    """A prerequisite is missing: the scenario cannot run here."""


class HarnessError(Exception):
    """The harness itself could not prepare or run a boot: the scenario fails."""


def log(msg):
    print(f"vm: {msg}", file=sys.stderr, flush=True)


def sha256_file(path, h=None):
    h = h or hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h


def key_of(*parts):
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, Path):
            sha256_file(p, h)
        else:
            h.update(str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def run(cmd, **kw):
    kw.setdefault("check", True)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    try:
        return subprocess.run(cmd, **kw)
    except subprocess.CalledProcessError as e:
        err = (e.stderr or b"").decode(errors="replace").strip()
        raise HarnessError(f"\"{' '.join(map(str, cmd))}\" exited {e.returncode}: {err}") from e


class CacheLock:
    """flock on the cache directory: one process builds a shared piece, the others wait."""

    def __init__(self, cache):
        cache.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(cache / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def __enter__(self):
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)


def publish_dir(work, final):
    """Moves a finished WORK directory to FINAL (a cache entry appears whole or not at all)."""
    if final.exists():
        shutil.rmtree(final)
    os.rename(work, final)


# --- Prerequisites ----------------------------------------------------------------------------

def is_static_elf(path):
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            if struct.unpack("<I", f.read(4))[0] == 3:  # PT_INTERP
                return False
    return True


def need_tool(name, package):
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None)
    if not path:
        raise Skip(f"\"{name}\" not found: install the \"{package}\" package")
    return path


def find_busybox():
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.access(p, os.X_OK) and is_static_elf(p):
            return Path(p)
    raise Skip("no statically linked busybox: install the \"busybox-static\" package")


def kernel_arch(release):
    """The architecture of a Debian kernel release, by its flavour's suffix."""
    return "arm64" if release.endswith("-arm64") else "amd64"


def elf_machine(path):
    """e_machine of a 64-bit little-endian ELF file, or None for anything else."""
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
        return None
    return struct.unpack_from("<H", head, 18)[0]


def find_kernel(arch="amd64", suite=None):
    """(release, tree root with boot/ and lib/modules/<release>/) from tests/fetch-kernel.sh:
    KVMPROV_KERNEL_TREE's, else the newest in the cache; with SUITE, only a tree whose "suite"
    file (written by fetch-kernel.sh) names it."""
    given = os.environ.get("KVMPROV_KERNEL_TREE")
    candidates = []
    if given:
        modules = Path(given)
        candidates.append((modules.name, modules.parent.parent.parent))
    cache = Path(os.environ.get("KVMPROV_KERNEL_CACHE", SOURCE_DIR / "tests/.cache/kernel"))
    if (suite or not given) and cache.is_dir():
        # Newest first by version, numbers as numbers: 6.12.117 after 6.12.9.
        version = lambda d: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", d.name)]
        for d in sorted(cache.iterdir(), key=version, reverse=True):
            if d.is_dir() and not d.name.startswith("."):
                candidates.append((d.name, d))
    for release, root in candidates:
        marker = root / "suite"
        if (kernel_arch(release) == arch
                and (suite is None or (marker.is_file() and marker.read_text().strip() == suite))
                and (root / "lib/modules" / release / "modules.dep").is_file()
                and (root / "boot" / f"vmlinuz-{release}").is_file()):
            return release, root
    how = " ".join(["tests/fetch-kernel.sh", *(["--suite", suite] if suite else []),
                    *(["--arch", arch] if arch != "amd64" else [])])
    raise Skip(f"no Debian {suite + ' ' if suite else ''}{arch} kernel tree: run {how} (it "
               f"unpacks linux-image-{arch} into tests/.cache/kernel/)")


# --- Kernel -----------------------------------------------------------------------------------

def elf_has_pvh_note(path):
    """True when the ELF has XEN_ELFNOTE_PHYS32_ENTRY, which qemu -kernel boots through PVH."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type, _, p_offset = struct.unpack_from("<IIQ", data, phoff + i * phentsize)
        p_filesz, = struct.unpack_from("<Q", data, phoff + i * phentsize + 32)
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name = data[pos + 12:pos + 12 + namesz].rstrip(b"\0")
            pos += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
            if name == b"Xen" and ntype == 18:
                return True
    return False


def extract_vmlinux(vmlinuz):
    """The ELF inside a bzImage, found the way the kernel's scripts/extract-vmlinux does: try each
    compression magic and keep the first that decompresses to an ELF."""
    data = vmlinuz.read_bytes()
    decoders = [
        (b"\xfd7zXZ\x00", lambda b: lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(b)),
        (b"\x1f\x8b\x08", lambda b: gzip.GzipFile(fileobj=io.BytesIO(b)).read()),
        (b"\x5d\x00\x00", lambda b: lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(b)),
    ]
    for magic, decode in decoders:
        pos = data.find(magic)
        while pos >= 0:
            try:
                out = decode(data[pos:])
            except (lzma.LZMAError, OSError, EOFError):
                out = b""
            if out[:4] == b"\x7fELF":
                return out
            pos = data.find(magic, pos + 1)
    return None


def prepare_kernel(cache, release, tree):
    """The kernel qemu boots: the extracted vmlinux when it has a PVH entry (boots in about half
    the time under TCG), else the bzImage."""
    vmlinuz = tree / "boot" / f"vmlinuz-{release}"
    if os.environ.get("KVMPROV_VM_BZIMAGE"):
        return vmlinuz
    entry = cache / f"kernel-{release}"
    marker = entry / "kind"
    if not marker.is_file():
        work = Path(tempfile.mkdtemp(dir=cache, prefix=".kernel."))
        elf = extract_vmlinux(vmlinuz)
        kind = "bzimage"
        if elf:
            (work / "vmlinux").write_bytes(elf)
            if elf_has_pvh_note(work / "vmlinux"):
                kind = "pvh"
            else:
                (work / "vmlinux").unlink()
        (work / "kind").write_text(kind + "\n")
        publish_dir(work, entry)
    if marker.read_text().strip() == "pvh":
        return entry / "vmlinux"
    return vmlinuz


# --- Module tree ------------------------------------------------------------------------------

def norm(name):
    return name.replace("-", "_")


def prepare_modules(cache, release, tree, depmod, names=TEST_MODULES + BOOT_MODULES):
    """A module tree with only NAMES and their dependencies, indexed by depmod -b: the initramfs
    stays small and libkmod sees a real Debian tree."""
    src = tree / "lib/modules" / release
    key = key_of(release, src / "modules.dep", *names)
    entry = cache / f"modules-{release}-{key}"
    if (entry / "lib/modules" / release / "modules.dep.bin").is_file():
        return entry
    deps = {}
    # Built in (Debian 13 builds virtio_pci in): nothing to copy.
    builtin = src / "modules.builtin"
    if builtin.is_file():
        for line in builtin.read_text().splitlines():
            deps[norm(Path(line).name.split(".ko")[0])] = (None, [])
    for line in (src / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[norm(Path(path).name.split(".ko")[0])] = (path, rest.split())
    wanted, missing = set(), []
    for name in names:
        if name not in deps:
            missing.append(name)
            continue
        path, dep_paths = deps[name]
        if path:
            wanted.add(path)
        wanted.update(dep_paths)
    if missing:
        raise HarnessError(f"kernel {release} has no module {', '.join(missing)} in {src}")
    work = Path(tempfile.mkdtemp(dir=cache, prefix=".modules."))
    dst = work / "lib/modules" / release
    for rel in sorted(wanted):
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, dst / rel)
    for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if (src / f).is_file():
            shutil.copy2(src / f, dst / f)
    run([depmod, "-b", str(work), release])
    publish_dir(work, entry)
    return entry


# --- Initramfs --------------------------------------------------------------------------------

def dlopen_paths(sonames):
    """Where the dynamic loader finds SONAMES (libraries a program opens with dlopen, which ldd
    does not list), as ldconfig's cache says."""
    out = run(["ldconfig", "-p"]).stdout.decode()
    paths = []
    for soname in sonames:
        m = re.search(rf"^\s*{re.escape(soname)} \([^)]*x86-64[^)]*\) => (/\S+)$", out, re.M)
        if not m:
            raise HarnessError(f"\"{soname}\" is not in ldconfig's cache")
        paths.append(Path(m.group(1)))
    return paths


def ldd_paths(binary):
    """Shared libraries (and the dynamic loader) BINARY needs, as ldd resolves them."""
    out = run(["ldd", str(binary)]).stdout.decode()
    paths = []
    for line in out.splitlines():
        m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
        if m:
            paths.append(Path(m.group(1)))
        elif "not found" in line:
            raise HarnessError(f"\"{binary}\": {line.strip()}")
    return paths


class Tree:
    """A directory that becomes a cpio archive. Files keep the path the host gives them, with the
    host's merged-/usr symlinks (/bin -> usr/bin, ...) mirrored so every path resolves alike."""

    def __init__(self, root):
        self.root = root
        for top in ("bin", "sbin", "lib", "lib64"):
            host = Path("/") / top
            if host.is_symlink():
                (root / os.readlink(host)).mkdir(parents=True, exist_ok=True)
                os.symlink(os.readlink(host), root / top)
        for d in ("proc", "sys", "dev", "run", "tmp", "etc", "root", "var/tmp", "usr/bin",
                  "usr/sbin", "usr/share/kvmprov/profiles"):
            (root / d).mkdir(parents=True, exist_ok=True)

    def dest(self, path):
        path = Path(path)
        parent = self.root / str(path.parent).lstrip("/")
        parent.mkdir(parents=True, exist_ok=True)
        return parent / path.name

    def copy(self, src, dest_path=None, strip=False):
        dst = self.dest(dest_path or src)
        if dst.exists():
            return
        if strip and shutil.which("strip"):
            run(["strip", "--strip-debug", "-o", str(dst), str(Path(src).resolve())])
            os.chmod(dst, 0o755)
        else:
            shutil.copy2(Path(src).resolve(), dst)

    def copy_with_libs(self, binary, dest_path=None, strip=False):
        self.copy(binary, dest_path, strip)
        for lib in ldd_paths(binary):
            self.copy(lib)

    def write(self, path, text, mode=0o644):
        dst = self.dest(path)
        dst.write_text(text)
        os.chmod(dst, mode)

    def cpio(self, out):
        files = sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*"))
        with open(out, "wb") as f:
            run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=self.root,
                input="\n".join(files).encode() + b"\n", stdout=f)


PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
GROUP = "root:x:0:\n"
GSHADOW = "root:*::\n"


def cached_cpio(cache, prefix, key, fill):
    """The cpio archive PREFIX-KEY.cpio in CACHE, made from a Tree that FILL fills when it is not
    there yet; PREFIX's archives of other keys are removed. It appears whole or not at all."""
    entry = cache / f"{prefix}-{key}.cpio"
    if entry.is_file():
        return entry
    for old in cache.glob(f"{prefix}-*.cpio"):
        old.unlink()
    work = Path(tempfile.mkdtemp(dir=cache, prefix=f".{prefix}."))
    try:
        t = Tree(work / "root")
        fill(t)
        t.cpio(work / "base.cpio")
        os.rename(work / "base.cpio", entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return entry


def prepare_base(cache, kvmprov, busybox, modules, release, hold):
    """The part of every initramfs that does not depend on the scenario: busybox, kvmprov and its
    libraries, udevd with Debian's rules, the trimmed module tree, the shipped profiles."""
    udevadm = Path("/bin/udevadm")
    udevd = Path("/lib/systemd/systemd-udevd")
    rules = Path("/lib/udev/rules.d")
    profiles = sorted((SOURCE_DIR / "profiles").glob("*.yaml"))
    groupadd = Path("/usr/sbin/groupadd")
    have_udev = udevadm.exists() and udevd.exists() and rules.is_dir()
    inputs = [kvmprov, busybox, modules / "lib/modules" / release / "modules.dep", *profiles,
              Path(__file__)]
    if have_udev:
        inputs.append(udevadm)
    if hold:
        inputs.append(hold)
    if groupadd.exists():
        inputs.append(groupadd)

    def fill(t):
        t.copy(busybox, "/usr/bin/busybox")
        applets = run([str(busybox), "--list"]).stdout.decode().split()
        for applet in applets:
            link = t.dest(f"/usr/bin/{applet}")
            if not link.exists() and not link.is_symlink():
                os.symlink("busybox", link)
        t.copy_with_libs(kvmprov, "/usr/bin/kvmprov", strip=True)
        # kvmprov opens these on first use.
        for lib in dlopen_paths(["libkmod.so.2", "libudev.so.1"]):
            t.copy_with_libs(lib)
        if hold:
            t.copy(hold, "/usr/bin/kvm-hold")
        if have_udev:
            t.copy_with_libs(udevadm)
            t.copy(udevadm, udevd)
            for r in sorted(rules.glob("*.rules")):
                # No module autoloading by modalias: the tests show what kvmprov loads.
                if r.name != "80-drivers.rules":
                    t.copy(r)
        # groupadd, as on every Debian host (package passwd): kvmprov creates groups with it.
        if groupadd.exists():
            t.copy_with_libs(groupadd)
            if Path("/etc/login.defs").is_file():
                t.copy("/etc/login.defs")
        for p in profiles:
            t.copy(p, f"/usr/share/kvmprov/profiles/{p.name}")
        shutil.copytree(modules / "lib/modules", t.dest("/lib/modules"), symlinks=True,
                        dirs_exist_ok=True)
        t.write("/etc/passwd", PASSWD)
        t.write("/etc/group", GROUP)
        t.write("/etc/gshadow", GSHADOW, 0o640)
        t.write("/etc/modules", "# /etc/modules: kernel modules to load at boot time.\n")

    return cached_cpio(cache, f"base-{release}", key_of(*inputs), fill)


def prepare_hold(cache):
    """The static KVM_CREATE_VM holder, or None when no static C toolchain is installed."""
    src = HERE / "kvm-hold.c"
    out = cache / f"kvm-hold-{key_of(src)}"
    if out.is_file():
        return out
    gcc = shutil.which("gcc")
    if not gcc:
        return None
    tmp = cache / ".kvm-hold.tmp"
    r = subprocess.run([gcc, "-static", "-O2", "-o", str(tmp), str(src)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        log(f"building kvm-hold failed: {r.stderr.decode(errors='replace').strip()}")
        return None
    os.rename(tmp, out)
    return out


# The guest's side of the report protocol parse_output reads (fd 3 is the second serial port):
# shared by every scenario's /init and the image's report unit.
GUEST_REPORT_FUNCS = r"""result() { echo "KVMPROV-RESULT $1=$2" >&3; }
blob() {
  if [ -e "$2" ]; then
    base64 <"$2" | sed "s/^/KVMPROV-BLOB $1 /" >&3
    echo "KVMPROV-BLOB-END $1" >&3
  else
    echo "KVMPROV-BLOB-MISSING $1" >&3
  fi
}
# devstat NAME PATH: "uid gid mode" of a device node, or "absent"
devstat() {
  if [ -e "$2" ]; then result "$1" "$(stat -c '%u %g %a' "$2")"; else result "$1" absent; fi
}
"""

# The start of every scenario's /init. Results go to the second serial port (ttyS1) so kernel and
# program messages on the console cannot split them; closing it at the end waits until every byte
# has left the UART.
INIT_HEAD = r"""#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/lock
dmesg -n 1
exec 3>/dev/ttyS1
exec </dev/null >/dev/console 2>&1
""" + GUEST_REPORT_FUNCS + r"""# run NAME COMMAND...: its exit status, stdout and stderr as NAME.rc, NAME.out, NAME.err
run() {
  name=$1; shift
  "$@" >/tmp/"$name".out 2>/tmp/"$name".err </dev/null
  result "$name".rc $?
  blob "$name".out /tmp/"$name".out
  blob "$name".err /tmp/"$name".err
}
start_udevd() {
  /lib/systemd/systemd-udevd --daemon
  result udevd.started $?
  udevadm trigger --action=add
  udevadm settle --timeout=60
  result udevd.settled $?
}
echo KVMPROV-BEGIN >&3
"""

INIT_TAIL = r"""
dmesg >/tmp/dmesg
blob dmesg /tmp/dmesg
echo KVMPROV-END >&3
exec 3>&-
poweroff -f
"""


# --- Booting and parsing ----------------------------------------------------------------------

class GuestOutput:
    def __init__(self):
        self.results = {}
        self.blobs = {}
        self.missing = set()
        self.ended = False


def parse_output(text):
    """Strict: every line is a protocol line, names are unique, blobs are complete, END is last."""
    out = GuestOutput()
    errors = []
    chunks = {}
    begun = False
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line:
            continue
        if out.ended:
            errors.append(f"line {n}: output after KVMPROV-END: {line!r}")
            continue
        if line == "KVMPROV-BEGIN":
            if begun:
                errors.append(f"line {n}: second KVMPROV-BEGIN (the guest started twice?)")
            begun = True
            continue
        if not begun:
            errors.append(f"line {n}: output before KVMPROV-BEGIN: {line!r}")
            continue
        m = re.fullmatch(r"KVMPROV-RESULT ([A-Za-z0-9_.-]+)=(.*)", line)
        if m:
            if m.group(1) in out.results:
                errors.append(f"line {n}: result \"{m.group(1)}\" repeated")
            out.results[m.group(1)] = m.group(2)
            continue
        m = re.fullmatch(r"KVMPROV-BLOB ([A-Za-z0-9_.-]+) ([A-Za-z0-9+/=]+)", line)
        if m:
            if m.group(1) in out.blobs:
                errors.append(f"line {n}: blob \"{m.group(1)}\" continued after its end")
            chunks.setdefault(m.group(1), []).append(m.group(2))
            continue
        m = re.fullmatch(r"KVMPROV-BLOB-(END|MISSING) ([A-Za-z0-9_.-]+)", line)
        if m:
            name = m.group(2)
            if name in out.blobs or name in out.missing:
                errors.append(f"line {n}: blob \"{name}\" repeated")
            elif m.group(1) == "MISSING":
                out.missing.add(name)
            else:
                try:
                    out.blobs[name] = base64.b64decode("".join(chunks.pop(name, [])),
                                                       validate=True).decode(errors="replace")
                except ValueError as e:
                    errors.append(f"line {n}: blob \"{name}\" is not base64: {e}")
            continue
        if line == "KVMPROV-END":
            out.ended = True
            continue
        errors.append(f"line {n}: not a result line: {line!r}")
    for name in chunks:
        errors.append(f"blob \"{name}\" has no KVMPROV-BLOB-END")
    if not begun:
        errors.append("no KVMPROV-BEGIN: the scenario script never started")
    elif not out.ended:
        errors.append("no KVMPROV-END: the scenario script did not finish")
    return out, errors


def results_port(arch, results):
    """qemu options for the port the guest writes its results to (ARCHES' results_tty)."""
    if arch == "amd64":
        return ["-serial", f"file:{results}"]
    return ["-chardev", f"file,id=results,path={results}", "-device",
            "pci-serial,chardev=results"]


def boot(kernel, initrd, cpu, logdir, name, timeout=BOOT_TIMEOUT, extra=(), append="",
         arch="amd64"):
    """Boots and returns (results text, console text, seconds). Waiting for qemu with a timeout
    is the only wait: the guest powers itself off when its script ends."""
    logdir.mkdir(parents=True, exist_ok=True)
    console = logdir / f"{name}.console"
    results = logdir / f"{name}.results"
    for f in (console, results):
        if f.exists():
            f.unlink()
    a = ARCHES[arch]
    cmd = [a["qemu"], "-accel", "tcg", "-cpu", cpu, "-m", "1024", "-smp", "1",
           "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
           "-serial", f"file:{console}", *results_port(arch, results),
           "-kernel", str(kernel), "-initrd", str(initrd),
           "-append", f"console={a['console']} panic=-1 quiet {append}".strip(), *extra]
    start = time.monotonic()
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        qemu_out = r.stdout.decode(errors="replace").strip()
        status = r.returncode
    except subprocess.TimeoutExpired:
        qemu_out, status = f"no power-off within {timeout} s: killed", None
    seconds = time.monotonic() - start
    if status != 0:
        raise HarnessError(f"qemu {'exited ' + str(status) if status is not None else ''}"
                           f"{': ' + qemu_out if qemu_out else ''} (console: {console})")
    read = lambda p: p.read_text(errors="replace") if p.exists() else ""
    return read(results), read(console), seconds


# --- Assertions -------------------------------------------------------------------------------

class Verdict:
    """Collects the scenario's checks; every one is printed, failures make the scenario fail."""

    def __init__(self, out):
        self.out = out
        self.failures = []

    def expect(self, ok, what, got=None):
        print(f"  {'ok  ' if ok else 'FAIL'} {what}" + ("" if ok or got is None else
                                                          f" (got: {got})"))
        if not ok:
            self.failures.append(what)
        return ok

    def note(self, text):
        print(f"  note {text}")

    def result(self, name):
        if name not in self.out.results:
            self.expect(False, f"result \"{name}\" present")
            return None
        return self.out.results[name]

    def blob(self, name):
        if name not in self.out.blobs:
            self.expect(False, f"output \"{name}\" present")
            return ""
        return self.out.blobs[name]

    def rc(self, name):
        v = self.result(f"{name}.rc")
        return int(v) if v is not None and v.lstrip("-").isdigit() else None

    def json(self, name):
        text = self.blob(f"{name}.out")
        try:
            return json.loads(text)
        except ValueError as e:
            self.expect(False, f"\"{name}\" printed JSON", f"{e}: {text[:200]!r}")
            return {}

    def expect_rc(self, name, want):
        got = self.rc(name)
        ok = got in want if isinstance(want, (tuple, list, set)) else got == want
        self.expect(ok, f"\"{name}\" exits {want}",
                    f"{got}; stderr: {self.out.blobs.get(name + '.err', '').strip()[:300]!r}")


def actions(report):
    return {a.get("id"): a for a in report.get("actions", [])}


def loaded_modules(text):
    return {line.split()[0] for line in text.splitlines() if line.strip()}


def listed_modules(text):
    """Module names a modules-load.d file or /etc/modules lists (comments and options dropped)."""
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(norm(line.split()[0]))
    return names


def group_id(v, name):
    for line in v.out.blobs.get("group", "").splitlines():
        f = line.split(":")
        if len(f) >= 3 and f[0] == name:
            return f[2]
    return None


def expect_apply_summary(v, name, **want):
    summary = v.json(name).get("summary", {})
    for k, n in want.items():
        v.expect(summary.get(k) == n, f"\"{name}\" summary {k} = {n}", summary.get(k))


# --- Scenarios --------------------------------------------------------------------------------
# Each: the qemu CPU model, what it needs besides the common prerequisites, the guest script body,
# and the host-side assertions.

SCENARIOS = {}


def scenario(name, cpu, needs=(), doc=""):
    def register(fn):
        SCENARIOS[name] = {"cpu": cpu, "needs": set(needs), "script": fn.__doc__, "check": fn,
                           "doc": doc}
        return fn
    return register


@scenario("amd", "qemu64", needs={"udev"},
          doc="AMD host with udevd: apply loads and persists kvm, kvm_amd, vhost_net; check "
              "passes; a second apply changes nothing")
def check_amd(v):
    r"""
start_udevd
cat /proc/modules >/tmp/modules.before; blob modules.before /tmp/modules.before
run plan kvmprov plan
run apply1 kvmprov apply --json
udevadm settle --timeout=60
cat /proc/modules >/tmp/modules.after; blob modules.after /tmp/modules.after
blob etc_modules /etc/modules
blob modules_load /etc/modules-load.d/kvmprov.conf
blob group /etc/group
devstat dev_kvm /dev/kvm
cat $(grep -l kvmprov /etc/udev/rules.d/* 2>/dev/null) </dev/null >/tmp/rules 2>&1
blob udev_rules /tmp/rules
run check kvmprov check --json
run apply2 kvmprov apply --json
# Reset the node and let udevd alone put it right: proves its loaded rules carry the group.
chown 0:0 /dev/kvm; chmod 0600 /dev/kvm
udevadm trigger --action=change --sysname-match=kvm
udevadm settle --timeout=60
devstat dev_kvm.udev /dev/kvm
"""
    v.expect(v.result("udevd.started") == "0" and v.result("udevd.settled") == "0",
             "udevd started and settled")
    v.expect(not loaded_modules(v.blob("modules.before")) & {"kvm", "kvm_amd", "vhost_net"},
             "no KVM module loaded before apply", v.blob("modules.before").strip())
    v.expect_rc("apply1", 0)
    acts = actions(v.json("apply1"))
    for m in ("kvm", "kvm_amd", "vhost_net"):
        a = acts.get(f"module:{m}", {})
        v.expect(a.get("status") == "changed", f"apply loads {m}", a)
    skipped = acts.get("module:kvm_intel", {})
    v.expect(skipped.get("status") == "skipped" and "this CPU is amd" in skipped.get("detail", ""),
             "apply skips kvm_intel on AMD and says why", skipped)
    live = loaded_modules(v.blob("modules.after"))
    v.expect({"kvm", "kvm_amd", "vhost_net"} <= live, "/proc/modules has kvm, kvm_amd, vhost_net",
             sorted(live))
    persisted = v.out.blobs.get("modules_load") or v.out.blobs.get("etc_modules", "")
    v.expect({"kvm", "kvm_amd", "vhost_net"} <= listed_modules(persisted),
             "persisted for the next boot: kvm, kvm_amd, vhost_net", persisted)
    v.expect("kvm_intel" not in listed_modules(persisted), "kvm_intel not persisted on AMD",
             persisted)
    v.expect_rc("check", 0)
    verdict = v.json("check").get("verdict", {})
    v.expect(verdict.get("usable") is True and verdict.get("virt_type") == "kvm",
             "check: usable, virt_type kvm", verdict)
    probe = next((c for c in v.json("check").get("checks", []) if c.get("id") == "probe"), {})
    v.expect(probe.get("state") == "PASS", "check: KVM_CREATE_VM probe passes", probe)
    v.expect_rc("apply2", 0)
    expect_apply_summary(v, "apply2", changed=0, failed=0)
    gid = group_id(v, "kvm")
    v.expect(gid is not None, "group kvm exists", v.blob("group"))
    v.expect(v.result("dev_kvm") == f"0 {gid} 660", "/dev/kvm is root:kvm 0660",
             v.result("dev_kvm"))
    rules = v.blob("udev_rules")
    v.expect(re.search(r'KERNEL=="kvm".*GROUP="kvm".*MODE="0660"', rules) is not None,
             "a kvmprov udev rule gives /dev/kvm group kvm, mode 0660", rules)
    v.expect(v.result("dev_kvm.udev") == f"0 {gid} 660",
             "udevd alone sets root:kvm 0660 again after a change event",
             v.result("dev_kvm.udev"))


@scenario("intel-novmx", "Skylake-Client,+vmx",
          doc="Intel CPU whose VMX TCG cannot emulate: kvm_intel fails with a cause, the rest "
              "converges; check says qemu")
def check_intel_novmx(v):
    r"""
run apply1 kvmprov apply --json
run apply2 kvmprov apply --json --detailed-exitcodes
cat /proc/modules >/tmp/modules.after; blob modules.after /tmp/modules.after
blob etc_modules /etc/modules
blob modules_load /etc/modules-load.d/kvmprov.conf
run check kvmprov check --json
"""
    v.expect_rc("apply1", 1)
    acts = actions(v.json("apply1"))
    intel = acts.get("module:kvm_intel", {})
    v.expect(intel.get("status") == "failed", "apply: kvm_intel failed", intel)
    v.expect("no hardware support" in intel.get("detail", ""),
             "apply: kvm_intel's cause says \"no hardware support\"", intel.get("detail"))
    for m in ("kvm", "vhost_net"):
        a = acts.get(f"module:{m}", {})
        v.expect(a.get("status") == "changed", f"apply still loads {m}", a)
    live = loaded_modules(v.blob("modules.after"))
    v.expect({"kvm", "vhost_net"} <= live and "kvm_intel" not in live,
             "/proc/modules has kvm and vhost_net, not kvm_intel", sorted(live))
    persisted = v.out.blobs.get("modules_load") or v.out.blobs.get("etc_modules", "")
    listed = listed_modules(persisted)
    v.expect({"kvm", "vhost_net"} <= listed and "kvm_intel" not in listed,
             "persisted: kvm and vhost_net, not the failing kvm_intel", persisted)
    v.expect_rc("apply2", 4)
    expect_apply_summary(v, "apply2", changed=0, failed=1)
    v.expect_rc("check", 1)
    verdict = v.json("check").get("verdict", {})
    v.expect(verdict.get("usable") is False and verdict.get("virt_type") == "qemu",
             "check: not usable, virt_type qemu", verdict)


# qemu sets the CPUID hypervisor bit on every model, with TCG's signature: a guest of an emulator
# without VT has no hardware support (a guest of a hardware hypervisor would be nested-without-vt,
# which check_test.cc covers).
@scenario("novt", "qemu64,-svm",
          doc="CPU without VT: check says no-hardware-support, qemu")
def check_novt(v):
    r"""
run check kvmprov check --json
# A broken install without libkmod: plan names the missing library, not the module tree.
mv "$(ls /lib/*/libkmod.so.2 /usr/lib/*/libkmod.so.2 2>/dev/null | head -n 1)" /tmp/libkmod.hidden
run plan_nolibkmod kvmprov plan --json
"""
    expect_no_vt(v, "no-hardware-support")
    load = actions(v.json("plan_nolibkmod")).get("module:kvm", {})
    detail = load.get("detail", "")
    v.expect(load.get("status") == "failed" and
             detail.startswith('cannot load "kvm": library "libkmod.so.2" cannot be loaded: ') and
             detail.endswith("(install libkmod2 or kmod-libs)"),
             "without libkmod, plan fails the load naming the library", load)


def expect_no_vt(v, reason):
    v.expect_rc("check", 1)
    verdict = v.json("check").get("verdict", {})
    v.expect(verdict.get("usable") is False, "check: not usable", verdict)
    v.expect(verdict.get("reason") == reason, f"check: reason {reason}", verdict.get("reason"))
    v.expect(verdict.get("virt_type") == "qemu", "check: virt_type qemu", verdict.get("virt_type"))


@scenario("drift", "qemu64", needs={"hold", "nested-profile"},
          doc="kvm_amd loaded with nested=0, nested profile: pending without --allow-reload, "
              "reloaded with it, refused while a VM holds the module")
def check_drift(v):
    r"""
nested=/sys/module/kvm_amd/parameters/nested
profile=/usr/share/kvmprov/profiles/nested.yaml
modprobe kvm_amd nested=0
result nested.initial "$(cat $nested)"
run apply1 kvmprov apply --profile $profile --json
result nested.after_apply1 "$(cat $nested)"
run apply2 kvmprov apply --profile $profile --allow-reload --json
result nested.after_apply2 "$(cat $nested)"
rmmod kvm_amd
# Debian 13 compresses its modules (kvm-amd.ko.xz); busybox insmod reads either.
insmod "$(find /lib/modules -name 'kvm-amd.ko*')" nested=0
result nested.before_hold "$(cat $nested)"
run hold kvm-hold
result refcnt.held "$(cat /sys/module/kvm_amd/refcnt)"
run apply3 kvmprov apply --profile $profile --allow-reload --json
result nested.after_apply3 "$(cat $nested)"
result kvm_amd.live "$(grep -c '^kvm_amd ' /proc/modules)"
"""
    off, on = ("0", "N"), ("1", "Y")
    v.expect(v.result("nested.initial") in off, "kvm_amd loaded with nested=0",
             v.result("nested.initial"))
    v.expect_rc("apply1", 0)
    reload = actions(v.json("apply1")).get("reload:kvm_amd", {})
    v.expect(reload.get("status") == "pending", "without --allow-reload: reload pending", reload)
    v.expect("--allow-reload" in reload.get("detail", ""), "the pending reason names "
             "--allow-reload", reload.get("detail"))
    v.expect(v.result("nested.after_apply1") in off, "nested still 0",
             v.result("nested.after_apply1"))
    v.expect_rc("apply2", 0)
    reload = actions(v.json("apply2")).get("reload:kvm_amd", {})
    v.expect(reload.get("status") == "changed", "with --allow-reload: reloaded", reload)
    v.expect(v.result("nested.after_apply2") in on, "/sys/module/kvm_amd/parameters/nested is 1",
             v.result("nested.after_apply2"))
    v.expect(v.result("nested.before_hold") in off, "kvm_amd loaded again with nested=0",
             v.result("nested.before_hold"))
    v.expect_rc("hold", 0)
    held = v.result("refcnt.held")
    v.expect(held is not None and held.isdigit() and int(held) > 0,
             "a VM holds kvm_amd (refcount > 0)", held)
    v.expect_rc("apply3", 0)
    reload = actions(v.json("apply3")).get("reload:kvm_amd", {})
    v.expect(reload.get("status") == "pending" and "in use" in reload.get("detail", ""),
             "in use: reload refused as pending", reload)
    v.expect(v.result("nested.after_apply3") in off and v.result("kvm_amd.live") == "1",
             "kvm_amd still loaded, nested still 0",
             (v.result("nested.after_apply3"), v.result("kvm_amd.live")))


@scenario("noudev", "qemu64",
          doc="no udevd: apply sets /dev/kvm's group and mode itself")
def check_noudev(v):
    r"""
run plan kvmprov plan
run apply1 kvmprov apply --json
blob group /etc/group
devstat dev_kvm /dev/kvm
run check kvmprov check --json
"""
    v.expect_rc("apply1", 0)
    gid = group_id(v, "kvm")
    v.expect(gid is not None, "group kvm exists", v.blob("group"))
    v.expect(v.result("dev_kvm") == f"0 {gid} 660", "/dev/kvm is root:kvm 0660 without udevd",
             v.result("dev_kvm"))
    v.expect_rc("check", 0)


# --- The image scenario: persistence across a real systemd boot -------------------------------

IMAGE_SUITE = "bookworm"
IMAGE_PACKAGES = ["systemd", "systemd-sysv", "udev", "kmod"]
IMAGE_TIMEOUT = 300  # seconds: a full systemd boot under TCG takes 20-45 on an idle machine


def prepare_rootfs(cache, suite=IMAGE_SUITE):
    """A debootstrap --variant=minbase Debian SUITE with systemd, udev and kmod, built once and
    kept, keyed by suite and package set."""
    debootstrap = need_tool("debootstrap", "debootstrap")
    key = key_of(suite, "minbase", *IMAGE_PACKAGES)
    entry = cache / f"rootfs-{suite}-{key}"
    if (entry / "complete").is_file():
        return entry / "root"
    if os.geteuid() != 0:
        raise Skip("building the Debian image needs root (debootstrap)")
    mirror = os.environ.get("KVMPROV_VM_MIRROR", "http://deb.debian.org/debian")
    work = Path(tempfile.mkdtemp(dir=cache, prefix=".rootfs."))
    logfile = cache / "logs" / f"debootstrap-{suite}.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    log(f"building the {suite} image with debootstrap (once; log: {logfile})")
    with open(logfile, "wb") as f:
        r = subprocess.run([debootstrap, "--variant=minbase",
                            "--include=" + ",".join(IMAGE_PACKAGES), suite,
                            str(work / "root"), mirror], stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        shutil.rmtree(work, ignore_errors=True)
        raise Skip(f"debootstrap of {suite} from {mirror} failed (network?): see {logfile}")
    for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for f in (work / "root" / junk).glob("*"):
            if f.is_file():
                f.unlink()
    (work / "complete").write_text(" ".join(IMAGE_PACKAGES) + "\n")
    publish_dir(work, entry)
    return entry / "root"


def prepare_boot_initrd(cache, busybox, modules, release):
    """The image's initramfs: loads virtio and ext4 from the trimmed tree (those the kernel does
    not build in), mounts /dev/vda and hands over to its systemd."""
    key = key_of(busybox, modules / "lib/modules" / release / "modules.dep", BOOT_INIT)
    entry = cache / f"bootinit-{key}.cpio"
    if entry.is_file():
        return entry
    work = Path(tempfile.mkdtemp(dir=cache, prefix=".bootinit."))
    try:
        t = Tree(work / "root")
        t.copy(busybox, "/usr/bin/busybox")
        for applet in run([str(busybox), "--list"]).stdout.decode().split():
            link = t.dest(f"/usr/bin/{applet}")
            if not link.exists() and not link.is_symlink():
                os.symlink("busybox", link)
        shutil.copytree(modules / "lib/modules", t.dest("/lib/modules"), symlinks=True,
                        dirs_exist_ok=True)
        t.write("/init", BOOT_INIT, 0o755)
        (work / "root/newroot").mkdir()
        t.cpio(work / "boot.cpio")
        os.rename(work / "boot.cpio", entry)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return entry


BOOT_INIT = r"""#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in virtio_pci virtio_blk crc32c_generic ext4; do
  modprobe $m || echo "boot: cannot load $m"
done
# virtio_blk creates the node while it probes, before modprobe returns.
if mount -t ext4 -o rw /dev/vda /newroot; then
  # A scenario's archive appended to this one may add /boot-hook: it runs on the mounted root.
  if [ -x /boot-hook ] && ! /boot-hook /newroot; then
    echo "boot: /boot-hook failed"
    poweroff -f
  fi
  umount /proc /sys /dev
  exec switch_root /newroot /sbin/init
fi
echo "boot: cannot mount /dev/vda"
poweroff -f
"""

# Runs in the provisioned image at the end of its boot, after kvmprov.service.
IMAGE_UNIT = """[Unit]
Description=Report for the kvmprov real-kernel test
After=systemd-modules-load.service systemd-udev-trigger.service kvmprov.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/kvmprov-vmtest

[Install]
WantedBy=multi-user.target
"""

IMAGE_REPORT = r"""#!/bin/sh
exec 3>/dev/ttyS1
exec </dev/null >/dev/console 2>&1
""" + GUEST_REPORT_FUNCS + r"""tmp=$(mktemp -d)
echo KVMPROV-BEGIN >&3
udevadm settle --timeout=60
result udev.settled $?
result modules_load.state "$(systemctl is-failed systemd-modules-load.service)"
result modules_load.result "$(systemctl show -P Result systemd-modules-load.service)"
result failed_units "$(systemctl list-units --failed --plain --no-legend | cut -d' ' -f1 | tr '\n' ' ')"
journalctl -b -o cat -u systemd-modules-load.service >$tmp/journal
blob modules_load.journal $tmp/journal
cat /proc/modules >$tmp/modules; blob modules $tmp/modules
result kvm_amd.nested "$(cat /sys/module/kvm_amd/parameters/nested 2>/dev/null || echo absent)"
blob group /etc/group
devstat dev_kvm /dev/kvm
# kvmprov.service, as the package installs it, ran apply at boot under its sandbox.
result unit.active "$(systemctl show -P ActiveState kvmprov.service)"
result unit.result "$(systemctl show -P Result kvmprov.service)"
result unit.status "$(systemctl show -P ExecMainStatus kvmprov.service)"
systemctl show -P ExecStart kvmprov.service >$tmp/exec; blob unit.exec $tmp/exec
devstat dev_tun /dev/net/tun
result msr.allow_writes "$(cat /sys/module/msr/parameters/allow_writes 2>&1)"
result group.mode "$(stat -c %a /etc/group)"
result gshadow.mode "$(stat -c %a /etc/gshadow)"
blob modprobe_d /etc/modprobe.d/kvmprov.conf
blob modules_load_d /etc/modules-load.d/kvmprov.conf
blob rules /etc/udev/rules.d/65-kvmprov.rules
systemd-analyze security --no-pager kvmprov.service >$tmp/security 2>&1
blob unit.security $tmp/security
# A second run under the unit changes nothing.
systemctl restart kvmprov.service
result unit.restart $?
journalctl -b -o cat -u kvmprov.service >$tmp/unit-journal
blob unit.journal $tmp/unit-journal
echo KVMPROV-END >&3
exec 3>&-
systemctl poweroff --force --force
"""

# The profile kvmprov.service applies at boot: the default profile's modules, nodes and group (the
# host already applied those into the image), and work that needs the unit's privileges: a module
# to load with an option written to modprobe.d, a node udevd must give a group and mode, a group
# to create and a member to add, whose access to every node is then checked as that user.
IMAGE_PROFILE = """version: 1
name: vm-image-unit
modules:
  - name: kvm
  - name: kvm_amd
    when: { cpu_vendor: [amd, hygon] }
  - name: vhost_net
  - name: tun
  - name: msr
    options: { allow_writes: "off" }
persist: auto
devices:
  - { node: kvm, group: kvm, mode: "0660" }
  - { node: vhost-net, group: kvm, mode: "0660" }
  - { node: net/tun, group: kvm, mode: "0660" }
groups:
  - { name: kvm, system: true, members: [nobody] }
  - { name: kvmprov-vmtest, system: true }
"""


def run_image_scenario(env, name, v_start):
    """Provisions a copy of the cached image with kvmprov apply --root on the host, boots it with
    systemd and returns (results text, seconds, host-side results)."""
    cache = env.cache
    need_tool("mke2fs", "e2fsprogs")
    with CacheLock(cache):
        rootfs = prepare_rootfs(cache, env.suite or IMAGE_SUITE)
        busybox = find_busybox()
        initrd = prepare_boot_initrd(cache, busybox, env.modules, env.release)
    work = Path(tempfile.mkdtemp(dir=cache, prefix=f".{name}."))
    try:
        root = work / "root"
        run(["cp", "-a", str(rootfs), str(root)])
        shutil.copytree(env.modules / "lib/modules", root / "lib/modules", symlinks=True,
                        dirs_exist_ok=True)
        host = {}
        provision = SCENARIOS[name].get("provision")
        if provision:
            # The scenario provisions the image itself, with kvmprov installed in it.
            install_kvmprov(env.kvmprov, root)
            provision(env, root, host)
        else:
            provision_from_host(env, name, root, host)
            install_kvmprov(env.kvmprov, root)
        script = root / "usr/local/sbin/kvmprov-vmtest"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(IMAGE_REPORT)
        script.chmod(0o755)
        unit = root / "etc/systemd/system/kvmprov-vmtest.service"
        unit.write_text(IMAGE_UNIT)
        wants = root / "etc/systemd/system/multi-user.target.wants"
        wants.mkdir(parents=True, exist_ok=True)
        os.symlink("../kvmprov-vmtest.service", wants / "kvmprov-vmtest.service")
        # No login prompts: they only compete for the one emulated CPU.
        os.symlink("/dev/null", root / "etc/systemd/system/getty.target")
        used = int(run(["du", "-sb", str(root)]).stdout.split()[0])
        image = work / "image.ext4"
        run(["mke2fs", "-q", "-t", "ext4", "-d", str(root), "-F", str(image),
             str((used * 13 // 10 + (64 << 20)) // 1024) + "k"])
        shutil.rmtree(root)
        prep = time.monotonic() - v_start
        text, _, seconds = boot(env.kernel, initrd, "qemu64", env.logdir, name,
                                timeout=IMAGE_TIMEOUT,
                                extra=["-drive", f"file={image},format=raw,if=virtio"],
                                append="rw systemd.show_status=0")
        return text, seconds, prep, host
    finally:
        shutil.rmtree(work, ignore_errors=True)


def provision_from_host(env, name, root, host):
    """kvmprov plan and apply --root on the image, run on the host."""
    facts = SCENARIOS[name].get("facts", ["--fact", "cpu_vendor=amd"])
    profile = SCENARIOS[name].get("profile")
    profile_args = ["--profile", str(SOURCE_DIR / profile)] if profile else []
    for step, args in (("plan", ["plan"]), ("apply", ["apply", "--json"])):
        r = subprocess.run([str(env.kvmprov), "--root", str(root), *facts, *profile_args,
                            *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        host[f"host.{step}.rc"] = str(r.returncode)
        host[f"host.{step}.out"] = r.stdout.decode(errors="replace")
        host[f"host.{step}.err"] = r.stderr.decode(errors="replace")
    for rel in ("etc/modules-load.d/kvmprov.conf", "etc/modules", "etc/modprobe.d/kvmprov.conf"):
        f = root / rel
        host[f"host.{rel}"] = f.read_text() if f.is_file() else None


def install_kvmprov(kvmprov, root):
    """kvmprov, its unit and a profile in the image, as the package lays them out; the unit
    enabled. Libraries the image lacks (a build with KVMPROV_STATIC_DEPS=OFF) come along."""
    dest = root / "usr/sbin/kvmprov"
    shutil.copy2(kvmprov, dest)
    for lib in ldd_paths(kvmprov):
        target = root / str(lib).lstrip("/")
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(lib.resolve(), target)
    units = root / "lib/systemd/system"
    shutil.copy2(SOURCE_DIR / "systemd/kvmprov.service", units / "kvmprov.service")
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    os.symlink("/lib/systemd/system/kvmprov.service", wants / "kvmprov.service")
    (root / "etc/kvmprov").mkdir(exist_ok=True)
    (root / "etc/kvmprov/profile.yaml").write_text(IMAGE_PROFILE)


def expect_unit_runs(v, first):
    """kvmprov.service's two runs in its journal: the boot run succeeded, changed something and
    failed nothing (FIRST says so); the second (systemctl restart) changed nothing. Returns the
    journal."""
    journal = v.blob("unit.journal")
    runs = [line for line in journal.splitlines() if re.match(r"\d+ changed, ", line)]
    v.expect(v.result("unit.result") == "success" and v.result("unit.status") == "0",
             "kvmprov.service ran apply at boot and it succeeded",
             f"{v.result('unit.result')}, exit {v.result('unit.status')}; journal: "
             f"{journal.strip()[-600:]!r}")
    v.expect(len(runs) == 2 and int(runs[0].split()[0]) > 0 and ", 0 failed" in runs[0],
             first, runs)
    v.expect(len(runs) == 2 and runs[1].startswith("0 changed, ") and ", 0 failed" in runs[1],
             "a second run under the unit (systemctl restart) changed nothing", runs)
    return journal


def check_unit(v):
    """kvmprov.service, sandboxed as shipped, did apply's privileged work at boot."""
    journal = expect_unit_runs(v, "the boot run changed the host and nothing failed")
    v.expect(v.result("unit.active") == "active", "kvmprov.service is active (exited)",
             v.result("unit.active"))
    v.expect(v.result("unit.restart") == "0", "systemctl restart kvmprov.service succeeded",
             v.result("unit.restart"))
    for bad in ("Operation not permitted", "Read-only file system", "Permission denied",
                "Bad system call"):
        v.expect(bad not in journal, f"the unit's journal has no \"{bad}\"", journal.strip())
    live = loaded_modules(v.blob("modules"))
    v.expect("msr" in live and re.search(r"^changed +load msr: loaded$", journal, re.M),
             "the unit loaded msr (finit_module)", sorted(live))
    v.expect(v.result("msr.allow_writes") == "off", "msr loaded with allow_writes=off",
             v.result("msr.allow_writes"))
    v.expect(v.blob("modprobe_d").splitlines()[-1:] == ["options msr allow_writes=off"],
             "the unit wrote /etc/modprobe.d/kvmprov.conf", v.blob("modprobe_d"))
    v.expect(listed_modules(v.blob("modules_load_d")) == {"kvm", "kvm_amd", "vhost_net", "tun",
                                                          "msr"},
             "the unit rewrote /etc/modules-load.d/kvmprov.conf", v.blob("modules_load_d"))
    v.expect('KERNEL=="tun", GROUP="kvm", MODE="0660"' in v.blob("rules"),
             "the unit wrote the udev rule for /dev/net/tun", v.blob("rules"))
    gid = group_id(v, "kvm")
    v.expect(v.result("dev_tun") == f"0 {gid} 660", "/dev/net/tun is root:kvm 0660",
             v.result("dev_tun"))
    v.expect(re.search(r"^changed +node /dev/net/tun: .*applied by udevd after a rules reload and "
                       r"a change event$", journal, re.M),
             "udevd applied it: udevadm reloaded, the uevent written, the event seen on netlink",
             journal.strip())
    v.expect(group_id(v, "kvmprov-vmtest") is not None, "the unit created group kvmprov-vmtest "
             "(groupadd)", v.blob("group"))
    members = [line.split(":")[3] for line in v.blob("group").splitlines()
               if line.startswith("kvm:")]
    v.expect(members and "nobody" in members[0].split(","), "the unit added nobody to kvm "
             "(usermod)", members)
    v.expect((v.result("group.mode"), v.result("gshadow.mode")) == ("644", "640"),
             "/etc/group and /etc/gshadow keep their modes under the unit's UMask",
             (v.result("group.mode"), v.result("gshadow.mode")))
    m = re.search(r"Overall exposure level for kvmprov.service: ([0-9.]+)",
                  v.blob("unit.security"))
    v.expect(m is not None and float(m.group(1)) <= 3.5,
             "systemd-analyze security rates the unit at most 3.5", m and m.group(0))
    if m:
        v.note(m.group(0))


def check_image(v, host):
    """Persistence: what the next boot did with the files kvmprov apply --root wrote."""
    v.expect(host["host.apply.rc"] == "0", "kvmprov apply --root exits 0",
             f"{host['host.apply.rc']}; stderr: {host['host.apply.err'].strip()[:300]!r}")
    conf = host["host.etc/modules-load.d/kvmprov.conf"]
    v.expect(conf is not None and listed_modules(conf) == {"kvm", "kvm_amd", "vhost_net"},
             "the image's /etc/modules-load.d/kvmprov.conf lists kvm, kvm_amd, vhost_net", conf)
    v.expect(v.result("udev.settled") == "0", "udev settled in the booted image")
    v.expect(v.result("modules_load.state") == "active",
             "systemd-modules-load.service is not failed", v.result("modules_load.state"))
    v.expect(v.result("modules_load.result") == "success",
             "systemd-modules-load.service result success", v.result("modules_load.result"))
    journal = v.blob("modules_load.journal")
    v.expect("Failed" not in journal, "systemd-modules-load logged no failure", journal.strip())
    v.expect("Inserted module 'vhost_net'" in journal,
             "systemd-modules-load inserted vhost_net (nothing else loads it)", journal.strip())
    if "Inserted module 'kvm_amd'" not in journal:
        v.note("kvm_amd was loaded before systemd-modules-load ran (udev's CPU modalias)")
    live = loaded_modules(v.blob("modules"))
    v.expect({"kvm", "kvm_amd", "vhost_net"} <= live, "/proc/modules has kvm, kvm_amd, vhost_net",
             sorted(live))
    gid = group_id(v, "kvm")
    v.expect(gid is not None, "group kvm exists in the image", v.blob("group"))
    v.expect(v.result("dev_kvm") == f"0 {gid} 660", "/dev/kvm is root:kvm 0660 after boot",
             v.result("dev_kvm"))
    check_unit(v)


SCENARIOS["image"] = {"cpu": "qemu64", "needs": {"image"}, "script": None, "check": check_image,
                      "doc": "Debian image provisioned with apply --root boots with systemd: "
                             "systemd-modules-load loads the persisted modules, and the "
                             "sandboxed kvmprov.service applies its profile"}


def check_image_neutral(v, host):
    """An image built without knowing its CPU: the vendor's KVM module comes from udev."""
    v.expect(host["host.apply.rc"] == "0", "kvmprov apply --root exits 0",
             f"{host['host.apply.rc']}; stderr: {host['host.apply.err'].strip()[:300]!r}")
    v.expect("the image's CPU is not known" in host["host.apply.err"],
             "apply says once that the image's CPU is not known", host["host.apply.err"].strip())
    conf = host["host.etc/modules-load.d/kvmprov.conf"]
    v.expect(conf is not None and listed_modules(conf) == {"kvm", "vhost_net"},
             "no vendor module is listed for boot", conf)
    options = host["host.etc/modprobe.d/kvmprov.conf"] or ""
    v.expect("options kvm_intel nested=1" in options and "options kvm_amd nested=1" in options,
             "every vendor's options are written", options)
    v.expect(v.result("modules_load.result") == "success",
             "systemd-modules-load.service result success", v.result("modules_load.result"))
    journal = v.blob("modules_load.journal")
    v.expect("kvm_amd" not in journal and "kvm_intel" not in journal,
             "systemd-modules-load was not asked for a vendor module", journal.strip())
    # The fact the vendor-neutral image rests on: Debian's udev loads the CPU's own KVM module
    # from its modalias at boot (no kvmprov runs in this boot).
    live = loaded_modules(v.blob("modules"))
    v.expect("kvm_amd" in live and "kvm_intel" not in live,
             "udev loaded kvm_amd (the CPU's modalias) and not kvm_intel", sorted(live))
    v.expect(v.result("kvm_amd.nested") in ("1", "Y"),
             "kvm_amd took the image's modprobe.d option nested=1", v.result("kvm_amd.nested"))


SCENARIOS["image-neutral"] = {
    "cpu": "qemu64", "needs": {"image", "nested-profile"}, "script": None,
    "check": check_image_neutral, "facts": [], "profile": "profiles/nested.yaml",
    "doc": "Debian image provisioned with apply --root and no --fact cpu_vendor: udev loads "
           "kvm_amd from the CPU's modalias at boot, with the image's options"}


# Architectures other than amd64 register how their kernel, modules and initramfs are prepared.
PREPARERS = {}

# The arm64 scenarios boot Debian's arm64 kernel under qemu-system-aarch64 (tests/vm/arm64.py).
import arm64  # noqa: E402

arm64.register(sys.modules[__name__])

# The libvirt scenarios boot images made with the machinery above (tests/vm/libvirt_image.py).
import libvirt_image  # noqa: E402

libvirt_image.register(sys.modules[__name__])

# The package-script scenario installs a site package into the image with dpkg, in a chroot and in
# a container (tests/vm/postinst_image.py).
import postinst_image  # noqa: E402

postinst_image.register(sys.modules[__name__])


# --- Main -------------------------------------------------------------------------------------

class Env:
    """Everything a scenario needs, prepared once; missing prerequisites become skip reasons."""

    def __init__(self, args):
        self.cache = Path(args.cache)
        self.kvmprov = Path(args.kvmprov).resolve()
        self.suite = args.suite
        self.logdir = self.cache / "logs" / (args.suite or "")

    def prepare(self, needs, arch="amd64"):
        if not self.kvmprov.is_file():
            raise HarnessError(f"\"{self.kvmprov}\" not found: build kvmprov first")
        self.init_head = INIT_HEAD
        if elf_machine(self.kvmprov) != ARCHES[arch]["elf_machine"]:
            raise Skip(f"\"{self.kvmprov}\" is not an {arch} program: give --kvmprov a build "
                       f"for {arch}")
        if arch in PREPARERS:
            return PREPARERS[arch](self, needs)
        need_tool("qemu-system-x86_64", "qemu-system-x86")
        need_tool("cpio", "cpio")
        need_tool("ldd", "libc-bin")
        depmod = need_tool("depmod", "kmod")
        busybox = find_busybox()
        release, tree = find_kernel(suite=self.suite)
        if "udev" in needs and not (Path("/bin/udevadm").exists()
                                    and Path("/lib/udev/rules.d").is_dir()):
            raise Skip("no udevadm or /lib/udev/rules.d: install the \"udev\" package")
        if "nested-profile" in needs and not (SOURCE_DIR / "profiles/nested.yaml").is_file():
            raise Skip("profiles/nested.yaml is not in the source tree")
        with CacheLock(self.cache):
            hold = prepare_hold(self.cache)
            if "hold" in needs and not hold:
                raise Skip("cannot build the static KVM_CREATE_VM holder: install \"gcc\" and "
                           "\"libc6-dev\"")
            self.kernel = prepare_kernel(self.cache, release, tree)
            self.modules = prepare_modules(self.cache, release, tree, depmod)
            self.base = prepare_base(self.cache, self.kvmprov, busybox, self.modules, release,
                                     hold)
        self.release = release

    def initrd(self, work, script):
        """WORK/initrd: the base archive with the scenario's /init appended (the kernel unpacks
        concatenated cpio archives in order). Made under the lock, which keeps another build's
        run from replacing the base meanwhile."""
        (work / "init").write_text(self.init_head + script + INIT_TAIL)
        os.chmod(work / "init", 0o755)
        out = work / "initrd"
        # cpio writes its own file: had it written to OUT's descriptor, its bytes would land
        # before the base's last ones still in Python's buffer (when the base's size modulo 64 KiB
        # is under 8 KiB), and the kernel would find no /init.
        with open(work / "init.cpio", "wb") as f:
            run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=work, input=b"init\n",
                stdout=f)
        with CacheLock(self.cache), open(out, "wb") as f:
            for part in (self.base, work / "init.cpio"):
                with open(part, "rb") as p:
                    shutil.copyfileobj(p, f)
        return out


def run_scenario(env, name):
    """0 passed, 1 failed, EXIT_SKIP skipped."""
    sc = SCENARIOS[name]
    print(f"vm-{name}: {sc['doc']}")
    start = time.monotonic()
    host = None
    try:
        env.prepare(sc["needs"], sc.get("arch", "amd64"))
        if sc["script"] is None:
            text, seconds, prep, host = sc.get("run", run_image_scenario)(env, name, start)
        else:
            work = Path(tempfile.mkdtemp(dir=env.cache, prefix=f".{name}."))
            try:
                initrd = env.initrd(work, sc["script"])
                prep = time.monotonic() - start
                text, _, seconds = boot(env.kernel, initrd, sc["cpu"], env.logdir, name,
                                        extra=sc.get("qemu", ()), arch=sc.get("arch", "amd64"))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    except Skip as e:
        print(f"vm-{name}: SKIPPED: {e}")
        return EXIT_SKIP
    except HarnessError as e:
        print(f"vm-{name}: FAILED: {e}")
        return 1
    print(f"  booted {env.release} -cpu {sc['cpu']} in {seconds:.1f} s (preparation {prep:.1f} s; "
          f"console: {env.logdir / (name + '.console')})")
    out, errors = parse_output(text)
    v = Verdict(out)
    for e in errors:
        v.expect(False, f"guest output: {e}")
    if out.ended:
        if host is None:
            sc["check"](v)
        else:
            sc["check"](v, host)
    if v.failures:
        print(f"vm-{name}: FAILED: {len(v.failures)} of the checks above")
        return 1
    print(f"vm-{name}: passed in {time.monotonic() - start:.1f} s")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kvmprov", help="the kvmprov binary to test")
    p.add_argument("--cache", default=str(SOURCE_DIR / "tests/.cache/vm"),
                   help="where shared pieces and logs are kept (default: %(default)s)")
    p.add_argument("--suite", help="boot the kernel \"tests/fetch-kernel.sh --suite SUITE\" "
                   "unpacked, and debootstrap SUITE for the image scenarios (default: the kernel "
                   f"KVMPROV_KERNEL_TREE names, or the newest; a {IMAGE_SUITE} image)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO")
    args = p.parse_args()
    if args.list:
        for name, sc in SCENARIOS.items():
            print(f"{name:12} {sc['doc']}")
        return 0
    if not args.kvmprov:
        p.error("--kvmprov is required")
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario {', '.join(unknown)} (see --list)")
    env = Env(args)
    codes = [run_scenario(env, s) for s in (args.scenarios or list(SCENARIOS))]
    if any(c == 1 for c in codes):
        return 1
    return 0 if any(c == 0 for c in codes) else EXIT_SKIP


if __name__ == "__main__":
    sys.exit(main())
