#!/bin/bash
# SPDX-License-Identifier: MIT
# What linking libstdc++, yaml-cpp and pugixml statically saves per run: times two builds of
# kvmprov, one configured with -DKVMPROV_STATIC_DEPS=ON and one with OFF, on the same commands,
# side by side in each of several hyperfine rounds. A benchmark, not a test: it asserts nothing.
# Usage: bench/static_deps.sh STATIC_KVMPROV DYNAMIC_KVMPROV   (needs hyperfine)
set -euo pipefail
STATIC=$(realpath "$1")
DYNAMIC=$(realpath "$2")
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/../tests/lib.sh"
scratch
converged_root "$STATIC"

verbs=(
  "version|version"
  "apply (no-op, converged --root)|apply --root $ROOT --fact cpu_vendor=amd --quiet"
  "plan --root|plan --root $ROOT --fact cpu_vendor=amd --quiet"
)
# Several short rounds rather than one long one: on a shared machine the load drifts, and each
# round times both builds close together. The figure is the median of the rounds' medians.
for r in $(seq 1 "${ROUNDS:-7}"); do
  args=()
  for v in "${verbs[@]}"; do
    args+=(-n "static ${v%%|*}" "$STATIC ${v#*|}" -n "dynamic ${v%%|*}" "$DYNAMIC ${v#*|}")
  done
  hyperfine -N -i --warmup 20 --runs "${RUNS:-200}" --export-json "$TMP/times-$r.json" "${args[@]}" \
    >/dev/null 2>&1
done

python3 - "$TMP"/times-*.json <<'PY'
import json, statistics, sys
# Wall time (median) and CPU time (user + system, mean over the runs) of each command, per round.
rounds = [{r["command"]: (r["median"] * 1000, (r["user"] + r["system"]) * 1000)
           for r in json.load(open(f))["results"]} for f in sys.argv[1:]]
med = {c: [statistics.median(r[c][i] for r in rounds) for i in (0, 1)] for c in rounds[0]}
print(f"{len(rounds)} rounds; medians over the rounds (milliseconds)")
print(f"{'command':34} {'wall: static':>12} {'dynamic':>8} {'cost':>7}   {'CPU: static':>11} "
      f"{'dynamic':>8} {'cost':>7}")
for name in dict.fromkeys(c.split(" ", 1)[1] for c in med):
    (sw, sc), (dw, dc) = med["static " + name], med["dynamic " + name]
    print(f"{name:34} {sw:12.2f} {dw:8.2f} {dw - sw:+7.2f}   {sc:11.2f} {dc:8.2f} {dc - sc:+7.2f}")
PY

# Instructions per run, which the load of the machine does not change (valgrind's callgrind,
# dynamic loader included).
if command -v valgrind >/dev/null; then
  echo
  printf '%-34s %14s %14s %14s\n' "instructions" static dynamic cost
  for v in "${verbs[@]}"; do
    count() {
      # shellcheck disable=SC2086
      valgrind --tool=callgrind --callgrind-out-file=/dev/null "$1" ${v#*|} 2>&1 >/dev/null |
        sed -n 's/.*I *refs: *//p' | tr -d ,
    }
    s=$(count "$STATIC") d=$(count "$DYNAMIC")
    printf '%-34s %14s %14s %+14d\n' "${v%%|*}" "$s" "$d" $((d - s))
  done
fi
