#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds kvmprov and runs its unit, CLI and fault tests in a chroot of another Debian release
# (Debian 13, trixie, by default), with that release's compiler, libraries and tools.
#
# Usage: tests/chroot/run.sh [--suite SUITE] [--keep]   (as root)
#   --suite SUITE  the Debian suite to install in the chroot (default: trixie)
#   --keep         leave the source copy (/src) and the build tree (/build) in the chroot after
#                  the run, to look into a failure; the next run replaces them
#
# The chroot is debootstrapped (minbase, this machine's architecture) from KVMPROV_VM_MIRROR
# (default http://deb.debian.org/debian) into tests/.cache/chroot/SUITE once: a stamp written last
# marks it complete, and later runs reuse it (an incomplete one is removed and made again).
# Everything runs in a mount and PID namespace of its own (unshare), so its mounts and its
# processes end with the run, whatever happens. The chroot gets its own /dev, a tmpfs with a few
# device nodes, never the host's: no package script can change the host's device nodes; /sys is
# read-only; apt starts no service there (policy-rc.d). Inside, in order:
# scripts/install-deps.sh --minimal, tests/fetch-kernel.sh (the suite's kernel module tree, for
# the libkmod tests; its cache, tests/.cache/kernel, is shared with the host's runs), cmake, and
# ctest on the unit, cli and fault-* tests. Each step prints its time; a failed step is named on
# one line and the exit status is 1 (130 when interrupted, 64 for a usage error).
# shellcheck disable=SC2317  # the steps run through step(), on_exit through trap
set -euo pipefail

say() { printf 'chroot: %s\n' "$*" >&2; }
die() {
  say "$*"
  exit 1
}
usage() { sed -n 's/^# \{0,1\}//; 6,9p' "$0"; }
usage_error() {
  say "$1 (usage: tests/chroot/run.sh [--suite SUITE] [--keep])"
  exit 64
}

suite=trixie
keep=no
while [ $# -gt 0 ]; do
  case $1 in
    --suite)
      [ $# -ge 2 ] || usage_error "--suite needs a value"
      suite=$2
      shift 2
      ;;
    --keep) keep=yes && shift ;;
    -h | --help) usage && exit 0 ;;
    *) usage_error "unknown argument \"$1\"" ;;
  esac
done
[[ $suite =~ ^[a-z][a-z0-9-]*$ ]] ||
  usage_error "invalid suite \"$suite\": expected a name such as trixie"

source_dir=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/lib.sh
source "$source_dir/tests/lib.sh"
cache=$source_dir/tests/.cache
root=$cache/chroot/$suite
stamp=$root/.kvmprov-chroot-complete
mirror=${KVMPROV_VM_MIRROR:-http://deb.debian.org/debian}
jobs=$(nproc)
kernel_tree=""
export LC_ALL=C  # one decimal point for the times

# --- Inside the namespace: every step, timed.

declare -a times=()
current=""
# step NAME COMMAND...: runs COMMAND and prints its time, wall clock and CPU (this process's
# children, so the CPU column shows what another load on the machine took from the wall clock). A
# command that fails in it ends the run (set -e), and on_exit then names the step.
step() {
  local start=$EPOCHREALTIME start_cpu took used
  cpu
  start_cpu=$cpu_now
  current=$1
  shift
  say "$current: started"
  "$@"
  took=$(elapsed "$start" "$EPOCHREALTIME")
  cpu
  used=$(elapsed "$start_cpu" "$cpu_now")
  times+=("$(timing "$current" "$took" "$used")")
  say "$current: done in $took s"
  current=""
}
on_exit() {
  local rc=$?
  rm -f "$cpu_file"
  [ -n "$current" ] || return 0
  say "step \"$current\" failed (exit $rc) in the $suite chroot; see the output above"
  exit 1
}
# elapsed FROM TO: TO - FROM, in seconds with one decimal.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# timing NAME WALL CPU: one line of the closing table.
timing() { printf '%-11s %7.1f s wall %7.1f s CPU' "$@"; }
# cpu: sets cpu_now to the user and system time of this shell's finished children, in seconds.
# bash's times writes to a file: in a command substitution it would be a new process's, which has
# no children.
cpu_file=""
cpu_now=0
cpu() {
  times >"$cpu_file"
  cpu_now=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/)
    print u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$cpu_file")
}

# in_chroot COMMAND...: COMMAND in the chroot with a clean environment (nothing of the caller's).
in_chroot() {
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    ${kernel_tree:+KVMPROV_KERNEL_TREE=$kernel_tree} "$@"
}

debootstrap_suite() {
  if [ -e "$root" ]; then
    say "\"$root\" has no stamp (an interrupted debootstrap): removing it"
    rm -rf --one-file-system "$root"
  fi
  mkdir -p "$(dirname "$root")"
  debootstrap --variant=minbase --arch="$(dpkg --print-architecture)" "$suite" "$root" "$mirror"
  # Services stay down (policy-rc.d, read by invoke-rc.d and deb-systemd-invoke); dpkg skips its
  # fsyncs, which a throwaway tree does not need.
  printf '#!/bin/sh\n# No service starts in the test chroot.\nexit 101\n' \
    >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  echo force-unsafe-io >"$root/etc/dpkg/dpkg.cfg.d/kvmprov-test"
  date -u +%FT%TZ >"$stamp"
}

# The source as the packages are built from (copy_source_tree, tests/lib.sh), copied to /src.
copy_source() {
  rm -rf --one-file-system "$root/src" "$root/build"
  mkdir -p "$root/src"
  copy_source_tree "$source_dir" "$root/src"
}

# The chroot's root a mount point (as an image build's is, so that the tests' own mount namespaces,
# unshare --propagation private, work there), its /dev (a tmpfs: the nodes a build and the tests
# use, a devpts instance of its own), /proc of this PID namespace, /sys read-only (check --live
# reads the kernel's side there), the host's resolver, and the kernel cache. Mounted in this
# mount namespace only: they go away with it.
mount_chroot() {
  mount --bind "$root" "$root"
  mount -t tmpfs -o mode=0755,nosuid,size=4m kvmprov-dev "$root/dev"
  local node name major minor
  for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r name major minor <<<"$node"
    mknod -m 0666 "$root/dev/$name" c "$major" "$minor"
  done
  mkdir "$root/dev/pts" "$root/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
  ln -s pts/ptmx "$root/dev/ptmx"
  mount -t tmpfs -o mode=1777,nosuid,nodev kvmprov-shm "$root/dev/shm"
  ln -s /proc/self/fd "$root/dev/fd"
  ln -s /proc/self/fd/0 "$root/dev/stdin"
  ln -s /proc/self/fd/1 "$root/dev/stdout"
  ln -s /proc/self/fd/2 "$root/dev/stderr"
  mount -t proc -o nosuid,nodev,noexec proc "$root/proc"
  mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$root/sys"
  # A symbolic link here would be followed on the host's side by cp.
  rm -f "$root/etc/resolv.conf"
  [ ! -e /etc/resolv.conf ] || cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  mkdir -p "$cache/kernel" "$root/var/cache/kvmprov-kernel"
  mount --bind "$cache/kernel" "$root/var/cache/kvmprov-kernel"
}

# An earlier run ended while dpkg worked (killed) leaves packages half configured: apt would refuse.
deps() {
  in_chroot dpkg --configure -a
  in_chroot sh /src/scripts/install-deps.sh --minimal
}

fetch_kernel() {
  kernel_tree=$(in_chroot env KVMPROV_KERNEL_CACHE=/var/cache/kvmprov-kernel \
    /src/tests/fetch-kernel.sh)
  say "kernel module tree: $kernel_tree"
}

build() {
  in_chroot cmake -S /src -B /build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMPROV_WERROR=ON
  in_chroot cmake --build /build -j"$jobs"
}

# In parallel: most of their time the fault tests wait (timeouts, crashes, lock holders).
run_tests() {
  in_chroot ctest --test-dir /build -R '^(unit|cli|fault-.*)$' --output-on-failure -j"$jobs"
}

inside() {
  local start=$EPOCHREALTIME
  cpu_file=$(mktemp)
  trap on_exit EXIT
  trap 'exit 130' INT TERM
  say "$suite chroot in $root, in a mount and PID namespace of its own"
  if [ -f "$stamp" ]; then
    say "debootstrap: \"$root\" is complete ($(cat "$stamp")), reusing it"
  else
    step debootstrap debootstrap_suite
  fi
  step copy copy_source
  step mount mount_chroot
  step deps deps
  step kernel fetch_kernel
  step build build
  step test run_tests
  say "times in the $suite chroot:"
  cpu
  times+=("$(timing total "$(elapsed "$start" "$EPOCHREALTIME")" "$cpu_now")")
  printf '  %s\n' "${times[@]}" >&2
}

# --- Outside: checks, the lock, the namespace, and the clean-up once it has ended.

# Inside only as the namespace's first process: the variable alone, inherited or set by hand,
# would mount on this machine's own mount table.
if [ "${KVMPROV_CHROOT_INSIDE:-}" = "$suite" ] && [ $$ = 1 ]; then
  inside
  exit 0
fi

[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, mounts): run it as root"
for tool in debootstrap unshare chroot mount mknod flock; do
  command -v "$tool" >/dev/null ||
    die "\"$tool\" not found: install it (scripts/install-deps.sh installs debootstrap)"
done
mkdir -p "$cache/chroot"
exec 9>"$cache/chroot/$suite.lock"
flock -n 9 ||
  die "another run uses the $suite chroot (lock $cache/chroot/$suite.lock held): wait for it to end"

# The run is the namespace's first process. It starts in the background, so that a signal to this
# script ends it at once: unshare keeps SIGINT and SIGTERM for its child, so it is killed, and
# --kill-child then kills that first process, which takes every other one in the namespace along
# (a package half installed is finished by the next run's dpkg --configure -a). env gives the run
# back the SIGINT and SIGQUIT that a script's background command ignores.
KVMPROV_CHROOT_INSIDE=$suite env --default-signal=INT,QUIT \
  unshare --mount --propagation private --pid --fork --kill-child \
  "$BASH" "$0" --suite "$suite" 9>&- </dev/null &
namespace=$!
interrupted=no
trap 'interrupted=yes; kill -KILL "$namespace" 2>/dev/null || true' INT TERM HUP
rc=0
wait "$namespace" || rc=$?
while kill -0 "$namespace" 2>/dev/null; do wait "$namespace" || rc=$?; done
if [ "$interrupted" = yes ]; then
  say "interrupted: the run in the $suite chroot is ended, its processes and mounts with it"
  rc=130
fi
# The namespace is gone, and every mount with it: nothing below "$root" is mounted any more.
if [ "$keep" = no ] && [ -d "$root" ]; then
  rm -rf --one-file-system "$root/src" "$root/build"
fi
exit "$rc"
