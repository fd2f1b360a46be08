#!/bin/bash
# SPDX-License-Identifier: MIT
# Checks that the source tree keeps its rooms: the kernel libraries only in the Linux wing, no KVM
# knowledge on the util shelf, every message on one line. Usage: layout_test.sh SOURCE_DIR
set -euo pipefail
SRC=$(realpath "$1")
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
cd "$SRC"

sources=()
while IFS= read -r f; do
  sources+=("$f")
done < <(find src -type f \( -name '*.cc' -o -name '*.h' -o -name '*.in' \) | sort)
[ "${#sources[@]}" -gt 0 ] && ok || bad "no sources found under $SRC/src"

# 1. The Linux wing: only files under src/linux/ include libkmod, libudev, libvirt, dlfcn.h or
# cpuid.h (an #include of <libkmod.h>, <libudev.h>, <dlfcn.h>, <cpuid.h> or <libvirt/...>).
libs='libkmod\.h|libudev\.h|dlfcn\.h|cpuid\.h|libvirt/[^>]*'
wing="^[[:space:]]*#[[:space:]]*include[[:space:]]*<($libs)>"
for f in "${sources[@]}"; do
  case $f in src/linux/*) continue ;; esac
  hits=$(grep -nE "$wing" "$f" || true)
  [ -z "$hits" ] && ok || bad "$f includes a kernel library outside src/linux/: $hits"
done
# ... and the kvmprov_linux object library is the only target given those libraries' include
# directories.
dirs=$(grep -nE '(KMOD|UDEV|LIBVIRT)_INCLUDE_DIRS' CMakeLists.txt tests/CMakeLists.txt |
  grep -vE ':[[:space:]]*target_include_directories\(kvmprov_linux SYSTEM PRIVATE ' || true)
[ -z "$dirs" ] && ok ||
  bad "a target other than kvmprov_linux gets the kernel libraries' include directories: $dirs"

# 2. The util shelf: no file under src/util/ contains "kvm" in any case, except on the lines that
# open and close the namespace, exactly "namespace kvmprov {" and "}  // namespace kvmprov", and on
# include-guard lines (#ifndef, #define or #endif of a macro KVMPROV_..._H or KVMPROV_..._H_; the
# headers use #pragma once today).
allowed='namespace kvmprov \{|\}  // namespace kvmprov'
allowed="($allowed|#(ifndef|define|endif)( | *// *)KVMPROV_[A-Z0-9_]*_H_?)"
for f in "${sources[@]}"; do
  case $f in src/util/*) ;; *) continue ;; esac
  hits=$(grep -niE 'kvm' "$f" | grep -vE "^[0-9]+:$allowed\$" || true)
  [ -z "$hits" ] && ok || bad "$f (util shelf) knows about KVM: $hits"
done

# 3. Every message on one line: no string literal split across source lines (the same detection as
# tests/split_literals.py, which says what counts as a split).
cc=()
for f in "${sources[@]}"; do case $f in *.cc | *.h) cc+=("$f") ;; esac; done
if command -v python3 >/dev/null; then
  splits=$(python3 "$SRC/tests/split_literals.py" "${cc[@]}" || true)
  [ -z "$splits" ] && ok || bad "string literals split across lines: $splits"
else
  echo "SKIP: python3 missing, split string literals not counted"
fi

finish layout
