#!/bin/bash
# SPDX-License-Identifier: MIT
# Full and read-only filesystems, in a private mount namespace (unshare -m): a tiny tmpfs that
# runs out of blocks or of inodes (ENOSPC) and read-only bind mounts (EROFS) over the target
# directories and over a whole image. Each run fails with exit 1 and one clear line naming the file
# and the cause; the previous file is intact, no temporary is left, and once the fault is gone
# the next run converges. Usage: full_readonly_fs_test.sh KVMPROV
if [ -z "${KVMPROV_IN_MOUNT_NS:-}" ]; then
  if ! unshare -m --propagation private true 2>/dev/null; then
    echo "full-readonly-fs: skipped: cannot make a mount namespace (needs root)"
    exit 77
  fi
  KVMPROV_IN_MOUNT_NS=1 exec unshare -m --propagation private "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"
# The namespace ends with the test, but the scratch directory goes first.
cleanup_hooks+=("grep -o \" \$TMP/[^ ]*\" /proc/self/mounts | sort -r | xargs -r -n1 umount -l")

FILES=(etc/modules etc/modules-load.d/kvmprov.conf etc/modprobe.d/kvmprov.conf)
cases=0
cat >"$TMP/a.yaml" <<'YAML'
version: 1
name: fs-a
modules:
  - name: kvm
  - name: kvm_intel
    options: { nested: 1 }
persist: modules-load.d
YAML
cat >"$TMP/b.yaml" <<'YAML'
version: 1
name: fs-b
modules:
  - name: kvm
  - name: kvm_intel
    options: { nested: 0 }
  - name: vhost_net
persist: etc-modules
YAML
cat >"$TMP/c.yaml" <<'YAML'
version: 1
name: fs-c
modules:
  - name: kvm
  - name: kvm_intel
    options: { nested: 0 }
  - name: vhost_net
persist: modules-load.d
YAML

apply_profile() {  # apply_profile ROOT PROFILE [OPTIONS...]
  local root=$1 profile=$2
  shift 2
  run apply --root "$root" --fact cpu_vendor=intel --profile "$TMP/$profile.yaml" "$@"
}
fingerprint() {  # the managed files' content and mode, "absent" for a missing one
  local f
  for f in "${FILES[@]}"; do
    if [ -e "$1/$f" ]; then echo "$f $(stat -c %a "$1/$f") $(sha256sum <"$1/$f")"; else echo "$f absent"; fi
  done
}
# new_root NAME: a root with systemd, converged to profile a, with etc on a fresh small tmpfs
new_root() {
  R="$TMP/$1"
  systemd_root "$R"
  mkdir -p "$R/etc"
  mount -t tmpfs -o size=64k,nr_inodes=${2:-1000},mode=0755 "kvmprov-test" "$R/etc"
  printf '# /etc/modules\nloop\n' >"$R/etc/modules"
  apply_profile "$R" a
  expect_rc 0 "$1: converge to a"
  before=$(fingerprint "$R")
}
# refused WHAT CAUSE: the run failed cleanly with CAUSE and left the old files and no temporary
refused() {
  cases=$((cases + 1))
  expect_rc 1 "$1: exit status"
  expect_in "$out" "$2" "$1: the report names the file and cause"
  expect_in "$out" "failed" "$1: summary"
  [ -z "$(temporaries "$R")" ] && ok || bad "$1: temporaries left: $(temporaries "$R")"
}
# unchanged_except LIST: files not in LIST are as before (LIST: the ones the run could change)
same_file() { expect_eq "$(fingerprint "$R" | grep "^$2 ")" "$(printf '%s\n' "$before" | grep "^$2 ")" "$1: $2 intact"; }

# --- ENOSPC: no block left for the new content (profile c rewrites both of a's files)
new_root nospace
{ head -c 1M /dev/zero >"$R/etc/filler"; } 2>/dev/null
apply_profile "$R" c
refused "full filesystem" "cannot write \"$R/etc/modprobe.d/kvmprov.conf\": No space left on device"
expect_in "$out" "cannot write \"$R/etc/modules-load.d/kvmprov.conf\": No space left on device" "full filesystem: modules-load.d named"
expect_eq "$(fingerprint "$R")" "$before" "full filesystem: every file intact"
rm "$R/etc/filler"
apply_profile "$R" c
expect_rc 0 "full filesystem: converges once there is space"
[ -z "$(temporaries "$R")" ] && ok || bad "full filesystem: temporaries after converging"
expect_in "$(cat "$R/etc/modprobe.d/kvmprov.conf")" "options kvm_intel nested=0" "full filesystem: new content"

# --- ENOSPC: no inode left for the temporary
new_root noinodes 6
for i in 1 2 3 4 5 6 7 8; do { : >"$R/etc/filler$i"; } 2>/dev/null; done
apply_profile "$R" b --detailed-exitcodes
cases=$((cases + 1))
expect_rc 6 "no inodes: changes and failures"
expect_in "$out" "cannot write \"$R/etc/modprobe.d/kvmprov.conf\": No space left on device" "no inodes: cause"
same_file "no inodes" etc/modprobe.d/kvmprov.conf
# Removing modules-load.d/kvmprov.conf freed an inode, so /etc/modules, written after it, could be.
expect_in "$(cat "$R/etc/modules")" "vhost_net" "no inodes: later changes still made"
[ -z "$(temporaries "$R")" ] && ok || bad "no inodes: temporaries left"

# --- EROFS: the whole of /etc read-only
new_root readonly
mount --bind "$R/etc" "$R/etc" && mount -o remount,bind,ro "$R/etc"
apply_profile "$R" b
refused "read-only /etc" "cannot write \"$R/etc/modprobe.d/kvmprov.conf\": Read-only file system"
expect_in "$out" "cannot remove \"$R/etc/modules-load.d/kvmprov.conf\": Read-only file system" "read-only /etc: removal"
expect_in "$out" "cannot write \"$R/etc/modules\": Read-only file system" "read-only /etc: /etc/modules"
expect_eq "$(fingerprint "$R")" "$before" "read-only /etc: every file intact"
umount "$R/etc"
apply_profile "$R" b
expect_rc 0 "read-only /etc: converges once writable"

# --- EROFS: only modprobe.d read-only; the other files are still written
new_root readonly-one
mount --bind "$R/etc/modprobe.d" "$R/etc/modprobe.d" && mount -o remount,bind,ro "$R/etc/modprobe.d"
apply_profile "$R" b
refused "read-only modprobe.d" "cannot write \"$R/etc/modprobe.d/kvmprov.conf\": Read-only file system"
same_file "read-only modprobe.d" etc/modprobe.d/kvmprov.conf
expect_in "$(cat "$R/etc/modules")" "vhost_net" "read-only modprobe.d: /etc/modules still written"
[ "$(printf '%s\n' "$out" | grep -c '^failed')" = 1 ] && ok || bad "read-only modprobe.d: one failure: $out"

# --- a read-only image: the lock writes nothing into it, so plan and reset --dry-run work, and
# apply fails on each file with EROFS, changing nothing
R="$TMP/readonly-image"
systemd_root "$R"
mkdir -p "$R/etc"
printf '# /etc/modules\nloop\n' >"$R/etc/modules"
apply_profile "$R" a
expect_rc 0 "readonly-image: converge to a"
before=$(fingerprint "$R")
mount --bind "$R" "$R" && mount -o remount,bind,ro "$R"
run plan --root "$R" --fact cpu_vendor=intel --profile "$TMP/b.yaml"
cases=$((cases + 1))
expect_rc 0 "read-only image: plan"
run reset --root "$R" --dry-run
expect_rc 0 "read-only image: reset --dry-run"
apply_profile "$R" b
expect_rc 1 "read-only image: apply"
expect_in "$out" "cannot write \"$R/etc/modules\": Read-only file system" "read-only image: apply says why"
expect_eq "$(fingerprint "$R")" "$before" "read-only image: nothing written"

echo "fault cases: $cases"
finish full-readonly-fs
