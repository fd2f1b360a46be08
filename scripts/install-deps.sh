#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages kvmprov needs to build and to run its tests.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -q
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
  g++ cmake make pkg-config \
  libkmod-dev libudev-dev libyaml-cpp-dev doctest-dev \
  nlohmann-json3-dev libfmt-dev libcli11-dev \
  libpugixml-dev libvirt-dev python3-nova \
  kmod udev cpu-checker python3 ca-certificates \
  qemu-system-x86 busybox-static cpio debootstrap e2fsprogs gcc libc6-dev \
  ansible-core \
  debhelper dpkg-dev lintian rpm rpmlint file mandoc man-db systemd bash-completion \
  clang libclang-rt-14-dev valgrind util-linux time \
  hyperfine tmux zsh fish python3-jsonschema python3-yaml \
  python3-voluptuous pylint pycodestyle yamllint shellcheck \
  python3-pytest python3-pytest-xdist python3-pytest-forked
