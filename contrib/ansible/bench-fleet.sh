#!/bin/bash
# SPDX-License-Identifier: MIT
# Times the kvm_host role on N local hosts (each its own --root, alternating CPU vendors) with
# forks=10, and how much of that is kvmprov itself (the provision module's kvmprov_seconds).
# Usage: bench-fleet.sh PATH/TO/kvmprov [N...]   (default N: 1 10 50)
set -eu
KVMPROV=$(realpath "$1"); shift
SIZES=${*:-1 10 50}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lib.sh
source "$HERE/../../tests/lib.sh"
scratch
: >"$TMP/ansible.cfg"
export ANSIBLE_CONFIG="$TMP/ansible.cfg" ANSIBLE_HOME="$TMP/home" ANSIBLE_LOCAL_TEMP="$TMP/home/tmp"
export ANSIBLE_REMOTE_TEMP="$TMP/home/remote" ANSIBLE_COLLECTIONS_PATH="$HERE"
export ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0 ANSIBLE_FORKS=10 ANSIBLE_PIPELINING=1
export ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3
cd "$TMP"
{ fleet_play "$TMP/roots"; cat <<YAML; } >site.yml
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: "$TMP/kvmprov-seconds"
        content: "{{ groups.fleet | map('extract', hostvars, ['kvmprov_result', 'kvmprov_seconds']) | sum }}"
YAML
echo "| hosts | run | wall time (s) | kvmprov, summed over hosts (s) | kvmprov share |"
echo "|---|---|---|---|---|"
for n in $SIZES; do
  rm -rf roots; { echo "[fleet]"; for i in $(seq 1 "$n"); do
    echo "host$i vendor=$([ $((i % 2)) = 1 ] && echo intel || echo amd)"; image_root "roots/host$i"; done
    echo "[fleet:vars]"; echo "ansible_connection=local"; echo "kvmprov_binary=$KVMPROV"
    echo "kvmprov_install_package=false"; echo "[local]"; echo "localhost ansible_connection=local"
  } >inventory
  for run in first second; do
    start=$(date +%s.%N)
    ansible-playbook -i inventory site.yml >"$TMP/out" 2>&1 || { cat "$TMP/out"; exit 1; }
    end=$(date +%s.%N)
    k=$(cat "$TMP/kvmprov-seconds")
    awk -v n="$n" -v r="$run" -v s="$start" -v e="$end" -v k="$k" \
      'BEGIN { printf "| %d | %s | %.1f | %.2f | %.1f%% |\n", n, r, e - s, k, 100 * k / (e - s) }'
  done
done
