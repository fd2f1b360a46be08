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
expect_not_in() { case "$1" in *"$2"*) bad "$3: [$2] in [$1]" ;; *) ok ;; esac; }

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

# --- check on this machine: the exit status follows an independent KVM probe
if [ -e /dev/kvm ]; then
  probe=$(python3 - <<'PY'
import fcntl, os
try:
    fd = os.open("/dev/kvm", os.O_RDWR)
except OSError:
    print(1); raise SystemExit
try:
    ok = fcntl.ioctl(fd, 0xAE00) == 12                # KVM_GET_API_VERSION
    vm = fcntl.ioctl(fd, 0xAE01, 0) if ok else -1     # KVM_CREATE_VM
    vcpu = fcntl.ioctl(vm, 0xAE41, 0) if vm >= 0 else -1  # KVM_CREATE_VCPU
    print(0 if vcpu >= 0 else 1)
except OSError:
    print(1)
PY
)
else
  probe=1
  echo "check: no /dev/kvm here, expecting \"not usable\"" >&2
fi
run check
expect_rc "$probe" "check exit status matches the probe"
expect_in "$out" "verdict: " "check prints a verdict"
[ "$(printf '%s\n' "$out" | grep -cE '^(PASS|WARN|FAIL|SKIP) ')" = 8 ] && ok || bad "check: eight check lines"
run check --json
expect_rc "$probe" "check --json exit status"
printf '%s' "$out" >"$TMP/check.json"
python3 - "$TMP/check.json" "$probe" <<'PY' && ok || bad "check JSON shape"
import json, sys
r = json.load(open(sys.argv[1]))
assert [c["id"] for c in r["checks"]] == ["cpu", "firmware", "kernel", "device", "probe", "nested", "io", "nova-log"]
for c in r["checks"]:
    assert set(c) >= {"id", "title", "state", "detail", "hint"} and c["state"] in ("PASS", "WARN", "FAIL", "SKIP"), c
v = r["verdict"]
assert v["usable"] == (sys.argv[2] == "0") and v["virt_type"] == ("kvm" if v["usable"] else "qemu"), v
assert v["reason"] in ("ok", "ok-paravirtual", "no-hardware-support", "disabled-in-firmware", "nested-without-vt",
                       "module-missing", "module-not-loaded", "no-device-node", "permission-denied", "kernel-without-kvm"), v
PY
printf "x ERROR libvirtError: internal error: no supported architecture for os type 'hvm'\n" >"$TMP/nova.log"
run check --log "$TMP/nova.log"
expect_in "$out" "the KVM modules were not loaded when the guest started" "check --log explains the hvm error"
run check --user no-such-user-here
expect_rc 64 "check --user unknown"
expect_eq "$err" 'kvmprov: unknown user "no-such-user-here" (--user)' "check --user unknown message"
run check --help
expect_in "$out" "--user NAME" "check --help lists --user"

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
# A system image has accounts; its kvm group exists already (group creation is tested below).
printf 'root:x:0:\nkvm:x:994:\n' >"$ROOT/etc/group"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$ROOT/etc/passwd"
run plan --root "$ROOT" --fact cpu_vendor=amd --detailed-exitcodes
expect_rc 2 "plan with pending changes, detailed"
expect_in "$out" ". load kvm_amd: not the running system (--root): kernel modules are left alone" "plan skips loads"
expect_in "$out" "~ write /etc/modules: update" "plan lists /etc/modules"
expect_in "$out" "+kvm_amd" "plan shows a diff"
[ "$(cat "$ROOT/etc/modules")" = "$(printf '# foreign\nloop')" ] && ok || bad "plan wrote /etc/modules"

run apply --root "$ROOT" --fact cpu_vendor=amd --detailed-exitcodes
expect_rc 2 "apply changes, detailed"
expect_in "$out" "2 changed, 1 unchanged, 0 failed, 0 pending, 5 skipped" "apply summary"
want=$(printf '# foreign\nloop\n# BEGIN kvmprov (profile "default"): managed by kvmprov, do not edit\nkvm\nkvm_amd\nvhost_net\n# END kvmprov')
expect_eq "$(cat "$ROOT/etc/modules")" "$want" "/etc/modules block"
mtime=$(stat -c %Y.%y "$ROOT/etc/modules")
run apply --root "$ROOT" --fact cpu_vendor=amd --detailed-exitcodes
expect_rc 0 "second apply changes nothing"
expect_in "$out" "0 changed, 3 unchanged, 0 failed, 0 pending, 5 skipped" "second apply summary"
expect_eq "$(stat -c %Y.%y "$ROOT/etc/modules")" "$mtime" "mtime kept"
run apply --root "$ROOT" --fact cpu_vendor=amd
expect_rc 0 "apply plain exit"
# libkmod and libudev are opened only when a run needs them: never under --root, where no kernel
# or device action is taken.
LD_DEBUG=libs "$KVMPROV" apply --root "$ROOT" --fact cpu_vendor=amd --quiet >/dev/null 2>"$TMP/ld.log"
grep -qE 'libkmod|libudev' "$TMP/ld.log" && bad "apply --root maps libkmod or libudev" || ok
if [ ! -e /proc/modules ] && [ -d /sys/module ]; then
  # A kernel that cannot load modules: check reads /sys and never needs libkmod.
  LD_DEBUG=libs "$KVMPROV" check --quiet >/dev/null 2>"$TMP/ld.log"
  grep -q libkmod "$TMP/ld.log" && bad "check maps libkmod on a kernel without module support" || ok
else
  echo "cli: skipping check without libkmod (this kernel supports loadable modules)" >&2
fi

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
assert ids == ["module:kvm", "module:kvm_intel", "module:vhost_net", "file:/etc/modules",
               "group:kvm", "file:/etc/udev/rules.d/65-kvmprov.rules", "node:kvm",
               "node:vhost-net"], ids
for a in r["actions"]:
    assert set(a) >= {"id", "kind", "target", "status", "detail"}, a
    assert a["status"] in ("unchanged", "changed", "failed", "skipped", "pending")
f = r["actions"][3]
assert "+kvm_intel" in f["diff"] and "-kvm_amd" in f["diff"], f["diff"]
node = r["actions"][6]
assert node["kind"] == "node" and node["status"] == "skipped", node
assert node["device"] == {"node": "/dev/kvm", "group": "kvm", "mode": "0660", "module": "kvm",
                          "udevd_running": False}, node["device"]
assert r["summary"] == {"changed": 1, "unchanged": 2, "failed": 0, "skipped": 5, "pending": 0}
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

# --- reset: removes kvmprov's files and its block in /etc/modules, nothing else; idempotent
RST="$TMP/reset"
mkdir -p "$RST/etc/modprobe.d" "$RST/etc/modules-load.d" "$RST/etc/udev/rules.d"
printf '# foreign\nloop\n' >"$RST/etc/modules"
run apply --root "$RST" --fact cpu_vendor=intel --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
expect_rc 0 "apply before reset"
printf 'options loop max_loop=8\n' >"$RST/etc/modprobe.d/other.conf"
printf '# rules\n' >"$RST/etc/udev/rules.d/65-kvmprov.rules"
printf 'kvm\n' >"$RST/etc/modules-load.d/kvmprov.conf"
modules_before=$(cat "$RST/etc/modules")
run reset --root "$RST" --dry-run --detailed-exitcodes
expect_rc 2 "reset --dry-run has changes, detailed"
expect_in "$out" "- remove /etc/modprobe.d/kvmprov.conf: kvmprov's own file" "reset --dry-run lists the removal"
expect_in "$out" "-# BEGIN kvmprov" "reset --dry-run shows the /etc/modules diff"
expect_in "$out" "4 to change, 0 unchanged, 0 failing, 0 pending" "reset --dry-run summary"
[ -e "$RST/etc/modprobe.d/kvmprov.conf" ] && [ "$(cat "$RST/etc/modules")" = "$modules_before" ] && ok ||
  bad "reset --dry-run changed files"
run reset --root "$RST" --dry-run --json
python3 -c 'import json, sys; r = json.load(sys.stdin); assert r["verb"] == "reset" and r["dry_run"] is True, r' <<<"$out" && ok || bad "reset --dry-run JSON: $out"
run reset --root "$RST" --detailed-exitcodes
expect_rc 2 "reset changes, detailed"
expect_in "$out" "changed   remove /etc/modprobe.d/kvmprov.conf" "reset removes modprobe.d file"
expect_in "$out" "changed   remove /etc/udev/rules.d/65-kvmprov.rules" "reset removes udev rules"
expect_in "$out" "changed   write /etc/modules: remove kvmprov's block, keep the rest" "reset edits /etc/modules"
expect_in "$out" "4 changed, 0 unchanged, 0 failed, 0 pending" "reset summary"
expect_eq "$(cat "$RST/etc/modules")" "$(printf '# foreign\nloop')" "foreign bytes of /etc/modules kept"
for f in etc/modprobe.d/kvmprov.conf etc/modules-load.d/kvmprov.conf etc/udev/rules.d/65-kvmprov.rules; do
  [ ! -e "$RST/$f" ] && ok || bad "reset left $f"
done
[ -f "$RST/etc/modprobe.d/other.conf" ] && ok || bad "reset removed a foreign file"
run reset --root "$RST" --detailed-exitcodes
expect_rc 0 "second reset changes nothing"
expect_in "$out" "0 changed, 4 unchanged, 0 failed, 0 pending" "second reset summary"
run reset --root "$RST" --json
expect_rc 0 "reset --json"
printf '%s' "$out" >"$TMP/reset.json"
python3 - "$TMP/reset.json" <<'PY' && ok || bad "reset JSON report shape"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["verb"] == "reset" and r["dry_run"] is False, r
ids = [a["id"] for a in r["actions"]]
assert ids == ["file:/etc/modprobe.d/kvmprov.conf", "file:/etc/modules-load.d/kvmprov.conf",
               "file:/etc/udev/rules.d/65-kvmprov.rules", "file:/etc/modules"], ids
assert r["summary"]["unchanged"] == 4 and r["summary"]["changed"] == 0, r["summary"]
PY

# --- the operator profile the packages install as /etc/kvmprov/profile.yaml
run validate "$KVMPROV_SOURCE_DIR/contrib/profile.yaml"
expect_rc 0 "validate contrib/profile.yaml"

run reset --help
expect_rc 0 "reset --help"
expect_in "$out" "--root DIR" "reset --help lists the global options"

# --- devices: the rules file, precedence, injection, groups under --root
RULES=etc/udev/rules.d/65-kvmprov.rules
want=$(printf '%s\n' \
  '# Managed by kvmprov from profile "default" (<built-in default>).' \
  '# Changes here are overwritten: edit the profile and run "kvmprov apply".' \
  'KERNEL=="kvm", GROUP="kvm", MODE="0660", OPTIONS+="static_node=kvm"' \
  'KERNEL=="vhost-net", GROUP="kvm", MODE="0660", OPTIONS+="static_node=vhost-net"')
expect_eq "$(cat "$ROOT/$RULES")" "$want" "exact rules file"
expect_eq "$(stat -c %a "$ROOT/$RULES")" "644" "rules file mode"
rules_mtime=$(stat -c %Y.%y "$ROOT/$RULES")
printf 'KERNEL=="kvm", TAG+="uaccess"\n' >"$ROOT/etc/udev/rules.d/70-foreign.rules"
foreign_mtime=$(stat -c %Y.%y "$ROOT/etc/udev/rules.d/70-foreign.rules")
run apply --root "$ROOT" --fact cpu_vendor=amd --detailed-exitcodes
expect_rc 0 "apply again with a foreign rule"
expect_eq "$(stat -c %Y.%y "$ROOT/$RULES")" "$rules_mtime" "rules file mtime kept"
expect_eq "$(stat -c %Y.%y "$ROOT/etc/udev/rules.d/70-foreign.rules")" "$foreign_mtime" "foreign rule untouched"

# A later local rule defeats ours: plan names the file and line, apply fails that device.
printf '# local\nKERNEL=="kvm", GROUP="root"\n' >"$ROOT/etc/udev/rules.d/99-local.rules"
run plan --root "$ROOT" --fact cpu_vendor=amd
expect_rc 0 "plan with a defeating rule"
expect_in "$out" "! node /dev/kvm: kvmprov's rule does not decide: GROUP=\"root\" at /etc/udev/rules.d/99-local.rules:2 overrides kvmprov's rule (read after it)" "plan names the defeating rule"
run apply --root "$ROOT" --fact cpu_vendor=amd
expect_rc 1 "apply with a defeating rule fails"
expect_in "$out" "failed    node /dev/kvm: kvmprov's rule does not decide: GROUP=\"root\" at /etc/udev/rules.d/99-local.rules:2" "apply reports the defeat"
rm "$ROOT/etc/udev/rules.d/99-local.rules"

# Profiles that try to smuggle text into the rules file are refused and write nothing.
inject() {  # NAME YAML
  printf '%s\n' "$2" >"$TMP/inject.yaml"
  cp -a "$ROOT" "$TMP/inject-before"
  run apply --root "$ROOT" --profile "$TMP/inject.yaml"
  expect_rc 65 "injection ($1)"
  diff -r "$TMP/inject-before" "$ROOT" >/dev/null && ok || bad "injection ($1) changed the root"
  rm -rf "$TMP/inject-before"
}
head='version: 1
name: evil'
inject "quote in node" "$head
devices:
  - node: 'kvm\", RUN+=\"/bin/sh'
    mode: \"0660\""
inject "comma in node" "$head
devices:
  - node: kvm,RUN
    group: kvm"
inject "RUN in group" "$head
devices:
  - node: kvm
    group: 'kvm\", RUN+=\"/bin/touch /x'"
inject "newline in group" "$head
devices:
  - node: kvm
    group: \"kvm\\nRUN+=\\\"/bin/sh\\\"\""
inject "quote in member" "$head
groups:
  - name: kvm
    members: ['nova\"']"
inject "comma in group name" "$head
groups:
  - name: kvm,wheel"
inject "mode with text" "$head
devices:
  - node: kvm
    mode: '0660\", RUN+=\"x'"
inject "dot-dot node" "$head
devices:
  - node: ../etc/shadow
    mode: \"0666\""
run validate "$TMP/inject.yaml"
expect_in "$err" "$TMP/inject.yaml:4:11: invalid device node \"../etc/shadow\": must not contain \"..\"" "injection error names file:line:col"

# The rules file goes away with the last device.
run apply --root "$ROOT" --fact cpu_vendor=amd --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
expect_rc 0 "apply a profile without devices"
[ ! -e "$ROOT/$RULES" ] && ok || bad "rules file kept without devices"
expect_in "$out" "changed   remove /$RULES" "rules file removal reported"

# Group creation and membership under --root, through groupadd/usermod --root (needs root).
if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/groupadd ]; then
  GR="$TMP/grouproot"
  mkdir -p "$GR/etc"
  printf 'root:x:0:\nnova:x:1000:\n' >"$GR/etc/group"
  printf 'root:x:0:0:root:/root:/bin/sh\nnova:x:1000:1000::/home/nova:/bin/sh\n' >"$GR/etc/passwd"
  printf 'root:*::\nnova:!::\n' >"$GR/etc/gshadow"
  printf 'root:*:19000:0:99999:7:::\nnova:*:19000:0:99999:7:::\n' >"$GR/etc/shadow"
  cat >"$TMP/groups.yaml" <<'YAML'
version: 1
name: groups
devices:
  - node: kvm
    group: kvm
    mode: "0660"
groups:
  - name: kvm
    members: [nova, ghost]
YAML
  run apply --root "$GR" --profile "$TMP/groups.yaml"
  expect_rc 0 "apply creates the group under --root"
  expect_in "$out" "changed   group kvm: created a system group" "group created"
  expect_in "$out" "changed   member nova in kvm: added \"nova\" to group \"kvm\"" "member added"
  expect_in "$out" "pending   member ghost in kvm: user \"ghost\" does not exist yet" "missing user pending"
  expect_in "$out" "unchanged access /dev/kvm: \"nova\" can open it (root:kvm 0660, through group \"kvm\")" "access predicted"
  line=$(grep '^kvm:' "$GR/etc/group")
  case "$line" in kvm:x:[0-9]*:nova) ok ;; *) bad "group line: [$line]" ;; esac
  gid=$(echo "$line" | cut -d: -f3)
  [ "$gid" -lt 1000 ] && ok || bad "kvm is not a system group (gid $gid)"
  cp "$GR/etc/group" "$TMP/group.after"
  run apply --root "$GR" --profile "$TMP/groups.yaml" --detailed-exitcodes
  expect_rc 0 "second apply leaves the group alone"
  cmp -s "$GR/etc/group" "$TMP/group.after" && ok || bad "second apply changed /etc/group"
  expect_in "$out" "unchanged member nova in kvm: already a member" "member kept"
else
  echo "cli: skipping group creation under --root (needs root and groupadd)" >&2
fi

# OpenStack Compute: nova.conf under --root with the committed CPU map fixtures (both layouts).
NR="$TMP/novaroot"
mkdir -p "$NR/etc/nova" "$NR/usr/share/libvirt"
cp -r "$DATA/cpu_map/modern" "$NR/usr/share/libvirt/cpu_map"
cp "$DATA/cpu_map/legacy/cpu_map.xml" "$NR/usr/share/libvirt/old_cpu_map.xml"
printf '[DEFAULT]\r\n#compute_driver = <None>\r\n[libvirt]\r\n#virt_type = kvm\r\nvirt_type = qemu\r\n' >"$NR/etc/nova/nova.conf"
chmod 0640 "$NR/etc/nova/nova.conf"
cat >"$TMP/nova.yaml" <<'YAML'
version: 1
name: compute
nova:
  virt_type: auto
  cpu_mode: custom
  cpu_models: [Penryn]
YAML
run plan --root "$NR" --profile "$TMP/nova.yaml" --no-color
expect_rc 0 "nova plan under --root"
expect_in "$out" "= virt-type kvm: auto: an image's KVM cannot be probed (--root): assuming kvm" "auto under --root"
expect_in "$out" "features not compared: --root is not the target's CPU" "no CPU comparison under --root"
expect_in "$out" "-[libvirt] virt_type = qemu" "diff shows the old value of a managed key"
expect_not_in "$out" "#compute_driver" "diff shows no line of nova.conf that kvmprov does not manage"
run apply --root "$NR" --profile "$TMP/nova.yaml" --fact kvm_usable=false --fact cpu_flags=fpu,sse2,pni,sse4_1
expect_rc 0 "nova apply under --root"
expect_eq "$(cat "$NR/etc/nova/nova.conf")" "$(printf '[DEFAULT]\r\ncompute_driver = libvirt.LibvirtDriver\r\n#compute_driver = <None>\r\n[libvirt]\r\ncpu_mode = custom\r\ncpu_models = Penryn\r\n#virt_type = kvm\r\nvirt_type = qemu\r')" "nova.conf converged, CRLF kept"
expect_eq "$(stat -c %a "$NR/etc/nova/nova.conf")" "640" "nova.conf mode kept"
sed -i 's/Penryn/Nehalem/; s/virt_type: auto/virt_type: kvm/' "$TMP/nova.yaml"
printf '  cpu_map: /usr/share/libvirt/old_cpu_map.xml\n' >>"$TMP/nova.yaml"
run plan --root "$NR" --profile "$TMP/nova.yaml" --no-color --fact cpu_flags=fpu,sse2,pni,sse4_1
expect_in "$out" "! cpu-mode custom Nehalem: this CPU cannot run \"Nehalem\": it lacks sse4.2 (sse4_2), lahf_lm" "older single-file CPU map"
run plan --root "$NR" --profile "$TMP/nova.yaml" --json --fact cpu_flags=fpu,sse2,pni,sse4_1
expect_in "$out" '"missing_features": [' "JSON names the missing features"
rm "$NR/etc/nova/nova.conf"
run apply --root "$NR" --profile "$TMP/nova.yaml" --fact cpu_flags=fpu,sse2,pni,sse4_1,sse4_2,lahf_lm
expect_in "$out" "pending   write /etc/nova/nova.conf: nova.conf not found: install nova-compute first" "missing nova.conf is pending"
[ ! -e "$NR/etc/nova/nova.conf" ] && ok || bad "kvmprov created nova.conf"
printf 'version: 1\nname: c\nnova:\n  cpu_mode: custom\n' >"$TMP/nova-bad.yaml"
run validate "$TMP/nova-bad.yaml"
expect_rc 65 "custom without models"
expect_in "$err" "nova-bad.yaml:4:13: cpu_mode \"custom\" needs at least one model" "custom without models message"
printf 'version: 1\nname: c\nnova:\n  cpu_models: [Nehalem]\n' >"$TMP/nova-bad.yaml"
run validate "$TMP/nova-bad.yaml"
expect_rc 65 "models without custom"

# --- --root never means the running system by accident
for verb in plan apply reset "reset --dry-run"; do
  # shellcheck disable=SC2086 # "reset --dry-run" is two words on purpose
  run $verb --root ""
  expect_rc 64 "$verb --root '': exit"
  expect_eq "$err" "kvmprov: --root is empty: give the image's directory, or drop --root to act on the running system" "$verb --root '': message"
  ln -sfn / "$TMP/slash"
  # shellcheck disable=SC2086
  run $verb --root "$TMP/slash"
  expect_rc 64 "$verb --root to /: exit"
  expect_eq "$err" "kvmprov: --root \"$TMP/slash\" is the running system's root directory: drop --root to provision this host" "$verb --root to /: message"
  # shellcheck disable=SC2086
  run $verb --root /
  expect_rc 64 "$verb --root /"
  # shellcheck disable=SC2086
  run $verb --root "$TMP/no-such-dir"
  expect_rc 64 "$verb --root that does not exist"
  expect_eq "$err" "kvmprov: --root \"$TMP/no-such-dir\": No such file or directory" "$verb --root that does not exist: message"
  : >"$TMP/a-file"
  # shellcheck disable=SC2086
  run $verb --root "$TMP/a-file"
  expect_rc 64 "$verb --root that is a file"
  expect_eq "$err" "kvmprov: --root \"$TMP/a-file\": not a directory" "$verb --root that is a file: message"
done
run check --root ""
expect_rc 64 "check --root ''"

# --- apply and reset on the running system need root: refused at once, nothing touched
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  for verb in apply reset; do
    out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$KVMPROV" $verb 2>"$TMP/stderr"); rc=$?
    err=$(cat "$TMP/stderr")
    expect_rc 1 "$verb as a user"
    expect_eq "$err" "kvmprov: $verb changes the running system and needs root: run it as root (sudo kvmprov $verb), or give --root DIR to provision an image" "$verb as a user: message"
    expect_eq "$out" "" "$verb as a user: no report"
  done
  # A user may still plan, and reset --dry-run.
  setpriv --reuid=65534 --regid=65534 --clear-groups "$KVMPROV" reset --dry-run >/dev/null 2>&1
  expect_eq "$?" 0 "reset --dry-run as a user"
else
  echo "cli: skipping the unprivileged runs (needs root and setpriv)" >&2
fi

# --- output errors are errors: a report that could not be written is a failure
OR="$TMP/outroot"
mkdir -p "$OR"
for args in "version" "--json version" "plan --root $OR" "--json plan --root $OR" \
  "apply --root $OR --json" "reset --dry-run --root $OR" "validate $KVMPROV_SOURCE_DIR/profiles/default.yaml" \
  "check" "check --json"; do
  # shellcheck disable=SC2086 # ARGS are words on purpose
  ${KVMPROV_WRAPPER:-} "$KVMPROV" $args >/dev/full 2>"$TMP/stderr"
  rc=$?
  expect_eq "$rc" 1 "$args > /dev/full: exit"
  expect_in "$(cat "$TMP/stderr")" "kvmprov: write error: No space left on device" "$args > /dev/full: message"
done

# --- the same profile gives the same files, however its path is spelled
SP="$TMP/spelling"
mkdir -p "$SP/root" "$SP/etc/kvmprov"
cp "$KVMPROV_SOURCE_DIR/profiles/nested.yaml" "$SP/etc/kvmprov/profile.yaml"
ln -s "$SP/etc/kvmprov/profile.yaml" "$SP/link.yaml"
(cd "$SP/etc/kvmprov" && "$KVMPROV" apply --root "$SP/root" --fact cpu_vendor=intel --profile profile.yaml >/dev/null)
for spelling in ./profile.yaml "$SP/etc/kvmprov//profile.yaml" "$SP/etc/../etc/kvmprov/profile.yaml" "$SP/link.yaml"; do
  out=$(cd "$SP/etc/kvmprov" && "$KVMPROV" --detailed-exitcodes apply --root "$SP/root" --fact cpu_vendor=intel --profile "$spelling"); rc=$?
  expect_rc 0 "profile spelt $spelling: nothing to change"
done
expect_in "$(cat "$SP/root/etc/modprobe.d/kvmprov.conf")" "($SP/etc/kvmprov/profile.yaml)" "the header names the profile's real path"

# --- a file that cannot be read is never planned as absent
BR="$TMP/badread"
mkdir -p "$BR/etc"
head -c $((17 << 20)) /dev/zero | tr '\0' '#' >"$BR/etc/modules"
before=$(sha256sum <"$BR/etc/modules")
run apply --root "$BR" --fact cpu_vendor=intel --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
expect_rc 1 "an /etc/modules over 16 MiB"
expect_in "$out" "failed    write /etc/modules: cannot read \"$BR/etc/modules\": File too large" "an /etc/modules over 16 MiB: says why"
expect_eq "$(sha256sum <"$BR/etc/modules")" "$before" "an /etc/modules over 16 MiB is kept"
rm "$BR/etc/modules"
for kind in directory fifo; do
  for path in /etc/modules /etc/modprobe.d/kvmprov.conf; do
    rm -rf "$BR/etc"
    mkdir -p "$BR/etc/modprobe.d"
    if [ $kind = directory ]; then mkdir "$BR$path"; else mkfifo "$BR$path"; fi
    run plan --root "$BR" --fact cpu_vendor=intel --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
    expect_in "$out" "! write $path: " "a $kind at $path: plan predicts the failure"
    run apply --root "$BR" --fact cpu_vendor=intel --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
    expect_rc 1 "a $kind at $path: apply fails"
    run reset --root "$BR" --dry-run
    expect_not_in "$out" "$path: absent" "a $kind at $path: reset does not call it absent"
    expect_in "$out" "! " "a $kind at $path: reset predicts the failure"
  done
done

# --- a symlinked /etc in an image: nothing is changed, groups included
if [ "$(id -u)" = 0 ] && command -v groupadd >/dev/null; then
  LR="$TMP/linkedroot"
  mkdir -p "$LR" "$TMP/realetc"
  printf 'root:x:0:\n' >"$TMP/realetc/group"
  printf 'root:*::\n' >"$TMP/realetc/gshadow"
  printf 'root:x:0:0::/root:/bin/sh\n' >"$TMP/realetc/passwd"
  ln -s "$TMP/realetc" "$LR/etc"
  before=$(cd "$TMP/realetc" && sha256sum ./*)
  run plan --root "$LR" --fact cpu_vendor=intel --profile "$KVMPROV_SOURCE_DIR/profiles/default.yaml"
  expect_in "$out" "! group kvm: cannot create group \"kvm\": refusing to write \"$LR/etc/group\": \"$LR/etc\" is a symbolic link" "symlinked /etc: plan predicts the group failure"
  run apply --root "$LR" --fact cpu_vendor=intel --profile "$KVMPROV_SOURCE_DIR/profiles/default.yaml"
  expect_rc 1 "symlinked /etc: apply fails"
  expect_in "$out" "0 changed, 0 unchanged, 5 failed" "symlinked /etc: nothing changed"
  expect_eq "$(cd "$TMP/realetc" && sha256sum ./*)" "$before" "symlinked /etc: the linked directory is untouched"
fi

# --- check: one consistent verdict
run check --user ""
expect_rc 64 "check --user ''"
# shellcheck disable=SC2016 # $SUDO_USER is the message's text
expect_eq "$err" 'kvmprov: --user: the name is empty (an unset variable such as $SUDO_USER gives that): name an account, or drop --user to ask about the user running kvmprov (see kvmprov --help)' "check --user '': message"
expect_eq "$out" "" "check --user '': no report"
run check --log ""
expect_rc 64 "check --log ''"
expect_eq "$err" 'kvmprov: --log: the file name is empty: name the log, or drop --log for /var/log/nova/nova-compute.log (see kvmprov --help)' "check --log '': message"
for fact in kvm_usable=false kernel_release=6.1.0-99-amd64 systemd=true cpu_flags=fpu,vmx; do
  run check --fact "$fact"
  expect_rc 64 "check --fact $fact"
  expect_eq "$err" "kvmprov: --fact ${fact%%=*} does not apply to check, which examines the running kernel and decides KVM's usability itself; facts check uses: cpu_vendor, vmx, svm, hypervisor, modules_supported" "check --fact $fact: message"
done
run --fact cpu_vendor=amd check
expect_in "$out" 'PASS CPU: amd (--fact cpu_vendor); "svm" flag assumed (--fact cpu_vendor); ' "check --fact cpu_vendor=amd: the flag is assumed, not present"
expect_not_in "$out" "flag present" "check --fact cpu_vendor=amd: no flag called present"
expect_not_in "$out" "without VT flags" "check --fact cpu_vendor=amd: the verdict uses the same flags"
run --fact cpu_vendor=amd --fact svm=false check --json
printf '%s' "$out" >"$TMP/check-fact.json"
python3 - "$TMP/check-fact.json" <<'PY' && ok || bad "check --fact svm=false: every line and the verdict say the fact"
import json, sys
r = json.load(open(sys.argv[1]))
cpu = r["checks"][0]["detail"]
assert 'no "svm" flag (--fact svm)' in cpu, cpu
v = r["verdict"]
assert "/proc/cpuinfo" not in v["advice"], v
PY

# --log: the end of a log of any size, and streams
head -c $((17 << 20)) /dev/zero | tr '\0' '#' | fold -w 99 >"$TMP/big-nova.log"
printf "ERROR libvirtError: no supported architecture for os type 'hvm'\n" >>"$TMP/big-nova.log"
run check --log "$TMP/big-nova.log"
expect_not_in "$out" "File too large" "check --log over 16 MiB: read"
expect_in "$out" "\"no supported architecture for os type 'hvm'\" 1 time in the last 16 MiB of $TMP/big-nova.log: " "check --log over 16 MiB: its end searched"
out=$(printf "x ERROR: no supported architecture for os type 'hvm'\n" | ${KVMPROV_WRAPPER:-} "$KVMPROV" check --log /dev/stdin 2>"$TMP/stderr")
expect_in "$out" "1 time in /dev/stdin: the KVM modules were not loaded" "check --log /dev/stdin from a pipe"
out=$(${KVMPROV_WRAPPER:-} "$KVMPROV" check --log /dev/stdin <"$TMP/big-nova.log" 2>"$TMP/stderr")
expect_in "$out" "1 time in the last 16 MiB of /dev/stdin" "check --log /dev/stdin from a large file"
mkfifo "$TMP/nova.fifo"
cat "$TMP/big-nova.log" >"$TMP/nova.fifo" &
writer=$!
run check --log "$TMP/nova.fifo"
# A run that never opened the FIFO leaves the writer blocked: end it rather than wait for ever.
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null
expect_in "$out" "1 time in the last 16 MiB of $TMP/nova.fifo" "check --log FIFO with a writer"

# Hints fit the host: no load this kernel cannot do, no parameter value the kernel lacks.
run check --json
expect_not_in "$out" "amd_iommu=on" "check: no invalid amd_iommu value"
expect_not_in "$out" "profiles/nested.yaml apply" "check: no source-tree profile path"
if [ ! -e /proc/modules ]; then
  expect_not_in "$out" "modprobe" "check on a kernel without module support: no modprobe hint"
fi

# --user: the verdict is about that user, and the probe runs as that user or says it did not.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && [ -c /dev/kvm ]; then
  as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
  out=$(as_nobody "$KVMPROV" check --user root 2>"$TMP/stderr"); rc=$?
  expect_not_in "$out" "(permission-denied)" "check --user root as nobody: root is not denied"
  expect_not_in "$out" "usermod -aG kvm root" "check --user root as nobody: no group for root"
  if as_nobody sh -c ': <>/dev/kvm' 2>/dev/null; then
    expect_in "$out" 'KVM probe: as "nobody" (running kvmprov), not as "root": ' "check --user root as nobody who can open /dev/kvm: the probe says whose it is"
  else
    expect_rc 1 "check --user root as nobody who cannot open /dev/kvm"
    expect_in "$out" 'SKIP KVM probe: not run as "root": kvmprov runs as "nobody", who cannot open /dev/kvm (Permission denied)' "check --user root as nobody: probe not run"
    expect_in "$out" "verdict: not usable (not-probed): " "check --user root as nobody: verdict"
    expect_in "$out" "run as root to probe as another user" "check --user root as nobody: the fix"
  fi
  run check --user nobody
  if as_nobody sh -c ': <>/dev/kvm' 2>/dev/null; then
    expect_in "$out" 'KVM probe: as "nobody": ' "check --user nobody as root: probed as nobody"
  else
    expect_rc 1 "check --user nobody as root, nobody cannot open /dev/kvm"
    expect_in "$out" 'FAIL KVM probe: as "nobody": cannot open /dev/kvm: Permission denied' "check --user nobody as root: the probe ran as nobody"
    expect_in "$out" "verdict: not usable (permission-denied): nobody cannot open /dev/kvm" "check --user nobody as root: verdict about nobody"
  fi
else
  echo "cli: skipping check --user across users (needs root, setpriv and /dev/kvm)" >&2
fi

echo "cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
