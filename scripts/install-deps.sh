#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages kvmprov needs to build and to run its tests, on Debian 12
# (bookworm) and Debian 13 (trixie), as root.
#
# Usage: scripts/install-deps.sh [--minimal]
#   --minimal  only what building kvmprov and running its unit, CLI and fault tests need (the
#              Debian 13 chroot run, tests/chroot/run.sh); without it, what every test uses.
#
# One list serves both releases: it names only packages both carry under the same name (the
# unversioned clang and libclang-rt-dev, not clang-14 or libclang-rt-14-dev). What a later
# release split out of a package both have is added when this release's apt knows it.
set -eu
export DEBIAN_FRONTEND=noninteractive

say() { printf 'install-deps: %s\n' "$*" >&2; }

minimal=no
case "${1:-}:$#" in
  :0) ;;
  --minimal:1) minimal=yes ;;
  *) say "unknown arguments \"$*\" (usage: install-deps.sh [--minimal])"; exit 64 ;;
esac

# shellcheck disable=SC1091
. /etc/os-release
release="${ID:-unknown} ${VERSION_ID:-testing/unstable} (${VERSION_CODENAME:-no codename})"
case "${ID:-}:${VERSION_CODENAME:-}" in
  debian:bookworm | debian:trixie) say "installing for $release" ;;
  *) say "$release is not Debian 12 or 13, which kvmprov is tested on; trying their package list" ;;
esac

apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
# Whether this release's apt can install package $1.
known() { apt-cache policy "$1" 2>/dev/null | grep -q '^ *Candidate: [^(]'; }

# The build, and the unit, CLI and fault tests: the compiler, the libraries' headers (libvirt's
# too, so that the libvirt client is compiled), modprobe, python3 for the JSON checks, setpriv and
# unshare, GNU time for the hostile profiles' peak memory, the extrausers NSS module for the
# accounts test, and udev, whose own rules the rules test reads.
core="g++ cmake make pkg-config
  libkmod-dev libudev-dev libyaml-cpp-dev doctest-dev
  nlohmann-json3-dev libfmt-dev libcli11-dev
  libpugixml-dev libvirt-dev
  kmod udev python3 util-linux time libnss-extrausers"
# Everything else: the VM, packaging, completion, Ansible, nova, fuzzing and benchmark tests.
rest="python3-nova
  cpu-checker ca-certificates
  qemu-system-x86 qemu-system-arm busybox-static cpio debootstrap e2fsprogs gcc libc6-dev
  ansible-core
  debhelper dpkg-dev lintian rpm rpmlint file mandoc man-db systemd bash-completion
  clang libclang-rt-dev valgrind
  hyperfine tmux zsh fish python3-jsonschema python3-yaml
  python3-voluptuous pylint pycodestyle yamllint shellcheck
  python3-pytest python3-pytest-xdist python3-pytest-forked"
# The arm64 cross build and package (tests/cross/arm64.sh): the cross compiler, the arm64
# libraries' headers, pkg-config:arm64 for the aarch64-linux-gnu-pkg-config that the package
# build runs, and qemu-user to run the result. libyaml-cpp-dev has no Multi-Arch and cannot be
# installed for both architectures: the test unpacks the arm64 one into tests/.cache instead.
cross="crossbuild-essential-arm64 qemu-user pkg-config:arm64
  libkmod-dev:arm64 libudev-dev:arm64 libpugixml-dev:arm64 libvirt-dev:arm64 libfmt-dev:arm64"

if [ "$minimal" = no ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  say "adding the arm64 architecture for the cross build"
  dpkg --add-architecture arm64
fi
apt_get update -q

# systemd.pc, which says where units go, is in systemd on Debian 12 and in systemd-dev from 13 on
# (bookworm-backports has a systemd-dev too, which must not pull in a newer systemd). The minimal
# build installs no unit, and falls back to /lib/systemd/system without it.
split=""
if [ "$minimal" = no ] && [ "${VERSION_CODENAME:-}" != bookworm ] && known systemd-dev; then
  split="$split systemd-dev"
fi
if [ "$minimal" = yes ]; then rest="" cross=""; fi

# shellcheck disable=SC2086  # the lists are words
apt_get install -y -q --no-install-recommends $core $rest $split $cross
