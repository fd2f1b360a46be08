#!/bin/bash
# SPDX-License-Identifier: MIT
# Drives the kvmprov.kvm Ansible collection with the real ansible-playbook against a fleet of
# local hosts, each with its own --root and CPU vendor: convergence, idempotence, check and diff
# mode, a broken profile, the facts module, device modes that must be quoted strings, no line of
# nova.conf but the managed keys in -v output, and state: absent.
# Usage: ansible_test.sh PATH/TO/kvmprov
# Exits 77 (skipped) when ansible-playbook is not installed.
set -u
if ! command -v ansible-playbook >/dev/null; then
  echo "ansible-playbook not found (apt-get install ansible-core); skipping"
  exit 77
fi
KVMPROV=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
# A scratch directory of its own: KEEP_TMP keeps it, with the roots and ansible's files, to look at.
TMP=$(mktemp -d)
trap '[ -n "${KEEP_TMP:-}" ] || rm -rf "$TMP"' EXIT

# Nothing outside $TMP: no ansible.cfg from the working directory, no ~/.ansible.
: >"$TMP/ansible.cfg"
export ANSIBLE_CONFIG="$TMP/ansible.cfg" ANSIBLE_HOME="$TMP/home" ANSIBLE_LOCAL_TEMP="$TMP/home/tmp"
export ANSIBLE_REMOTE_TEMP="$TMP/home/remote" ANSIBLE_COLLECTIONS_PATH="$SRC/contrib/ansible"
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_FORKS=10 ANSIBLE_PIPELINING=1
export ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3 ANSIBLE_DEPRECATION_WARNINGS=0
cd "$TMP" || exit 1

# Four hosts, two per vendor. intel1 and amd1 have systemd installed in their root (so kvmprov
# persists to modules-load.d); intel2 and amd2 have none (a marked block in /etc/modules).
HOSTS="intel1 intel2 amd1 amd2"
cat >inventory <<EOF
[fleet]
intel1 vendor=intel
intel2 vendor=intel
amd1 vendor=amd
amd2 vendor=amd
[fleet:vars]
ansible_connection=local
kvmprov_binary=$KVMPROV
kvmprov_install_package=false
EOF
# Each root is a system image: it has its account files, with the kvm group the role's default
# devices name.
for h in $HOSTS; do image_root "$TMP/roots/$h"; done
for h in intel1 amd1; do
  mkdir -p "$TMP/roots/$h/usr/lib/systemd"
  printf '#!/bin/sh\n' >"$TMP/roots/$h/usr/lib/systemd/systemd"
  chmod 755 "$TMP/roots/$h/usr/lib/systemd/systemd"
done
fleet_play "$TMP/roots" >site.yml

# play ARGS...: runs ansible-playbook; sets $out and $rc
play() {
  out=$(ansible-playbook -i inventory "$@" 2>&1); rc=$?
  printf '%s\n' "$out" >>"$TMP/ansible.log"
}
# recap HOST: "ok=N changed=N unreachable=N failed=N" from the PLAY RECAP
recap() {
  printf '%s\n' "$out" | sed -n '/^PLAY RECAP/,$p' |
    awk -v h="$1" '$1 == h { for (i = 3; i <= NF; i++) if ($i ~ /^(ok|changed|unreachable|failed)=/) s = s (s ? " " : "") $i; print s }'
}
field() { recap "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
tree_hashes() { (cd "$TMP/roots" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

# --- 1. first run: every host changed, files right for its vendor and init system
start=$(date +%s.%N)
play site.yml
expect_eq "$rc" 0 "first run exit status"
for h in $HOSTS; do
  [ "$(field "$h" changed)" -ge 1 ] 2>/dev/null && ok || bad "first run: $h not changed ($(recap "$h"))"
  expect_eq "$(field "$h" failed)" 0 "first run: $h failed"
done
for h in intel1 amd1; do
  v=${h%1}
  expect_eq "$(cat "$TMP/roots/$h/etc/modules-load.d/kvmprov.conf")" "# Managed by kvmprov from profile \"kvm-host\" ($TMP/roots/$h/etc/kvmprov/profile.yaml).
# Changes here are overwritten: edit the profile and run \"kvmprov apply\".
kvm
kvm_$v
vhost_net" "$h modules-load.d/kvmprov.conf"
  [ ! -e "$TMP/roots/$h/etc/modules" ] && ok || bad "$h: /etc/modules written in a systemd root"
done
for h in intel2 amd2; do
  v=${h%2}
  expect_eq "$(cat "$TMP/roots/$h/etc/modules")" "# BEGIN kvmprov (profile \"kvm-host\"): managed by kvmprov, do not edit
kvm
kvm_$v
vhost_net
# END kvmprov" "$h /etc/modules block"
  [ ! -e "$TMP/roots/$h/etc/modules-load.d/kvmprov.conf" ] && ok || bad "$h: modules-load.d written without systemd"
done
for h in $HOSTS; do
  [ ! -e "$TMP/roots/$h/etc/modprobe.d/kvmprov.conf" ] && ok || bad "$h: modprobe.d written without options"
  expect_in "$(cat "$TMP/roots/$h/etc/kvmprov/profile.yaml")" "name: kvm-host" "$h profile written"
  # The role's profile keeps the default's device management: /dev/kvm for group kvm.
  expect_in "$(cat "$TMP/roots/$h/etc/udev/rules.d/65-kvmprov.rules" 2>/dev/null)" \
    'KERNEL=="kvm", GROUP="kvm", MODE="0660"' "$h udev rule for /dev/kvm"
done

# --- 2. second run: nothing changes anywhere
play site.yml
expect_eq "$rc" 0 "second run exit status"
for h in $HOSTS; do
  expect_eq "$(field "$h" changed)" 0 "second run: $h changed"
  expect_eq "$(field "$h" failed)" 0 "second run: $h failed"
done
echo "fleet runs of 4 hosts (first and second): $(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s"

# --- 3. --check --diff after editing the profile: the diff shows it, nothing is written
cat >nested.yml <<'EOF'
kvmprov_modules:
  - name: kvm
  - name: kvm_intel
    when: {cpu_vendor: [intel, zhaoxin, centaur]}
    options: {nested: 1}
  - name: kvm_amd
    when: {cpu_vendor: [amd, hygon]}
    options: {nested: 1}
  - name: vhost_net
EOF
before=$(tree_hashes)
play site.yml --check --diff -e @nested.yml
expect_eq "$rc" 0 "check run exit status"
for h in $HOSTS; do
  [ "$(field "$h" changed)" -ge 1 ] 2>/dev/null && ok || bad "check run: $h would not change ($(recap "$h"))"
done
expect_in "$out" "+options kvm_intel nested=1" "check diff: intel option"
expect_in "$out" "+options kvm_amd nested=1" "check diff: amd option"
expect_in "$out" "+++ after: $TMP/roots/amd2/etc/modprobe.d/kvmprov.conf" "check diff names the file"
expect_in "$out" "+  options:
+    nested: 1" "check diff: profile change"
# The planned header names the real profile path, never the temporary copy planned from.
expect_in "$out" "+# Managed by kvmprov from profile \"kvm-host\" ($TMP/roots/intel1/etc/kvmprov/profile.yaml)." "check diff header path"
case "$out" in *ansible-profile.yaml*) bad "check diff mentions the temporary profile" ;; *) ok ;; esac
expect_eq "$(tree_hashes)" "$before" "check mode wrote nothing"
# And applying it for real changes exactly what was shown.
play site.yml -e @nested.yml
expect_eq "$rc" 0 "nested apply"
expect_eq "$(tail -n 1 "$TMP/roots/amd2/etc/modprobe.d/kvmprov.conf")" "options kvm_amd nested=1" "amd2 options"
expect_eq "$(tail -n 1 "$TMP/roots/intel1/etc/modprobe.d/kvmprov.conf")" "options kvm_intel nested=1" "intel1 options"
play site.yml --check -e @nested.yml
for h in $HOSTS; do expect_eq "$(field "$h" changed)" 0 "check after apply: $h changed"; done

# --- 4. a broken profile on one host: its task fails with kvmprov's message, others carry on
printf 'version: 1\nname: broken\nmodles:\n  - name: kvm\n' >"$TMP/broken.yaml"
cat >broken.yml <<EOF
- hosts: fleet
  gather_facts: false
  tasks:
    - name: Provision
      kvmprov.kvm.provision:
        binary: $KVMPROV
        root: "$TMP/roots/{{ inventory_hostname }}"
        facts: {cpu_vendor: "{{ vendor }}"}
        profile: "{{ '$TMP/broken.yaml' if inventory_hostname == 'amd2'
                     else '$TMP/roots/' + inventory_hostname + '/etc/kvmprov/profile.yaml' }}"
EOF
before=$(tree_hashes)
play broken.yml
expect_eq "$rc" 2 "broken profile run exit status"
expect_eq "$(field amd2 failed)" 1 "amd2 failed"
fatal=$(printf '%s\n' "$out" | grep '^fatal: \[amd2\]')
expect_in "$fatal" "\"msg\": \"$TMP/broken.yaml:3:1: unknown key \\\"modles\\\" (did you mean \\\"modules\\\"?)\"" "file:line:col in msg"
for h in intel1 intel2 amd1; do
  expect_eq "$(field "$h" failed)" 0 "broken profile: $h failed"
  expect_eq "$(field "$h" ok)" 1 "broken profile: $h ok"
done
expect_eq "$(tree_hashes)" "$before" "broken profile run wrote nothing"

# A broken profile_content never replaces the good profile file it was meant for.
cat >broken-content.yml <<EOF
- hosts: amd1
  gather_facts: false
  tasks:
    - kvmprov.kvm.provision:
        binary: $KVMPROV
        root: "$TMP/roots/amd1"
        facts: {cpu_vendor: amd}
        profile: "$TMP/roots/amd1/etc/kvmprov/profile.yaml"
        profile_content: "version: 1\\nname: broken\\nmodles: []\\n"
EOF
play broken-content.yml
expect_eq "$(field amd1 failed)" 1 "broken profile_content fails"
expect_in "$out" "$TMP/roots/amd1/etc/kvmprov/profile.yaml:3:1: unknown key" "broken profile_content: error names the profile"
expect_eq "$(tree_hashes)" "$before" "broken profile_content replaced nothing"

# --- 5. the check facts module agrees with kvmprov check --json on this machine
cat >facts.yml <<EOF
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - kvmprov.kvm.check:
        binary: $KVMPROV
    - ansible.builtin.copy:
        content: "{{ ansible_facts.kvmprov | to_json }}"
        dest: "$TMP/facts.json"
EOF
play facts.yml
expect_eq "$rc" 0 "check facts run (a host without KVM is not a failure)"
"$KVMPROV" check --json >"$TMP/check.json"
python3 - "$TMP/facts.json" "$TMP/check.json" <<'PY' && ok || bad "check facts differ from kvmprov check --json"
import json, sys
facts, check = (json.load(open(p)) for p in sys.argv[1:])
v = check["verdict"]
want = {k: v[k] for k in ("usable", "reason", "virt_type", "advice")}
got = {k: facts[k] for k in want}
assert got == want, (got, want)
assert [c["id"] for c in facts["checks"]] == [c["id"] for c in check["checks"]]
PY

# --- 6. device modes are quoted strings: Ansible's YAML 1.1 reads an unquoted 0660 as 432
cat >modes-unquoted.yml <<'EOF'
kvmprov_devices:
  - {node: kvm, group: kvm, mode: 0660}
EOF
before=$(tree_hashes)
play site.yml --limit intel1 -e @modes-unquoted.yml
expect_eq "$rc" 2 "unquoted mode: exit status"
expect_eq "$(field intel1 failed)" 1 "unquoted mode: intel1 failed"
expect_in "$out" 'kvmprov_devices: node \"kvm\": mode 432 is a number, not a string (YAML reads an unquoted 0660 as the octal number 432); quote it: mode: \"0660\"' "unquoted mode: the message says to quote it"
expect_eq "$(tree_hashes)" "$before" "unquoted mode: nothing written"
cat >modes-quoted.yml <<'EOF'
kvmprov_devices:
  - {node: kvm, group: kvm, mode: "0660"}
  - {node: net/tun, group: kvm, mode: "0660"}
EOF
play site.yml --limit intel1 -e @modes-quoted.yml
expect_eq "$rc" 0 "quoted mode: exit status"
rules=$(cat "$TMP/roots/intel1/etc/udev/rules.d/65-kvmprov.rules")
expect_in "$rules" 'KERNEL=="tun", GROUP="kvm", MODE="0660"' "quoted mode reaches the udev rule"
expect_in "$(cat "$TMP/roots/intel1/etc/kvmprov/profile.yaml")" "mode: '0660'" "the profile keeps the mode a string"

# --- 7. nothing of nova.conf but the managed keys reaches Ansible's output, -v included
NOVA=$TMP/nova-root
mkdir -p "$NOVA/etc/nova"
printf 'root:x:0:\n' >"$NOVA/etc/group"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$NOVA/etc/passwd"
cat >"$NOVA/etc/nova/nova.conf" <<'EOF'
[DEFAULT]
transport_url = rabbit://openstack:R4bbitPass@mq.example.net:5672/
my_ip = 192.0.2.10

[database]
connection = mysql+pymysql://nova:S3cretDB@db.example.net/nova

[keystone_authtoken]
password = K3ystonePass

[libvirt]
virt_type = qemu
EOF
cat >nova.yml <<EOF
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - kvmprov.kvm.provision:
        binary: $KVMPROV
        root: "$NOVA"
        facts: {cpu_vendor: intel}
        profile_content: |
          version: 1
          name: nova
          nova: {virt_type: kvm, cpu_mode: host-model}
EOF
for mode in --check ""; do
  # shellcheck disable=SC2086
  play nova.yml -v $mode
  expect_eq "$rc" 0 "nova.conf ${mode:-apply} -v: exit status"
  for foreign in R4bbitPass S3cretDB K3ystonePass transport_url my_ip 192.0.2.10 "connection ="; do
    case $out in *"$foreign"*) bad "nova.conf ${mode:-apply} -v: [$foreign] in Ansible's output" ;; *) ok ;; esac
  done
done
expect_in "$(cat "$NOVA/etc/nova/nova.conf")" "virt_type = kvm" "nova.conf: virt_type written"
expect_in "$(cat "$NOVA/etc/nova/nova.conf")" "password = K3ystonePass" "nova.conf: the rest kept"

# --- 8. state: absent removes kvmprov's files from every root; in check mode only says so
before=$(tree_hashes)
play site.yml --check -e kvmprov_state=absent
expect_eq "$rc" 0 "absent --check exit status"
# Two tasks would change: the reset and the removal of the profile file.
for h in $HOSTS; do expect_eq "$(field "$h" changed)" 2 "absent --check: $h would change"; done
expect_eq "$(tree_hashes)" "$before" "absent --check wrote nothing"
play site.yml -e kvmprov_state=absent
expect_eq "$rc" 0 "absent run exit status"
for h in $HOSTS; do
  expect_eq "$(field "$h" failed)" 0 "absent: $h failed"
  left=$(cd "$TMP/roots/$h" && find etc -type f ! -size 0 ! -name group ! -name passwd | sort | tr '\n' ' ')
  expect_eq "$left" "" "absent: files left in $h"
done

finish ansible && exit
echo "ansible-playbook output is in the log below" >&2
tail -n 80 "$TMP/ansible.log" >&2
exit 1
