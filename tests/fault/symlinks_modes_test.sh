#!/bin/bash
# SPDX-License-Identifier: MIT
# Symlinks, ownership and modes. A symlink (absolute, relative or dangling) or a hard link
# planted at any path kvmprov writes, or at any directory on the way, never leads a write
# elsewhere: the file it points at is unchanged and nothing appears beside it. A directory that
# a user other than root can write is refused with a clear message. Files and directories get
# their intended modes whatever the umask. Usage: symlinks_modes_test.sh KVMPROV
source "$(dirname "$0")/lib.sh"

cat >"$TMP/load-d.yaml" <<'YAML'
version: 1
name: links
modules:
  - name: kvm
  - name: kvm_intel
    options: { nested: 1 }
persist: modules-load.d
devices:
  - node: kvm
    mode: "0660"
YAML
sed 's/persist: modules-load.d/persist: etc-modules/' "$TMP/load-d.yaml" >"$TMP/etc-modules.yaml"
sed 's/nested: 1/nested: 0/; s/"0660"/"0666"/' "$TMP/load-d.yaml" >"$TMP/load-d2.yaml"

OUT="$TMP/outside"
# fresh: a root with systemd and an /etc/modules, and a precious file outside it
fresh() {
  R="$TMP/root"
  rm -rf "$R" "$OUT"
  systemd_root "$R"
  mkdir -p "$R/etc" "$OUT/dir"
  printf '# /etc/modules\nloop\n' >"$R/etc/modules"
  printf 'precious\n' >"$OUT/victim"
  printf 'precious too\n' >"$OUT/dir/kvmprov.conf"
  chmod 0600 "$OUT/victim"
  touch -d '2001-01-01' "$OUT/victim" "$OUT/dir/kvmprov.conf" "$OUT/dir"
  outside_before=$(tree "$OUT")
}
apply_with() {  # apply_with PROFILE [OPTIONS...]
  local profile=$1
  shift
  run apply --root "$R" --fact cpu_vendor=intel --profile "$TMP/$profile.yaml" "$@"
}
outside_intact() { expect_eq "$(tree "$OUT")" "$outside_before" "$1: nothing outside the root changed"; }

# --- a symlink at each file kvmprov writes
for spec in "etc/modules etc-modules write" "etc/modules-load.d/kvmprov.conf load-d write" \
  "etc/modprobe.d/kvmprov.conf load-d write" "etc/udev/rules.d/65-kvmprov.rules load-d write"; do
  read -r path profile verb <<<"$spec"
  for kind in absolute relative dangling; do
    fresh
    mkdir -p "$(dirname "$R/$path")"
    rm -f "$R/$path"
    case $kind in
      absolute) ln -s "$OUT/victim" "$R/$path" ;;
      relative) ln -s "$(realpath --relative-to="$(dirname "$R/$path")" "$OUT/victim")" "$R/$path" ;;
      dangling) ln -s "$OUT/new-file" "$R/$path" ;;
    esac
    run plan --root "$R" --fact cpu_vendor=intel --profile "$TMP/$profile.yaml"
    what="$kind symlink at /$path"
    expect_in "$out" "! write /$path: refusing to $verb \"$R/$path\": it is a symbolic link" "$what: plan predicts the refusal"
    apply_with "$profile"
    expect_rc 1 "$what"
    expect_in "$out$err" "refusing to $verb \"$R/$path\": it is a symbolic link" "$what: message"
    [ -L "$R/$path" ] && ok || bad "$what: the symlink was replaced"
    outside_intact "$what"
    [ -z "$(temporaries "$R")" ] && ok || bad "$what: temporaries left"
  done
done

# --- a symlink at each directory on the way
for spec in "etc etc/modprobe.d/kvmprov.conf write" "etc/modprobe.d etc/modprobe.d/kvmprov.conf write" \
  "etc/modules-load.d etc/modules-load.d/kvmprov.conf write" \
  "etc/udev etc/udev/rules.d/65-kvmprov.rules write" \
  "etc/udev/rules.d etc/udev/rules.d/65-kvmprov.rules write"; do
  read -r dir path verb <<<"$spec"
  fresh
  mkdir -p "$(dirname "$R/$dir")"
  [ "$dir" = etc ] && rm -rf "$R/etc"
  ln -s "$OUT/dir" "$R/$dir"
  apply_with load-d
  what="symlinked directory /$dir"
  expect_rc 1 "$what"
  expect_in "$out$err" "refusing to $verb \"$R/$path\": \"$R/$dir\" is a symbolic link" "$what: message"
  outside_intact "$what"
done

# --- a hard link to a file outside: the file is replaced in the root, the outside one kept
fresh
mkdir -p "$R/etc/modprobe.d"
ln "$OUT/victim" "$R/etc/modprobe.d/kvmprov.conf"
outside_before=$(tree "$OUT")
apply_with load-d
expect_rc 0 "hard link"
expect_in "$(cat "$R/etc/modprobe.d/kvmprov.conf")" "options kvm_intel nested=1" "hard link: new content in the root"
expect_eq "$(cat "$OUT/victim")" "precious" "hard link: the outside file keeps its content"

# --- a symlink at a file kvmprov would remove: read as if the root were "/", where its target
# does not exist, so there is nothing to remove; the target outside is untouched
fresh
mkdir -p "$R/etc/modules-load.d"
ln -s "$OUT/victim" "$R/etc/modules-load.d/kvmprov.conf"
apply_with etc-modules
expect_rc 0 "symlink at a file to remove"
outside_intact "symlink at a file to remove"
# One that resolves inside the root is removed as a link: its target stays.
fresh
mkdir -p "$R/etc/modules-load.d"
printf 'kvm\n' >"$R/etc/inside"
ln -s /etc/inside "$R/etc/modules-load.d/kvmprov.conf"
apply_with etc-modules
expect_rc 0 "symlink inside the root at a file to remove"
[ ! -L "$R/etc/modules-load.d/kvmprov.conf" ] && ok || bad "the symlink inside the root was not removed"
expect_eq "$(cat "$R/etc/inside")" "kvm" "the symlink's target inside the root is kept"

# --- directories others can write to, and files or directories owned by another user
unsafe() {  # unsafe WHAT PATH_REFUSED VERB SETUP MESSAGE [PROFILE]
  fresh
  apply_with load-d >/dev/null
  eval "$4"
  local refused_before
  refused_before=$(sha256sum <"$R/$2")
  apply_with "${6:-load-d2}"
  expect_rc 1 "$1"
  expect_in "$out$err" "refusing to $3 \"$R/$2\": $5" "$1: message"
  expect_eq "$(sha256sum <"$R/$2")" "$refused_before" "$1: the refused file is intact"
}
unsafe "world-writable modprobe.d" etc/modprobe.d/kvmprov.conf write \
  'chmod 0777 "$R/etc/modprobe.d"' "directory \"$R/etc/modprobe.d\" is writable by other users"
unsafe "group-writable /etc of another group" etc/modules write \
  'chgrp 1000 "$R/etc" && chmod 0775 "$R/etc"' "directory \"$R/etc\" is writable by group 1000" \
  etc-modules
unsafe "modules-load.d owned by a user" etc/modules-load.d/kvmprov.conf write \
  'chown 1000 "$R/etc/modules-load.d"' "directory \"$R/etc/modules-load.d\" is owned by uid 1000"
unsafe "world-writable udev rules directory" etc/udev/rules.d/65-kvmprov.rules write \
  'chmod 0777 "$R/etc/udev/rules.d"' "directory \"$R/etc/udev/rules.d\" is writable by other users"
# A sticky world-writable directory (/tmp, /run/lock) is safe: no one can replace what is ours.
fresh
mkdir -p "$R/etc/modprobe.d" && chmod 1777 "$R/etc/modprobe.d"
apply_with load-d
expect_rc 0 "sticky world-writable directory"
# Under --root nothing but the files is written: the lock is the root directory itself.
[ ! -e "$R/run" ] && ok || bad "apply --root wrote below /run: $(find "$R/run")"

# --- modes whatever the umask
for mask in 000 022 077 277; do
  fresh
  (umask "$mask" && "$KVMPROV" apply --root "$R" --fact cpu_vendor=intel \
    --profile "$TMP/load-d.yaml" >/dev/null 2>&1)
  expect_eq "$(cd "$R" && stat -c '%n %a' etc/modprobe.d etc/modprobe.d/kvmprov.conf \
    etc/modules-load.d etc/modules-load.d/kvmprov.conf etc/udev etc/udev/rules.d \
    etc/udev/rules.d/65-kvmprov.rules)" \
    "$(printf '%s\n' 'etc/modprobe.d 755' 'etc/modprobe.d/kvmprov.conf 644' 'etc/modules-load.d 755' \
      'etc/modules-load.d/kvmprov.conf 644' 'etc/udev 755' 'etc/udev/rules.d 755' \
      'etc/udev/rules.d/65-kvmprov.rules 644')" \
    "modes under umask $mask"
  # A rewrite under a hostile umask keeps the mode too.
  (umask "$mask" && "$KVMPROV" apply --root "$R" --fact cpu_vendor=intel \
    --profile "$TMP/etc-modules.yaml" >/dev/null 2>&1)
  expect_eq "$(stat -c %a "$R/etc/modules")" 644 "/etc/modules rewritten under umask $mask"
done

finish symlinks-modes
