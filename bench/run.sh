#!/bin/bash
# SPDX-License-Identifier: MIT
# Times kvmprov next to the peer commands in one run on the same machine and prints medians,
# peak RSS and the ratios issue #18 sets targets for. A benchmark, not a test: it asserts nothing,
# and "met" or "not met" only compares this run's figures with the targets.
# Usage: [ROUNDS=5] [RUNS=60] bench/run.sh [PATH/TO/kvmprov]
# (needs hyperfine, GNU time, and C and C++ compilers with libstdc++'s static library:
# apt-get install hyperfine time gcc g++)
set -euo pipefail
KVMPROV=$(realpath "${1:-build/kvmprov}")
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/../tests/lib.sh"
scratch
converged_root "$KVMPROV"
: >"$TMP/empty.conf"
# check's floor: a C program doing only the probe and the kernel-log read check must do.
cc -O2 -o "$TMP/check-floor" "$(dirname "$0")/check_floor.c"
# What starting any program costs here, to tell kvmprov's start-up from its work.
printf 'int main(void) { return 0; }\n' | cc -O2 -x c -o "$TMP/empty" -
# And starting a C++ program linked as kvmprov is by default (libstdc++ static, iostreams in),
# to tell the language's start-up from kvmprov's own.
printf '#include <iostream>\nint main() { return 0; }\n' |
  c++ -O2 -static-libstdc++ -static-libgcc -x c++ -o "$TMP/empty-c++" -

# large_profile N: a profile of N modules with valid names, every fourth with an option, so that
# plan has a modprobe.d and a modules-load.d file to write.
large_profile() {
  printf 'version: 1\nname: bench-%d-modules\npersist: modules-load.d\nmodules:\n' "$1"
  local i
  for ((i = 1; i <= $1; i++)); do
    printf '  - name: bench_mod_%04d\n' "$i"
    if ((i % 4 == 0)); then printf '    options: { param_%d: %d }\n' "$i" "$i"; fi
  done
}
# An image root of its own: under --root nothing is loaded and the running kernel is not asked.
image_root "$TMP/scratch-root"
for n in 100 1000; do large_profile "$n" >"$TMP/modules-$n.yaml"; done

APPLY="kvmprov apply (no-op, converged --root)"
PLAN="kvmprov plan"
CHECK="kvmprov check"
MODPROBE="modprobe -n -q kvm"
FLOOR="check floor (C: probe + kernel log)"
VERSION="kvmprov version (start-up alone)"
EMPTY="empty C program (start and exit)"
EMPTYXX="empty C++ program (linked as kvmprov)"
cmds=(
  "$APPLY|$KVMPROV apply --root $ROOT --fact cpu_vendor=amd --quiet"
  "$PLAN|$KVMPROV plan --quiet"
  "$CHECK|$KVMPROV check --quiet"
  "$MODPROBE|modprobe -n -q kvm"
  "systemd-modules-load (empty file)|/lib/systemd/systemd-modules-load $TMP/empty.conf"
  "kvm-ok|kvm-ok"
  "$FLOOR|$TMP/check-floor"
  "$VERSION|$KVMPROV version"
  "$EMPTY|$TMP/empty"
  "$EMPTYXX|$TMP/empty-c++"
  "plan, 100-module profile (--root)|$KVMPROV plan --root $TMP/scratch-root --profile $TMP/modules-100.yaml --quiet"
  "plan, 1000-module profile (--root)|$KVMPROV plan --root $TMP/scratch-root --profile $TMP/modules-1000.yaml --quiet"
)
args=()
for c in "${cmds[@]}"; do args+=(-n "${c%%|*}" "${c#*|}"); done
# Wall-clock times move with the machine's load: only ratios within this one run mean anything.
# Several short rounds rather than one long one (as bench/static_deps.sh does): on a shared
# machine the load drifts, and each round times every command close together. A ratio is the
# median of its rounds' ratios, a time the median of the rounds' medians.
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "${ROUNDS:-5}"); do
  hyperfine -N -i --warmup 10 --runs "${RUNS:-60}" --export-json "$TMP/times-$r.json" "${args[@]}" \
    >/dev/null 2>&1
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

for c in "${cmds[@]}"; do
  # shellcheck disable=SC2086 # the command and its arguments, split on purpose
  /usr/bin/time -f '%M' -o "$TMP/rss" ${c#*|} >/dev/null 2>&1 || true
  echo "${c%%|*}|$(tail -1 "$TMP/rss")"
done >"$TMP/rss.txt"

python3 - "$TMP/rss.txt" "$load_before" "$load_after" "$APPLY" "$PLAN" "$CHECK" "$MODPROBE" \
  "$FLOOR" "$VERSION" "$EMPTY" "$EMPTYXX" "$TMP"/times-*.json <<'PY'
import json, statistics, sys
(rss_file, load_before, load_after, apply, plan, check, modprobe, floor, version, empty,
 emptyxx) = sys.argv[1:12]
rounds = [{r["command"]: r["median"] * 1000 for r in json.load(open(f))["results"]}
          for f in sys.argv[12:]]
results = {c: statistics.median(r[c] for r in rounds) for c in rounds[0]}
rss = dict(line.rstrip("\n").split("|") for line in open(rss_file))
print(f"{len(rounds)} rounds; load average (1, 5, 15 min): {load_before} before, {load_after} after")
print(f"{'command':42} {'median ms':>10} {'peak RSS KiB':>13}")
for name, ms in results.items():
    print(f"{name:42} {ms:10.2f} {rss.get(name, '?'):>13}")

def line(what, value, target, met):
    print(f"{what:44} {value:>9}  target {target:10} {'met' if met else 'not met'}")

print()
for what, a, b, target in [("check / check floor", check, floor, 1.2),
                           ("no-op apply / modprobe -n", apply, modprobe, 0.9),
                           ("plan / modprobe -n", plan, modprobe, 1.5)]:
    r = statistics.median(t[a] / t[b] for t in rounds)
    line(what, f"{r:.2f}", f"<= {target}", r <= target)
# The floor is a C program: kvmprov's own start-up (the C++ runtime, the loader's work for a
# larger program) is part of every check and none of the floor's.
above = statistics.median(t[check] - t[floor] for t in rounds)
runtime = statistics.median(t[emptyxx] - t[empty] for t in rounds)
start = statistics.median(t[version] - t[emptyxx] for t in rounds)
budget = statistics.median(0.2 * t[floor] for t in rounds)
print(f"  check is {above:.2f} ms above the floor ({budget:.2f} ms would meet the target): "
      f"{runtime:.2f} ms of it is C++'s start-up (an empty C++ program - an empty C one), "
      f"{start:.2f} ms kvmprov's start-up and command line (kvmprov version - the empty C++ "
      f"program), {above - runtime - start:.2f} ms check's own work")
verbs = {v: int(rss[v]) for v in (apply, plan, check) if rss.get(v, "").isdigit()}
if verbs:
    worst = max(verbs, key=verbs.get)
    mb = verbs[worst] * 1024 / 1e6
    line(f"max peak RSS of the verbs ({worst.split()[1]})", f"{mb:.2f} MB", "< 6 MB", mb < 6)
small = results["plan, 100-module profile (--root)"]
large = results["plan, 1000-module profile (--root)"]
line("plan, 1000-module profile", f"{large:.2f} ms", "<= 10 ms", large <= 10)
# Linear: ten times the modules cost ten times the per-module part, over the same fixed start.
print(f"  100 modules {small:.2f} ms, 1000 modules {large:.2f} ms: "
      f"{(large - small) / 900 * 1000:.1f} us per module; the fixed part ~{small - (large - small) / 9:.2f} ms")
PY
