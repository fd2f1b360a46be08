#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds kvmprov and runs every test: once normally, once under AddressSanitizer and
# UndefinedBehaviorSanitizer. Run scripts/install-deps.sh first on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

# The libkmod tests read a real Debian kernel's module tree.
KVMPROV_KERNEL_TREE=$(tests/fetch-kernel.sh)
export KVMPROV_KERNEL_TREE

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVMPROV_WERROR=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure

# The other builds users and distributions make: GCC -O3, and clang with LTO and Debian's
# hardening flags, each through the unit and CLI tests.
scripts/build-matrix.sh

# The sanitizer build also takes the cross-build path for the default profile (compiled in as
# text, parsed on first use), so both ways of building it are tested.
cmake -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DKVMPROV_SANITIZE=ON -DKVMPROV_WERROR=ON \
  -DKVMPROV_EMBED_PARSED_PROFILE=OFF
cmake --build build-sanitize -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-sanitize --output-on-failure
