#!/bin/bash
# SPDX-License-Identifier: MIT
# Lints and renders the man pages (mandoc -T lint and man -l, failing on any warning) and checks
# that kvmprov(8) documents every verb and every option that "kvmprov --help" and each verb's
# --help list. Usage: man_test.sh PATH/TO/kvmprov SOURCE_DIR
set -u
KVMPROV=$(realpath "$1")
SRC=$(realpath "$2")
PAGES=("$SRC/man/kvmprov.8" "$SRC/man/kvmprov.yaml.5")
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
command -v mandoc >/dev/null || skip "mandoc missing (apt-get install mandoc)"

for page in "${PAGES[@]}"; do
  lint=$(mandoc -T lint -W warning "$page" 2>&1) && [ -z "$lint" ] && ok || bad "mandoc -T lint $page: $lint"
  if command -v man >/dev/null; then
    warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" 2>&1 >/dev/null)
    [ -z "$warn" ] && ok || bad "man --warnings -l $page: $warn"
  fi
done
if ! command -v man >/dev/null; then echo "man not installed: pages rendered with mandoc only"; fi

# The rendered text of kvmprov(8), without overstrike, as a reader sees it.
text=$(mandoc -T ascii -O width=200 "$SRC/man/kvmprov.8" | sed 's/.\x08//g')
section() { awk -v s="$1" '/^[A-Z]/ { on = ($0 == s) } on' <<<"$text"; }
for s in NAME SYNOPSIS DESCRIPTION VERBS OPTIONS "EXIT STATUS" ENVIRONMENT FILES EXAMPLES "SEE ALSO"; do
  [ -n "$(section "$s")" ] && ok || bad "kvmprov.8 has no $s section"
done

verbs=$("$KVMPROV" --help | sed -n '/^Subcommands:/,/^$/s/^ \{1,\}\([a-z][a-z-]*\) .*/\1/p')
[ -n "$verbs" ] && ok || bad "no verbs found in kvmprov --help"
options=$("$KVMPROV" --help | grep -oE '^ +(-[a-zA-Z],)?--[a-z][a-z0-9-]*' | sed 's/.*,//; s/^ *//')
for v in $verbs; do
  grep -qE "^ +$v( |$)" <<<"$(section VERBS)" && ok || bad "verb \"$v\" not described under VERBS in kvmprov.8"
  options+=$'\n'$("$KVMPROV" "$v" --help | grep -oE '^ +(-[a-zA-Z],)?--[a-z][a-z0-9-]*' | sed 's/.*,//; s/^ *//')
done
[ -n "$options" ] && ok || bad "no options found in kvmprov --help"
for o in $(sort -u <<<"$options"); do
  grep -qE -- "(^|[^a-z-])$o([^a-z-]|$)" <<<"$text" && ok || bad "option $o (from --help) not in kvmprov.8"
done
grep -q "NO_COLOR" <<<"$(section ENVIRONMENT)" && ok || bad "NO_COLOR not under ENVIRONMENT"
for ref in "modprobe(8)" "modules-load.d(5)" "modprobe.d(5)" "udev(7)" "kvm-ok(1)" "virt-host-validate(1)" "kvmprov.yaml(5)"; do
  grep -qF "$ref" <<<"$(section "SEE ALSO")" && ok || bad "SEE ALSO lacks $ref"
done
for code in 0 1 2 4 6 64 65; do
  grep -qw "$code" <<<"$(section "EXIT STATUS")" && ok || bad "exit status $code not documented"
done

# md_table FILE HEADING: the markdown table that follows HEADING, one row a line, cells separated
# by "|", formatting (`code`) removed.
md_table() {
  awk -v h="$2" '$0 == h { on = 1; next } on && /^\|/ { seen = 1; print; next } seen { exit }' "$1" |
    grep -v '^|---' | sed 's/`//g; s/^| *//; s/ *|$//; s/ *| */|/g'
}
# man_table FILE SECTION: the tbl table in SECTION of a man page's source, the same way (text
# blocks T{ ... T} joined into their cell, font escapes removed).
man_table() {
  python3 - "$1" "$2" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().split("\n")
i = lines.index(".SH " + sys.argv[2])
i = next(k for k in range(i, len(lines)) if lines[k] == ".TS")
i = next(k for k in range(i, len(lines)) if lines[k].endswith(".")) + 1
rows, row, block = [], "", None
for line in lines[i:]:
    if line == ".TE":
        break
    if block is not None:
        if line.startswith("T}"):
            row += " ".join(block) + line[2:]
            block = None
        else:
            block.append(line)
            continue
    else:
        row += line
    if row.endswith("T{"):
        row, block = row[:-2], []
    else:
        rows.append(row)
        row = ""
for r in rows:
    print(re.sub(r"\\f[BIR]", "", r).replace("\\-", "-"))
PY
}
readme_exit=$(md_table "$SRC/README.md" "### Exit status")
man_exit=$(man_table "$SRC/man/kvmprov.8" "EXIT STATUS")
[ "$(wc -l <<<"$readme_exit")" -ge 9 ] && ok || bad "no exit status table in README.md: [$readme_exit]"
[ "$readme_exit" = "$man_exit" ] && ok ||
  bad "the exit status tables of README.md and kvmprov.8 differ: $(diff <(echo "$readme_exit") <(echo "$man_exit"))"
readme_options=$(md_table "$SRC/README.md" "### Options by verb")
man_options=$(man_table "$SRC/man/kvmprov.8" "OPTIONS")
[ "$(wc -l <<<"$readme_options")" -ge 10 ] && ok || bad "no table of options by verb in README.md: [$readme_options]"
[ "$readme_options" = "$man_options" ] && ok ||
  bad "the tables of options by verb of README.md and kvmprov.8 differ: $(diff <(echo "$readme_options") <(echo "$man_options"))"
# Each verb's --help lists exactly the global options the table gives it.
while IFS='|' read -r option verbs; do
  [ "$option" = option ] && continue
  for v in check plan apply validate reset version help; do
    case ", $verbs, " in *", $v, "* | *", $v --dry-run, "*) want=yes ;; *) want=no ;; esac
    listed=no
    "$KVMPROV" "$v" --help | sed -n '/^Global options/,/^$/p' | grep -qE "^ +$option( |$)" && listed=yes
    [ "$listed" = "$want" ] && ok || bad "$v --help lists $option: $listed, the table says $want"
  done
done <<<"$man_options"
examples=$(section EXAMPLES)
for e in "kvmprov apply" "postinst" "ansible.builtin.command" "exec {" "--detailed-exitcodes"; do
  grep -qF -- "$e" <<<"$examples" && ok || bad "EXAMPLES lacks \"$e\""
done

# kvmprov.yaml(5) covers the whole schema: each key and value is a heading (.SS) or a tagged
# paragraph's tag (.B), not merely a word somewhere in the text.
for key in version name modules when.cpu_vendor options persist devices node group mode groups system members \
  modules-load.d etc-modules auto none nova config virt_type cpu_mode cpu_models; do
  tag=${key//-/\\-}
  grep -qxF -e ".SS $tag" -e ".B $tag" "$SRC/man/kvmprov.yaml.5" && ok ||
    bad "kvmprov.yaml.5 does not describe \"$key\""
done

finish man
