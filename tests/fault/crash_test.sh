#!/bin/bash
# SPDX-License-Identifier: MIT
# Atomicity under crashes. kvmprov apply is killed with SIGKILL (a) at every write step, through
# the KVMPROV_FAULT_STEP hook in src/atomic_file.cc, for transitions between three profiles that
# create, rewrite and remove files, and (b) after random delays, 200 times. After each kill every
# managed file holds its old or its new full content (same bytes as a complete run leaves), and
# the next run converges and leaves no temporary file. Usage: crash_test.sh KVMPROV
source "$(dirname "$0")/lib.sh"

FILES=(etc/modules etc/modules-load.d/kvmprov.conf etc/modprobe.d/kvmprov.conf
  etc/udev/rules.d/65-kvmprov.rules)
RANDOM_RUNS=${KVMPROV_CRASH_RUNS:-200}

cat >"$TMP/a.yaml" <<'YAML'
version: 1
name: crash-a
modules:
  - name: kvm
  - name: kvm_intel
    options: { nested: 1 }
  - name: vhost_net
persist: modules-load.d
devices:
  - node: kvm
    mode: "0660"
YAML
cat >"$TMP/b.yaml" <<'YAML'
version: 1
name: crash-b
modules:
  - name: kvm
    options: { halt_poll_ns: 0 }
  - name: kvm_intel
    options: { nested: 0, enable_apicv: 1 }
  - name: vhost_vsock
persist: etc-modules
devices:
  - node: kvm
    mode: "0666"
  - node: vhost-net
    mode: "0660"
YAML
cat >"$TMP/c.yaml" <<'YAML'
version: 1
name: crash-c
modules:
  - name: kvm
persist: none
YAML

apply() {  # apply ROOT PROFILE
  "$KVMPROV" apply --root "$1" --fact cpu_vendor=intel --profile "$TMP/$2.yaml" >"$TMP/out" 2>&1
}
# digest ROOT FILE: what FILE holds, as a hash, or "absent"
digest() {
  if [ -e "$1/$2" ]; then sha256sum <"$1/$2" | cut -c1-16; else echo absent; fi
}

# Converged roots: the pristine one, then one per profile.
mkdir "$TMP/state"
P="$TMP/state/pristine"
systemd_root "$P"
mkdir -p "$P/etc"
printf '# /etc/modules: kernel modules to load at boot time.\n\nloop\n' >"$P/etc/modules"
declare -A want
for s in pristine a b c; do
  if [ "$s" != pristine ]; then
    cp -a "$P" "$TMP/state/$s"
    apply "$TMP/state/$s" "$s" || bad "apply $s: $(cat "$TMP/out")"
  fi
  for f in "${FILES[@]}"; do want[$s:$f]=$(digest "$TMP/state/$s" "$f"); done
done
# The three profiles leave every file in different states, or the test would prove little.
[ "${want[a:etc/modprobe.d/kvmprov.conf]}" != "${want[b:etc/modprobe.d/kvmprov.conf]}" ] &&
  [ "${want[a:etc/modules]}" != "${want[b:etc/modules]}" ] &&
  [ "${want[b:etc/modules-load.d/kvmprov.conf]}" = absent ] &&
  [ "${want[c:etc/udev/rules.d/65-kvmprov.rules]}" = absent ] &&
  [ "${want[a:etc/udev/rules.d/65-kvmprov.rules]}" != "${want[b:etc/udev/rules.d/65-kvmprov.rules]}" ] &&
  ok || bad "profiles too alike"

# check_between ROOT FROM TO WHAT: every managed file holds FROM's or TO's content
check_between() {
  local f have
  for f in "${FILES[@]}"; do
    have=$(digest "$1" "$f")
    if [ "$have" = "${want[$2:$f]}" ] || [ "$have" = "${want[$3:$f]}" ]; then ok; else
      bad "$4: $f is neither the old nor the new content: $(head -c 300 "$1/$f" 2>&1 | od -c | head -5)"
    fi
  done
}
# converges ROOT TO WHAT: the next run reaches TO, removes every temporary, and the one after
# that changes nothing
converges() {
  apply "$1" "$2" || bad "$3: the next run failed: $(cat "$TMP/out")"
  local f
  for f in "${FILES[@]}"; do
    [ "$(digest "$1" "$f")" = "${want[$2:$f]}" ] && ok || bad "$3: the next run left $f wrong"
  done
  [ -z "$(temporaries "$1")" ] && ok || bad "$3: temporaries left: $(temporaries "$1")"
  apply "$1" "$2"
  expect_in "$(cat "$TMP/out")" "0 changed" "$3: a third run changes nothing"
}

# --- (a) a kill at every write step of every transition
steps_total=0
kills=0
stray=0
for transition in pristine:a a:b b:c c:a a:c c:b b:a pristine:b; do
  from=${transition%:*}
  to=${transition#*:}
  n=1
  while :; do
    R="$TMP/r"
    rm -rf "$R" && cp -a "$TMP/state/$from" "$R"
    # The braces take bash's "Killed" notice, which would otherwise flood the log.
    { KVMPROV_FAULT_STEP=$n "$KVMPROV" apply --root "$R" --fact cpu_vendor=intel \
      --profile "$TMP/$to.yaml" >"$TMP/out" 2>&1; } 2>/dev/null
    rc=$?
    [ "$rc" = 0 ] && break
    what="$from to $to, killed at step $n"
    [ "$rc" = 137 ] && ok || bad "$what: exit $rc, expected death by SIGKILL: $(cat "$TMP/out")"
    kills=$((kills + 1))
    [ -n "$(temporaries "$R")" ] && stray=$((stray + 1))
    check_between "$R" "$from" "$to" "$what"
    converges "$R" "$to" "$what"
    n=$((n + 1))
  done
  # Creating, rewriting and removing files takes several steps each.
  [ "$n" -gt 5 ] && ok || bad "$from to $to: only $((n - 1)) write steps"
  steps_total=$((steps_total + n - 1))
done
echo "fault hook: $kills runs killed at $steps_total write steps; $stray left a temporary that the next run removed"
[ "$stray" -gt 0 ] && ok || bad "no kill left a temporary: the hook is not reaching the write path"

# --- (b) kills after random delays, from whatever state the previous kill left
R="$TMP/r"
rm -rf "$R" && cp -a "$TMP/state/a" "$R"
declare -A current
for f in "${FILES[@]}"; do current[$f]=${want[a:$f]}; done
killed=0
midway=0
finished=0
profiles=(a b c)
for ((i = 1; i <= RANDOM_RUNS; i++)); do
  to=${profiles[RANDOM % 3]}
  "$KVMPROV" apply --root "$R" --fact cpu_vendor=intel --profile "$TMP/$to.yaml" >/dev/null 2>&1 &
  pid=$!
  # The delay is the point: somewhere in the run, from before exec to after the last write.
  sleep "0.$(printf '%03d' $((RANDOM % 25)))"
  kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  rc=$?
  if [ "$rc" = 137 ]; then killed=$((killed + 1)); else finished=$((finished + 1)); fi
  changed=0 same=0
  for f in "${FILES[@]}"; do
    have=$(digest "$R" "$f")
    if [ "$have" = "${current[$f]}" ] || [ "$have" = "${want[$to:$f]}" ]; then ok; else
      bad "random kill $i ($to): $f is neither the old nor the new content"
    fi
    [ "$have" != "${current[$f]}" ] && changed=1
    [ "$have" = "${want[$to:$f]}" ] && same=$((same + 1))
    current[$f]=$have
  done
  # Killed between its first and last change, or with a temporary still there.
  if [ "$rc" = 137 ] && { { [ "$changed" = 1 ] && [ "$same" != "${#FILES[@]}" ]; } || [ -n "$(temporaries "$R")" ]; }; then
    midway=$((midway + 1))
  fi
  # Now and then the next run goes through: it converges and cleans up.
  if [ $((RANDOM % 4)) = 0 ]; then
    converges "$R" "$to" "random kill $i ($to)"
    for f in "${FILES[@]}"; do current[$f]=${want[$to:$f]}; done
  fi
done
echo "random delays: $RANDOM_RUNS runs, $killed killed ($midway in the middle of writing), $finished finished first"
[ "$killed" -gt 0 ] && ok || bad "no run was killed"

finish crash
