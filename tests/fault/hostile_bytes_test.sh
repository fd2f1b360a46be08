#!/bin/bash
# SPDX-License-Identifier: MIT
# Hostile bytes in everything kvmprov reports. Latin-1, truncated UTF-8, overlong forms,
# surrogates, control bytes and escape sequences in the host's files (/etc/modules, nova.conf,
# kvmprov's own files), in the --profile and --root paths and in check's --log path: every verb
# with --json prints a report that a strict JSON parser reads as valid UTF-8, the text output
# escapes the same bytes the same way (\xNN) and lets no control byte reach the terminal, and no
# run ends in a crash. Usage: hostile_bytes_test.sh KVMPROV
source "$(dirname "$0")/lib.sh"
# Lengths and comparisons below count bytes.
export LC_ALL=C

# The corpus: one file of bytes per case.
declare -A corpus=(
  [latin1]=$'# Module f\xfcr den Start'
  [truncated]=$'# cut \xc3'
  [overlong]=$'# overlong \xc0\xaf slash'
  [surrogate]=$'# surrogate \xed\xa0\x80 half'
  [above-max]=$'# \xf4\x90\x80\x80 above U+10FFFF'
  [stray-continuation]=$'# \x80\xbf stray'
  [escape]=$'# \x1b]0;owned\x07\x1b[2J clear'
  [c1]=$'# \xc2\x9b31m c1 csi'
  [nul-free-mix]=$'# caf\xe9 \xe2\x82\xac \xff\xfe'
)

# valid_json FILE WHAT: FILE is one JSON document in strict UTF-8.
valid_json() {
  if python3 -c 'import json,sys; json.loads(open(sys.argv[1], "rb").read().decode("utf-8", "strict"))' "$1" 2>"$TMP/json.err"; then
    ok
  else
    bad "$2: not valid JSON in UTF-8: $(cat "$TMP/json.err") [$(head -c 300 "$1" | od -c | head -5)]"
  fi
}
# clean_text FILE WHAT: no control byte but newline and tab, and valid UTF-8.
clean_text() {
  if python3 -c '
import sys
data = open(sys.argv[1], "rb").read()
data.decode("utf-8", "strict")
bad = [b for b in data if (b < 0x20 and b not in (9, 10)) or b == 0x7f]
sys.exit(1 if bad else 0)' "$1" 2>/dev/null; then
    ok
  else
    bad "$2: raw control bytes or invalid UTF-8 in text output [$(od -c "$1" | grep -m3 '\\033\|[0-7][0-7][0-7]')]"
  fi
}
# verb_runs PREFIX ARGS...: runs kvmprov with --json and without, checks both outputs.
verb_runs() {
  local what=$1
  shift
  "$KVMPROV" --json "$@" >"$TMP/json.out" 2>"$TMP/json.stderr"
  local rc=$?
  [ "$rc" -lt 128 ] && ok || bad "$what --json: killed by a signal (exit $rc): $(cat "$TMP/json.stderr")"
  if [ -s "$TMP/json.out" ]; then valid_json "$TMP/json.out" "$what --json"; fi
  clean_text "$TMP/json.stderr" "$what --json (stderr)"
  "$KVMPROV" "$@" >"$TMP/text.out" 2>"$TMP/text.stderr"
  rc=$?
  [ "$rc" -lt 128 ] && ok || bad "$what: killed by a signal (exit $rc)"
  clean_text "$TMP/text.out" "$what (stdout)"
  clean_text "$TMP/text.stderr" "$what (stderr)"
}

cat >"$TMP/profile.yaml" <<'YAML'
version: 1
name: bytes
modules:
  - name: kvm
  - name: kvm_intel
    options: { nested: 1 }
persist: etc-modules
devices:
  - node: kvm
    group: kvm
    mode: "0660"
nova:
  config: /etc/nova/nova.conf
  virt_type: kvm
YAML

for name in "${!corpus[@]}"; do
  bytes=${corpus[$name]}
  # The bytes in a path: the root's own name, the profile's, the log's.
  R="$TMP/root-$name-$bytes"
  mkdir -p "$R/etc/nova" "$R/etc/modprobe.d" "$R/etc/udev/rules.d"
  printf '%s\nloop\n' "$bytes" >"$R/etc/modules"
  printf '[DEFAULT]\n%s\n[libvirt]\nvirt_type = qemu %s\n' "$bytes" "$bytes" >"$R/etc/nova/nova.conf"
  printf '%s\noptions kvm_intel nested=0\n' "$bytes" >"$R/etc/modprobe.d/kvmprov.conf"
  printf '%s\n' "$bytes" >"$R/etc/udev/rules.d/65-kvmprov.rules"
  printf 'root:x:0:\n' >"$R/etc/group"
  printf 'root:x:0:0::/root:/bin/sh\n' >"$R/etc/passwd"
  P="$TMP/profile-$name-$bytes.yaml"
  cp "$TMP/profile.yaml" "$P"
  LOG="$TMP/log-$name-$bytes.log"
  printf "%s no supported architecture for os type 'hvm'\n" "$bytes" >"$LOG"

  verb_runs "$name: plan" plan --root "$R" --profile "$P" --fact cpu_vendor=intel
  verb_runs "$name: reset --dry-run" reset --dry-run --root "$R"
  verb_runs "$name: validate" validate "$P"
  verb_runs "$name: check --log" check --log "$LOG"
  verb_runs "$name: check --log (absent)" check --log "$LOG.absent"
  verb_runs "$name: --root that does not exist" plan --root "$R.absent"
  verb_runs "$name: unknown --fact" plan --root "$R" --fact "cpu_vendor=$bytes"
  # apply last: it changes the root, and a second apply then has nothing to do.
  verb_runs "$name: apply" apply --root "$R" --profile "$P" --fact cpu_vendor=intel
  verb_runs "$name: reset" reset --root "$R"
  # What was written keeps the operator's bytes outside kvmprov's block.
  expect_eq "$(head -c ${#bytes} "$R/etc/modules" | od -An -tx1)" "$(printf '%s' "$bytes" | od -An -tx1)" \
    "$name: the operator's bytes in /etc/modules are kept"
done

# The escapes in text and JSON are the same: \xfc for the Latin-1 u-umlaut.
R="$TMP/root-same"
mkdir -p "$R/etc/modprobe.d"
printf '# f\xfcr\n' >"$R/etc/modprobe.d/kvmprov.conf"
run plan --root "$R" --profile "$TMP/profile.yaml" --fact cpu_vendor=intel
expect_in "$out" 'f\xfcr' "text output escapes a Latin-1 byte as \\xNN"
run plan --root "$R" --profile "$TMP/profile.yaml" --fact cpu_vendor=intel --json
# In JSON the backslash itself is escaped: the string holds \xfc.
expect_in "$out" 'f\\xfcr' "JSON escapes a Latin-1 byte as \\xNN"
# A profile path with bytes that are not UTF-8: the report says where it came from, escaped.
P=$'\xff'.yaml
cp "$TMP/profile.yaml" "$TMP/$P"
(cd "$TMP" && "$KVMPROV" --json plan --root "$R" --profile "$P" --fact cpu_vendor=intel) >"$TMP/p.out" 2>&1
valid_json "$TMP/p.out" "a profile path that is not UTF-8"

finish hostile-bytes
