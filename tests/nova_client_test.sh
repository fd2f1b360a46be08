#!/bin/bash
# SPDX-License-Identifier: MIT
# nova.conf against the real thing: Debian's nova-common sample converged under --root, read back
# by nova's own option definitions (python3-nova), and custom CPU models checked against the CPU
# map Debian's libvirt0 ships. Then the files nova-compute really loads: the sample with the
# nova-compute.conf that nova-compute-kvm or nova-compute-qemu ships, a config directory and an
# upper-case [LIBVIRT], loaded by oslo.config exactly as the service loads them, must give the
# values kvmprov reported. Exit 77 (skipped) when the packages cannot be fetched.
# Usage: nova_client_test.sh PATH/TO/kvmprov
set -eu

kvmprov=$(readlink -f "$1")
src=${KVMPROV_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
cache=$src/tests/.cache/nova
python=/usr/bin/python3
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
scratch

if [ ! -f "$cache/nova.conf" ] || [ ! -f "$cache/cpu_map/index.xml" ] ||
  [ ! -f "$cache/nova-compute-kvm.conf" ] || [ ! -f "$cache/nova-compute-qemu.conf" ]; then
  dl=$TMP/download
  mkdir "$dl"
  packages="nova-common libvirt0 nova-compute-kvm nova-compute-qemu"
  # shellcheck disable=SC2086 # one word per package
  if ! (cd "$dl" && apt-get download $packages) >"$dl/log" 2>&1; then
    skip "cannot fetch $packages with apt-get download: $(tail -n 1 "$dl/log")"
  fi
  # Each package unpacked apart: both nova-compute-* ship /etc/nova/nova-compute.conf.
  for deb in "$dl"/*.deb; do
    name=$(dpkg-deb --field "$deb" Package)
    dpkg -x "$deb" "$dl/$name"
  done
  [ -f "$dl/nova-common/usr/share/nova-common/nova.conf" ] || skip "nova-common has no /usr/share/nova-common/nova.conf"
  [ -f "$dl/libvirt0/usr/share/libvirt/cpu_map/index.xml" ] || skip "libvirt0 has no /usr/share/libvirt/cpu_map"
  for flavour in kvm qemu; do
    [ -f "$dl/nova-compute-$flavour/etc/nova/nova-compute.conf" ] ||
      skip "nova-compute-$flavour has no /etc/nova/nova-compute.conf"
  done
  mkdir -p "$cache"
  rm -rf "$cache/cpu_map"
  cp -r "$dl/libvirt0/usr/share/libvirt/cpu_map" "$cache/cpu_map"
  cp "$dl/nova-common/usr/share/nova-common/nova.conf" "$cache/nova.conf"
  for flavour in kvm qemu; do
    cp "$dl/nova-compute-$flavour/etc/nova/nova-compute.conf" "$cache/nova-compute-$flavour.conf"
  done
fi

work=$TMP/work
mkdir "$work"
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
on_root() { "$kvmprov" --no-color --profile "$work/p.yaml" --root "$root" "$@"; }
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
out=$(on_root --fact "cpu_flags=$nehalem" plan) || bad "plan exited $?"
changes=$(printf '%s\n' "$out" | grep -E '^[-+]' | grep -vE '^(---|\+\+\+) ' || true)
want='+[DEFAULT] compute_driver = libvirt.LibvirtDriver
+[libvirt] virt_type = kvm
+[libvirt] cpu_mode = custom
+[libvirt] cpu_models = Nehalem'
[ "$changes" = "$want" ] || bad "plan's diff of the nova-common sample: got [$changes]"
on_root --fact "cpu_flags=$nehalem" apply >"$work/out" || bad "apply exited $?: $(cat "$work/out")"
grep -q '^changed   write /etc/nova/nova.conf' "$work/out" || bad "apply: $(cat "$work/out")"
changes=$(diff "$cache/nova.conf" "$conf" | grep -E '^[<>]' || true)
want='> compute_driver = libvirt.LibvirtDriver
> virt_type = kvm
> cpu_mode = custom
> cpu_models = Nehalem'
[ "$changes" = "$want" ] || bad "bytes changed outside the managed keys: [$changes]"
[ "$(stat -c '%u:%g %a' "$conf")" = "0:4242 640" ] || bad "owner/mode: $(stat -c '%u:%g %a' "$conf")"
[ -z "$(find "$root/etc/nova" -name '.kvmprov.*')" ] || bad "temporary files left behind"
if [ $have_nova = yes ]; then
  got=$(nova_reads) || bad "nova cannot read the result"
  [ "$got" = "libvirt.LibvirtDriver kvm custom Nehalem" ] || bad "nova reads: $got"
fi

# 2. Idempotency: the second apply writes nothing: same inode (a write renames a new one in)
# and the same mtime to the nanosecond.
stamp=$(stat -c '%i %.9Y' "$conf")
out=$(on_root --fact "cpu_flags=$nehalem" apply) || bad "second apply exited $?"
printf '%s\n' "$out" | grep -q '^0 changed, 3 unchanged' || bad "second apply: $out"
[ "$(stat -c '%i %.9Y' "$conf")" = "$stamp" ] || bad "second apply touched the file"

# 3. The QEMU fallback, and host-model: cpu_models goes, nova agrees.
profile auto host-model
out=$(on_root --fact kvm_usable=false apply) || bad "apply (qemu) exited $?"
printf '%s\n' "$out" | grep -q 'virt-type qemu: auto: KVM is not usable here (--fact overridden)' ||
  bad "qemu fallback: $out"
grep -q '^cpu_models' "$conf" && bad "cpu_models left with cpu_mode host-model"
[ "$(stat -c '%u:%g %a' "$conf")" = "0:4242 640" ] || bad "owner/mode after the second edit"
if [ $have_nova = yes ]; then
  got=$(nova_reads) || bad "nova cannot read the result"
  [ "$got" = "libvirt.LibvirtDriver qemu host-model -" ] || bad "nova reads: $got"
fi

# 4. libvirt's real CPU map: an unknown model (with a hint) and one this CPU cannot run.
before=$(md5sum <"$conf")
profile kvm custom Nehalen
out=$(on_root --fact "cpu_flags=$nehalem" apply) && bad "apply with an unknown model exited 0"
printf '%s\n' "$out" | grep -qF 'unknown CPU model "Nehalen" (not in /usr/share/libvirt/cpu_map/index.xml'"'"'s x86 models) (did you mean "Nehalem"?)' ||
  bad "unknown model: $out"
profile kvm custom 'Nehalem, Haswell-noTSX'
out=$(on_root --fact "cpu_flags=$nehalem" plan) || true
printf '%s\n' "$out" | grep -q '^! cpu-mode custom Nehalem,Haswell-noTSX: this CPU cannot run "Haswell-noTSX": it lacks .*avx2' ||
  bad "missing features: $out"
[ "$(md5sum <"$conf")" = "$before" ] || bad "a failed CPU check still wrote nova.conf"
out=$(on_root --fact "cpu_flags=$nehalem" --json plan) || true  # a predicted failure: exit 1
printf '%s\n' "$out" | grep -q '"missing_features"' || bad "JSON lacks missing_features"

# 5. Combinations nova would refuse at start-up never reach the file.
for case in 'custom' 'host-model Nehalem' 'host-passthrough Nehalem'; do
  # shellcheck disable=SC2086
  profile kvm $case
  code=0
  on_root plan >"$work/out" 2>&1 || code=$?
  [ $code = 65 ] || bad "cpu_mode $case: exit $code, expected 65: $(cat "$work/out")"
done
[ "$(md5sum <"$conf")" = "$before" ] || bad "an invalid profile changed nova.conf"

# 6. What nova-compute really loads. Debian's service runs
#   nova-compute --config-file=/etc/nova/nova.conf --config-file=/etc/nova/nova-compute.conf
# with no --config-dir, so oslo.config first reads its default directories
# (/etc/nova/nova.conf.d/, /etc/nova/nova-compute.conf.d/) and then the two files; a service
# given --config-dir after the files reads the directory last. oslo.config loads each layout here
# as nova-compute would (paths moved under the root), and must read what kvmprov reported.
oslo_reads() { # DEFAULT_DIRS (colon-separated) ARGS...
  "$python" - "$@" <<'PY'
import sys
import nova.conf
CONF = nova.conf.CONF
dirs = [d for d in sys.argv[1].split(':') if d]
CONF(sys.argv[2:], project='nova', prog='nova-compute', default_config_files=[],
     default_config_dirs=dirs)
print(CONF.compute_driver, CONF.libvirt.virt_type, CONF.libvirt.cpu_mode,
      ','.join(CONF.libvirt.cpu_models) or '-')
PY
}
# The JSON report's virt_type decision and cpu_mode, and the files that decide virt_type.
reported() {
  "$python" -c '
import json, sys
r = json.load(sys.stdin)
a = {x["id"]: x for x in r["actions"]}
vt = a["nova:virt_type"]["nova"]
deciding = [x["target"] for x in r["actions"]
            if "[libvirt] virt_type" in x.get("nova", {}).get("decides", [])]
print(vt["virt_type"], a["nova:cpu_mode"]["nova"]["cpu_mode"], " ".join(deciding))'
}
# Every line that differs between two files is a managed key.
only_managed() { # BEFORE AFTER LABEL
  extra=$(diff "$1" "$2" | grep -E '^[<>]' |
    grep -vE '^[<>] *(compute_driver|virt_type|cpu_mode|cpu_models?) *[=:]' || true)
  [ -z "$extra" ] || bad "$3: lines other than the managed keys changed: [$extra]"
}

for layout in debian config-dir-last; do
  for flavour in kvm qemu; do
    for usable in true false; do
      case=$layout/nova-compute-$flavour/kvm_usable=$usable
      r=$work/$layout-$flavour-$usable
      mkdir -p "$r/etc/nova/nova.conf.d"
      cp "$cache/nova.conf" "$r/etc/nova/nova.conf"
      cp "$cache/nova-compute-$flavour.conf" "$r/etc/nova/nova-compute.conf"
      chown 0:4242 "$r/etc/nova/nova.conf"
      chmod 0640 "$r/etc/nova/nova.conf"
      if [ $layout = debian ]; then
        # A site drop-in in oslo.config's default directory: read first, so only what no later
        # file sets comes from it. Its section is spelt upper-case.
        printf '[LIBVIRT]\ncpu_mode = host-passthrough\n' >"$r/etc/nova/nova.conf.d/50-site.conf"
        printf 'version: 1\nname: compute\nnova:\n  virt_type: auto\n' >"$work/p.yaml"
        dirs=$r/etc/nova/nova.conf.d:$r/etc/nova/nova-compute.conf.d
        set -- --config-file "$r/etc/nova/nova.conf" --config-file "$r/etc/nova/nova-compute.conf"
      else
        # --config-dir after the files: its [LIBVIRT] virt_type is read last and wins.
        printf '[LIBVIRT]\nvirt_type = lxc\n' >"$r/etc/nova/nova.conf.d/90-virt.conf"
        printf '%s\n' 'version: 1' 'name: compute' 'nova:' '  virt_type: auto' \
          '  config: [/etc/nova/nova.conf, /etc/nova/nova-compute.conf, /etc/nova/nova.conf.d/]' \
          >"$work/p.yaml"
        dirs=
        set -- --config-file "$r/etc/nova/nova.conf" --config-file "$r/etc/nova/nova-compute.conf" \
          --config-dir "$r/etc/nova/nova.conf.d"
      fi
      cp -r "$r/etc/nova" "$work/before"
      [ $usable = true ] && want=kvm || want=qemu
      if [ $have_nova = yes ] && [ $usable = false ] && [ $flavour = kvm ] && [ $layout = debian ]; then
        # The case virt_type: auto exists for: before kvmprov, nova-compute reads kvm.
        got=$(oslo_reads "$dirs" "$@") || bad "$case: nova cannot read the files as shipped"
        [ "$got" = "libvirt.LibvirtDriver kvm host-passthrough -" ] || bad "$case: as shipped, nova reads: $got"
      fi
      out=$("$kvmprov" --no-color --profile "$work/p.yaml" --root "$r" --fact kvm_usable=$usable \
        --json apply) || bad "$case: apply exited $?: $out"
      rep=$(printf '%s\n' "$out" | reported) || bad "$case: no report: $out"
      read -r virt_type cpu_mode deciding <<EOF
$rep
EOF
      [ "$virt_type" = "$want" ] || bad "$case: kvmprov decided [$virt_type], expected $want"
      [ $layout = debian ] && decider=/etc/nova/nova-compute.conf || decider=/etc/nova/nova.conf.d/90-virt.conf
      [ "$deciding" = "$decider" ] || bad "$case: kvmprov says [$deciding] decides virt_type, expected $decider"
      for f in nova.conf nova-compute.conf nova.conf.d/50-site.conf nova.conf.d/90-virt.conf; do
        if [ -f "$work/before/$f" ]; then only_managed "$work/before/$f" "$r/etc/nova/$f" "$case: $f"; fi
      done
      [ "$(stat -c '%u:%g %a' "$r/etc/nova/nova.conf")" = "0:4242 640" ] || bad "$case: nova.conf owner/mode"
      [ "$(stat -c '%u:%g %a' "$r/etc/nova/nova-compute.conf")" = "0:0 644" ] || bad "$case: nova-compute.conf owner/mode"
      if [ $have_nova = yes ]; then
        got=$(oslo_reads "$dirs" "$@") || bad "$case: nova cannot read the result"
        [ "$got" = "libvirt.LibvirtDriver $virt_type $cpu_mode -" ] ||
          bad "$case: kvmprov reported virt_type=$virt_type cpu_mode=$cpu_mode, nova reads: $got"
      fi
      out=$("$kvmprov" --no-color --profile "$work/p.yaml" --root "$r" --fact kvm_usable=$usable apply) ||
        bad "$case: second apply exited $?"
      printf '%s\n' "$out" | grep -q '^0 changed, ' || bad "$case: second apply: $out"
      rm -rf "$work/before"
    done
  done
done

if [ "$fail" -gt 0 ]; then
  echo "$fail failure(s)"
  exit 1
fi
[ $have_nova = yes ] || skip "kvmprov checks passed; python3-nova is not installed, so nova did not read the result (scripts/install-deps.sh installs it)"
echo "all nova client checks passed"
