# SPDX-License-Identifier: MIT
# Sourced by every shell test (tests/*.sh; the fault tests through tests/fault/lib.sh) and by the
# benchmarks (bench/, contrib/ansible/bench-fleet.sh): counting and expectations, a skip, a scratch
# directory removed on exit, kvmprov run with its output captured, whether it runs in a chroot,
# a clean copy of the source, image roots, and the closing line. Sourcing it only defines: a test
# calls scratch when it needs $TMP.

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# skip WHY: the test cannot run here; 77 is ctest's SKIP_RETURN_CODE.
skip() { echo "SKIP: $*"; exit 77; }

# scratch: a new temporary directory in $TMP, removed on exit after the commands a test adds to
# cleanup_hooks (each run with eval, in order).
cleanup_hooks=()
scratch() {
  TMP=$(mktemp -d)
  trap remove_scratch EXIT
}
remove_scratch() {
  local hook
  for hook in "${cleanup_hooks[@]}"; do eval "$hook"; done
  rm -rf "$TMP"
}

# run ARGS...: runs $KVMPROV, through $KVMPROV_WRAPPER when it is set (a command and its options,
# such as valgrind's); sets $out, $err and $rc.
run() {
  # shellcheck disable=SC2086 # the wrapper is a command and its options, split on purpose
  out=$(${KVMPROV_WRAPPER:-} "$KVMPROV" "$@" 2>"$TMP/stderr"); rc=$?
  err=$(cat "$TMP/stderr")
}
expect_rc() { [ "$rc" = "$1" ] && ok || bad "$2: exit $rc, expected $1 (stderr: $err)"; }
expect_eq() { [ "$1" = "$2" ] && ok || bad "$3: got [$1], expected [$2]"; }
expect_in() { case "$1" in *"$2"*) ok ;; *) bad "$3: [$2] not in [$1]" ;; esac; }
expect_not_in() { case "$1" in *"$2"*) bad "$3: [$2] in [$1]" ;; *) ok ;; esac; }

# chrooted: whether the test runs in a chroot: "/" is not PID 1's root (kvmprov's test, and
# ischroot(1)'s). Where PID 1's root cannot be examined (not root), the answer is no.
chrooted() {
  local init
  init=$(stat -Lc %d:%i /proc/1/root 2>/dev/null) || return 1
  [ "$(stat -c %d:%i /)" != "$init" ]
}

# copy_source_tree SRC DEST: the tracked and new, not ignored, files of SRC's working tree (so
# no build tree and no cache) copied into DEST, as the packages are built from; without git, the
# tree less its build trees and cache. A file deleted but not yet staged is left out.
copy_source_tree() {
  if git -C "$1" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$1" ls-files -z --cached --others --exclude-standard |
      (cd "$1" && while IFS= read -r -d '' f; do
        if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
      done) |
      tar -C "$1" --null -T - -cf - | tar -C "$2" -xf -
  else
    tar -C "$1" --exclude=./tests/.cache --exclude='./build*' --exclude='./obj-*' -cf - . |
      tar -C "$2" -xf -
  fi
}

# image_root DIR: an image's account files below DIR (root, and the kvm group the default profile
# wants), so that groups and members can be checked.
image_root() {
  mkdir -p "$1/etc"
  printf 'root:x:0:\nkvm:x:994:\n' >"$1/etc/group"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$1/etc/passwd"
}

# converged_root KVMPROV: $ROOT, an image root in $TMP with its account files, converged by
# KVMPROV apply with the default profile; the benchmarks time their no-op runs on it.
converged_root() {
  ROOT="$TMP/root"
  image_root "$ROOT"
  "$1" apply --root "$ROOT" --fact cpu_vendor=amd --quiet >/dev/null
}

# fleet_play ROOTS: the play of the kvm_host role on the inventory group "fleet", each host with
# its own --root below ROOTS and the CPU vendor of its variable "vendor" (tests/ansible_test.sh,
# contrib/ansible/bench-fleet.sh).
fleet_play() {
  cat <<YAML
- hosts: fleet
  gather_facts: false
  vars:
    kvmprov_root: "$1/{{ inventory_hostname }}"
    kvmprov_facts: {cpu_vendor: "{{ vendor }}"}
  roles:
    - kvmprov.kvm.kvm_host
YAML
}

# finish NAME: the closing line; the status says whether every expectation held.
finish() {
  echo "$1: $pass passed, $fail failed"
  [ "$fail" = 0 ]
}
