#!/bin/bash
# SPDX-License-Identifier: MIT
# What plan read is what apply may replace. A run is stopped between planning and applying
# (KVMPROV_FAULT_STOP=apply), a file it planned to change is changed, created or removed by
# someone else, and the run goes on: it writes nothing over the new content, fails that action
# with "changed since it was read", and the next run converges from the new content.
# Usage: race_test.sh KVMPROV
source "$(dirname "$0")/lib.sh"

cat >"$TMP/p.yaml" <<'YAML'
version: 1
name: race
modules:
  - name: kvm
  - name: kvm_intel
    options: { nested: 1 }
persist: etc-modules
YAML
R="$TMP/root"

# stopped_apply: starts apply, waits until it has stopped itself after planning.
stopped_apply() {
  KVMPROV_FAULT_STOP=apply "$KVMPROV" apply --root "$R" --fact cpu_vendor=intel \
    --profile "$TMP/p.yaml" >"$TMP/out" 2>"$TMP/err" &
  pid=$!
  local state=""
  for ((i = 0; i < 1000; i++)); do
    state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
    [ "$state" = T ] && return 0
    sleep 0.01
  done
  bad "the run never stopped after planning (state $state)"
}
resume() {
  kill -CONT "$pid"
  wait "$pid"
  rc=$?
  out=$(cat "$TMP/out")
}

# case WHAT CHANGE FILE: FILE is what kvmprov planned from; CHANGE alters it before apply runs.
race() {
  local what=$1 change=$2 file=$3
  rm -rf "$R"
  mkdir -p "$R/etc/modprobe.d"
  printf '# site modules\nloop\n' >"$R/etc/modules"
  printf 'old\n' >"$R/etc/modprobe.d/kvmprov.conf"
  stopped_apply
  eval "$change"
  local changed_by_other
  changed_by_other=$(if [ -e "$R/$file" ]; then sha256sum <"$R/$file"; else echo absent; fi)
  resume
  expect_rc 1 "$what"
  expect_in "$out" "/$file: refusing to" "$what: the action names the file"
  expect_in "$out" "since it was read (run again to plan from its new content)" "$what: says why"
  expect_eq "$(if [ -e "$R/$file" ]; then sha256sum <"$R/$file"; else echo absent; fi)" \
    "$changed_by_other" "$what: the other writer's content is kept"
  [ -z "$(temporaries "$R")" ] && ok || bad "$what: temporaries left"
  # The next run plans from what is there now, and converges.
  run apply --root "$R" --fact cpu_vendor=intel --profile "$TMP/p.yaml"
  expect_rc 0 "$what: the next run converges"
}

race "/etc/modules edited in between" 'printf "bonding\n" >>"$R/etc/modules"' etc/modules
expect_in "$(cat "$R/etc/modules")" "bonding" "the line added in between survives the next run"
race "/etc/modules removed in between" 'rm "$R/etc/modules"' etc/modules
race "kvmprov's own file edited in between" \
  'printf "options kvm_intel nested=0\n" >"$R/etc/modprobe.d/kvmprov.conf"' etc/modprobe.d/kvmprov.conf
race "kvmprov's own file removed in between" \
  'rm "$R/etc/modprobe.d/kvmprov.conf"' etc/modprobe.d/kvmprov.conf

# A file planned to be created (it was absent) that someone created meanwhile.
rm -rf "$R"
mkdir -p "$R/etc"
stopped_apply
printf 'bonding\n' >"$R/etc/modules"
resume
expect_rc 1 "a file created in between"
expect_in "$out" "it was created since it was read" "a file created in between: says so"
expect_eq "$(cat "$R/etc/modules")" "bonding" "a file created in between is kept"

# A removal: the run plans to remove modules-load.d/kvmprov.conf (persist: etc-modules), and
# someone rewrote it meanwhile.
rm -rf "$R"
mkdir -p "$R/etc/modules-load.d"
printf 'kvm\n' >"$R/etc/modules-load.d/kvmprov.conf"
stopped_apply
printf 'kvm\nsomething new\n' >"$R/etc/modules-load.d/kvmprov.conf"
resume
expect_rc 1 "a file to remove rewritten in between"
expect_in "$out" "refusing to remove" "a file to remove rewritten in between: says so"
expect_eq "$(cat "$R/etc/modules-load.d/kvmprov.conf")" "$(printf 'kvm\nsomething new')" \
  "a file to remove rewritten in between is kept"

finish race
