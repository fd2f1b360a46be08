#!/bin/bash
# SPDX-License-Identifier: MIT
# Injection: every profile string that ends up in a file kvmprov writes (module names, option
# names and values, device nodes and groups, group and member names, the profile name) is tried
# with quotes, newlines, '#', commas, RUN+=, "..", NUL, overlong and other hostile values. Each
# is refused with exit 65 and nothing written, or, where the field's grammar allows it (a comma
# in a module option's value is a modprobe array), is written verbatim on its own single line.
# Group and member names take what Debian's groupadd and useradd take, less what breaks
# /etc/group or a udev rule: such a name that exists is read back from /etc/group as written.
# Usage: injection_test.sh KVMPROV
source "$(dirname "$0")/lib.sh"

ROOT="$TMP/root"
PRISTINE="$TMP/pristine"
systemd_root "$PRISTINE"
mkdir -p "$PRISTINE/etc"
printf '# foreign\nloop\n' >"$PRISTINE/etc/modules"
printf 'root:x:0:\nkvm:x:994:\n' >"$PRISTINE/etc/group"
printf 'root:x:0:0::/root:/bin/sh\n' >"$PRISTINE/etc/passwd"
before=$(tree "$PRISTINE")
# Each case starts from the same tree, so one failure cannot hide behind another.
fresh_root() { rm -rf "$ROOT" && cp -a "$PRISTINE" "$ROOT"; }

# One profile per (field, value); the manifest says which the grammar must accept.
mkdir "$TMP/cases"
python3 - "$TMP/cases" <<'PY'
import json, sys
d = sys.argv[1]
values = {
    "double-quote": 'kvm"x', "single-quote": "kvm'x", "newline": "kvm\nkvm_intel",
    "carriage-return": "kvm\rx", "hash": "kvm#x", "comma": "kvm,x", "udev-run": 'RUN+="/bin/sh"',
    "run-bare": "RUN+=x", "dotdot-path": "../../etc/shadow", "dotdot": "..", "nul": "kvm\0x",
    "overlong": "a" * 300, "space": "kvm x", "tab": "kvm\tx", "shell": "$(reboot)",
    "backtick": "`reboot`", "semicolon": "kvm;reboot", "absolute": "/etc/passwd",
    "latin": "kvm\u00e9", "zero-width": "kvm\u200b", "empty": "", "equals": "a=b",
    "leading-dash": "-x", "directive": "x\ninstall kvm /bin/sh", "udev-assign": 'GROUP="root"',
}
def q(v):  # a YAML double-quoted scalar holding exactly v
    return json.dumps(v, ensure_ascii=True)
fields = {
    "profile-name": lambda v: f"version: 1\nname: {q(v)}\nmodules: [{{name: kvm}}]\n",
    "module-name": lambda v: f"version: 1\nname: t\nmodules: [{{name: {q(v)}}}]\n",
    "option-name": lambda v: f"version: 1\nname: t\nmodules: [{{name: kvm, options: {{{q(v)}: 1}}}}]\n",
    "option-value": lambda v: f"version: 1\nname: t\nmodules: [{{name: kvm, options: {{nested: {q(v)}}}}}]\n",
    "device-node": lambda v: f"version: 1\nname: t\ndevices: [{{node: {q(v)}}}]\n",
    "device-group": lambda v: f"version: 1\nname: t\ndevices: [{{node: kvm, group: {q(v)}}}]\n",
    "group-name": lambda v: f"version: 1\nname: t\ngroups: [{{name: {q(v)}}}]\n",
    "group-member": lambda v: f"version: 1\nname: t\ngroups: [{{name: kvm, members: [{q(v)}]}}]\n",
}
# What each field's grammar accepts on purpose, with nothing that can start a second directive.
accepted = {
    "profile-name": {"dotdot", "leading-dash"},  # only ever inside a comment
    "module-name": {"leading-dash"},  # normalised to "_x"
    "option-value": {"comma", "run-bare", "dotdot-path", "dotdot", "absolute", "equals",
                     "leading-dash"},  # NAME=-x: the word starts with the name
}
# Harmless in /etc/group, in a udev GROUP="..." value and in an argument vector.
names = {"hash", "run-bare", "dotdot-path", "dotdot", "backtick", "semicolon", "absolute", "equals"}
for field in ("device-group", "group-name", "group-member"):
    accepted[field] = names
with open(f"{d}/manifest", "w") as m:
    for field, make in fields.items():
        for name, v in values.items():
            ok = name in accepted.get(field, set())
            open(f"{d}/{field}--{name}.yaml", "w").write(make(v))
            if ok:
                open(f"{d}/{field}--{name}.value", "w").write(v)
            m.write(f"{field} {name} {0 if ok else 65}\n")
PY

refused=0
while read -r field name want; do
  file="$TMP/cases/$field--$name.yaml"
  fresh_root
  value=""
  [ "$want" = 0 ] && value=$(cat "$TMP/cases/$field--$name.value")
  if [ "$want" = 0 ] && { [ "$field" = group-name ] || [ "$field" = device-group ]; }; then
    # The group exists in the image, so that the name is read back from /etc/group.
    printf '%s:x:995:\n' "$value" >>"$ROOT/etc/group"
  fi
  run apply --root "$ROOT" --fact cpu_vendor=intel --profile "$file"
  expect_rc "$want" "$field with $name"
  if [ "$want" = 65 ]; then
    refused=$((refused + 1))
    expect_in "$err" "$file:" "$field with $name: the error names the file"
    # One line per error, and the hostile value never reaches the terminal raw.
    [ "$(printf '%s\n' "$err" | grep -cv "^$file:[0-9]*:[0-9]*: ")" = 0 ] && ok ||
      bad "$field with $name: an error line without FILE:LINE:COL: [$err]"
    expect_eq "$(tree "$ROOT")" "$before" "$field with $name: nothing written"
  else
    # Accepted values are written verbatim, on one line of their own, and nowhere else.
    case "$field" in
      option-value)
        conf=$(grep -v '^#' "$ROOT/etc/modprobe.d/kvmprov.conf")
        expect_eq "$conf" "options kvm nested=$value" "$field with $name: one options line"
        ;;
      profile-name)
        expect_eq "$(grep -c . "$ROOT/etc/modules-load.d/kvmprov.conf")" 3 "$field with $name: header and one module"
        ;;
      module-name)
        expect_eq "$(grep -v '^#' "$ROOT/etc/modules-load.d/kvmprov.conf")" "_x" "$field with $name: normalised"
        ;;
      device-group)
        expect_eq "$(grep -v '^#' "$ROOT/etc/udev/rules.d/65-kvmprov.rules")" "KERNEL==\"kvm\", GROUP=\"$value\", OPTIONS+=\"static_node=kvm\"" "$field with $name: one rule"
        ;;
      group-name)
        expect_in "$out" "unchanged group $value: exists (gid 995)" "$field with $name: read back from /etc/group"
        ;;
      group-member)
        expect_in "$out" "pending   member $value in kvm: user \"$value\" does not exist yet" "$field with $name: looked up as written"
        ;;
    esac
  fi
done <"$TMP/cases/manifest"
[ "$refused" -ge 166 ] && ok || bad "only $refused hostile values refused"

# A NUL or other control byte written raw into the profile (not as a YAML escape) is refused
# where it stands.
for byte in '\000' '\n#' '\r' '\033' '\177'; do
  printf "version: 1\nname: t\nmodules: [{name: kvm$byte}]\n" >"$TMP/raw.yaml"
  fresh_root
  run apply --root "$ROOT" --fact cpu_vendor=intel --profile "$TMP/raw.yaml"
  expect_rc 65 "raw byte $byte in a module name"
  expect_eq "$(tree "$ROOT")" "$before" "raw byte $byte: nothing written"
done

# The profile's path is quoted in the header of every file kvmprov owns: a newline in it must
# not start a modprobe.d directive of its own.
dir="$TMP/x"$'\n'"install kvm /bin/sh -c reboot"$'\n'"#"
mkdir -p "$dir"
cp "$SOURCE_DIR/profiles/nested.yaml" "$dir/p.yaml"
fresh_root
run apply --root "$ROOT" --fact cpu_vendor=intel --profile "$dir/p.yaml"
expect_rc 0 "a profile path with newlines"
conf="$ROOT/etc/modprobe.d/kvmprov.conf"
expect_eq "$(grep -v '^#' "$conf")" "options kvm_intel nested=1" "the path cannot add a directive"
expect_eq "$(wc -l <"$conf")" 3 "header of two lines and one directive"
expect_in "$(head -n 1 "$conf")" '/x\x0ainstall kvm /bin/sh -c reboot\x0a#/p.yaml).' "the path is escaped"
expect_eq "$(grep -v '^#' "$ROOT/etc/modules-load.d/kvmprov.conf")" "$(printf 'kvm\nkvm_intel\nvhost_net')" "modules-load.d holds only modules"

finish injection
