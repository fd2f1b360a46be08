#!/bin/bash
# SPDX-License-Identifier: MIT
# Foreign content in /etc/modules: comments, blank lines, CRLF line endings, no final newline,
# other tools' entries and blocks, and managed modules also listed outside kvmprov's block. Every
# byte outside the block is kept, the block is replaced where it stands, and each duplicate is
# reported and left in place. Usage: foreign_content_test.sh KVMPROV
source "$(dirname "$0")/lib.sh"

ROOT="$TMP/root"
M="$ROOT/etc/modules"
mkdir -p "$ROOT/etc"
# The default profile's modules, persisted in /etc/modules.
cat >"$TMP/etc-modules.yaml" <<'YAML'
version: 1
name: default
modules:
  - name: kvm
  - name: kvm_intel
    when: { cpu_vendor: [intel, zhaoxin, centaur] }
  - name: kvm_amd
    when: { cpu_vendor: [amd, hygon] }
  - name: vhost_net
persist: etc-modules
YAML
sed 's/^persist: .*/persist: none/' "$TMP/etc-modules.yaml" >"$TMP/none.yaml"

apply_with() {  # apply_with PROFILE [OPTIONS...]
  local profile=$1
  shift
  run apply --root "$ROOT" --fact cpu_vendor=amd --profile "$TMP/$profile.yaml" "$@"
}
# The text before and after kvmprov's block, as files, for byte comparison.
split_block() {
  python3 - "$M" "$TMP/head" "$TMP/block" "$TMP/tail" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
lines = data.splitlines(keepends=True)
begin = next(i for i, l in enumerate(lines) if l.startswith(b"# BEGIN kvmprov"))
end = next(i for i in range(begin, len(lines)) if lines[i].startswith(b"# END kvmprov"))
open(sys.argv[2], "wb").write(b"".join(lines[:begin]))
open(sys.argv[3], "wb").write(b"".join(lines[begin:end + 1]))
open(sys.argv[4], "wb").write(b"".join(lines[end + 1:]))
PY
}
same_bytes() { cmp -s "$1" "$2" && ok || bad "$3: $(cmp "$1" "$2" 2>&1)"; }

# --- foreign text with no block yet, ending without a newline
printf '%s' $'# /etc/modules: kernel modules to load at boot time.\r\n#\r\n\r\nloop\r\n   \n\t\n# BEGIN ansible managed block\nlp\n# END ansible managed block\nkvm\nkvm-amd opt=1\n\tvhost_net   # wanted by libvirt\n# kvm_intel\nbonding mode=4\ni2c-dev' >"$M"
cp "$M" "$TMP/original"
apply_with etc-modules --json
expect_rc 0 "apply onto foreign text"
split_block
# The original bytes, then the newline the last line lacked, then the block, then nothing.
printf '\n' >>"$TMP/original.nl"
cat "$TMP/original" "$TMP/original.nl" >"$TMP/expected-head"
same_bytes "$TMP/head" "$TMP/expected-head" "every foreign byte kept, in place"
expect_eq "$(wc -c <"$TMP/tail")" 0 "the block is appended at the end"
expect_eq "$(sed 1d "$TMP/block")" "$(printf 'kvm\nkvm_amd\nvhost_net\n# END kvmprov')" "block content"
printf '%s' "$out" >"$TMP/report.json"
python3 - "$TMP/report.json" <<'PY' && ok || bad "duplicates reported in the JSON detail"
import json, sys
r = json.load(open(sys.argv[1]))
a = next(a for a in r["actions"] if a["target"] == "/etc/modules")
for m in ("kvm", "kvm_amd", "vhost_net"):
    assert f'"{m}" is also listed outside kvmprov\'s block, left as is' in a["detail"], a["detail"]
assert "kvm_intel" not in a["detail"] and "bonding" not in a["detail"], a["detail"]
PY
apply_with etc-modules
expect_rc 0 "second apply"
expect_in "$out" '"kvm" is also listed outside kvmprov'"'"'s block, left as is' "text report names the duplicate"
expect_in "$out" "0 changed" "second apply changes nothing"
run plan --root "$ROOT" --fact cpu_vendor=amd --profile "$TMP/etc-modules.yaml"
expect_in "$out" '"kvm_amd" is also listed outside kvmprov'"'"'s block, left as is' "plan reports the duplicate too"

# --- persist none: the block goes, every foreign byte stays
apply_with none
expect_rc 0 "remove the block"
cat "$TMP/original" "$TMP/original.nl" >"$TMP/expected"
same_bytes "$M" "$TMP/expected" "foreign text intact after the block is removed"

# --- a block in the middle, written with CRLF by an editor, foreign text on both sides
printf '%s' $'# head\r\nloop\r\n' >"$TMP/head-in"
printf '%s' $'# BEGIN kvmprov (profile "old"): managed by kvmprov, do not edit\r\nkvm\r\nkvm_intel\r\n# END kvmprov\r\n' >"$TMP/old-block"
printf '%s' $'\r\n# tail: after the block\r\nlp\r\nkvm_amd' >"$TMP/tail-in"
cat "$TMP/head-in" "$TMP/old-block" "$TMP/tail-in" >"$M"
apply_with etc-modules
expect_rc 0 "replace a block in the middle"
split_block
same_bytes "$TMP/head" "$TMP/head-in" "bytes before the block"
same_bytes "$TMP/tail" "$TMP/tail-in" "bytes after the block"
expect_in "$out" '"kvm_amd" is also listed outside kvmprov'"'"'s block, left as is' "duplicate after the block"
apply_with none
expect_rc 0 "remove a block in the middle"
cat "$TMP/head-in" "$TMP/tail-in" >"$TMP/expected"
same_bytes "$M" "$TMP/expected" "the text around a removed block"

# --- a begin marker without its end (a hand edit cut short) takes the rest of the file
printf '%s' $'loop\n# BEGIN kvmprov (profile "x")\nkvm\nkvm_amd' >"$M"
apply_with etc-modules
expect_rc 0 "unterminated block"
split_block
same_bytes "$TMP/head" <(printf 'loop\n') "bytes before an unterminated block"
expect_eq "$(cat "$TMP/tail")" "" "an unterminated block is closed"
apply_with etc-modules
expect_in "$out" "0 changed" "then converged"

finish foreign-content
