#!/bin/bash
# SPDX-License-Identifier: MIT
# Checks that the source tree keeps its rooms: the kernel libraries only in the Linux wing, no KVM
# knowledge on the util shelf, every message on one line, rooms and functions of a readable size,
# no include loops, one line splitter. Usage: layout_test.sh SOURCE_DIR
set -euo pipefail
SRC=$(realpath "$1")
cd "$SRC"
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

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

# 4. Rooms of a readable size: no .cc file over 500 lines.
for f in "${cc[@]}"; do
  case $f in *.cc) ;; *) continue ;; esac
  n=$(wc -l <"$f")
  [ "$n" -le 500 ] && ok || bad "$f has $n lines (at most 500: split it by what it holds)"
done

# 5. Functions of a readable size: none of 80 lines or more, except an ordered decision ladder
# whose head is preceded by a comment line naming it "ordered decision ladder".
if command -v python3 >/dev/null; then
  while IFS= read -r hit; do
    [ -z "$hit" ] && continue
    file=${hit%%:*}
    rest=${hit#*:}
    line=${rest%%:*}
    if [ "$line" -gt 1 ] && sed -n "$((line - 1))p" "$file" | grep -q 'ordered decision ladder'; then
      ok
    else
      bad "function too long (80 lines or more): $hit"
    fi
  done < <(python3 "$SRC/tests/function_lengths.py" --limit 80 "${cc[@]}")
  ok
fi

# 6. No include pointing back up: a file's own header is never reached again through the headers
# it includes (plan.cc including devices.h, which includes plan.h, is such a loop).
if command -v python3 >/dev/null; then
  loops=$(python3 - "${sources[@]}" <<'PY'
import os, re, sys
inc = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
files = [f for f in sys.argv[1:] if f.endswith((".h", ".cc"))]
def key(path):  # the module a file belongs to: its path under src/ without the extension
    return os.path.splitext(os.path.relpath(path, "src"))[0]
edges = {}
for f in files:
    for target in inc.findall(open(f, encoding="utf-8", errors="replace").read()):
        if target.endswith(".h") and os.path.exists(os.path.join("src", target)):
            edges.setdefault(f, set()).add(os.path.join("src", target))
def reach(start):
    seen, todo = set(), [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen
for f in files:
    for h in edges.get(f, ()):
        if key(h) != key(f) and any(key(x) == key(f) for x in reach(h)):
            print(f"{f} -> {h} -> ... -> {key(f)}.h")
PY
  )
  [ -z "$loops" ] && ok || bad "includes pointing back up: $loops"
fi

# 7. One line splitter and one did-you-mean rule, on the util shelf: outside src/util/, no
# edit_distance call and no loop that splits text at newlines by hand (find('\n', pos) stepping,
# getline over a stream).
for f in "${cc[@]}"; do
  case $f in src/util/*) continue ;; esac
  hits=$(grep -nE "edit_distance\\(|getline\\(|(^|[^r])find\\('\\\\n', *[a-z_]+\\)" "$f" || true)
  [ -z "$hits" ] && ok || bad "$f splits lines or measures edit distance itself (use util/text.h): $hits"
done

# 8. A narrow seam: Host declares at most 29 virtual methods (files are read and written through
# its two FileTree views, not through methods of its own).
host_virtuals=$(sed -n '/^class Host {/,/^};/p' src/host.h | grep -cE '^\s*virtual [^~]')
[ "$host_virtuals" -le 29 ] && ok || bad "src/host.h: Host declares $host_virtuals virtual methods (at most 29: group new verbs under an existing one or a view)"

echo "layout: $pass passed, $fail failed"
[ "$fail" = 0 ]
