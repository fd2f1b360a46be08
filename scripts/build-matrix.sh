#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds kvmprov the other ways its users and distributions build it, and runs the unit and CLI
# tests on each build, with warnings as errors:
#   gcc-release         GCC at -O3 (CMake's Release), where GCC's flow-sensitive warnings
#                       (-Wrestrict, -Wdangling-reference, -Wstringop-*) see the most;
#   clang-lto-hardened  clang with link-time optimisation and Debian's hardening flags
#                       (dpkg-buildflags with hardening=+all: _FORTIFY_SOURCE, stack protector,
#                       PIE, relro, bindnow).
# scripts/test.sh's main build is GCC at -O3, so it runs only clang-lto-hardened from here; GCC
# with Debian's flags is the package's own build (ctest's "deb" test), and GCC 14 is the Debian 13
# chroot's build (tests/chroot/run.sh). Usage: scripts/build-matrix.sh [NAME...]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

say() { printf 'build-matrix: %s\n' "$*" >&2; }

# build NAME CMAKE-ARGS...: configures and builds the program and the unit tests in
# build-matrix/NAME, then runs the unit and CLI tests there.
build() {
  local name=$1 dir=build-matrix/$1 start=$SECONDS
  shift
  cmake -S . -B "$dir" -DKVMPROV_WERROR=ON "$@" >/dev/null
  if ! cmake --build "$dir" -j"$jobs" --target kvmprov kvmprov_tests; then
    say "$name: the build failed (the compiler's messages are above)"
    return 1
  fi
  if ! ctest --test-dir "$dir" -R '^(unit|cli)$' --output-on-failure; then
    say "$name: the unit or CLI tests failed (their output is above)"
    return 1
  fi
  say "$name: built and passed in $((SECONDS - start)) s"
}

gcc_release() {
  CC=gcc CXX=g++ build gcc-release -DCMAKE_BUILD_TYPE=Release
}

clang_lto_hardened() {
  local flags ldflags
  # Local: the option must not reach another build this script makes after this one.
  local DEB_BUILD_MAINT_OPTIONS=hardening=+all
  export DEB_BUILD_MAINT_OPTIONS
  flags="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
  ldflags=$(dpkg-buildflags --get LDFLAGS)
  CC=clang CXX=clang++ CXXFLAGS="$flags" LDFLAGS="$ldflags" \
    build clang-lto-hardened -DCMAKE_BUILD_TYPE=None -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=ON
}

[ $# -gt 0 ] || set -- gcc-release clang-lto-hardened
for name in "$@"; do
  case $name in
    gcc-release) gcc_release ;;
    clang-lto-hardened) clang_lto_hardened ;;
    *) say "unknown build \"$name\" (known: gcc-release, clang-lto-hardened)"; exit 64 ;;
  esac
done
