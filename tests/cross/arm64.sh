#!/bin/bash
# SPDX-License-Identifier: MIT
# The arm64 cross build and package: builds kvmprov with cmake/aarch64-linux-gnu.cmake (Release,
# warnings as errors, the program only: the unit tests run natively), checks that it is an
# aarch64 ELF and runs it under qemu-user (version, validate of every shipped profile, plan and
# apply on an image root, twice) and on a real arm64 kernel under qemu-system-aarch64 (the
# arm64-* scenarios of tests/vm/run.py); then builds the arm64 Debian package from a clean copy
# of the source (dpkg-buildpackage -a arm64) and checks its architecture, program and Depends.
# Debian 12's libyaml-cpp-dev has no Multi-Arch, so its arm64 build cannot be installed beside
# the native one: it is unpacked into tests/.cache/cross-arm64/ instead.
# Usage: tests/cross/arm64.sh [BUILD_DIR] (default: build-cross-arm64); as root, after
# scripts/install-deps.sh.
set -u
here=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$here/../.." && pwd)
# shellcheck source=tests/lib.sh
source "$here/../lib.sh"
BUILD=${1:-$SRC/build-cross-arm64}
CACHE=$SRC/tests/.cache/cross-arm64
# Every run under qemu-user has a time limit; no binfmt is needed.
QEMU="timeout 60 qemu-aarch64 -L /usr/aarch64-linux-gnu"
VERSION=$(sed -n 's/^project(kvmprov VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")

say() { printf 'cross-arm64: %s\n' "$*" >&2; }
# fatal MESSAGE: a step the others need failed; the closing line, then exit 1.
fatal() {
  bad "$*"
  finish cross-arm64
  exit 1
}

require_tools() {
  local tool
  for tool in aarch64-linux-gnu-g++ qemu-aarch64 dpkg-buildpackage file readelf apt-get; do
    command -v "$tool" >/dev/null ||
      fatal "\"$tool\" not found: run scripts/install-deps.sh (cross compiler, qemu-user)"
  done
  dpkg --print-foreign-architectures | grep -qx arm64 ||
    fatal "arm64 is not a dpkg architecture here: run scripts/install-deps.sh, which adds it"
}

# fetch_yaml_cpp: libyaml-cpp-dev:arm64 and the library package its Depends names, unpacked into
# $CACHE once per yaml-cpp version (the library with its control files, where dpkg-shlibdeps reads
# its symbols); sets YAML_LIBDIR and YAML_RUNTIME. The arm64 package must come from the same
# yaml-cpp source version as the native one, whose headers the build uses.
fetch_yaml_cpp() {
  local want dir work dev
  # shellcheck disable=SC2016  # dpkg's format, not the shell's
  want=$(dpkg-query -W -f '${source:Version}' libyaml-cpp-dev 2>/dev/null) ||
    fatal "libyaml-cpp-dev is not installed (the build uses its headers): run scripts/install-deps.sh"
  dir=$CACHE/yaml-cpp_$want
  if [ ! -f "$dir/DEBIAN/control" ]; then
    mkdir -p "$CACHE"
    work=$(mktemp -d "$CACHE/.unpack.XXXXXX")
    if ! unpack_yaml_cpp "$work" "$want"; then
      rm -rf "$work"
      fatal "the arm64 yaml-cpp could not be unpacked into $CACHE (the cause is above)"
    fi
    rm -rf "$dir"
    mv "$work/root" "$dir"
    rm -rf "$work"
  fi
  YAML_LIBDIR=$dir/usr/lib/aarch64-linux-gnu
  YAML_RUNTIME=$(sed -n 's/^Package: //p' "$dir/DEBIAN/control")
}

# unpack_yaml_cpp WORK WANT: downloads the two packages into WORK and unpacks them to WORK/root.
unpack_yaml_cpp() {
  local dev runtime got
  # apt-get download writes into the working directory, which its sandbox user cannot.
  (cd "$1" && apt-get download -q -o APT::Sandbox::User=root libyaml-cpp-dev:arm64 >&2) || {
    say "downloading libyaml-cpp-dev:arm64 failed: check the network, or run \"apt-get update\""
    return 1
  }
  dev=$(ls "$1"/libyaml-cpp-dev_*_arm64.deb)
  # shellcheck disable=SC2016  # dpkg's format, not the shell's
  got=$(dpkg-deb --show --showformat '${source:Version}' "$dev")
  if [ "$got" != "$2" ]; then
    say "libyaml-cpp-dev:arm64 is of yaml-cpp $got, the installed libyaml-cpp-dev of $2, whose headers may differ: run \"apt-get update && apt-get install libyaml-cpp-dev\""
    return 1
  fi
  runtime=$(dpkg-deb -f "$dev" Depends | tr ',' '\n' |
    sed -n 's/^ *\(libyaml-cpp[^ :]*\).*/\1/p' | head -n 1)
  if [ -z "$runtime" ]; then
    say "libyaml-cpp-dev:arm64 depends on no libyaml-cpp library package: $(dpkg-deb -f "$dev" Depends)"
    return 1
  fi
  (cd "$1" && apt-get download -q -o APT::Sandbox::User=root "$runtime:arm64" >&2) || return 1
  dpkg-deb -R "$(ls "$1"/"$runtime"_*_arm64.deb)" "$1/root" && dpkg-deb -x "$dev" "$1/root"
}

cross_build() {
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_TOOLCHAIN_FILE="$SRC/cmake/aarch64-linux-gnu.cmake" \
    -DKVMPROV_YAML_CPP_LIBDIR="$YAML_LIBDIR" -DCMAKE_BUILD_TYPE=Release -DKVMPROV_WERROR=ON \
    -DKVMPROV_TESTS=OFF >/dev/null ||
    fatal "configuring the cross build failed (CMake's messages are above)"
  cmake --build "$BUILD" -j2 --target kvmprov ||
    fatal "the cross build failed (the compiler's messages are above)"
}

# check_aarch64 FILE WHAT: FILE is a 64-bit little-endian aarch64 ELF.
check_aarch64() {
  local kind machine
  kind=$(file -b "$1")
  expect_in "$kind" "ELF 64-bit LSB" "$2: file(1)"
  expect_in "$kind" "ARM aarch64" "$2: file(1)"
  machine=$(readelf -h "$1" | sed -n 's/^ *Machine: *//p')
  expect_eq "$machine" AArch64 "$2: readelf's machine"
}

# smoke KVMPROV: the arm64 program under qemu-user, with $QEMU as run's wrapper.
smoke() {
  local KVMPROV=$1 KVMPROV_WRAPPER=$QEMU profile image=$TMP/image
  run version
  expect_rc 0 "version"
  expect_eq "$out" "kvmprov $VERSION" "version"
  for profile in "$SRC"/profiles/*.yaml; do
    run validate "$profile"
    expect_rc 0 "validate $profile"
    expect_in "$out" "valid profile" "validate $profile"
  done
  # An image's CPU is not known under --root: the vendor modules are left to udev.
  image_root "$image"
  run plan --root "$image"
  expect_rc 0 "plan --root"
  expect_in "$out" "+ write /etc/modules: create" "plan --root"
  expect_in "$err" "the image's CPU is not known" "plan --root"
  run apply --root "$image"
  expect_rc 0 "apply --root"
  expect_in "$(cat "$image/etc/modules" 2>/dev/null)" $'\nkvm\n' "apply --root: /etc/modules"
  run apply --root "$image"
  expect_rc 0 "apply --root, again"
  expect_in "$out" "0 changed, " "apply --root, again"
  expect_in "$out" ", 0 failed, " "apply --root, again"
}

# vm_scenarios KVMPROV: the arm64 program on real arm64 kernels under qemu-system-aarch64 (TCG),
# Debian 12's (6.1) and Debian 13's (6.12): VHE and nVHE usable, started at EL1 not
# (tests/vm/run.py). The kernels and busybox are fetched into the test cache once; a skip is a
# failure here, since install-deps.sh installed everything.
vm_scenarios() {
  local busybox=$SRC/tests/.cache/busybox-arm64 tree suite rc
  # Its module tree, named to run.py: test.sh exports the amd64 one as KVMPROV_KERNEL_TREE.
  if ! tree=$("$SRC/tests/fetch-kernel.sh" --suite bookworm --arch arm64) ||
    ! "$SRC/tests/fetch-kernel.sh" --suite trixie --arch arm64 >/dev/null; then
    fatal "an arm64 kernel could not be fetched (tests/fetch-kernel.sh's message is above)"
  fi
  if [ ! -x "$busybox/bin/busybox" ]; then
    rm -rf "$busybox.tmp" && mkdir -p "$busybox.tmp"
    (cd "$busybox.tmp" && apt-get download -q -o APT::Sandbox::User=root busybox-static:arm64 >&2 &&
      dpkg-deb -x busybox-static_*_arm64.deb root) ||
      fatal "busybox-static:arm64 could not be fetched: check the network, or run \"apt-get update\""
    rm -rf "$busybox" && mv "$busybox.tmp/root" "$busybox" && rm -rf "$busybox.tmp"
  fi
  for suite in bookworm trixie; do
    KVMPROV_KERNEL_TREE=$tree "$SRC/tests/vm/run.py" --kvmprov "$1" --suite "$suite" \
      arm64-vhe arm64-nvhe arm64-el1
    rc=$?
    case $rc in
      0) ok ;;
      77) bad "the arm64 scenarios on $suite's kernel were skipped (the reason is above)" ;;
      *) bad "the arm64 scenarios on $suite's kernel failed with exit $rc (their checks are above)" ;;
    esac
  done
}

# build_deb: the arm64 binary package, from a clean copy of the source in $TMP/src.
build_deb() {
  local unmet nodeps=()
  mkdir "$TMP/src"
  copy_source_tree "$SRC" "$TMP/src"
  # libyaml-cpp-dev:arm64 cannot be installed beside the native one, so dpkg-buildpackage's own
  # check would stop; it runs here first, and -d is given only when nothing else is missing.
  unmet=$(cd "$TMP/src" && dpkg-checkbuilddeps -a arm64 -Pnocheck 2>&1 |
    sed -n 's/.*Unmet build dependencies: //p')
  case $unmet in
    "") ;;
    libyaml-cpp-dev) nodeps=(-d) ;;
    *) fatal "arm64 build dependencies missing: $unmet: run scripts/install-deps.sh" ;;
  esac
  # Debian's flags less -g, and no debug symbols package: what this proves needs neither, and
  # debug information is a third of the compile time.
  if ! (cd "$TMP/src" && KVMPROV_YAML_CPP_LIBDIR=$YAML_LIBDIR DEB_CXXFLAGS_STRIP=-g \
    DEB_BUILD_OPTIONS="nocheck noddebs parallel=2" \
    dpkg-buildpackage -a arm64 -Pnocheck -b -us -uc "${nodeps[@]}") >"$TMP/deb.log" 2>&1; then
    tail -40 "$TMP/deb.log" >&2
    fatal "dpkg-buildpackage -a arm64 failed (the end of its log is above)"
  fi
}

# arm64_owner SONAME: the arm64 package that holds library SONAME here (yaml-cpp's: the one
# unpacked in the cache).
arm64_owner() {
  case $1 in
    libyaml-cpp.so.*) echo "$YAML_RUNTIME" ;;
    *)
      dpkg -S "*/lib/aarch64-linux-gnu/$1" 2>/dev/null |
        sed -n 's/^\([^:]*\):arm64: .*/\1/p' | head -n 1
      ;;
  esac
}

# expect_depends DEPENDS PACKAGE SONAME: the field (", a (>= 1), b,") names PACKAGE.
expect_depends() {
  case $1 in
    *", $2 "* | *", $2,"*) ok ;;
    *) bad "Depends lacks $2 (for $3): $1" ;;
  esac
}

# check_deb: the package's architecture, its program, and a Depends of arm64 library packages:
# each library the program needs is named by the arm64 package that holds it here.
check_deb() {
  local deb depends soname owner
  deb=$(ls "$TMP"/kvmprov_*_arm64.deb 2>/dev/null) ||
    fatal "dpkg-buildpackage built no kvmprov_*_arm64.deb"
  expect_eq "$(dpkg-deb -f "$deb" Architecture)" arm64 "the package's Architecture"
  dpkg-deb -x "$deb" "$TMP/unpacked"
  check_aarch64 "$TMP/unpacked/usr/sbin/kvmprov" "the packaged /usr/sbin/kvmprov"
  depends=", $(dpkg-deb -f "$deb" Depends),"
  expect_not_in "$depends" ":" "Depends names an architecture"
  expect_not_in "$depends" "-cross" "Depends names a cross-toolchain package"
  for soname in $(readelf -d "$TMP/unpacked/usr/sbin/kvmprov" |
    sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
    owner=$(arm64_owner "$soname")
    if [ -n "$owner" ]; then
      expect_depends "$depends" "$owner" "$soname"
    else
      bad "no arm64 package here holds $soname, which the packaged kvmprov needs"
    fi
  done
  # Opened with dlopen, so named by hand in debian/control.
  expect_depends "$depends" libkmod2 libkmod.so.2
  expect_depends "$depends" libudev1 libudev.so.1
  KVMPROV_WRAPPER="$QEMU -E LD_LIBRARY_PATH=$YAML_LIBDIR" KVMPROV=$TMP/unpacked/usr/sbin/kvmprov \
    run version
  expect_eq "$out" "kvmprov $VERSION" "the packaged kvmprov's version"
}

require_tools
scratch
fetch_yaml_cpp
cross_build
check_aarch64 "$BUILD/kvmprov" "$BUILD/kvmprov"
smoke "$BUILD/kvmprov"
vm_scenarios "$BUILD/kvmprov"
build_deb
check_deb
finish cross-arm64
