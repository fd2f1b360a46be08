#!/bin/bash
# SPDX-License-Identifier: MIT
# Checks kvmprov.service: systemd-analyze verify passes with no message, and the unit has the
# settings the packages rely on. Usage: systemd_test.sh PATH/TO/kvmprov SOURCE_DIR
set -u
KVMPROV=$(realpath "$1")
UNIT="$(realpath "$2")/systemd/kvmprov.service"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

for line in "Type=oneshot" "ExecStart=/usr/sbin/kvmprov apply --profile /etc/kvmprov/profile.yaml" \
  "RemainAfterExit=yes" "WantedBy=multi-user.target" \
  "After=systemd-udevd.service systemd-modules-load.service" \
  "Before=libvirtd.service nova-compute.service"; do
  grep -qxF -- "$line" "$UNIT" && ok || bad "kvmprov.service lacks \"$line\""
done

if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze missing (apt-get install systemd): unit not verified"
  echo "systemd: $pass passed, $fail failed"
  [ "$fail" = 0 ] && exit 77
  exit 1
fi
# verify checks that ExecStart's program exists: point it at the built binary. Documentation=
# is checked by the man page test, not here (--man=no).
sed "s|^ExecStart=/usr/sbin/kvmprov |ExecStart=$KVMPROV |" "$UNIT" >"$TMP/kvmprov.service"
out=$(systemd-analyze verify --man=no "$TMP/kvmprov.service" 2>&1)
rc=$?
[ "$rc" = 0 ] && [ -z "$out" ] && ok || bad "systemd-analyze verify (exit $rc): $out"

echo "systemd: $pass passed, $fail failed"
[ "$fail" = 0 ]
