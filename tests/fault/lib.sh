# SPDX-License-Identifier: MIT
# Shared by the fault tests: sourced with the kvmprov binary as $1. Gives a scratch directory
# ($TMP), pass/fail counting, `run` and expectations in the style of tests/cli_test.sh, and a
# fingerprint of a directory tree to prove that nothing changed.
set -u
KVMPROV=$(realpath "$1")
SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=$(mktemp -d)
cleanup_hooks=()
cleanup() {
  local hook
  for hook in "${cleanup_hooks[@]}"; do eval "$hook"; done
  rm -rf "$TMP"
}
trap cleanup EXIT
export NO_COLOR=1
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

# run ARGS...: runs kvmprov, sets $out, $err, $rc
run() {
  out=$("$KVMPROV" "$@" 2>"$TMP/stderr"); rc=$?
  err=$(cat "$TMP/stderr")
}
expect_rc() { [ "$rc" = "$1" ] && ok || bad "$2: exit $rc, expected $1 (stderr: $err)"; }
expect_eq() { [ "$1" = "$2" ] && ok || bad "$3: got [$1], expected [$2]"; }
expect_in() { case "$1" in *"$2"*) ok ;; *) bad "$3: [$2] not in [$1]" ;; esac; }
expect_not_in() { case "$1" in *"$2"*) bad "$3: [$2] in [$1]" ;; *) ok ;; esac; }

# tree DIR: every entry below DIR with its type, mode, size and a hash of its content, sorted;
# two equal fingerprints mean nothing was created, removed, retyped, rechmodded or rewritten.
tree() {
  (cd "$1" && find . -printf '%p %y %m %s %l\n' | sort &&
    find . -type f -print0 | sort -z | xargs -0r sha256sum)
}

# temporaries DIR: the temporary files kvmprov left below DIR, one per line.
temporaries() { find "$1" -name '.kvmprov.*'; }

# systemd_root DIR: an image root in which systemd is installed (modules-load.d persistence).
systemd_root() {
  mkdir -p "$1/usr/lib/systemd" && install -m 0755 /dev/null "$1/usr/lib/systemd/systemd"
}

# finish NAME: prints the closing line and exits with the verdict.
finish() {
  echo "$1: $pass passed, $fail failed"
  [ "$fail" = 0 ]
}
