#!/bin/bash
# SPDX-License-Identifier: MIT
# Times kvmprov next to the peer commands in one run on the same machine and prints medians,
# ratios and peak RSS. A benchmark, not a test: it asserts nothing.
# Usage: bench/run.sh [PATH/TO/kvmprov]   (needs hyperfine, GNU time and a C compiler:
# apt-get install hyperfine time gcc)
set -euo pipefail
KVMPROV=$(realpath "${1:-build/kvmprov}")
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/../tests/lib.sh"
scratch
converged_root "$KVMPROV"
: >"$TMP/empty.conf"
# check's floor: a C program doing only the probe and the kernel-log read check must do.
cc -O2 -o "$TMP/check-floor" "$(dirname "$0")/check_floor.c"

cmds=(
  "kvmprov apply (no-op, converged --root)|$KVMPROV apply --root $ROOT --fact cpu_vendor=amd --quiet"
  "kvmprov plan|$KVMPROV plan --quiet"
  "kvmprov check|$KVMPROV check --quiet"
  "modprobe -n -q kvm|modprobe -n -q kvm"
  "systemd-modules-load (empty file)|/lib/systemd/systemd-modules-load $TMP/empty.conf"
  "kvm-ok|kvm-ok"
  "check floor (C: probe + kernel log)|$TMP/check-floor"
)
args=()
for c in "${cmds[@]}"; do args+=(-n "${c%%|*}" "${c#*|}"); done
hyperfine -N -i --warmup 20 --min-runs 200 --export-json "$TMP/times.json" "${args[@]}" >/dev/null 2>&1

for c in "${cmds[@]}"; do
  /usr/bin/time -f '%M' -o "$TMP/rss" ${c#*|} >/dev/null 2>&1 || true
  echo "${c%%|*}|$(tail -1 "$TMP/rss")"
done >"$TMP/rss.txt"

python3 - "$TMP/times.json" "$TMP/rss.txt" <<'PY'
import json, sys
results = {r["command"]: r["median"] * 1000 for r in json.load(open(sys.argv[1]))["results"]}
rss = dict(line.strip().split("|") for line in open(sys.argv[2]))
print(f"{'command':42} {'median ms':>10} {'peak RSS KiB':>13}")
for name, ms in results.items():
    print(f"{name:42} {ms:10.2f} {rss.get(name, '?'):>13}")
def ratio(a, b):
    return results[a] / results[b]
print()
print(f"no-op apply / modprobe -n      = {ratio('kvmprov apply (no-op, converged --root)', 'modprobe -n -q kvm'):.2f}  (target <= 1)")
print(f"check / kvm-ok                 = {ratio('kvmprov check', 'kvm-ok'):.2f}  (target <= 0.33)")
print(f"check floor / kvm-ok           = {ratio('check floor (C: probe + kernel log)', 'kvm-ok'):.2f}")
print(f"plan / systemd-modules-load    = {ratio('kvmprov plan', 'systemd-modules-load (empty file)'):.2f}")
PY
