#!/bin/bash
# SPDX-License-Identifier: MIT
# Foreign content in /etc/modules: comments, blank lines, CRLF line endings, no final newline,
# other tools' entries and blocks, and managed modules also listed outside kvmprov's block. Every
# byte outside the block is kept, the block is replaced where it stands, and each duplicate is
# reported and left in place; markers that are not exactly kvmprov's, or are broken, lose no
# byte; the file keeps its owner, group and mode. Usage: foreign_content_test.sh KVMPROV
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
import re, sys
data = open(sys.argv[1], "rb").read()
lines = data.splitlines(keepends=True)
def marker(line, word):
    return re.match(rb"(\xef\xbb\xbf)?# " + word + rb" kvmprov(\s|$)", line) is not None
begin = next(i for i, l in enumerate(lines) if marker(l, b"BEGIN"))
end = next(i for i in range(begin, len(lines)) if marker(lines[i], b"END"))
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

# --- a begin marker without its end (a hand edit cut short): the lines after it are the
# operator's, so nothing is written, by apply (in any persistence mode) or reset, and the file
# keeps every byte.
unterminated=$'loop\n# BEGIN kvmprov (profile "x")\nkvm\n# my own modules below\nbonding\n8021q\n'
for how in "apply_with etc-modules" "apply_with none" "run reset --root $ROOT"; do
  printf '%s' "$unterminated" >"$M"
  chmod 0644 "$M"
  $how
  expect_rc 1 "unterminated block: $how"
  expect_in "$out" "/etc/modules: kvmprov's block opened at line 2 has no \"# END kvmprov\" marker; fix it by hand" "unterminated block: $how says why"
  same_bytes "$M" <(printf '%s' "$unterminated") "unterminated block: $how keeps every byte"
done
run plan --root "$ROOT" --fact cpu_vendor=amd --profile "$TMP/etc-modules.yaml"
expect_in "$out" "! write /etc/modules: kvmprov's block opened at line 2" "plan predicts the failure"
# An END without its BEGIN, and a BEGIN inside a block, likewise.
for text in $'loop\nkvm\n# END kvmprov\nbonding\n' $'# BEGIN kvmprov\nkvm\n# BEGIN kvmprov\nbonding\n# END kvmprov\n'; do
  printf '%s' "$text" >"$M"
  apply_with etc-modules
  expect_rc 1 "malformed markers"
  same_bytes "$M" <(printf '%s' "$text") "malformed markers: every byte kept"
done

# --- another tool's block whose name starts with "kvmprov" is not kvmprov's
legacy=$'loop\n# BEGIN kvmprovisioner-legacy\nkvm_intel\n# END kvmprovisioner-legacy\n'
printf '%s' "$legacy" >"$M"
apply_with etc-modules
expect_rc 0 "another tool's block"
split_block
same_bytes "$TMP/head" <(printf '%s' "$legacy") "another tool's block is kept whole"
run reset --root "$ROOT"
same_bytes "$M" <(printf '%s' "$legacy") "reset leaves another tool's block alone"

# --- a UTF-8 byte order mark before the block on line 1 hides nothing: no second block
printf '\xef\xbb\xbf# BEGIN kvmprov (profile "default"): managed by kvmprov, do not edit\nkvm\n# END kvmprov\nloop\n' >"$M"
apply_with etc-modules
expect_rc 0 "byte order mark"
expect_eq "$(grep -c 'BEGIN kvmprov' "$M")" 1 "byte order mark: one block"
expect_eq "$(head -c 3 "$M" | od -An -tx1 | tr -d ' ')" "efbbbf" "byte order mark kept"

# --- a shared file keeps its owner, group and mode
printf 'loop\n' >"$M"
chmod 0600 "$M"
if [ "$(id -u)" = 0 ]; then chown 0:4 "$M"; fi
before=$(stat -c '%u:%g %a' "$M")
apply_with etc-modules
expect_rc 0 "owner, group and mode of /etc/modules"
expect_eq "$(stat -c '%u:%g %a' "$M")" "$before" "/etc/modules keeps owner, group and mode"
run reset --root "$ROOT"
expect_eq "$(stat -c '%u:%g %a' "$M")" "$before" "reset keeps owner, group and mode"
expect_eq "$(cat "$M")" "loop" "reset removed the block"

finish foreign-content
