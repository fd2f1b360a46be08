#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs the built kvmprov like a user and compares stdout, stderr, exit status and the files it
# writes under --root. Usage: cli_test.sh PATH/TO/kvmprov
# KVMPROV_WRAPPER, when set, is a command line every run goes through (e.g. valgrind and its
# options); an exit status of its own shows up as an unexpected exit status.
set -u
KVMPROV=$(realpath "$1")
DATA=$(cd "$(dirname "$0")/data" && pwd)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export NO_COLOR=1
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# run ARGS...: sets $out, $err, $rc
run() {
  # shellcheck disable=SC2086 # the wrapper is a command and its options, split on purpose
  out=$(${KVMPROV_WRAPPER:-} "$KVMPROV" "$@" 2>"$TMP/stderr"); rc=$?
  err=$(cat "$TMP/stderr")
}
expect_rc() { [ "$rc" = "$1" ] && ok || bad "$2: exit $rc, expected $1 (stderr: $err)"; }
expect_eq() { [ "$1" = "$2" ] && ok || bad "$3: got [$1], expected [$2]"; }
expect_in() { case "$1" in *"$2"*) ok ;; *) bad "$3: [$2] not in [$1]" ;; esac; }

# --- version, usage errors
run version
expect_rc 0 "version"
expect_eq "$out" "kvmprov 0.1.0" "version output"
run
expect_rc 64 "no verb"
run --no-such-option plan
expect_rc 64 "unknown option"
expect_in "$err" "kvmprov: " "usage error prefix"
run plan --help
expect_rc 0 "plan --help"
expect_in "$out" "--allow-reload" "plan --help lists the global options"
run --help
expect_in "$out" "Exit status:" "--help documents exit statuses"
run check --root "$TMP"
expect_rc 64 "check --root refused"
expect_eq "$err" "kvmprov: check examines the running system; --root is not supported for it (drop --root)" "check --root message"
run plan --root "$TMP" --fact cpu_vendr=amd
expect_rc 64 "bad --fact"
expect_in "$err" 'unknown fact "cpu_vendr" (did you mean "cpu_vendor"?)' "bad --fact message"

# --- validate
run validate "$KVMPROV_SOURCE_DIR/profiles/default.yaml"
expect_rc 0 "validate default"
expect_eq "$out" "$KVMPROV_SOURCE_DIR/profiles/default.yaml: valid profile \"default\"" "validate output"
cat >"$TMP/bad.yaml" <<'YAML'
version: 1
name: bad
modles:
  - name: kvm
persist: sometimes
YAML
run validate "$TMP/bad.yaml"
expect_rc 65 "validate bad"
expect_in "$err" "$TMP/bad.yaml:3:1: unknown key \"modles\" (did you mean \"modules\"?)" "unknown key"
expect_in "$err" "$TMP/bad.yaml:5:10: " "second error reported too"

# --- plan and apply under --root, forced AMD vendor, /etc/modules (no systemd in the root)
ROOT="$TMP/root"
mkdir -p "$ROOT/etc"
printf '# foreign\nloop\n' >"$ROOT/etc/modules"
run plan --root "$ROOT" --fact cpu_vendor=amd --detailed-exitcodes
expect_rc 2 "plan with pending changes, detailed"
expect_in "$out" ". load kvm_amd: not the running system (--root): kernel modules are left alone" "plan skips loads"
expect_in "$out" "~ write /etc/modules: update" "plan lists /etc/modules"
expect_in "$out" "+kvm_amd" "plan shows a diff"
[ "$(cat "$ROOT/etc/modules")" = "$(printf '# foreign\nloop')" ] && ok || bad "plan wrote /etc/modules"

run apply --root "$ROOT" --fact cpu_vendor=amd --detailed-exitcodes
expect_rc 2 "apply changes, detailed"
expect_in "$out" "1 changed, 0 unchanged, 0 failed, 0 pending, 3 skipped" "apply summary"
want=$(printf '# foreign\nloop\n# BEGIN kvmprov (profile "default"): managed by kvmprov, do not edit\nkvm\nkvm_amd\nvhost_net\n# END kvmprov')
expect_eq "$(cat "$ROOT/etc/modules")" "$want" "/etc/modules block"
mtime=$(stat -c %Y.%y "$ROOT/etc/modules")
run apply --root "$ROOT" --fact cpu_vendor=amd --detailed-exitcodes
expect_rc 0 "second apply changes nothing"
expect_in "$out" "0 changed, 1 unchanged, 0 failed, 0 pending, 3 skipped" "second apply summary"
expect_eq "$(stat -c %Y.%y "$ROOT/etc/modules")" "$mtime" "mtime kept"
run apply --root "$ROOT" --fact cpu_vendor=amd
expect_rc 0 "apply plain exit"

# --- JSON report
run plan --root "$ROOT" --fact cpu_vendor=intel --json
expect_rc 0 "plan --json"
printf '%s' "$out" >"$TMP/report.json"
python3 - "$TMP/report.json" <<'PY' && ok || bad "JSON report shape"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verb"] == "plan" and r["profile"]["name"] == "default", r
assert r["facts"]["cpu"]["vendor"] == "intel" and r["facts"]["overridden"] == ["cpu_vendor"]
ids = [a["id"] for a in r["actions"]]
assert ids == ["module:kvm", "module:kvm_intel", "module:vhost_net", "file:/etc/modules"], ids
for a in r["actions"]:
    assert set(a) >= {"id", "kind", "target", "status", "detail"}, a
    assert a["status"] in ("unchanged", "changed", "failed", "skipped", "pending")
f = r["actions"][-1]
assert "+kvm_intel" in f["diff"] and "-kvm_amd" in f["diff"], f["diff"]
assert r["summary"] == {"changed": 1, "unchanged": 0, "failed": 0, "skipped": 3, "pending": 0}
PY

# --- an invalid profile touches nothing
cp -a "$ROOT" "$TMP/before"
run apply --root "$ROOT" --profile "$TMP/bad.yaml"
expect_rc 65 "apply with an invalid profile"
diff -r "$TMP/before" "$ROOT" >/dev/null && ok || bad "invalid profile changed the root"

# --- modules-load.d when the root has systemd; options file for the nested profile
SYS="$TMP/sysroot"
mkdir -p "$SYS/usr/lib/systemd" && install -m 0755 /dev/null "$SYS/usr/lib/systemd/systemd"
run apply --root "$SYS" --fact cpu_vendor=intel --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
expect_rc 0 "apply nested into a systemd root"
expect_in "$(cat "$SYS/etc/modules-load.d/kvmprov.conf")" "$(printf 'kvm\nkvm_intel\nvhost_net')" "modules-load.d content"
expect_in "$(cat "$SYS/etc/modprobe.d/kvmprov.conf")" "options kvm_intel nested=1" "modprobe.d options"
expect_eq "$(stat -c %a "$SYS/etc/modprobe.d/kvmprov.conf")" "644" "mode of written files"
[ ! -e "$SYS/etc/modules" ] && ok || bad "/etc/modules written in a systemd root"
[ -z "$(find "$SYS" -name '.kvmprov.*')" ] && ok || bad "temporary files left"

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
