#!/bin/sh
# SPDX-License-Identifier: MIT
# Installs the Debian packages kvmprov needs to build and to run its tests.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends \
  g++ cmake make pkg-config \
  libkmod-dev libudev-dev libyaml-cpp-dev doctest-dev \
  nlohmann-json3-dev libfmt-dev libcli11-dev \
  kmod udev cpu-checker python3 ca-certificates \
  clang libclang-rt-14-dev valgrind util-linux time
