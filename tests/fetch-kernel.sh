#!/bin/sh
# SPDX-License-Identifier: MIT
# Unpacks the current Debian kernel image package into tests/.cache/kernel/ for the kmod tests.
#
# Usage: tests/fetch-kernel.sh [META-PACKAGE]   (default: linux-image-amd64; needs root and apt)
#
# Resolves the meta package to the real image package (linux-image-<release>) through its
# Depends, downloads it with apt-get, unpacks boot/ and lib/modules/<release> with dpkg -x and
# builds the depmod indexes. Running it again once the tree is there does nothing. Progress goes
# to stderr; stdout is the module tree, so this works:
#   KVMPROV_KERNEL_TREE=$(tests/fetch-kernel.sh) ./build/tests/kvmprov_tests
set -eu

meta=${1:-linux-image-amd64}
here=$(cd "$(dirname "$0")" && pwd)
cache=${KVMPROV_KERNEL_CACHE:-$here/.cache/kernel}

say() { printf 'fetch-kernel: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

resolve() {
  apt-cache depends --important "$meta" 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-image-[^ <>|]*\)$/\1/p' | head -n 1
}

for tool in apt-cache apt-get dpkg dpkg-deb depmod; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "\"$tool\" not found: this script needs a Debian system with apt and kmod"
done

pkg=$(resolve)
if [ -z "$pkg" ]; then
  [ "$(id -u)" -eq 0 ] || die "\"$meta\" unknown to apt-cache and not root: run \"apt-get update\" as root first"
  say "\"$meta\" unknown to apt-cache, running apt-get update"
  apt-get update -qq >&2 || die "\"apt-get update\" failed: check the network and /etc/apt/sources.list"
  pkg=$(resolve)
fi
[ -n "$pkg" ] || die "\"$meta\" has no linux-image-* dependency: pass the image meta package for this architecture"
release=${pkg#linux-image-}
tree=$cache/$release
modules=$tree/lib/modules/$release

if [ -f "$modules/modules.dep.bin" ]; then
  say "\"$pkg\" already unpacked"
  printf '%s\n' "$modules"
  exit 0
fi

mkdir -p "$cache/debs"
deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*.deb" | sort | tail -n 1)
if [ -z "$deb" ]; then
  say "downloading \"$pkg\""
  # apt-get download writes into the working directory; the sandbox user cannot write there.
  (cd "$cache/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
    die "downloading \"$pkg\" failed: check the network, or run \"apt-get update\""
  deb=$(find "$cache/debs" -maxdepth 1 -name "${pkg}_*.deb" | sort | tail -n 1)
  [ -n "$deb" ] || die "\"$pkg\" downloaded but no ${pkg}_*.deb in $cache/debs"
fi

# Unpack beside the final place and rename, so an interrupted run leaves no half tree.
work=$(mktemp -d "$cache/.unpack.XXXXXX")
trap 'rm -rf "$work"' EXIT
say "unpacking $(basename "$deb")"
dpkg -x "$deb" "$work/root"
[ -d "$work/root/lib/modules/$release" ] || die "\"$deb\" has no lib/modules/$release"
mkdir -p "$work/tree/lib/modules"
mv "$work/root/lib/modules/$release" "$work/tree/lib/modules/"
[ -d "$work/root/boot" ] && mv "$work/root/boot" "$work/tree/"
if [ ! -f "$work/tree/lib/modules/$release/modules.dep.bin" ]; then
  say "running depmod for $release"
  depmod -b "$work/tree" "$release"
fi
rm -rf "$tree"
mv "$work/tree" "$tree"
say "kernel $release unpacked in $tree"
printf '%s\n' "$modules"
