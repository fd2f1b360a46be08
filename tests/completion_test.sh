#!/bin/bash
# SPDX-License-Identifier: MIT
# Sources the bash completion and calls it like bash does (COMP_WORDS, COMP_CWORD), checking
# COMPREPLY. Usage: completion_test.sh PATH/TO/kvmprov SOURCE_DIR
set -u
KVMPROV=$(realpath "$1")
SRC=$(realpath "$2")
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }

mkdir -p "$TMP/bin" "$TMP/p/sub"
ln -s "$KVMPROV" "$TMP/bin/kvmprov"
export PATH="$TMP/bin:$PATH"
touch "$TMP/p/a.yaml" "$TMP/p/b.yml" "$TMP/p/c.txt"
# shellcheck source=/dev/null
source "$SRC/completion/kvmprov.bash"

# complete WORDS...: the last word is the one being completed; sets $got (sorted, one line).
complete_words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _kvmprov
  got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
  got=${got% }
}
expect() { [ "$got" = "$1" ] && ok || bad "$2: got [$got], expected [$1]"; }
expect_has() { case " $got " in *" $1 "*) ok ;; *) bad "$2: [$1] not in [$got]" ;; esac; }

[ "$(complete -p kvmprov 2>/dev/null)" = "complete -F _kvmprov kvmprov" ] && ok || bad "complete -F not registered"

complete_words kvmprov ""
for v in check plan apply validate reset version; do expect_has "$v" "verbs"; done
# Every verb the binary lists is offered.
for v in $("$KVMPROV" --help | sed -n '/^Subcommands:/,/^$/s/^ \{1,\}\([a-z][a-z-]*\) .*/\1/p'); do
  expect_has "$v" "verb from --help"
done
complete_words kvmprov re
expect "reset" "verb prefix"
complete_words kvmprov --json pl
expect "plan" "verb after an option"
complete_words kvmprov plan ""
expect "" "nothing after a verb without arguments"

complete_words kvmprov --
for o in $("$KVMPROV" --help | grep -oE '^ +(-[a-zA-Z],)?--[a-z][a-z0-9-]*' | sed 's/.*,//; s/^ *//'); do
  expect_has "$o" "global option from --help"
done
complete_words kvmprov --pro
expect "--profile" "option prefix"
complete_words kvmprov plan --detailed
expect "--detailed-exitcodes" "option after the verb"

complete_words kvmprov --profile "$TMP/p/"
expect "$TMP/p/a.yaml $TMP/p/b.yml $TMP/p/sub" "profile files and directories"
complete_words kvmprov validate "$TMP/p/"
expect "$TMP/p/a.yaml $TMP/p/b.yml $TMP/p/sub" "validate completes profile files"
complete_words kvmprov --root "$TMP/p/"
expect "$TMP/p/sub" "--root completes directories"

complete_words kvmprov plan --fact ""
expect "cpu_flags= cpu_vendor= hypervisor= kernel_release= kvm_usable= modules_supported= svm= systemd= vmx=" "fact names"
# Every fact the binary knows is offered.
known=$("$KVMPROV" plan --root "$TMP" --fact no_such_fact=1 2>&1 | sed -n 's/.*known facts: //p' | tr -d ',')
[ -n "$known" ] && ok || bad "no list of known facts from kvmprov"
for k in $known; do expect_has "$k=" "fact from kvmprov"; done
complete_words kvmprov --fact cpu
expect "cpu_flags= cpu_vendor=" "fact name prefix"
complete_words kvmprov --fact cpu_vendor=
expect "cpu_vendor=amd cpu_vendor=centaur cpu_vendor=hygon cpu_vendor=intel cpu_vendor=zhaoxin" "vendor values"
complete_words kvmprov --fact vmx=t
expect "vmx=true" "boolean fact values"

# Without a working binary, the built-in lists still complete.
COMP_WORDS=(/nonexistent/kvmprov "")
COMP_CWORD=1
_kvmprov
got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ')
expect "apply check plan reset validate version " "fallback verbs"

echo "completion: $pass passed, $fail failed"
[ "$fail" = 0 ]
