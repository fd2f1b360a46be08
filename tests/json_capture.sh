#!/bin/bash
# SPDX-License-Identifier: MIT
# A KVMPROV_WRAPPER for cli_test.sh: runs the command unchanged (stdout, stderr, exit status) and,
# when --json is among its arguments, keeps a copy of its stdout and its arguments in
# $KVMPROV_JSON_DIR for tests/schema_test.sh to validate.
json=0
for a in "$@"; do [ "$a" = --json ] && json=1; done
[ "$json" = 1 ] || exec "$@"
keep=$(mktemp "$KVMPROV_JSON_DIR/run.XXXXXX")
printf '%s\n' "${@:2}" >"$keep.args"
"$@" >"$keep.json"
rc=$?
cat "$keep.json"
exit "$rc"
