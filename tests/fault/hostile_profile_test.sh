#!/bin/bash
# SPDX-License-Identifier: MIT
# Hostile profiles at the command line: a directory, a FIFO (with and without a writer), a pipe,
# /dev/zero, a sparse 8 GiB file, deep nesting, a huge scalar, an alias bomb, bytes that are not
# UTF-8. Each fails with exit 65 and a clear one-line error (FILE:LINE:COL for content), within
# bounded time and memory, and `apply` writes nothing. Usage: hostile_profile_test.sh KVMPROV
source "$(dirname "$0")/lib.sh"

# Generous bounds: the sanitizer build is slower and bigger; a hang or a blow-up is far past them.
max_seconds=20
max_rss_kib=$((400 * 1024))

# bounded ARGS...: run, but killed after $max_seconds; records the peak memory in $rss (KiB).
bounded() {
  out=$(timeout -s KILL "$max_seconds" /usr/bin/time -f '%M' -o "$TMP/rss" \
    "$KVMPROV" "$@" 2>"$TMP/stderr"); rc=$?
  err=$(cat "$TMP/stderr")
  rss=$(tail -n 1 "$TMP/rss" 2>/dev/null)
  case "$rss" in '' | *[!0-9]*) rss=999999999 ;; esac
}

# hostile NAME FILE EXPECTED: validate and apply both refuse FILE, saying EXPECTED.
ROOT="$TMP/root"
mkdir -p "$ROOT/etc"
printf 'loop\n' >"$ROOT/etc/modules"
hostile() {
  local name=$1 file=$2 expected=$3
  bounded validate "$file"
  expect_rc 65 "$name: validate"
  expect_in "$err" "$expected" "$name: message"
  [ "$rss" -lt "$max_rss_kib" ] && ok || bad "$name: used $rss KiB"
  [ "$(printf '%s\n' "$err" | wc -l)" -le 20 ] && ok || bad "$name: $(printf '%s\n' "$err" | wc -l) lines of errors"
  [ "${#err}" -le 4096 ] && ok || bad "$name: ${#err} bytes of errors"
  local before
  before=$(tree "$ROOT")
  bounded apply --root "$ROOT" --fact cpu_vendor=amd --profile "$file"
  expect_rc 65 "$name: apply"
  expect_eq "$(tree "$ROOT")" "$before" "$name: apply wrote nothing"
}

# --- not a regular file
hostile "directory" "$TMP" "$TMP: cannot read profile: Is a directory"
mkfifo "$TMP/fifo"
hostile "FIFO without a writer" "$TMP/fifo" "$TMP/fifo: cannot read profile: not a regular file"
# A writer that never stops: the FIFO must still be refused, not read.
yes 'version: 1' >"$TMP/fifo" &
writer=$!
cleanup_hooks+=("kill $writer 2>/dev/null")
hostile "FIFO with an endless writer" "$TMP/fifo" "$TMP/fifo: cannot read profile: not a regular file"
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null
hostile "/dev/zero" /dev/zero "/dev/zero: cannot read profile: not a regular file"
bounded validate /dev/stdin < <(yes 'name: x')
expect_rc 65 "endless pipe on stdin"
expect_in "$err" "cannot read profile: not a regular file" "endless pipe message"
truncate -s 8G "$TMP/sparse.yaml"
hostile "sparse 8 GiB file" "$TMP/sparse.yaml" "$TMP/sparse.yaml: profile is larger than 1 MiB"
hostile "missing file" "$TMP/none.yaml" "$TMP/none.yaml: cannot read profile: No such file or directory"

# --- hostile content: every error names FILE:LINE:COL
python3 - "$TMP" <<'PY'
import sys
d = sys.argv[1]
def w(name, data):
    open(f"{d}/{name}", "wb").write(data)
w("deep.yaml", b"version: 1\nname: t\nmodules: " + b"[" * 400000 + b"]" * 400000 + b"\n")
w("deep-maps.yaml", b"version: 1\nname: t\nmodules:\n" + b"".join(b" " * i + b"a:\n" for i in range(1, 1000)))
w("huge-scalar.yaml", b"version: 1\nname: " + b"x" * (1024 * 1024 - 30) + b"\n")
w("huge-key.yaml", b"version: 1\nname: t\n" + b"k" * (1024 * 1024 - 30) + b": 1\n")
lol = b"version: 1\nname: t\na: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n"
for i, c in enumerate(b"bcdefghi"):
    p = chr(b"abcdefghi"[i]).encode()
    lol += bytes([c]) + b": &" + bytes([c]) + b" [" + b", ".join([b"*" + p] * 9) + b"]\n"
w("billion-laughs.yaml", lol)
w("alias-keys.yaml", b"version: 1\nname: t\nmodules:\n  - &m {name: kvm}\n" + b"  - *m\n" * 50000)
w("latin1.yaml", b"version: 1\nname: caf\xe9\n")
w("utf16.yaml", "version: 1\nname: t\n".encode("utf-16"))
w("nul.yaml", b"version: 1\nname: t\x00evil\n")
w("many-errors.yaml", b"version: 1\nname: t\nmodules:\n" + b"  - name: \"bad name\"\n" * 40000)
PY
hostile "deep flow nesting" "$TMP/deep.yaml" "$TMP/deep.yaml:3:73: nesting deeper than 64 levels is not supported"
hostile "deep block nesting" "$TMP/deep-maps.yaml" "$TMP/deep-maps.yaml:"
hostile "huge scalar" "$TMP/huge-scalar.yaml" "$TMP/huge-scalar.yaml:2:7: invalid profile name \"xxxx"
hostile "huge key" "$TMP/huge-key.yaml" "$TMP/huge-key.yaml:3:1048547: syntax error: illegal map value"
hostile "billion laughs" "$TMP/billion-laughs.yaml" "$TMP/billion-laughs.yaml:3:4: anchors and aliases are not supported"
hostile "aliased entries" "$TMP/alias-keys.yaml" "$TMP/alias-keys.yaml:4:5: anchors and aliases are not supported"
hostile "Latin-1" "$TMP/latin1.yaml" "$TMP/latin1.yaml:2:10: invalid UTF-8 byte 0xe9: profiles must be UTF-8 text"
hostile "UTF-16" "$TMP/utf16.yaml" "$TMP/utf16.yaml:1:1: invalid UTF-8 byte 0xff: profiles must be UTF-8 text"
hostile "NUL byte" "$TMP/nul.yaml" "$TMP/nul.yaml:2:8: control byte 0x00 in profile: profiles must be text"

# 40000 errors: all reported, one line each, still bounded.
bounded validate "$TMP/many-errors.yaml"
expect_rc 65 "many errors"
expect_eq "$(printf '%s\n' "$err" | wc -l)" 40000 "every error reported"
expect_eq "$(printf '%s\n' "$err" | grep -cv "^$TMP/many-errors.yaml:[0-9]*:[0-9]*: invalid module name \"bad name\": ")" 0 "each error names FILE:LINE:COL"
[ "$rss" -lt "$max_rss_kib" ] && ok || bad "many errors: used $rss KiB"

# Nothing written through a hostile profile leaves a lock or temporary behind either.
[ ! -e "$ROOT/run" ] && ok || bad "a refused profile created the lock directory"

finish hostile-profile
