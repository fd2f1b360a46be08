#!/bin/sh
# SPDX-License-Identifier: MIT
# nova.conf against the real thing: Debian's nova-common sample converged under --root, read back
# by nova's own option definitions (python3-nova), and custom CPU models checked against the CPU
# map Debian's libvirt0 ships. Exit 77 (skipped) when the packages cannot be fetched.
# Usage: nova_client_test.sh PATH/TO/kvmprov
set -eu

kvmprov=$(readlink -f "$1")
src=${KVMPROV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cache=$src/tests/.cache/nova
python=/usr/bin/python3
failures=0

skip() {
  echo "SKIPPED: $*"
  exit 77
}
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

if [ ! -f "$cache/nova.conf" ] || [ ! -f "$cache/cpu_map/index.xml" ]; then
  dl=$(mktemp -d)
  trap 'rm -rf "$dl"' EXIT
  if ! (cd "$dl" && apt-get download nova-common libvirt0) >"$dl/log" 2>&1; then
    skip "cannot fetch nova-common and libvirt0 with apt-get download: $(tail -n 1 "$dl/log")"
  fi
  for deb in "$dl"/*.deb; do dpkg -x "$deb" "$dl/x"; done
  [ -f "$dl/x/usr/share/nova-common/nova.conf" ] || skip "nova-common has no /usr/share/nova-common/nova.conf"
  [ -f "$dl/x/usr/share/libvirt/cpu_map/index.xml" ] || skip "libvirt0 has no /usr/share/libvirt/cpu_map"
  mkdir -p "$cache"
  rm -rf "$cache/cpu_map"
  cp -r "$dl/x/usr/share/libvirt/cpu_map" "$cache/cpu_map"
  cp "$dl/x/usr/share/nova-common/nova.conf" "$cache/nova.conf"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/etc/nova" "$root/usr/share/libvirt"
cp -r "$cache/cpu_map" "$root/usr/share/libvirt/cpu_map"
conf=$root/etc/nova/nova.conf
cp "$cache/nova.conf" "$conf"
# nova.conf as the package leaves it: root:nova 0640 (the group need not exist on this host).
chown 0:4242 "$conf"
chmod 0640 "$conf"

# What /proc/cpuinfo shows on a Nehalem: a deterministic host for the model checks.
nehalem=apic,clflush,cmov,cx16,cx8,de,fpu,fxsr,lahf_lm,lm,mca,mce,mmx,msr,mtrr,nx,pae,pat,pge
nehalem=$nehalem,pni,popcnt,pse,pse36,sep,sse,sse2,sse4_1,sse4_2,ssse3,syscall,tsc

profile() { # virt_type cpu_mode [models]
  {
    printf 'version: 1\nname: compute\nnova:\n  virt_type: %s\n  cpu_mode: %s\n' "$1" "$2"
    [ -z "${3:-}" ] || printf '  cpu_models: [%s]\n' "$3"
  } >"$work/p.yaml"
}
run() { "$kvmprov" --no-color --profile "$work/p.yaml" --root "$root" "$@"; }
nova_reads() {
  "$python" - "$conf" <<'PY'
import sys
import nova.conf
CONF = nova.conf.CONF
CONF(['--config-file', sys.argv[1]], project='nova')
print(CONF.compute_driver, CONF.libvirt.virt_type, CONF.libvirt.cpu_mode,
      ','.join(CONF.libvirt.cpu_models) or '-')
PY
}
have_nova=yes
"$python" -c 'import nova.conf' 2>/dev/null || have_nova=no

# 1. The package's sample, converged: the diff shows only the managed keys, as "[section] key".
profile auto custom Nehalem
out=$(run --fact "cpu_flags=$nehalem" plan) || fail "plan exited $?"
changes=$(printf '%s\n' "$out" | grep -E '^[-+]' | grep -vE '^(---|\+\+\+) ' || true)
want='+[DEFAULT] compute_driver = libvirt.LibvirtDriver
+[libvirt] virt_type = kvm
+[libvirt] cpu_mode = custom
+[libvirt] cpu_models = Nehalem'
[ "$changes" = "$want" ] || fail "plan's diff of the nova-common sample: got [$changes]"
run --fact "cpu_flags=$nehalem" apply >"$work/out" || fail "apply exited $?: $(cat "$work/out")"
grep -q '^changed   write /etc/nova/nova.conf' "$work/out" || fail "apply: $(cat "$work/out")"
changes=$(diff "$cache/nova.conf" "$conf" | grep -E '^[<>]' || true)
want='> compute_driver = libvirt.LibvirtDriver
> virt_type = kvm
> cpu_mode = custom
> cpu_models = Nehalem'
[ "$changes" = "$want" ] || fail "bytes changed outside the managed keys: [$changes]"
[ "$(stat -c '%u:%g %a' "$conf")" = "0:4242 640" ] || fail "owner/mode: $(stat -c '%u:%g %a' "$conf")"
[ -z "$(find "$root/etc/nova" -name '.kvmprov.*')" ] || fail "temporary files left behind"
if [ $have_nova = yes ]; then
  got=$(nova_reads) || fail "nova cannot read the result"
  [ "$got" = "libvirt.LibvirtDriver kvm custom Nehalem" ] || fail "nova reads: $got"
fi

# 2. Idempotency: the second apply writes nothing: same inode (a write renames a new one in)
# and the same mtime to the nanosecond.
stamp=$(stat -c '%i %.9Y' "$conf")
out=$(run --fact "cpu_flags=$nehalem" apply) || fail "second apply exited $?"
printf '%s\n' "$out" | grep -q '^0 changed, 3 unchanged' || fail "second apply: $out"
[ "$(stat -c '%i %.9Y' "$conf")" = "$stamp" ] || fail "second apply touched the file"

# 3. The QEMU fallback, and host-model: cpu_models goes, nova agrees.
profile auto host-model
out=$(run --fact kvm_usable=false apply) || fail "apply (qemu) exited $?"
printf '%s\n' "$out" | grep -q 'virt-type qemu: auto: KVM is not usable here (--fact overridden)' ||
  fail "qemu fallback: $out"
grep -q '^cpu_models' "$conf" && fail "cpu_models left with cpu_mode host-model"
[ "$(stat -c '%u:%g %a' "$conf")" = "0:4242 640" ] || fail "owner/mode after the second edit"
if [ $have_nova = yes ]; then
  got=$(nova_reads) || fail "nova cannot read the result"
  [ "$got" = "libvirt.LibvirtDriver qemu host-model -" ] || fail "nova reads: $got"
fi

# 4. libvirt's real CPU map: an unknown model (with a hint) and one this CPU cannot run.
before=$(md5sum <"$conf")
profile kvm custom Nehalen
out=$(run --fact "cpu_flags=$nehalem" apply) && fail "apply with an unknown model exited 0"
printf '%s\n' "$out" | grep -qF 'unknown CPU model "Nehalen" (not in /usr/share/libvirt/cpu_map/index.xml) (did you mean "Nehalem"?)' ||
  fail "unknown model: $out"
profile kvm custom 'Nehalem, Haswell-noTSX'
out=$(run --fact "cpu_flags=$nehalem" plan) || true
printf '%s\n' "$out" | grep -q '^! cpu-mode custom Nehalem,Haswell-noTSX: this CPU cannot run "Haswell-noTSX": it lacks .*avx2' ||
  fail "missing features: $out"
[ "$(md5sum <"$conf")" = "$before" ] || fail "a failed CPU check still wrote nova.conf"
out=$(run --fact "cpu_flags=$nehalem" --json plan)
printf '%s\n' "$out" | grep -q '"missing_features"' || fail "JSON lacks missing_features"

# 5. Combinations nova would refuse at start-up never reach the file.
for case in 'custom' 'host-model Nehalem' 'host-passthrough Nehalem'; do
  # shellcheck disable=SC2086
  profile kvm $case
  code=0
  run plan >"$work/out" 2>&1 || code=$?
  [ $code = 65 ] || fail "cpu_mode $case: exit $code, expected 65: $(cat "$work/out")"
done
[ "$(md5sum <"$conf")" = "$before" ] || fail "an invalid profile changed nova.conf"

if [ $failures -gt 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
[ $have_nova = yes ] || skip "kvmprov checks passed; python3-nova is not installed, so nova did not read the result (scripts/install-deps.sh installs it)"
echo "all nova client checks passed"
