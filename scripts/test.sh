#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds kvmprov and runs every test: once with GCC at -O3, where its flow-sensitive warnings see
# the most; with clang, LTO and Debian's hardening flags (the unit and CLI tests); cross-compiled
# for arm64 (run under qemu-user, and its Debian package); in a Debian 13 chroot (unit, CLI and
# fault tests); and once under AddressSanitizer and UndefinedBehaviorSanitizer. Each phase prints
# its time. Run scripts/install-deps.sh first on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

# phase NAME COMMAND...: runs COMMAND and says how long it took.
phase() {
  local name=$1 start=$SECONDS
  shift
  "$@"
  printf 'test.sh: %s took %d s\n' "$name" $((SECONDS - start)) >&2
}

# The libkmod tests read a real Debian kernel's module tree.
KVMPROV_KERNEL_TREE=$(tests/fetch-kernel.sh)
export KVMPROV_KERNEL_TREE
# The vm-trixie-* scenarios boot Debian 13's kernel (tests/vm/run.py --suite trixie finds it).
tests/fetch-kernel.sh --suite trixie >/dev/null

# In parallel: most tests keep one CPU busy (a qemu, valgrind) or wait; the ones that build
# with every CPU say so (PROCESSORS), and ctest runs nothing beside them.
phase build cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DKVMPROV_WERROR=ON
phase build cmake --build build -j"$jobs"
phase tests ctest --test-dir build --output-on-failure -j"$jobs"

# The other builds users and distributions make (GCC with Debian's flags is the deb test's).
phase clang-lto-hardened scripts/build-matrix.sh clang-lto-hardened

# arm64: the program cross-compiled and run under qemu-user, and the arm64 Debian package; the
# program only, with two jobs at most, to keep the phase short.
phase cross-arm64 tests/cross/arm64.sh

# Debian 13: its GCC, yaml-cpp, kmod and udev, in a chroot of its own.
phase trixie-chroot tests/chroot/run.sh --suite trixie

# The sanitizer build also takes the cross-build path for the default profile (compiled in as
# text, parsed on first use), so both ways of building it are tested.
phase sanitize-build cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DKVMPROV_SANITIZE=ON \
  -DKVMPROV_WERROR=ON -DKVMPROV_EMBED_PARSED_PROFILE=OFF
phase sanitize-build cmake --build build-sanitize -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  phase sanitize-tests ctest --test-dir build-sanitize --output-on-failure -j"$jobs"
