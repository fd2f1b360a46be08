#!/bin/bash
# SPDX-License-Identifier: MIT
# The build step that embeds the default profile: it refuses an invalid profile with the parser's
# file:line:col errors and writes nothing, and it replaces its output whole.
# Usage: embed_profile_test.sh PATH/TO/embed_profile
set -u
EMBED=$(realpath "$1")
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
scratch

printf 'version: 1\nname: bad\nmodules:\n  - nmae: kvm\n' >"$TMP/bad.yaml"
"$EMBED" "$TMP/bad.yaml" "$TMP/out.cc" 2>"$TMP/err"; rc=$?
[ "$rc" = 65 ] && ok || bad "invalid profile: exit $rc, expected 65"
grep -qF "$TMP/bad.yaml:4:5: unknown key \"nmae\"" "$TMP/err" && ok || bad "error text: $(cat "$TMP/err")"
[ ! -e "$TMP/out.cc" ] && ok || bad "output written for an invalid profile"

printf 'version: 1\nname: "q"\n# a "quoted" \\ comment?? with UTF-8: \xc3\xa9\n' >"$TMP/good.yaml"
"$EMBED" "$TMP/good.yaml" "$TMP/out.cc" && ok || bad "valid profile refused"
grep -qF 'p.name = "q";' "$TMP/out.cc" && ok || bad "profile name not embedded"
grep -qF '\"quoted\" \\ comment\077\077 with UTF-8: \303\251\n' "$TMP/out.cc" && ok ||
  bad "text not escaped: $(grep kText "$TMP/out.cc")"
printf 'stale' >"$TMP/out.cc"
"$EMBED" "$TMP/good.yaml" "$TMP/out.cc" && ok || bad "second run failed"
grep -qF 'p.name = "q";' "$TMP/out.cc" && ok || bad "old output not replaced"
[ -z "$(find "$TMP" -name '*.tmp')" ] && ok || bad "temporary file left behind"

# nova's config list, in order.
printf 'version: 1\nname: n\nnova:\n  config: [/etc/nova/nova.conf.d/, /etc/nova/nova.conf]\n' >"$TMP/nova.yaml"
"$EMBED" "$TMP/nova.yaml" "$TMP/out.cc" && ok || bad "nova profile refused"
want='      n.config.clear();
      n.config.push_back("/etc/nova/nova.conf.d/");
      n.config.push_back("/etc/nova/nova.conf");'
got=$(grep -F 'n.config' "$TMP/out.cc")
[ "$got" = "$want" ] && ok || bad "nova config not embedded in order: [$got]"
# cpu_mode: left unset when the profile sets none (nova's default for the architecture), and kept.
if grep -qF 'n.cpu_mode' "$TMP/out.cc"; then
  bad "an unset cpu_mode was embedded: $(grep -F n.cpu_mode "$TMP/out.cc")"
else
  ok
fi
printf 'version: 1\nname: n\nnova:\n  cpu_mode: host-model\n' >"$TMP/nova-mode.yaml"
"$EMBED" "$TMP/nova-mode.yaml" "$TMP/out.cc" && ok || bad "nova profile with cpu_mode refused"
[ "$(grep -cF 'n.cpu_mode = static_cast<NovaCpuMode>(' "$TMP/out.cc")" = 1 ] && ok ||
  bad "cpu_mode not embedded: $(grep -F n.cpu_mode "$TMP/out.cc")"

finish embed-profile
