#!/bin/sh
# SPDX-License-Identifier: MIT
# Unpacks a Debian kernel image package into tests/.cache/kernel/ for the kmod and VM tests.
#
# Usage: tests/fetch-kernel.sh [--suite SUITE] [--arch ARCH] [META-PACKAGE]
#   (default: this system's apt, its architecture, linux-image-ARCH; needs root and apt)
#
# Resolves the meta package to the real image package (linux-image-<release>) through its
# Depends, downloads it with apt-get, unpacks boot/ and the module tree with dpkg -x and builds
# the depmod indexes. Debian 12's package holds lib/modules/<release>, Debian 13's (merged /usr)
# usr/lib/modules/<release>; either way the tree is kept as <release>/lib/modules/<release>.
# With --suite (bookworm, trixie, ...) or an --arch dpkg does not know, apt runs on a private
# state under the cache with that suite from deb.debian.org (KVMPROV_VM_MIRROR overrides it), so
# the system's apt configuration is neither needed nor changed. The tree's file "suite" names the
# suite it came from (tests/vm/run.py --suite picks a kernel by it). Running it again once the
# tree is there only writes that file if an older run left it out. Progress goes to stderr;
# stdout is the module tree, so this works:
#   KVMPROV_KERNEL_TREE=$(tests/fetch-kernel.sh) ./build/tests/kvmprov_tests
set -eu

say() { printf 'fetch-kernel: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

suite=""
arch=""
while [ $# -gt 0 ]; do
  case "$1" in
    --suite) suite=${2:?--suite needs a value}; shift 2 ;;
    --arch) arch=${2:?--arch needs a value}; shift 2 ;;
    -*) die "unknown option \"$1\" (usage: fetch-kernel.sh [--suite SUITE] [--arch ARCH] [META])" ;;
    *) break ;;
  esac
done

for tool in apt-cache apt-get dpkg dpkg-deb depmod; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "\"$tool\" not found: this script needs a Debian system with apt and kmod"
done

here=$(cd "$(dirname "$0")" && pwd)
cache=${KVMPROV_KERNEL_CACHE:-$here/.cache/kernel}
native=$(dpkg --print-architecture)
arch=${arch:-$native}
meta=${1:-linux-image-$arch}

# apt on this system, or on a private state for another suite or an unknown architecture.
apt_opts=""
if [ -n "$suite" ] || { [ "$arch" != "$native" ] && ! dpkg --print-foreign-architectures | grep -qx "$arch"; }; then
  # shellcheck source=/dev/null
  suite=${suite:-$(. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")}
  mirror=${KVMPROV_VM_MIRROR:-http://deb.debian.org/debian}
  state=$cache/apt/$suite-$arch
  mkdir -p "$state/lists/partial" "$state/archives/partial" "$state/etc"
  printf 'deb [arch=%s signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
    "$arch" "$mirror" "$suite" >"$state/etc/sources.list"
  : >"$state/status"
  apt_opts="-o Dir::Etc::SourceList=$state/etc/sources.list -o Dir::Etc::SourceParts=/nonexistent
    -o Dir::State::Lists=$state/lists -o Dir::State::status=$state/status
    -o Dir::Cache=$state -o Dir::Cache::archives=$state/archives
    -o APT::Architecture=$arch -o APT::Architectures=$arch"
fi
# shellcheck source=/dev/null
from_suite=${suite:-$(. /etc/os-release && echo "${VERSION_CODENAME:-unknown}")}
# shellcheck disable=SC2086  # apt_opts are words
apt_cache() { apt-cache $apt_opts "$@"; }
# shellcheck disable=SC2086
apt_get() { apt-get $apt_opts "$@"; }

resolve() {
  apt_cache depends --important "$meta:$arch" 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[^ <>|:]*\)\(:[a-z0-9]*\)\{0,1\}$/\1/p' | head -n 1
}

pkg=$(resolve)
if [ -z "$pkg" ]; then
  [ "$(id -u)" -eq 0 ] || [ -n "$apt_opts" ] ||
    die "\"$meta\" unknown to apt-cache and not root: run \"apt-get update\" as root first"
  say "\"$meta\" unknown to apt-cache${suite:+ for $suite/$arch}, running apt-get update"
  apt_get update -qq >&2 || die "\"apt-get update\" failed: check the network and the apt sources"
  pkg=$(resolve)
fi
[ -n "$pkg" ] || die "\"$meta\" has no linux-image-* dependency: pass the image meta package for this architecture"
release=${pkg#linux-image-}
tree=$cache/$release
modules=$tree/lib/modules/$release

if [ -f "$modules/modules.dep.bin" ]; then
  say "\"$pkg\" already unpacked"
  [ -f "$tree/suite" ] || printf '%s\n' "$from_suite" >"$tree/suite"
  printf '%s\n' "$modules"
  exit 0
fi

mkdir -p "$cache/debs"
deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*_$arch.deb" | sort | tail -n 1)
if [ -z "$deb" ]; then
  say "downloading \"$pkg\"${suite:+ from $suite}"
  # apt-get download writes into the working directory; the sandbox user cannot write there.
  (cd "$cache/debs" && apt_get download -q -o APT::Sandbox::User=root "$pkg:$arch" >&2) ||
    die "downloading \"$pkg\" failed: check the network, or run \"apt-get update\""
  deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*_$arch.deb" | sort | tail -n 1)
  [ -n "$deb" ] || die "\"$pkg\" downloaded but no ${pkg}_*_$arch.deb in $cache/debs"
fi

# Unpack beside the final place and rename, so an interrupted run leaves no half tree.
work=$(mktemp -d "$cache/.unpack.XXXXXX")
trap 'rm -rf "$work"' EXIT
say "unpacking $(basename "$deb")"
dpkg -x "$deb" "$work/root"
found=""
for dir in lib/modules usr/lib/modules; do
  [ -d "$work/root/$dir/$release" ] && found=$work/root/$dir/$release
done
[ -n "$found" ] || die "\"$deb\" has neither lib/modules/$release nor usr/lib/modules/$release"
mkdir -p "$work/tree/lib/modules"
mv "$found" "$work/tree/lib/modules/"
[ -d "$work/root/boot" ] && mv "$work/root/boot" "$work/tree/"
if [ ! -f "$work/tree/lib/modules/$release/modules.dep.bin" ]; then
  say "running depmod for $release"
  depmod -b "$work/tree" "$release"
fi
printf '%s\n' "$from_suite" >"$work/tree/suite"
rm -rf "$tree"
mv "$work/tree" "$tree"
say "kernel $release unpacked in $tree"
printf '%s\n' "$modules"
