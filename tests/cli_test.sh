#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs the built kvmprov like a user and compares stdout, stderr, exit status and the files it
# writes under --root. Usage: cli_test.sh PATH/TO/kvmprov
# KVMPROV_WRAPPER, when set, is a command line every run goes through (e.g. valgrind and its
# options); an exit status of its own shows up as an unexpected exit status.
set -u
KVMPROV=$(realpath "$1")
DATA=$(cd "$(dirname "$0")/data" && pwd)
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
scratch
export NO_COLOR=1

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
expect_eq "$err" "kvmprov: check does not take --root (only plan, apply and reset do): drop it" "check --root message"
run plan --root "$TMP" --fact cpu_vendr=amd
expect_rc 64 "bad --fact"
expect_in "$err" 'unknown fact "cpu_vendr" (did you mean "cpu_vendor"?)' "bad --fact message"

# --- check on this machine: the exit status follows an independent KVM probe. In a chroot
# (tests/chroot/run.sh) check refuses, the kernel there being the build host's, unless given
# --live: the runs that examine this machine get it there, and the refusal is tested.
LIVE=()
if chrooted; then
  LIVE=(--live)
  run check
  expect_rc 1 "check in a chroot"
  expect_eq "$err" "kvmprov: cannot check KVM from a chroot (/ is not the root directory of PID 1): its kernel and /dev/kvm are the build host's; run check on the host that boots this system, or give --live to check the one running it" "check in a chroot: refused"
fi
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
run check "${LIVE[@]}"
expect_rc "$probe" "check exit status matches the probe"
expect_in "$out" "verdict: " "check prints a verdict"
[ "$(printf '%s\n' "$out" | grep -cE '^(PASS|WARN|FAIL|SKIP) ')" = 9 ] && ok || bad "check: nine check lines"
run check "${LIVE[@]}" --json
expect_rc "$probe" "check --json exit status"
printf '%s' "$out" >"$TMP/check.json"
python3 - "$TMP/check.json" "$probe" <<'PY' && ok || bad "check JSON shape"
import json, sys
r = json.load(open(sys.argv[1]))
assert [c["id"] for c in r["checks"]] == ["cpu", "firmware", "kernel", "device", "probe", "libvirt", "nested", "io", "nova-log"]
for c in r["checks"]:
    assert set(c) >= {"id", "title", "state", "detail", "hint"} and c["state"] in ("PASS", "WARN", "FAIL", "SKIP"), c
v = r["verdict"]
libvirt = ("libvirt-daemon-not-running", "qemu-emulator-missing", "libvirt-capabilities-stale",
           "qemu-user-cannot-open-kvm", "libvirt-error")
# A libvirt cause makes the verdict "not usable" while the kernel's virt_type stays kvm.
assert v["usable"] == (sys.argv[2] == "0") or v["reason"] in libvirt, v
assert v["virt_type"] == ("kvm" if v["usable"] or v["reason"] in libvirt else "qemu"), v
assert v["reason"] in ("ok", "ok-paravirtual", "no-hardware-support", "disabled-in-firmware", "nested-without-vt",
                       "module-missing", "module-not-loaded", "no-device-node", "permission-denied",
                       "kernel-without-kvm") + libvirt, v
PY
printf "x ERROR libvirtError: internal error: no supported architecture for os type 'hvm'\n" >"$TMP/nova.log"
run check "${LIVE[@]}" --log "$TMP/nova.log"
expect_in "$out" "libvirt offered no KVM guest when nova-compute started the guest; " "check --log explains the hvm error"
run check "${LIVE[@]}" --user no-such-user-here
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
# A profile on standard input ("-") is named <stdin> in errors and in the files it generates, the
# same on every run; a pipe is read like a file.
out=$("$KVMPROV" validate - <"$TMP/bad.yaml" 2>"$TMP/stderr"); rc=$?; err=$(cat "$TMP/stderr")
expect_rc 65 "validate - (bad)"
expect_in "$err" "<stdin>:3:1: unknown key \"modles\"" "errors name <stdin>"
mkdir -p "$TMP/stdin-root/etc"
for n in 1 2; do
  out=$(printf 'version: 1\nname: piped\nmodules: [{name: kvm, options: {x: 1}}]\n' |
    "$KVMPROV" apply --profile - --root "$TMP/stdin-root" 2>"$TMP/stderr"); rc=$?
  err=$(cat "$TMP/stderr")
  expect_rc 0 "apply --profile - (run $n)"
done
expect_in "$out" "0 changed" "a second apply from standard input changes nothing"
expect_in "$(head -1 "$TMP/stdin-root/etc/modprobe.d/kvmprov.conf")" '"piped" (<stdin>)' \
  "the header names <stdin>"

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
expect_in "$out" "2 changed, 1 unchanged, 0 failed, 0 pending, 6 skipped" "apply summary"
expect_in "$out" "skipped   load kvm_intel: for intel, zhaoxin or centaur CPUs (\"when\"); this CPU is amd" "the other vendor's module is said to be left out"
want=$(printf '# foreign\nloop\n# BEGIN kvmprov (profile "default"): managed by kvmprov, do not edit\nkvm\nkvm_amd\nvhost_net\n# END kvmprov')
expect_eq "$(cat "$ROOT/etc/modules")" "$want" "/etc/modules block"
mtime=$(stat -c %Y.%y "$ROOT/etc/modules")
run apply --root "$ROOT" --fact cpu_vendor=amd --detailed-exitcodes
expect_rc 0 "second apply changes nothing"
expect_in "$out" "0 changed, 3 unchanged, 0 failed, 0 pending, 6 skipped" "second apply summary"
expect_eq "$(stat -c %Y.%y "$ROOT/etc/modules")" "$mtime" "mtime kept"
run apply --root "$ROOT" --fact cpu_vendor=amd
expect_rc 0 "apply plain exit"
# libkmod and libudev are opened only when a run needs them: never under --root, where no kernel
# or device action is taken.
LD_DEBUG=libs "$KVMPROV" apply --root "$ROOT" --fact cpu_vendor=amd --quiet >/dev/null 2>"$TMP/ld.log"
grep -qE 'libkmod|libudev' "$TMP/ld.log" && bad "apply --root maps libkmod or libudev" || ok
if [ ! -e /proc/modules ] && [ -d /sys/module ]; then
  # A kernel that cannot load modules: check reads /sys and never needs libkmod.
  LD_DEBUG=libs "$KVMPROV" check "${LIVE[@]}" --quiet >/dev/null 2>"$TMP/ld.log"
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
assert ids == ["module:kvm", "module:kvm_intel", "module:vhost_net", "module:kvm_amd",
               "file:/etc/modules", "group:kvm", "file:/etc/udev/rules.d/65-kvmprov.rules",
               "node:kvm", "node:vhost-net"], ids
for a in r["actions"]:
    assert set(a) >= {"id", "kind", "target", "status", "detail"}, a
    assert a["status"] in ("unchanged", "changed", "failed", "skipped", "pending")
f = r["actions"][4]
assert "+kvm_intel" in f["diff"] and "-kvm_amd" in f["diff"], f["diff"]
node = r["actions"][7]
assert node["kind"] == "node" and node["status"] == "skipped", node
assert node["device"] == {"node": "/dev/kvm", "group": "kvm", "mode": "0660", "module": "kvm",
                          "udevd_running": False}, node["device"]
assert r["summary"] == {"changed": 1, "unchanged": 2, "failed": 0, "skipped": 6, "pending": 0}
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
# Each verb's help, asked every way, lists every global option that verb takes (the table in
# README, "Options") and no other: a run builds only the options its command line may give, a
# help page all of them.
globals="--profile --root --live --json --quiet --no-color --color --fact --detailed-exitcodes --allow-reload --lock-timeout"
plan_takes="--profile --root --live --json --quiet --no-color --color --fact --detailed-exitcodes --allow-reload"
declare -A takes=(
  [check]="--live --json --quiet --no-color --color --fact"
  [plan]="$plan_takes"
  [apply]="$plan_takes --lock-timeout"
  [validate]="--json --quiet --no-color --color"
  [reset]="--root --live --json --quiet --no-color --color --detailed-exitcodes --lock-timeout"
  [version]="--json --no-color --color"
)
for verb in "${!takes[@]}"; do
  for ask in "$verb --help" "$verb -h" "help $verb" "--json $verb --help"; do
    # shellcheck disable=SC2086 # the verb and its words, split on purpose
    page=$("$KVMPROV" $ask 2>/dev/null | sed -n '/^Global options/,/^$/p')
    for option in $globals; do
      listed=no
      grep -q -- "^  ${option}[ ]" <<<"$page" && listed=yes
      case " ${takes[$verb]} " in *" $option "*) want=yes ;; *) want=no ;; esac
      expect_eq "$listed" "$want" "kvmprov $ask lists $option"
    done
  done
done

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
expect_rc 1 "plan with a defeating rule: the failure it predicts"
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
# Straight to kvmprov: a wrapper (json_capture.sh) would stand between its stdout and /dev/full.
for args in "version" "plan --root $OR" "--json plan --root $OR" \
  "apply --root $OR --json" "reset --dry-run --root $OR" "validate $KVMPROV_SOURCE_DIR/profiles/default.yaml" \
  "check ${LIVE[*]}" "check --json ${LIVE[*]}"; do
  # shellcheck disable=SC2086 # ARGS are words on purpose
  "$KVMPROV" $args >/dev/full 2>"$TMP/stderr"
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

# --- an image whose CPU is not known: planned for any vendor, and said so once
VN="$TMP/neutral"
mkdir -p "$VN/usr/lib/systemd" && install -m 0755 /dev/null "$VN/usr/lib/systemd/systemd"
run apply --root "$VN" --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
expect_rc 0 "vendor-neutral image"
expect_eq "$err" "kvmprov: the image's CPU is not known (--root without --fact cpu_vendor): module options are written for every vendor, and kvm_intel or kvm_amd is left to udev, which loads the CPU's own at boot; give --fact cpu_vendor=... for an image made for one vendor" "vendor-neutral image: said once"
expect_in "$(cat "$VN/etc/modprobe.d/kvmprov.conf")" "options kvm_intel nested=1" "vendor-neutral image: Intel's options"
expect_in "$(cat "$VN/etc/modprobe.d/kvmprov.conf")" "options kvm_amd nested=1" "vendor-neutral image: AMD's options"
expect_eq "$(grep -v '^#' "$VN/etc/modules-load.d/kvmprov.conf")" "$(printf 'kvm\nvhost_net')" "vendor-neutral image: no vendor module listed"
run apply --root "$VN" --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml" --fact cpu_vendor=amd
expect_eq "$err" "" "an image made for one vendor: nothing to say"
expect_eq "$(grep -v '^#' "$VN/etc/modules-load.d/kvmprov.conf")" "$(printf 'kvm\nkvm_amd\nvhost_net')" "an image made for AMD lists kvm_amd"

# --- an image built for another architecture: known from its /bin/sh, planned for it
# image_with_sh DIR MACHINE: an image with systemd whose /bin/sh (through the merged-/usr link and
# the sh -> dash link) starts as a 64-bit little-endian ELF program for e_machine MACHINE (octal
# bytes, low first) does.
image_with_sh() {
  mkdir -p "$1/usr/bin" "$1/usr/lib/systemd" "$1/etc" && ln -sfn usr/bin "$1/bin"
  install -m 0755 /dev/null "$1/usr/lib/systemd/systemd"
  # As on Debian, /bin/sh is a symlink to dash.
  printf "\177ELF\002\001\001\000\000\000\000\000\000\000\000\000\002\000$2" >"$1/usr/bin/dash"
  ln -sfn dash "$1/usr/bin/sh"
}
AR="$TMP/arm64image"
image_with_sh "$AR" '\267\000' # 183: AArch64
run plan --root "$AR" --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
expect_rc 0 "arm64 image: plan"
expect_eq "$err" "" "arm64 image: no word of an unknown CPU (its architecture has no vendor modules)"
expect_in "$out" ". load kvm_intel: an x86 KVM module; the image is arm64 (its /bin/sh is built for aarch64), whose KVM needs no vendor module" "arm64 image: kvm_intel ruled out, and why"
expect_in "$out" ". load kvm_amd: an x86 KVM module; the image is arm64" "arm64 image: kvm_amd ruled out"
run plan --root "$AR" --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml" --json
expect_in "$out" '"arch": "arm64"' "arm64 image: the JSON facts name the image's architecture"
run apply --root "$AR" --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
expect_rc 0 "arm64 image: apply"
expect_not_in "$(cat "$AR/etc/modprobe.d/kvmprov.conf" 2>/dev/null)" "kvm_" "arm64 image: no x86 vendor's options written"
expect_eq "$(grep -v '^#' "$AR/etc/modules-load.d/kvmprov.conf")" "$(printf 'kvm\nvhost_net')" "arm64 image: kvm and vhost_net listed"
run plan --root "$AR" --fact cpu_vendor=amd
expect_rc 64 "arm64 image with an x86 vendor: refused"
expect_eq "$err" "kvmprov: fact \"cpu_vendor\" names an x86 CPU, but the image is arm64 (its /bin/sh is built for aarch64): leave --fact cpu_vendor out for this image, or give --root an x86 image" "arm64 image with an x86 vendor: says why"
# The image's /bin/sh is resolved inside the image: an absolute link, and one climbing out with
# "..", name the image's dash (aarch64), never the build host's /usr/bin/dash (x86-64). Under
# KVMPROV_WRAPPER (valgrind, which has no openat2) reads take the walk kvmprov makes for kernels
# before 5.6, which resolves links inside the image as openat2 does.
for target in /usr/bin/dash ../../../../../../usr/bin/dash; do
  ln -sfn "$target" "$AR/usr/bin/sh"
  run plan --root "$AR" --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
  expect_in "$out" "the image is arm64 (its /bin/sh is built for aarch64)" "arm64 image, /bin/sh -> $target: resolved in the image"
done
# A FIFO planted at /bin/sh neither hangs the run nor decides anything: planned as vendor-neutral.
rm "$AR/usr/bin/sh" && mkfifo "$AR/usr/bin/sh"
run plan --root "$AR" --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
expect_rc 0 "image whose /bin/sh is a FIFO: plan"
expect_in "$err" "the image's CPU is not known (--root without --fact cpu_vendor)" "image whose /bin/sh is a FIFO: nothing guessed"
expect_in "$err" "kvmprov: the image's architecture is not known (cannot read \"$AR/bin/sh\": not a regular file): it is planned as an x86 image" "image whose /bin/sh is a FIFO: says so"
rm "$AR/usr/bin/sh" && mkdir "$AR/usr/bin/sh"
run plan --root "$AR" --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
expect_in "$err" "(cannot read \"$AR/bin/sh\": Is a directory)" "image whose /bin/sh is a directory: says so"
run plan --root "$AR" --fact cpu_vendor=intel
expect_eq "$([ "$rc" = 64 ] && echo refused || echo planned)" planned "image whose /bin/sh is a directory, with --fact cpu_vendor: planned"
expect_not_in "$err" "architecture is not known" "image whose /bin/sh is a directory, with --fact cpu_vendor: the fact decides"
# An x86-64 image is the vendor-neutral case above; so is one of an architecture kvmprov does not
# know (riscv64) and one whose /bin/sh is no program: nothing is guessed.
for machine in '\076\000' '\363\000' 'x'; do
  XR="$TMP/image-$RANDOM"
  image_with_sh "$XR" "$machine"
  run plan --root "$XR" --profile "$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
  expect_in "$err" "the image's CPU is not known (--root without --fact cpu_vendor)" "image with /bin/sh machine $machine: planned for every vendor"
  run plan --root "$XR" --fact cpu_vendor=intel
  expect_not_in "$err" "names an x86 CPU" "image with /bin/sh machine $machine: --fact cpu_vendor accepted"
done

# --- nova: what nova-compute reads, converged where it reads it (under --root)
DR="$TMP/debianroot"
mkdir -p "$DR/etc/nova/nova.conf.d"
printf '[DEFAULT]\n#compute_driver = <None>\n[database]\nconnection = mysql+pymysql://nova:S3cret@db/nova\n[libvirt]\n#virt_type = kvm\n' >"$DR/etc/nova/nova.conf"
# nova-compute.conf as nova-compute-kvm ships it, and a drop-in that spells the section upper-case.
printf '[DEFAULT]\ncompute_driver=libvirt.LibvirtDriver\nneutron_ovs_bridge=br-int\n[libvirt]\nvirt_type=kvm\nvif_driver=nova.virt.libvirt.vif.LibvirtGenericVIFDriver\n' >"$DR/etc/nova/nova-compute.conf"
printf '[LIBVIRT]\ncpu_mode = host-passthrough\n' >"$DR/etc/nova/nova.conf.d/50-cpu.conf"
chmod 0640 "$DR/etc/nova/nova-compute.conf"
printf 'version: 1\nname: compute\nnova:\n  virt_type: auto\n' >"$TMP/nova-debian.yaml"
run plan --root "$DR" --profile "$TMP/nova-debian.yaml" --fact kvm_usable=false
expect_rc 0 "nova: plan over Debian's files"
expect_in "$out" "~ write /etc/nova/nova-compute.conf: update: decides [DEFAULT] compute_driver, [libvirt] virt_type; owner, group and mode kept" "nova: the plan names the file that decides virt_type"
expect_in "$out" "~ write /etc/nova/nova.conf.d/50-cpu.conf: update: decides [libvirt] cpu_mode; owner, group and mode kept" "nova: an upper-case [LIBVIRT] drop-in decides cpu_mode"
expect_in "$out" "-[libvirt] virt_type = kvm" "nova: diff shows the package's value"
expect_in "$out" "+[libvirt] virt_type = qemu" "nova: diff shows the new value"
expect_not_in "$out" "neutron_ovs_bridge" "nova: no foreign line of nova-compute.conf in the plan"
expect_not_in "$out" "S3cret" "nova: no foreign line of nova.conf in the plan"
run apply --root "$DR" --profile "$TMP/nova-debian.yaml" --fact kvm_usable=false
expect_rc 0 "nova: apply over Debian's files"
expect_eq "$(sed -n 5p "$DR/etc/nova/nova-compute.conf")" "virt_type=qemu" "nova: nova-compute.conf corrected in place"
expect_eq "$(stat -c %a "$DR/etc/nova/nova-compute.conf")" "640" "nova: nova-compute.conf mode kept"
expect_eq "$(cat "$DR/etc/nova/nova.conf.d/50-cpu.conf")" "$(printf '[LIBVIRT]\ncpu_mode = host-model')" "nova: the drop-in's line converged"
run apply --root "$DR" --profile "$TMP/nova-debian.yaml" --fact kvm_usable=false
expect_in "$out" "0 changed, " "nova: the second apply changes nothing"
expect_in "$out" "unchanged write /etc/nova/nova-compute.conf: up to date: decides [DEFAULT] compute_driver, [libvirt] virt_type" "nova: converged, the deciding file still says so"
# A symlinked nova.conf: plan predicts apply's refusal, and the link's target is left alone.
mv "$DR/etc/nova/nova.conf" "$DR/etc/nova/nova.conf.real"
ln -s nova.conf.real "$DR/etc/nova/nova.conf"
before=$(sha256sum <"$DR/etc/nova/nova.conf.real")
printf 'version: 1\nname: compute\nnova:\n  virt_type: kvm\n  legacy_option_names: true\n' >"$TMP/nova-link.yaml"
run plan --root "$DR" --profile "$TMP/nova-link.yaml"
expect_in "$out" "! write /etc/nova/nova.conf: " "nova: a symlinked nova.conf fails in plan"
run apply --root "$DR" --profile "$TMP/nova-link.yaml"
expect_rc 1 "nova: a symlinked nova.conf fails in apply"
expect_in "$out" "failed    write /etc/nova/nova.conf: " "nova: apply names the refused file"
expect_eq "$(sha256sum <"$DR/etc/nova/nova.conf.real")" "$before" "nova: the symlink's target is untouched"
if [ -L "$DR/etc/nova/nova.conf" ]; then ok; else bad "nova: the symlink was replaced"; fi
# No CPU map in the image: said so, not that the models are wrong.
rm "$DR/etc/nova/nova.conf" && mv "$DR/etc/nova/nova.conf.real" "$DR/etc/nova/nova.conf"
printf 'version: 1\nname: compute\nnova:\n  virt_type: kvm\n  cpu_mode: custom\n  cpu_models: [Nehalem]\n' >"$TMP/nova-nomap.yaml"
run plan --root "$DR" --profile "$TMP/nova-nomap.yaml"
expect_in "$out" "! cpu-mode custom Nehalem: cannot check the CPU models in the image (--root): no libvirt CPU map: " "nova: a missing CPU map is said to be missing from the image"
expect_in "$out" "! write /etc/nova/nova.conf: not written: the CPU models cannot be checked: no libvirt CPU map in the image (--root) (see nova:cpu_mode)" "nova: nova.conf is not written for want of a CPU map"
expect_not_in "$out" "models are wrong" "nova: a missing CPU map is not called wrong models"
printf 'version: 1\nname: c\nnova:\n  config_dir: /etc/nova/nova.conf.d\n' >"$TMP/nova-bad.yaml"
run validate "$TMP/nova-bad.yaml"
expect_rc 65 "nova: config_dir refused"
expect_in "$err" "nova-bad.yaml:4:3: unknown key \"config_dir\" in \"nova\": list files and directories (ending in '/') in \"config\"" "nova: config_dir points at config"

# --- exit statuses: each cell of the table in kvmprov(8) and the README
# ES ROOT [ARGS...]: a root without systemd whose kvm group exists, for the profile in ARGS.
es_root() {
  rm -rf "$1" && mkdir -p "$1/etc"
  printf 'root:x:0:\nkvm:x:994:\n' >"$1/etc/group"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$1/etc/passwd"
}
# cell EXPECTED WHAT ARGS...: runs kvmprov ARGS and checks its exit status.
cell() {
  local want=$1 what=$2
  shift 2
  run "$@"
  expect_rc "$want" "exit status: $what"
}
ES="$TMP/exit"
cat >"$TMP/pending.yaml" <<'YAML'
version: 1
name: pending
modules:
  - name: kvm
groups:
  - name: kvm
    members: [ghost]
YAML
NESTED="$KVMPROV_SOURCE_DIR/profiles/nested.yaml"
D=--detailed-exitcodes
# Nothing to do.
es_root "$ES"
run apply --root "$ES" --fact cpu_vendor=intel
cell 0 "plan, nothing to change" plan --root "$ES" --fact cpu_vendor=intel
cell 0 "plan $D, nothing to change" plan $D --root "$ES" --fact cpu_vendor=intel
cell 0 "apply, nothing changed" apply --root "$ES" --fact cpu_vendor=intel
cell 0 "apply $D, nothing changed" apply $D --root "$ES" --fact cpu_vendor=intel
# Changes.
es_root "$ES"
cell 0 "plan, changes" plan --root "$ES" --fact cpu_vendor=intel
cell 2 "plan $D, changes" plan $D --root "$ES" --fact cpu_vendor=intel
cell 2 "apply $D, changes" apply $D --root "$ES" --fact cpu_vendor=intel
# Pending items only: a change still to make for plan, no change made for apply.
es_root "$ES"
run apply --root "$ES" --profile "$TMP/pending.yaml"
expect_in "$out" "pending   member ghost in kvm" "exit status: the pending item"
cell 0 "plan, pending" plan --root "$ES" --profile "$TMP/pending.yaml"
cell 2 "plan $D, pending" plan $D --root "$ES" --profile "$TMP/pending.yaml"
cell 0 "apply, pending" apply --root "$ES" --profile "$TMP/pending.yaml"
cell 0 "apply $D, pending" apply $D --root "$ES" --profile "$TMP/pending.yaml"
# Failures only: a directory where /etc/modules belongs, everything else done.
rm "$ES/etc/modules" && mkdir "$ES/etc/modules"
cell 1 "plan, a failure predicted" plan --root "$ES" --profile "$TMP/pending.yaml" --quiet
expect_in "$out" "! write /etc/modules" "exit status: the predicted failure"
cell 6 "plan $D, a failure and a pending item" plan $D --root "$ES" --profile "$TMP/pending.yaml"
cell 4 "apply $D, a failure and a pending item" apply $D --root "$ES" --profile "$TMP/pending.yaml"
es_root "$ES"
run apply --root "$ES" --fact cpu_vendor=intel
rm "$ES/etc/modules" && mkdir "$ES/etc/modules"
cell 4 "plan $D, a failure, nothing to change" plan $D --root "$ES" --fact cpu_vendor=intel
cell 1 "apply, a failure" apply --root "$ES" --fact cpu_vendor=intel
cell 4 "apply $D, a failure, nothing changed" apply $D --root "$ES" --fact cpu_vendor=intel
# Failures and changes: modprobe.d is written, /etc/modules cannot be.
es_root "$ES"
mkdir "$ES/etc/modules"
cell 1 "plan, a failure and changes" plan --root "$ES" --fact cpu_vendor=intel --profile "$NESTED"
cell 6 "plan $D, a failure and changes" plan $D --root "$ES" --fact cpu_vendor=intel --profile "$NESTED"
cell 6 "apply $D, a failure and changes" apply $D --root "$ES" --fact cpu_vendor=intel --profile "$NESTED"
expect_in "$(cat "$ES/etc/modprobe.d/kvmprov.conf")" "options kvm_intel nested=1" "exit status: the change was made"
# reset and reset --dry-run, on the same root: modprobe.d to remove, a directory at /etc/modules.
cell 1 "reset --dry-run, a failure and changes" reset --dry-run --root "$ES"
cell 6 "reset --dry-run $D, a failure and changes" reset --dry-run $D --root "$ES"
cell 6 "reset $D, a failure and changes" reset $D --root "$ES"
cell 4 "reset --dry-run $D, a failure" reset --dry-run $D --root "$ES"
cell 1 "reset, a failure" reset --root "$ES"
cell 4 "reset $D, a failure" reset $D --root "$ES"
rmdir "$ES/etc/modules"
cell 0 "reset --dry-run, nothing to remove" reset --dry-run --root "$ES"
cell 0 "reset --dry-run $D, nothing to remove" reset --dry-run $D --root "$ES"
cell 0 "reset $D, nothing removed" reset $D --root "$ES"
run apply --root "$ES" --fact cpu_vendor=intel
cell 0 "reset --dry-run, something to remove" reset --dry-run --root "$ES"
cell 2 "reset --dry-run $D, something to remove" reset --dry-run $D --root "$ES"
cell 0 "reset, something removed" reset --root "$ES"
# An invalid profile is 65, with --detailed-exitcodes too.
cell 65 "plan, invalid profile" plan --root "$ES" --profile "$TMP/bad.yaml"
cell 65 "plan $D, invalid profile" plan $D --root "$ES" --profile "$TMP/bad.yaml"
cell 65 "apply $D, invalid profile" apply $D --root "$ES" --profile "$TMP/bad.yaml"
# A report that could not be written is 1, with --detailed-exitcodes too.
es_root "$ES"
${KVMPROV_WRAPPER:-} "$KVMPROV" apply $D --root "$ES" --fact cpu_vendor=intel >/dev/full 2>/dev/null
expect_eq "$?" 1 "exit status: apply $D, the report lost"
# Not root: apply and reset on the running system fail before any action (4 with $D).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  for verb in apply reset; do
    setpriv --reuid=65534 --regid=65534 --clear-groups "$KVMPROV" $D $verb >/dev/null 2>&1
    expect_eq "$?" 4 "exit status: $verb $D as a user"
  done
fi

# --- the profile grammar as documented: option values, YAML 1.1 booleans, account names
GR2="$TMP/grammar"
es_root "$GR2"
printf 'root:x:0:0:root:/root:/bin/sh\njohn.doe:x:1000:1000::/home/john.doe:/bin/sh\n' >"$GR2/etc/passwd"
printf 'root:*::\n' >"$GR2/etc/gshadow"
cat >"$TMP/grammar.yaml" <<'YAML'
version: 1
name: grammar
modules:
  - name: kvm
    options: { lapic_timer_advance_ns: -1 }
  - name: kvm_amd
    options: { nested: yes, avic: On, sev: NO, npt: "yes" }
devices:
  - node: kvm
    group: Admin
    mode: "0660"
groups:
  - name: Admin
    system: yes
    members: [john.doe]
YAML
run validate "$TMP/grammar.yaml"
expect_rc 0 "grammar: -1, yes/On/NO and Admin, john.doe validate"
run plan --root "$GR2" --fact cpu_vendor=amd --profile "$TMP/grammar.yaml"
expect_in "$out" "+options kvm lapic_timer_advance_ns=-1" "grammar: -1 reaches modprobe.d"
expect_in "$out" "+options kvm_amd nested=1 avic=1 sev=0 npt=yes" "grammar: plain booleans are 1 and 0, a quoted yes a string"
expect_in "$out" "GROUP=\"Admin\"" "grammar: the group name reaches the udev rule as written"
if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/groupadd ]; then
  run apply --root "$GR2" --fact cpu_vendor=amd --profile "$TMP/grammar.yaml"
  expect_in "$out" "changed   member john.doe in Admin" "grammar: john.doe added to Admin by usermod"
  case "$(grep '^Admin:' "$GR2/etc/group")" in Admin:x:*:john.doe) ok ;; *) bad "grammar: Admin line: $(cat "$GR2/etc/group")" ;; esac
  if command -v modprobe >/dev/null; then
    # libkmod itself reads one directive per line, with the values as written.
    kmod=$(modprobe -C "$GR2/etc/modprobe.d/kvmprov.conf" -c 2>/dev/null | grep '^options kvm')
    expect_eq "$kmod" "$(printf 'options kvm lapic_timer_advance_ns=-1\noptions kvm_amd nested=1 avic=1 sev=0 npt=yes')" "grammar: what libkmod reads"
  fi
fi
# What can carry a second directive, a shell command or break /etc/group is refused.
for bad in "options: { nested: '1;reboot' }" "options: { nested: '1\\' }" "options: { nested: '\$(reboot)' }" \
  "options: { nested: '1#2' }"; do
  printf 'version: 1\nname: g\nmodules:\n  - name: kvm\n    %s\n' "$bad" >"$TMP/g-bad.yaml"
  run validate "$TMP/g-bad.yaml"
  expect_rc 65 "grammar: refused: $bad"
  expect_in "$err" "allowed characters are A-Z a-z 0-9 _ . , : + / = @ -" "grammar: why $bad is refused"
done
for bad in "a:b" "a,b" "-a" "+a" "#a" "123" "a%k" 'a$b' "a b" 'a\b'; do
  printf 'version: 1\nname: g\ngroups:\n  - name: kvm\n    members: ["%s"]\n' "${bad//\\/\\\\}" >"$TMP/g-bad.yaml"
  run validate "$TMP/g-bad.yaml"
  expect_rc 65 "grammar: member $bad refused"
  expect_in "$err" "g-bad.yaml:5:15: invalid member name" "grammar: member $bad: the error names the place"
done

# --- verbs: unknown ones, help, --version
run frobnicate
expect_rc 64 "unknown verb"
expect_eq "$err" 'kvmprov: unknown verb "frobnicate": expected check, plan, apply, validate, reset, version or help (see kvmprov --help)' "unknown verb message"
for typo in "plna plan" "aply apply" "valdiate validate" "chekc check" "rest reset" "verison version" "hepl help"; do
  # shellcheck disable=SC2086 # a typo and the verb it stands for
  set -- $typo
  run "$1" --json
  expect_rc 64 "verb $1"
  expect_eq "$err" "kvmprov: unknown verb \"$1\" (did you mean \"$2\"?)" "verb $1: did you mean $2"
done
run "$(printf 'pl\033[31man')"
expect_eq "$err" 'kvmprov: unknown verb "pl\x1b[31man": expected check, plan, apply, validate, reset, version or help (see kvmprov --help)' "an unknown verb is escaped"
run
expect_eq "$err" "kvmprov: a verb is required: check, plan, apply, validate, reset, version or help (see kvmprov --help)" "no verb: message"
run --no-such-option
expect_rc 64 "an unknown option alone"
expect_in "$err" "--no-such-option" "an unknown option alone: named"
top_help=$("$KVMPROV" --help)
run help
expect_rc 0 "help"
expect_eq "$out" "$top_help" "help is --help"
run help plan
expect_rc 0 "help plan"
expect_eq "$out" "$("$KVMPROV" plan --help)" "help plan is plan --help"
expect_in "$out" "Usage: kvmprov plan" "help plan: usage line"
run help plna
expect_rc 64 "help with an unknown verb"
expect_eq "$err" 'kvmprov: unknown verb "plna" (did you mean "plan"?)' "help plna: did you mean"
run --help-all
expect_rc 0 "--help-all"
for o in "--user NAME" "--log FILE" "--dry-run" "FILE" "VERB"; do expect_in "$out" "$o" "--help-all shows $o"; done
for args in "--version" "-V" "version"; do
  # shellcheck disable=SC2086
  run $args
  expect_rc 0 "$args"
  expect_eq "$out" "kvmprov 0.1.0" "$args: output"
done
for args in "--json version" "--json --version" "version --json" "-V --json"; do
  # shellcheck disable=SC2086
  run $args
  expect_rc 0 "$args"
  python3 -c 'import json, sys; assert json.load(sys.stdin) == {"format": 1, "name": "kvmprov", "version": "0.1.0"}' <<<"$out" && ok || bad "$args: JSON [$out]"
done
run --version plan
expect_rc 64 "--version with a verb"
expect_eq "$err" "kvmprov: --version is the version verb: give it without plan" "--version with a verb: message"

# --- which verb takes which option: every cell of the table in the README (and kvmprov(8)).
# The 88 runs test the command line's table, not memory: they run the binary itself even under a
# KVMPROV_WRAPPER, which keeps the valgrind pass within its time (the verbs' code runs under it
# elsewhere in this file).
OPT="$TMP/optroot"
es_root "$OPT"
table=$(awk '$0 == "### Options by verb" { on = 1; next } on && /^\| `/ { print } on && /^## / { exit }' \
  "$KVMPROV_SOURCE_DIR/README.md" | sed 's/`//g; s/^| *//; s/ *|$//; s/ *| */|/')
[ "$(wc -l <<<"$table")" = 11 ] && ok || bad "options by verb: the README's table [$table]"
cells=0
while IFS='|' read -r option verbs; do
  case $option in
    --profile) value=("$KVMPROV_SOURCE_DIR/profiles/nested.yaml") ;;
    --root) value=("$OPT") ;;
    --fact) value=(cpu_vendor=intel) ;;
    --lock-timeout) value=(5) ;;
    --color) value=(never) ;;
    *) value=() ;;
  esac
  for use in check plan apply validate reset "reset --dry-run" version help; do
    case $use in
      check | version | help) args=("$use") ;;
      validate) args=(validate "$KVMPROV_SOURCE_DIR/profiles/default.yaml") ;;
      *) read -ra args <<<"$use" && args+=(--root "$OPT") ;;  # "reset --dry-run": two words
    esac
    if [ "$option" = --root ] && [[ " ${args[*]} " == *" --root "* ]]; then
      KVMPROV_WRAPPER="" run "${args[@]}"  # the verb's own run has --root already
    elif [ "$option" = --live ] && [[ " ${args[*]} " == *" --root "* ]]; then
      # --live acts on this machine, which the test must not change: apply stops at a missing
      # profile, reset at its refusal of a user; both after the option table has let --live by.
      read -ra args <<<"$use"
      case $use in
        apply) args+=(--profile "$TMP/no-such-profile.yaml") ;;
        reset) args=(setpriv --reuid=65534 --regid=65534 --clear-groups "$KVMPROV" reset) ;;
      esac
      if [ "${args[0]}" = setpriv ]; then
        out=$("${args[@]}" --live 2>"$TMP/stderr"); rc=$?
        err=$(cat "$TMP/stderr")
      else
        KVMPROV_WRAPPER="" run "${args[@]}" --live
      fi
    else
      KVMPROV_WRAPPER="" run "${args[@]}" "$option" "${value[@]}"
    fi
    cells=$((cells + 1))
    case ", $verbs, " in
      *", $use, "*)
        expect_not_in "$err" "does not take" "$use takes $option"
        [ "$rc" != 64 ] && ok || bad "$use $option: exit 64 ($err)"
        ;;
      *)
        expect_rc 64 "$use does not take $option"
        expect_in "$err" "kvmprov: $use does not take $option (only " "$use $option: message"
        ;;
    esac
  done
done <<<"$table"
expect_eq "$cells" 88 "options by verb: cells run"
[ -z "$(find "$OPT" -newer "$OPT/etc/passwd" -name '.kvmprov.*')" ] && ok || bad "options by verb: temporaries left"

# --- validate --json, and file errors in the FILE: form
printf 'version: 2\nname: "a b"\n' >"$TMP/v-bad.yaml"
run validate --json "$TMP/v-bad.yaml"
expect_rc 65 "validate --json, invalid"
expect_eq "$err" "" "validate --json, invalid: nothing on stderr"
printf '%s' "$out" >"$TMP/v.json"
python3 - "$TMP/v-bad.yaml" "$TMP/v.json" <<'PY' && ok || bad "validate --json, invalid: [$out]"
import json, sys
f = sys.argv[1]
assert json.load(open(sys.argv[2])) == {"format": 1, "file": f, "valid": False, "errors": [
    {"file": f, "line": 1, "column": 10, "message": 'unsupported version "2": expected 1'},
    {"file": f, "line": 2, "column": 7,
     "message": 'invalid profile name "a b": allowed characters are A-Z a-z 0-9 . _ -'}]}
PY
run validate "$TMP/v-bad.yaml"
expect_eq "$err" "$(printf '%s\n' "$TMP/v-bad.yaml:1:10: unsupported version \"2\": expected 1" "$TMP/v-bad.yaml:2:7: invalid profile name \"a b\": allowed characters are A-Z a-z 0-9 . _ -")" "validate: the same errors as text"
run validate --json "$TMP/none.yaml"
expect_rc 65 "validate --json, missing file"
printf '%s' "$out" >"$TMP/v.json"
python3 - "$TMP/none.yaml" "$TMP/v.json" <<'PY' && ok || bad "validate --json, missing file: [$out]"
import json, sys
f = sys.argv[1]
assert json.load(open(sys.argv[2])) == {"format": 1, "file": f, "valid": False, "errors": [
    {"file": f, "line": None, "column": None, "message": "cannot read profile: No such file or directory"}]}
PY
head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' '#' >"$TMP/big.yaml"
for args in "validate $TMP/big.yaml" "plan --root $OPT --profile $TMP/big.yaml"; do
  # shellcheck disable=SC2086
  run $args
  expect_rc 65 "$args: too large"
  expect_eq "$err" "$TMP/big.yaml: profile is larger than 1 MiB" "$args: too large, FILE: form"
done
run validate --json "$TMP/big.yaml"
expect_in "$out" '"message": "profile is larger than 1 MiB"' "validate --json: too large"
# The limit is the same on standard input, where no size is known before reading: one byte past
# it is refused, and a profile of exactly 1 MiB is read whole.
out=$("$KVMPROV" validate - <"$TMP/big.yaml" 2>"$TMP/stderr"); rc=$?; err=$(cat "$TMP/stderr")
expect_rc 65 "validate -: too large"
expect_eq "$err" "<stdin>: profile is larger than 1 MiB" "validate -: too large, message"
printf 'version: 1\nname: x\n' >"$TMP/limit.yaml"
head -c $((1024 * 1024 - $(stat -c %s "$TMP/limit.yaml"))) /dev/zero | tr '\0' '#' >>"$TMP/limit.yaml"
expect_eq "$(stat -c %s "$TMP/limit.yaml")" $((1024 * 1024)) "the 1 MiB profile's size"
for input in "validate $TMP/limit.yaml" "validate -"; do
  # shellcheck disable=SC2086
  out=$("$KVMPROV" $input <"$TMP/limit.yaml" 2>"$TMP/stderr"); rc=$?; err=$(cat "$TMP/stderr")
  expect_rc 0 "$input: exactly 1 MiB"
  expect_in "$out" 'valid profile "x"' "$input: exactly 1 MiB is read and validated"
done
# A newline or an escape in a path can neither split the line nor reach the terminal.
HP="$TMP/a"$'\n'"b"$'\033'"[31m.yaml"
printf 'version: 2\nname: x\n' >"$HP"
for args in validate "plan --root $OPT --profile"; do
  # shellcheck disable=SC2086
  run $args "$HP"
  expect_eq "$err" "$TMP/a\\x0ab\\x1b[31m.yaml:1:10: unsupported version \"2\": expected 1" "$args: hostile path escaped"
done
run validate "$HP.none"
expect_eq "$err" "$TMP/a\\x0ab\\x1b[31m.yaml.none: cannot read profile: No such file or directory" "validate: hostile missing path escaped"
run validate --json "$HP"
python3 -c 'import json, sys; r = json.load(sys.stdin); assert r["file"] == sys.argv[1] and r["errors"][0]["file"] == sys.argv[1], r' "$HP" <<<"$out" && ok || bad "validate --json: hostile path [$out]"
[ "$(printf '%s' "$out" | tr -cd '\033' | wc -c)" = 0 ] && ok || bad "validate --json: a raw escape reached the terminal"

# --- the README's JSON examples have the keys and types kvmprov prints
JR="$TMP/jsonroot"
es_root "$JR"
printf 'loop\n' >"$JR/etc/modules"
"$KVMPROV" --json plan --root "$JR" --fact cpu_vendor=amd >"$TMP/j-plan.json"
"$KVMPROV" --json plan "${LIVE[@]}" >"$TMP/j-live.json" 2>/dev/null  # a live run lists modules in facts
"$KVMPROV" --json validate "$KVMPROV_SOURCE_DIR/profiles/nested.yaml" >"$TMP/j-valid.json"
"$KVMPROV" --json validate "$TMP/bad.yaml" >"$TMP/j-invalid.json"
"$KVMPROV" --json version >"$TMP/j-version.json"
python3 - "$KVMPROV_SOURCE_DIR/README.md" "$TMP" <<'PY' && ok || bad "the README's JSON examples differ from kvmprov's JSON"
import json, sys
text = open(sys.argv[1]).read()
section = text[text.index("### The JSON report\n"):text.index("\n## check\n")]
blocks, block = [], []
for line in section.split("\n") + [""]:
    if line.startswith("    "):
        block.append(line[4:])
    elif block and line == "":
        blocks.append(json.loads("\n".join(block)))
        block = []
def load(name):
    return json.load(open(f"{sys.argv[2]}/j-{name}.json"))
plan, live = load("plan"), load("live")
problems = []
def same(doc, actual, path):
    if doc is None or actual is None:
        return
    if type(doc) is not type(actual):
        problems.append(f"{path}: {type(doc).__name__} in the README, {type(actual).__name__} printed")
    elif isinstance(doc, dict) and path.rsplit(".", 1)[-1] in ("modules", "parameters", "options"):
        for key, value in doc.items():  # keys are names: compare the values' shapes
            if actual:
                same(value, next(iter(actual.values())), f"{path}.{key}")
    elif isinstance(doc, dict):
        if set(doc) != set(actual):
            problems.append(f"{path}: keys {sorted(doc)} in the README, {sorted(actual)} printed")
        for key in set(doc) & set(actual):
            same(doc[key], actual[key], f"{path}.{key}" if path else key)
    elif isinstance(doc, list) and path == "actions":
        printed = {a["id"]: a for a in actual}
        for a in doc:
            if a["id"] not in printed:
                problems.append(f"actions: {a['id']} is not printed")
            else:
                same(a, printed[a["id"]], f"actions[{a['id']}]")
        shapes = {frozenset(a) | frozenset("device." + k for k in a.get("device", {})) for a in doc}
        for a in actual:
            if frozenset(a) | frozenset("device." + k for k in a.get("device", {})) not in shapes:
                problems.append(f"actions: no example of the shape of {a['id']}")
    elif isinstance(doc, list):
        for item in doc:
            if actual:
                same(item, actual[0], f"{path}[]")
kinds = {"report": 0, "valid": 0, "invalid": 0, "version": 0}
for doc in blocks:
    if "verb" in doc:
        kinds["report"] += 1
        same(doc, plan, "")
        same(doc["facts"]["modules"], live["facts"]["modules"], "facts.modules")
    elif doc.get("valid") is True:
        kinds["valid"] += 1
        same(doc, load("valid"), "validate")
    elif doc.get("valid") is False:
        kinds["invalid"] += 1
        same(doc, load("invalid"), "validate")
    else:
        kinds["version"] += 1
        same(doc, load("version"), "version")
if kinds != {"report": 1, "valid": 1, "invalid": 1, "version": 1}:
    problems.append(f"examples found: {kinds}")
for p in problems:
    print(p, file=sys.stderr)
sys.exit(1 if problems else 0)
PY

# --- an internal error is 1, with --detailed-exitcodes too: memory runs out (ulimit -v) right
# after start-up, while a profile padded to 900 KB with comments is read and parsed (the buffer
# grows with what is read, so a small profile leaves no room between "cannot start" and "runs").
# Each limit either keeps the program from starting, or ends in a normal run or in one line
# "internal error", exit 1, never in another status. (A limit so tight that the C++ runtime cannot allocate the exception object itself ends
# in std::terminate, as in any C++ program; that is below what kvmprov can report.)
if [ -z "${KVMPROV_WRAPPER:-}" ] && ! ldd "$KVMPROV" 2>/dev/null | grep -q libasan; then
  IR="$TMP/internal"
  es_root "$IR"
  PADDED="$TMP/padded.yaml"
  cp "$KVMPROV_SOURCE_DIR/profiles/default.yaml" "$PADDED"
  for _ in $(seq 9000); do printf '# %097d\n' 0; done >>"$PADDED"
  for args in "validate $PADDED" "plan --detailed-exitcodes --root $IR --profile $PADDED"; do
    internal=0
    for kb in $(seq 2048 256 65536); do
      # shellcheck disable=SC2086 # ARGS are words on purpose
      out=$( (ulimit -v $kb && exec "$KVMPROV" $args) 2>"$TMP/stderr"); rc=$?
      err=$(cat "$TMP/stderr")
      case "$rc:$err" in
        "1:kvmprov: internal error: "*)
          internal=$((internal + 1))
          [ "$(printf '%s\n' "$err" | wc -l)" = 1 ] && ok || bad "$args at $kb KiB: more than one line: [$err]"
          ;;
        0:* | 2:*) ;;
        "134:terminate called without an active exception") ;;
        *) [ "$rc" -ge 127 ] && [ "$rc" != 134 ] && ok || bad "$args at $kb KiB: exit $rc: [$err]" ;;  # never started
      esac
    done
    [ "$internal" -gt 0 ] && ok || bad "$args: no memory limit gave an internal error"
  done
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
  run check "${LIVE[@]}" --fact "$fact"
  expect_rc 64 "check --fact $fact"
  expect_eq "$err" "kvmprov: --fact ${fact%%=*} does not apply to check, which examines the running kernel and decides KVM's usability itself; facts check uses: cpu_vendor, vmx, svm, hypervisor, modules_supported" "check --fact $fact: message"
done
run --fact cpu_vendor=amd check "${LIVE[@]}"
expect_in "$out" 'PASS CPU: amd (--fact cpu_vendor); "svm" flag assumed (--fact cpu_vendor); ' "check --fact cpu_vendor=amd: the flag is assumed, not present"
expect_not_in "$out" "flag present" "check --fact cpu_vendor=amd: no flag called present"
expect_not_in "$out" "without VT flags" "check --fact cpu_vendor=amd: the verdict uses the same flags"
run --fact cpu_vendor=amd --fact svm=false check "${LIVE[@]}" --json
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
run check "${LIVE[@]}" --log "$TMP/big-nova.log"
expect_not_in "$out" "File too large" "check --log over 16 MiB: read"
expect_in "$out" "\"no supported architecture for os type 'hvm'\" 1 time in the last 16 MiB of $TMP/big-nova.log: " "check --log over 16 MiB: its end searched"
out=$(printf "x ERROR: no supported architecture for os type 'hvm'\n" | ${KVMPROV_WRAPPER:-} "$KVMPROV" check "${LIVE[@]}" --log /dev/stdin 2>"$TMP/stderr")
expect_in "$out" "1 time in /dev/stdin: libvirt offered no KVM guest" "check --log /dev/stdin from a pipe"
out=$(${KVMPROV_WRAPPER:-} "$KVMPROV" check "${LIVE[@]}" --log /dev/stdin <"$TMP/big-nova.log" 2>"$TMP/stderr")
expect_in "$out" "1 time in the last 16 MiB of /dev/stdin" "check --log /dev/stdin from a large file"
mkfifo "$TMP/nova.fifo" "$TMP/writer-ready"
# The writer holds the FIFO open (read-write, which does not wait for a reader) before check
# starts, and says so through a second FIFO: check must find a writer there, not race one. It
# becomes cat (exec), so that killing it ends the write: a subshell's cat would outlive the kill
# and hold the test's output open, and ctest would wait for it.
(
  exec 8<>"$TMP/nova.fifo"
  echo ready >"$TMP/writer-ready"
  exec cat "$TMP/big-nova.log" >&8
) &
writer=$!
read -r _ <"$TMP/writer-ready"
run check "${LIVE[@]}" --log "$TMP/nova.fifo"
# A run that never opened the FIFO leaves the writer blocked: end it rather than wait for ever.
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null
expect_in "$out" "1 time in the last 16 MiB of $TMP/nova.fifo" "check --log FIFO with a writer"

# Hints fit the host: no load this kernel cannot do, no parameter value the kernel lacks.
run check "${LIVE[@]}" --json
expect_not_in "$out" "amd_iommu=on" "check: no invalid amd_iommu value"
expect_not_in "$out" "profiles/nested.yaml apply" "check: no source-tree profile path"
if [ ! -e /proc/modules ]; then
  expect_not_in "$out" "modprobe" "check on a kernel without module support: no modprobe hint"
fi

# --user: the verdict is about that user, and the probe runs as that user or says it did not.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null && [ -c /dev/kvm ]; then
  as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
  nobody_opens=no
  as_nobody sh -c ': <>/dev/kvm' 2>/dev/null && nobody_opens=yes
  # probe_says OPENS OPENS_LABEL DENIED_LABEL [DENIED LABEL]...: when nobody can open /dev/kvm,
  # $out has OPENS; when not, the run exited 1 and $out has each DENIED.
  probe_says() {
    if [ "$nobody_opens" = yes ]; then
      expect_in "$out" "$1" "$2"
      return
    fi
    expect_rc 1 "$3"
    shift 3
    while [ $# -gt 0 ]; do
      expect_in "$out" "$1" "$2"
      shift 2
    done
  }
  out=$(as_nobody "$KVMPROV" check "${LIVE[@]}" --user root 2>"$TMP/stderr"); rc=$?
  expect_not_in "$out" "(permission-denied)" "check --user root as nobody: root is not denied"
  expect_not_in "$out" "usermod -aG kvm root" "check --user root as nobody: no group for root"
  probe_says 'KVM probe: as "nobody" (running kvmprov), not as "root": ' \
    "check --user root as nobody who can open /dev/kvm: the probe says whose it is" \
    "check --user root as nobody who cannot open /dev/kvm" \
    'SKIP KVM probe: not run as "root": kvmprov runs as "nobody", who cannot open /dev/kvm (Permission denied)' "check --user root as nobody: probe not run" \
    "verdict: not usable (not-probed): " "check --user root as nobody: verdict" \
    "run as root to probe as another user" "check --user root as nobody: the fix"
  run check "${LIVE[@]}" --user nobody
  probe_says 'KVM probe: as "nobody": ' "check --user nobody as root: probed as nobody" \
    "check --user nobody as root, nobody cannot open /dev/kvm" \
    'FAIL KVM probe: as "nobody": cannot open /dev/kvm: Permission denied' "check --user nobody as root: the probe ran as nobody" \
    "verdict: not usable (permission-denied): nobody cannot open /dev/kvm" "check --user nobody as root: verdict about nobody"
else
  echo "cli: skipping check --user across users (needs root, setpriv and /dev/kvm)" >&2
fi

# --- Colour: --color=always into a pipe, never, and auto on a terminal by TERM (script(1) gives
# the terminal). NO_COLOR is set for the whole test; --color=always overrides it.
esc=$(printf '\033')
CROOT="$TMP/color-root"
mkdir -p "$CROOT/etc"
out=$("$KVMPROV" --color=always plan --root "$CROOT" --fact cpu_vendor=amd 2>/dev/null)
expect_in "$out" "$esc[" "--color=always colours a pipe, NO_COLOR notwithstanding"
out=$("$KVMPROV" --color=never plan --root "$CROOT" --fact cpu_vendor=amd 2>/dev/null)
expect_not_in "$out" "$esc[" "--color=never"
out=$("$KVMPROV" --color=always --json plan --root "$CROOT" --fact cpu_vendor=amd 2>/dev/null)
expect_not_in "$out" "$esc[" "JSON is never coloured"
run --color=sometimes plan --root "$CROOT"
expect_rc 64 "--color=sometimes"
expect_in "$err" "--color: sometimes not in {always,never,auto}" "--color names the choices"
run --color=always --no-color plan --root "$CROOT"
expect_rc 64 "--color with --no-color"
# Global options are built only when the command line may give them: each is found in both
# forms CLI11 takes, "NAME VALUE" and "NAME=VALUE", before or after the verb, and a longer word
# that starts with an option's name is not taken for it.
run --root "$CROOT" plan --fact cpu_vendor=amd --detailed-exitcodes --json
spaced="$rc $out"
run --root="$CROOT" plan --fact=cpu_vendor=amd --detailed-exitcodes=true --json
expect_eq "$rc $out" "$spaced" "--root=DIR and --fact=KEY=VALUE are taken as --root DIR and --fact"
run plan --root "$CROOT" --fact cpu_vendor=amd --lock-timeout=5
expect_rc 64 "plan --lock-timeout=5"
expect_in "$err" "plan does not take --lock-timeout (only apply and reset" "--lock-timeout=5 is found"
run check --jsonx
expect_rc 64 "check --jsonx"
expect_in "$err" "--jsonx" "--jsonx is not --json"
run check --quiet --no-color --color=never --json
expect_rc 64 "--color=never with --no-color, both after the verb"
if command -v script >/dev/null; then
  for term in xterm-256color dumb; do
    out=$(env -u NO_COLOR TERM=$term script -qec "'$KVMPROV' plan --root '$CROOT' --fact cpu_vendor=amd" /dev/null 2>&1)
    if [ $term = dumb ]; then
      expect_not_in "$out" "$esc[" "auto on a terminal with TERM=dumb: no colour"
    else
      expect_in "$out" "$esc[" "auto on a terminal with TERM=$term: colour"
    fi
  done
else
  echo "cli: skipping --color=auto on a terminal (no script(1))" >&2
fi

# --- The journal: when JOURNAL_STREAM names the stream stdout and stderr go to (as systemd sets it
# for kvmprov.service), failures carry sd-daemon's <3> and notices <5>, so that
# "journalctl -p warning" shows the failures; other lines and other streams carry none.
JROOT="$TMP/journal-root"
mkdir -p "$JROOT/etc"
printf '# BEGIN kvmprov\nkvm\n' >"$JROOT/etc/modules"
printf 'root:x:0:\n' >"$JROOT/etc/group"
: >"$TMP/journal"
(
  exec >"$TMP/journal" 2>&1
  JOURNAL_STREAM=$(stat -c '%d:%i' "$TMP/journal") "$KVMPROV" apply --root "$JROOT"
) && bad "apply with a broken /etc/modules exits 0" || ok
journal=$(cat "$TMP/journal")
expect_in "$journal" $'\n<3>failed    write /etc/modules: ' "a failed action at error priority"
grep -Eq '^<3>[0-9]+ changed, [0-9]+ unchanged, 1 failed, ' <<<"$journal" && ok ||
  bad "the summary of a failed run at error priority: [$journal]"
expect_in "$journal" "<5>kvmprov: the image's CPU is not known" "a notice at notice priority"
expect_in "$journal" $'\nchanged   group kvm: ' "a change without a prefix"
# Another stream than the journal's: no prefixes.
out=$(JOURNAL_STREAM=1:2 "$KVMPROV" apply --root "$JROOT" 2>&1)
expect_not_in "$out" "<3>" "no priority prefixes for a stream that is not the journal"

# --- Accounts through NSS on the running system: a second NSS source (libnss-extrausers), set up in
# a mount namespace of this test's own, provides a group and a user /etc/group and /etc/passwd
# lack. plan sees them as the shadow tools' users would; nothing on this machine is changed.
if [ "$(id -u)" = 0 ] && [ -e /usr/lib/libnss_extrausers.so.2 ] && [ -d /var/lib/extrausers ] &&
  unshare --mount true 2>/dev/null; then
  NSS="$TMP/nss"
  mkdir -p "$NSS/extrausers"
  printf 'kvmprov-nss-ldap:x:7000:kvmprov-nss-user\n' >"$NSS/extrausers/group"
  printf 'kvmprov-nss-user:x:7001:7001::/nonexistent:/bin/false\n' >"$NSS/extrausers/passwd"
  printf 'passwd: files extrausers\ngroup: files extrausers\nshadow: files\n' >"$NSS/nsswitch.conf"
  cat >"$NSS/profile.yaml" <<'YAML'
version: 1
name: nss
groups:
  - {name: kvmprov-nss-ldap, members: [kvmprov-nss-user]}
  - {name: kvmprov-nss-local, members: [kvmprov-nss-user]}
YAML
  out=$(unshare --mount --propagation private sh -c '
    mount --bind "$1/nsswitch.conf" /etc/nsswitch.conf &&
    mount --bind "$1/extrausers" /var/lib/extrausers &&
    exec "$2" --live plan --profile "$1/profile.yaml"' nss "$NSS" "$KVMPROV" 2>&1)
  expect_in "$out" "= group kvmprov-nss-ldap: exists (gid 7000, through NSS: not in /etc/group)" \
    "a group NSS provides exists"
  expect_in "$out" "= member kvmprov-nss-user in kvmprov-nss-ldap: already a member" \
    "an NSS user in an NSS group is a member"
  expect_in "$out" '+ member kvmprov-nss-user in kvmprov-nss-local: add "kvmprov-nss-user"' \
    "an NSS user is added to a local group"
  # apply adds the NSS-only user to a local group (gpasswd: usermod knows only /etc/passwd users).
  # It runs on a copy of /etc bound over /etc in the namespace, so this machine's stays as it is.
  cp -a /etc "$NSS/etc"
  cp "$NSS/nsswitch.conf" "$NSS/etc/nsswitch.conf"
  printf 'version: 1\nname: nss\ngroups:\n  - {name: kvmprov-nss-local, members: [kvmprov-nss-user]}\n' \
    >"$NSS/local.yaml"
  before=$(sha256sum /etc/group)
  out=$(unshare --mount --propagation private sh -c '
    mount --bind "$1/etc" /etc && mount --bind "$1/extrausers" /var/lib/extrausers &&
    "$2" --live apply --profile "$1/local.yaml" && grep "^kvmprov-nss-local:" /etc/group' \
    nss "$NSS" "$KVMPROV" 2>&1)
  expect_in "$out" 'changed   member kvmprov-nss-user in kvmprov-nss-local: added "kvmprov-nss-user"' \
    "apply adds an NSS-only user to a local group"
  expect_in "$out" $'\nkvmprov-nss-local:x:' "the group line names the member"
  expect_in "$out" ':kvmprov-nss-user' "... as its member"
  [ "$(sha256sum /etc/group)" = "$before" ] && ok || bad "this machine's /etc/group changed"
  # Without the second source the same names are unknown: the files alone decide.
  run --live plan --profile "$NSS/profile.yaml"
  expect_in "$out" "+ group kvmprov-nss-ldap: create" "without NSS's second source the group is new"
  expect_in "$out" 'user "kvmprov-nss-user" does not exist yet' "and the user unknown"
else
  echo "cli: skipping accounts through NSS (needs root, libnss-extrausers and unshare)" >&2
fi

finish cli
