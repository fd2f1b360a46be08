#!/bin/bash
# SPDX-License-Identifier: MIT
# Concurrency. Rounds of ten `kvmprov apply --json` released at the same instant on one root:
# every run succeeds, the lock serialises them, exactly one reports changes and the final state
# is the one a single run leaves. A lock held by a stuck process: a run with --lock-timeout
# says it waits, fails after that long naming the holder's PID, and one with a longer timeout
# goes on as soon as the holder is gone. Usage: concurrency_test.sh KVMPROV
source "$(dirname "$0")/lib.sh"

PARALLEL=10
ROUNDS=${KVMPROV_CONCURRENCY_ROUNDS:-5}
FILES=(etc/modules etc/modules-load.d/kvmprov.conf etc/modprobe.d/kvmprov.conf)
cp "$SOURCE_DIR/profiles/nested.yaml" "$TMP/a.yaml"
sed 's/persist: auto/persist: etc-modules/; s/nested: 1/nested: 0/' "$TMP/a.yaml" >"$TMP/b.yaml"

pristine() {
  rm -rf "$1"
  systemd_root "$1"
  mkdir -p "$1/etc"
  printf '# /etc/modules\nloop\n' >"$1/etc/modules"
}
digests() {
  local f
  for f in "${FILES[@]}"; do
    if [ -e "$1/$f" ]; then echo "$f $(stat -c %a "$1/$f") $(sha256sum <"$1/$f")"; else echo "$f absent"; fi
  done
}
# The state one run alone leaves, per profile.
declare -A want
for p in a b; do
  pristine "$TMP/want-$p"
  "$KVMPROV" apply --root "$TMP/want-$p" --fact cpu_vendor=intel --profile "$TMP/$p.yaml" >/dev/null ||
    bad "single run of $p"
  want[$p]=$(digests "$TMP/want-$p")
done

# --- rounds of simultaneous runs; odd rounds start from a's state and apply b
R="$TMP/root"
total=0
for ((round = 1; round <= ROUNDS; round++)); do
  pristine "$R"
  profile=a
  if [ $((round % 2)) = 0 ]; then
    "$KVMPROV" apply --root "$R" --fact cpu_vendor=intel --profile "$TMP/a.yaml" >/dev/null
    profile=b
  fi
  gate="$TMP/gate"
  rm -f "$gate" && mkfifo "$gate"
  # Held open read-write until every run is done, the gate never blocks an open; each run
  # blocks reading its line.
  exec 3<>"$gate"
  pids=()
  for ((i = 0; i < PARALLEL; i++)); do
    # Each run waits at the gate for a line; writing them all releases the runs at once.
    (exec 3>&-; read -r _ <"$gate"; exec "$KVMPROV" apply --root "$R" --fact cpu_vendor=intel \
      --profile "$TMP/$profile.yaml" --json >"$TMP/out.$i" 2>"$TMP/err.$i") &
    pids+=($!)
  done
  printf '\n%.0s' $(seq "$PARALLEL") >&3
  changed_runs=0
  for ((i = 0; i < PARALLEL; i++)); do
    wait "${pids[$i]}"
    rc=$?
    total=$((total + 1))
    [ "$rc" = 0 ] && ok || bad "round $round run $i: exit $rc: $(cat "$TMP/err.$i")"
    changed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["summary"]["changed"])' "$TMP/out.$i" 2>&1)
    case "$changed" in
      0) ;;
      [1-9]) changed_runs=$((changed_runs + 1)) ;;
      *) bad "round $round run $i: no JSON report: $changed" ;;
    esac
  done
  # Closed only now: a run not yet at the gate would otherwise block opening it.
  exec 3>&-
  expect_eq "$changed_runs" 1 "round $round: runs that reported changes"
  expect_eq "$(digests "$R")" "${want[$profile]}" "round $round: final state"
  [ -z "$(temporaries "$R")" ] && ok || bad "round $round: temporaries left"
done
echo "simultaneous runs: $total in $ROUNDS rounds of $PARALLEL"

# --- a stuck holder. Under --root the lock is the image's root directory itself (nothing is
# written into the image); /proc/locks names the process that holds it.
ready="$TMP/ready"
mkfifo "$ready"
flock "$R" sh -c 'echo $$ >"$2"; echo ready >"$1"; exec sleep 300' sh "$ready" "$TMP/holder.pid" &
flock_pid=$!
read -r _ <"$ready"
holder=$(cat "$TMP/holder.pid")
cleanup_hooks+=("kill $holder $flock_pid 2>/dev/null")
now_ms() { echo $(($(date +%s%N) / 1000000)); }
start=$(now_ms)
run apply --root "$R" --fact cpu_vendor=intel --profile "$TMP/b.yaml" --lock-timeout 1
elapsed=$(($(now_ms) - start))
expect_rc 1 "stuck holder"
expect_eq "$err" "kvmprov: another kvmprov run holds the lock on \"$R\" (PID $flock_pid); waiting up to 1 s
kvmprov: another kvmprov run holds the lock on \"$R\" (PID $flock_pid); waited 1 s" "stuck holder: the wait is said as it starts, and the failure"
[ "$elapsed" -ge 1000 ] && [ "$elapsed" -lt 6000 ] && ok || bad "stuck holder: waited $elapsed ms for a 1 s timeout"
expect_eq "$(digests "$R")" "${want[a]}" "stuck holder: nothing written"
run apply --root "$R" --fact cpu_vendor=intel --profile "$TMP/b.yaml" --lock-timeout 0.3 --detailed-exitcodes
expect_rc 4 "stuck holder, detailed exit codes"
expect_in "$err" "(PID $flock_pid); waited 300 ms" "stuck holder: sub-second timeout"
start=$(now_ms)
run apply --root "$R" --fact cpu_vendor=intel --profile "$TMP/b.yaml" --lock-timeout 0
elapsed=$(($(now_ms) - start))
expect_rc 1 "stuck holder, no waiting"
expect_eq "$err" "kvmprov: another kvmprov run holds the lock on \"$R\" (PID $flock_pid)" "no waiting: message"
[ "$elapsed" -lt 1000 ] && ok || bad "--lock-timeout 0 waited $elapsed ms"
# A timeout too large to count waits; it neither overflows into "fails at once" nor is refused.
"$KVMPROV" apply --root "$R" --fact cpu_vendor=intel --profile "$TMP/b.yaml" --lock-timeout 1e300 \
  >"$TMP/huge.out" 2>&1 &
huge=$!
for ((i = 0; i < 500; i++)); do
  grep -q "waiting up to" "$TMP/huge.out" && break
  sleep 0.01
done
kill -0 "$huge" 2>/dev/null && ok || bad "a huge --lock-timeout did not wait: $(cat "$TMP/huge.out")"
kill "$huge"
wait "$huge" 2>/dev/null

# A run with time to spare goes on once the holder is gone. It is seen waiting first: it says
# so once, as the wait starts.
"$KVMPROV" apply --root "$R" --fact cpu_vendor=intel --profile "$TMP/b.yaml" --lock-timeout 60 \
  >"$TMP/waiter.out" 2>"$TMP/waiter.err" &
waiter=$!
seen=0
for ((i = 0; i < 500; i++)); do
  grep -q "waiting up to 60 s" "$TMP/waiter.err" && { seen=1; break; }
  sleep 0.01
done
expect_eq "$seen" 1 "the waiter said it was waiting"
kill -0 "$waiter" 2>/dev/null && ok || bad "the waiter did not wait: $(cat "$TMP/waiter.err")"
kill "$holder"
wait "$flock_pid" 2>/dev/null
wait "$waiter"
rc=$?
expect_eq "$rc" 0 "the waiter goes on: $(cat "$TMP/waiter.err")"
expect_eq "$(grep -c . "$TMP/waiter.err")" 1 "the wait is said once"
expect_eq "$(digests "$R")" "${want[b]}" "the waiter converged"
[ ! -e "$R/run" ] && ok || bad "the lock wrote into the image: $(ls -R "$R/run")"

finish concurrency
