#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds the Debian source and binary packages from a clean copy of the source, lints them, runs
# the maintainer scripts' systemd and purge logic against stand-ins, installs the package with
# dpkg -i, runs the installed kvmprov, purges it with a hostile /etc/modules and checks that
# nothing of kvmprov's is left and every byte of the operator's is.
# Usage: package_test.sh SOURCE_DIR. Exits 77 (skipped) when it cannot run here.
set -u
SRC=$(realpath "$1")
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "not root: installing and purging a package needs root"
command -v dpkg-buildpackage >/dev/null || skip "dpkg-buildpackage missing (apt-get install dpkg-dev debhelper)"
# One package test at a time on a host: each installs and purges kvmprov and edits /etc/modules.
exec 9>/run/lock/kvmprov-package-test.lock
flock -w 3600 9 || { echo "FAIL: another package test held /run/lock/kvmprov-package-test.lock for an hour"; exit 1; }
if dpkg-query -W -f='${Status}' kvmprov 2>/dev/null | grep -q ' installed'; then
  skip "a kvmprov package is installed on this host; not replacing or purging it"
fi
# The purge removes kvmprov's generated files: never on a host that kvmprov manages for real.
GENERATED=(/etc/modprobe.d/kvmprov.conf /etc/modules-load.d/kvmprov.conf
  /etc/udev/rules.d/65-kvmprov.rules)
for f in "${GENERATED[@]}"; do
  [ -e "$f" ] && skip "$f exists: this host is provisioned by kvmprov; not purging its files"
done
if [ -f /etc/modules ] && grep -q '^# BEGIN kvmprov' /etc/modules; then
  skip "/etc/modules has a kvmprov block: this host is provisioned by kvmprov"
fi

scratch
installed=0
planted=0
# On exit, before $TMP goes: the package purged and the host's files as they were.
restore_host() {
  if [ "$installed" = 1 ]; then dpkg_locked -P kvmprov >/dev/null 2>&1; fi
  if [ "$planted" = 1 ]; then
    rm -f "${GENERATED[@]}"
    if [ -e "$TMP/modules.orig" ]; then cp -p "$TMP/modules.orig" /etc/modules; else rm -f /etc/modules; fi
  fi
}
cleanup_hooks+=(restore_host)
loaded_modules() { cut -d' ' -f1 /proc/modules 2>/dev/null | sort; }
# dpkg ARGS..., waiting (10 minutes at most) while another package manager holds dpkg's lock, as
# apt-get does with DPkg::Lock::Timeout: dpkg itself fails at once.
dpkg_locked() {
  local deadline=$((SECONDS + 600)) rc
  while :; do
    dpkg "$@" 2>"$TMP/dpkg.err" && { cat "$TMP/dpkg.err" >&2; return 0; }
    rc=$?
    cat "$TMP/dpkg.err" >&2
    grep -q 'lock.*locked by another process\|could not get lock' "$TMP/dpkg.err" &&
      ((SECONDS < deadline)) || return $rc
    # Wait until the holder lets go, then retry: a blocking fcntl lock on the file dpkg locks.
    timeout 600 python3 -c 'import fcntl, sys; fcntl.lockf(open(sys.argv[1], "a"), fcntl.LOCK_EX)' \
      /var/lib/dpkg/lock-frontend || return $rc
  done
}

# --- a clean copy of the source: tracked and new files, nothing ignored (no build trees)
mkdir "$TMP/src"
copy_source_tree "$SRC" "$TMP/src"

# --- build the source and binary packages; the unit tests run in the suite already, so skip
# them here. The upstream tarball is the source without debian/, as a release would be.
upstream=$(dpkg-parsechangelog -l "$TMP/src/debian/changelog" -S Version | sed 's/-[^-]*$//')
tar -C "$TMP/src" --exclude=./debian -czf "$TMP/kvmprov_$upstream.orig.tar.gz" \
  --transform "s|^\.|kvmprov-$upstream|" .
start=$(date +%s)
if (cd "$TMP/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc) \
  >"$TMP/build.log" 2>&1; then
  ok
else
  tail -40 "$TMP/build.log" >&2
  bad "dpkg-buildpackage failed"
  echo "package: $pass passed, $fail failed"
  exit 1
fi
echo "dpkg-buildpackage: $(($(date +%s) - start)) s"
# Every library the build found belongs to a package in Build-Depends, or a clean build
# (sbuild, pbuilder) stops at cmake.
build_depends=$(sed -n '/^Build-Depends:/,/^[A-Z]/p' "$TMP/src/debian/control")
cache=$(ls "$TMP"/src/obj-*/CMakeCache.txt)
# (KVMPROV_* entries are kvmprov's own settings, such as where to install, not found libraries.)
for path in $(grep -v '^KVMPROV_' "$cache" |
  sed -nE 's#^[A-Za-z0-9_-]+(_DIR:PATH|:FILEPATH)=(/usr/(lib|share|include)/[^;]*)$#\2#p'); do
  owner=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
  [ -n "$owner" ] || continue
  grep -qE "(^|[ ,])$owner([ ,(<]|$)" <<<"$build_depends" && ok ||
    bad "the build used $path from $owner, which Build-Depends does not list"
done
deb=$(ls "$TMP"/kvmprov_*.deb)
[ -f "$deb" ] && ok || bad "no kvmprov_*.deb built"

contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/sbin/kvmprov ./etc/kvmprov/profile.yaml ./usr/share/kvmprov/profiles/default.yaml \
  ./usr/share/kvmprov/profiles/nested.yaml ./usr/share/kvmprov/profiles/openstack-compute.yaml \
  ./usr/share/man/man8/kvmprov.8.gz ./usr/share/man/man5/kvmprov.yaml.5.gz \
  ./usr/share/bash-completion/completions/kvmprov ./usr/share/zsh/vendor-completions/_kvmprov \
  ./usr/share/fish/vendor_completions.d/kvmprov.fish ./usr/share/kvmprov/schema/report.schema.json \
  ./usr/share/kvmprov/schema/check.schema.json ./usr/share/kvmprov/schema/validate.schema.json \
  ./usr/share/kvmprov/schema/profile.schema.json; do
  grep -qx -- "$f" <<<"$contents" && ok || bad "$f not in the package"
done
grep -q '/systemd/system/kvmprov.service$' <<<"$contents" && ok || bad "kvmprov.service not in the package"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/kvmprov/profile.yaml && ok || bad "profile.yaml is not a conffile"
# The MIT notice travels with the package, word for word as in LICENSE.
copyright=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/share/doc/kvmprov/copyright)
words() { tr -s ' \n.' '\n' | grep -v '^$'; }
grep -q '^License: MIT$' <<<"$copyright" && ok || bad "debian/copyright names no MIT licence"
mit=$(awk 'BEGIN { RS = "" } /^License: MIT\n/ { sub(/^License: MIT\n/, ""); print }' <<<"$copyright" | words)
license=$(sed -n '/^Permission is hereby granted/,$p' "$SRC/LICENSE" | words)
[ "$mit" = "$license" ] && ok || bad "the MIT text in debian/copyright differs from LICENSE"
grep -qx 'Files: tests/data/cpu_map/\*' <<<"$copyright" && ok || bad "debian/copyright does not cover the libvirt CPU map fixtures"
# libkmod and libudev are opened with dlopen, invisible to dpkg-shlibdeps: listed by hand, with
# the packages of the programs kvmprov runs (groupadd and usermod, udevadm).
depends=$(dpkg-deb -f "$deb" Depends)
for dep in libkmod2 libudev1 passwd udev; do
  case ", $depends," in *", $dep,"*) ok ;; *) bad "Depends lacks $dep: $depends" ;; esac
done
# libstdc++, yaml-cpp and pugixml are linked dynamically (KVMPROV_STATIC_DEPS=OFF), so their
# security updates reach kvmprov without a rebuild and nothing static needs declaring.
mkdir "$TMP/unpacked"
dpkg-deb -x "$deb" "$TMP/unpacked"
needed=$(objdump -p "$TMP/unpacked/usr/sbin/kvmprov" | awk '$1 == "NEEDED" { print $2 }')
for lib in libstdc++.so.6 libyaml-cpp.so.0.7 libpugixml.so.1; do
  grep -qx "$lib" <<<"$needed" && ok || bad "kvmprov is not linked against $lib: $needed"
done
for dep in libstdc++6 libyaml-cpp0.7 libpugixml1v5; do
  case ", $depends," in *", $dep "*|*", $dep,"*) ok ;; *) bad "Depends lacks $dep: $depends" ;; esac
done
[ -z "$(dpkg-deb -f "$deb" Static-Built-Using Built-Using)" ] && ok ||
  bad "the package declares static linking: $(dpkg-deb -f "$deb" Static-Built-Using Built-Using)"

[ -f "$(ls "$TMP"/kvmprov_*.dsc)" ] && ok || bad "no source package built"
if command -v lintian >/dev/null; then
  start=$(date +%s)
  # Standards-Version is Debian's current policy; an older lintian (bookworm's knows 4.6.2) warns
  # that it cannot check that version, which says nothing about the package.
  standards=$(sed -n 's/^Standards-Version: *//p' "$TMP/src/debian/control")
  suppress=
  grep -q "\"$standards\(\.0\)\{0,1\}\"" /usr/share/lintian/data/debian-policy/releases.json ||
    suppress="--suppress-tags newer-standards-version"
  # shellcheck disable=SC2086
  if lint=$(lintian --fail-on error,warning $suppress "$TMP"/kvmprov_*.changes 2>&1); then ok; else bad "lintian: $lint"; fi
  echo "lintian: $(($(date +%s) - start)) s${lint:+; $lint}"
else
  echo "lintian not installed: package not linted"
fi

# --- the maintainer scripts against stand-ins, before the real installation
dpkg-deb -e "$deb" "$TMP/control"
mkdir -p "$TMP/stubs" "$TMP/sd"
# systemctl and deb-systemd-helper stand-ins that keep the unit's state (enabled, active) in files
# and log each state change; deb-systemd-invoke is the real one, which asks systemctl.
cat >"$TMP/stubs/systemctl" <<EOF
#!/bin/sh
state=$TMP/sd
EOF
cat >>"$TMP/stubs/systemctl" <<'EOF'
cmd=
for a in "$@"; do case $a in -*) ;; *) [ -z "$cmd" ] && cmd=$a ;; esac; done
case $cmd in
  is-enabled) if [ -e "$state/enabled" ]; then echo enabled; else echo disabled; exit 1; fi ;;
  is-active) [ -e "$state/active" ] || exit 3 ;;
  start|restart) echo "$cmd" >>"$state/log"; : >"$state/active" ;;
  try-restart) echo "$cmd" >>"$state/log" ;;
  stop) echo "$cmd" >>"$state/log"; rm -f "$state/active" ;;
esac
exit 0
EOF
cat >"$TMP/stubs/deb-systemd-helper" <<EOF
#!/bin/sh
case " \$* " in *" was-enabled "*) [ -e "$TMP/sd/enabled" ] ;; *) exit 0 ;; esac
EOF
printf '#!/bin/sh\nexit 0\n' >"$TMP/policy-rc.d"
chmod +x "$TMP/stubs/systemctl" "$TMP/stubs/deb-systemd-helper" "$TMP/policy-rc.d"
# maint ENABLED ACTIVE SCRIPT ARGS... [-- SCRIPT ARGS...]: runs the package's maintainer scripts
# in order, in a private mount namespace where /run/systemd/system exists (so they talk to
# "systemd") and policy-rc.d allows starts; prints the unit's state after them and the log.
maint() {
  rm -rf "$TMP/sd" && mkdir "$TMP/sd"
  [ "$1" = enabled ] && : >"$TMP/sd/enabled"
  [ "$2" = active ] && : >"$TMP/sd/active"
  shift 2
  unshare -m --propagation private sh -c '
    set -e
    mount -t tmpfs tmpfs /run && mkdir -p /run/systemd/system
    mount --bind "$1/policy-rc.d" /usr/sbin/policy-rc.d
    export PATH="$1/stubs:$PATH"
    shift
    while [ $# -gt 0 ]; do
      script=$1; shift; args=
      while [ $# -gt 0 ] && [ "$1" != -- ]; do args="$args $1"; shift; done
      [ $# -gt 0 ] && shift
      # shellcheck disable=SC2086
      [ ! -e "$script" ] || sh "$script" $args
    done' sh "$TMP" "$@" >/dev/null 2>&1
  local state=inactive
  [ -e "$TMP/sd/active" ] && state=active
  echo "$state $(cat "$TMP/sd/log" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
}
if command -v unshare >/dev/null; then
  c=$TMP/control
  v=$(dpkg-deb -f "$deb" Version)
  # A first installation leaves the unit disabled and stopped.
  got=$(maint disabled inactive "$c/preinst" install -- "$c/postinst" configure)
  [ "$got" = "inactive " ] && ok || bad "first installation: unit $got (expected inactive, untouched)"
  # An upgrade (old prerm, new preinst, old postrm, new postinst) leaves an active unit active and
  # never stops it; an enabled one that was not running is started.
  upgrade=("$c/prerm" upgrade "$v" -- "$c/preinst" upgrade "$v" -- "$c/postrm" upgrade "$v" --
    "$c/postinst" configure "$v")
  got=$(maint enabled active "${upgrade[@]}")
  [ "$got" = "active start" ] && ok || bad "upgrade of an enabled, active unit: $got (expected active, never stopped)"
  got=$(maint disabled active "${upgrade[@]}")
  [ "$got" = "active " ] && ok || bad "upgrade of a unit started by hand: $got (expected active, never stopped)"
  got=$(maint disabled inactive "${upgrade[@]}")
  [ "$got" = "inactive " ] && ok || bad "upgrade of a disabled unit: $got (expected inactive, untouched)"
  # Removal stops it.
  got=$(maint enabled active "$c/prerm" remove)
  [ "$got" = "inactive stop" ] && ok || bad "removal: unit $got (expected stopped)"
else
  bad "unshare missing (util-linux): maintainer scripts not tested"
fi

# The purge's /etc/modules rule, case by case, on a copy of the system below DPKG_ROOT (which
# dpkg sets for maintainer scripts run against another root). purge_case NAME MODE CONTENT
# EXPECTED [MESSAGE]: /etc/modules with CONTENT (printf format) and MODE is EXPECTED afterwards
# and stderr is MESSAGE.
purge_case() {
  local root="$TMP/purge/$1" out
  rm -rf "$root" && mkdir -p "$root/etc/kvmprov"
  # shellcheck disable=SC2059
  printf "$3" >"$root/etc/modules"
  chmod "$2" "$root/etc/modules"
  chgrp adm "$root/etc/modules" 2>/dev/null || true
  local group
  group=$(stat -c %G "$root/etc/modules")
  out=$(DPKG_ROOT=$root PATH="$TMP/stubs:$PATH" sh "$TMP/control/postrm" purge 2>&1)
  # shellcheck disable=SC2059
  cmp -s "$root/etc/modules" <(printf "$4") && ok ||
    bad "purge case $1: /etc/modules is [$(od -c "$root/etc/modules" | head -5)]"
  [ "$out" = "${5:-}" ] && ok || bad "purge case $1: printed [$out], expected [${5:-}]"
  [ "$(stat -c '%a %U %G' "$root/etc/modules")" = "$2 root $group" ] && ok ||
    bad "purge case $1: /etc/modules is $(stat -c '%a %U %G' "$root/etc/modules"), expected $2 root $group"
  [ -z "$(find "$root/etc" -mindepth 1 -maxdepth 1 ! -name modules)" ] && ok ||
    bad "purge case $1: left in /etc: $(ls -A "$root/etc")"
}
block='# BEGIN kvmprov (profile "default"): managed by kvmprov, do not edit\nkvm\nkvm_amd\n# END kvmprov\n'
purge_case block-only 644 "$block" ""
purge_case keeps-the-rest 600 "loop\n$block# my modules\nbonding\n" "loop\n# my modules\nbonding\n"
purge_case no-final-newline 640 "a\n${block}b" "a\nb"
purge_case unterminated 644 'loop\n# BEGIN kvmprov (profile "x")\nkvm\n# my own modules below\nbonding\n8021q\n' \
  'loop\n# BEGIN kvmprov (profile "x")\nkvm\n# my own modules below\nbonding\n8021q\n' \
  "kvmprov: /etc/modules: kvmprov's block opened at line 2 has no \"# END kvmprov\" marker; fix it by hand"
purge_case unterminated-second 644 "${block}x\n# BEGIN kvmprov\nkvm\n" "${block}x\n# BEGIN kvmprov\nkvm\n" \
  "kvmprov: /etc/modules: kvmprov's block opened at line 6 has no \"# END kvmprov\" marker; fix it by hand"
purge_case begin-inside-block 644 "# BEGIN kvmprov\nkvm\n${block}loop\n" "# BEGIN kvmprov\nkvm\n${block}loop\n" \
  "kvmprov: /etc/modules: kvmprov's block opened at line 1 has no \"# END kvmprov\" marker; fix it by hand"
legacy='# BEGIN kvmprovisioner-legacy\nfoo\n# END kvmprovisioner-legacy\n'
purge_case another-tool 644 "$legacy" "$legacy"
purge_case another-tool-and-ours 644 "$legacy$block$legacy" "$legacy$legacy"
purge_case not-a-marker 644 '# BEGIN kvmprov2\n#  BEGIN kvmprov\n #BEGIN kvmprov\n' \
  '# BEGIN kvmprov2\n#  BEGIN kvmprov\n #BEGIN kvmprov\n'
# A tab after the marker is a blank, as kvmprov reads it.
purge_case tab-after-marker 644 'a\n# BEGIN kvmprov\tx\nkvm\n# END kvmprov\nb\n' 'a\nb\n'
purge_case bom-crlf 644 '\357\273\277# BEGIN kvmprov\r\nkvm\r\n# END kvmprov \r\nloop\r\n' '\357\273\277loop\r\n'
# A byte order mark counts only at the very start of the file.
# A byte order mark later on hides the begin marker, so the end marker closes no block.
purge_case bom-not-first 644 '\357\273\277loop\n\357\273\277# BEGIN kvmprov\nkvm\n# END kvmprov\n' \
  '\357\273\277loop\n\357\273\277# BEGIN kvmprov\nkvm\n# END kvmprov\n' \
  "kvmprov: /etc/modules: \"# END kvmprov\" at line 4 closes no block; fix it by hand"
purge_case two-blocks 644 "a\n${block}b\n# BEGIN kvmprov\nvhost_net\n# END kvmprov\t \nc\n" "a\nb\nc\n"
purge_case stray-end 644 "# END kvmprov\n${block}" "# END kvmprov\n${block}" \
  "kvmprov: /etc/modules: \"# END kvmprov\" at line 1 closes no block; fix it by hand"
purge_case latin1 644 "# Module f\374r den Start\n${block}loop\n" "# Module f\374r den Start\nloop\n"
purge_case none 644 "loop\n" "loop\n"
# A symbolic link stays one, and what it points to is not changed.
root="$TMP/purge/symlink"
mkdir -p "$root/etc/kvmprov" "$root/srv"
printf "loop\n$block" >"$root/srv/modules"
ln -s ../srv/modules "$root/etc/modules"
out=$(DPKG_ROOT=$root PATH="$TMP/stubs:$PATH" sh "$TMP/control/postrm" purge 2>&1)
[ -L "$root/etc/modules" ] && [ "$(printf "loop\n$block")" = "$(cat "$root/srv/modules")" ] && ok ||
  bad "purge replaced or edited a symlinked /etc/modules"
[ "$out" = "kvmprov: /etc/modules is a symbolic link, left as it is: remove kvmprov's block from it by hand" ] &&
  ok || bad "purge with a symlinked /etc/modules printed [$out]"
# An unchanged file is not rewritten.
root="$TMP/purge/none"
touch -d @1000000000 "$root/etc/modules"
mkdir -p "$root/etc/kvmprov"
DPKG_ROOT=$root PATH="$TMP/stubs:$PATH" sh "$TMP/control/postrm" purge >/dev/null 2>&1
[ "$(stat -c %Y "$root/etc/modules")" = 1000000000 ] && ok || bad "purge rewrote an /etc/modules without a block"

# --- install: must not change the kernel's state or enable the unit
before=$(loaded_modules)
installed=1
if dpkg_locked -i "$deb" >"$TMP/install.log" 2>&1; then ok; else cat "$TMP/install.log" >&2; bad "dpkg -i"; fi
expect_same_modules() { [ "$(loaded_modules)" = "$before" ] && ok || bad "$1 changed the loaded modules"; }
expect_same_modules "installing"
for f in "${GENERATED[@]}"; do [ ! -e "$f" ] && ok || bad "installing created $f"; done
[ ! -e /etc/systemd/system/multi-user.target.wants/kvmprov.service ] && ok || bad "unit enabled on install"

out=$(kvmprov version) && ok || bad "kvmprov version: exit $?"
case $out in "kvmprov "*) ok ;; *) bad "kvmprov version printed [$out]" ;; esac
out=$(kvmprov validate /etc/kvmprov/profile.yaml 2>&1) && ok || bad "validate /etc/kvmprov/profile.yaml: $out"
# A system image has accounts (without /etc/group, plan says the kvm group cannot be created).
mkdir -p "$TMP/root/etc"
printf 'root:x:0:\n' >"$TMP/root/etc/group"
out=$(NO_COLOR=1 kvmprov plan --root "$TMP/root" --fact cpu_vendor=intel 2>&1) && ok || bad "plan --root: $out"
case $out in *"to change"*) ok ;; *) bad "plan --root printed [$out]" ;; esac
[ "$(find "$TMP/root" -mindepth 1 | sort | tr '\n' ' ')" = "$TMP/root/etc $TMP/root/etc/group " ] &&
  ok || bad "plan wrote into the root: $(find "$TMP/root" -mindepth 1)"
[ -x /usr/sbin/kvmprov ] && ok || bad "/usr/sbin/kvmprov not installed"
# Every installed profile names a schema that is installed, for editors.
for p in /etc/kvmprov/profile.yaml /usr/share/kvmprov/profiles/*.yaml; do
  schema=$(sed -n 's|^# yaml-language-server: \$schema=\(file://\)\{0,1\}||p' "$p")
  case $schema in /*) ;; *) schema=$(dirname "$p")/$schema ;; esac
  [ -n "$schema" ] && [ -f "$schema" ] && ok || bad "$p names no installed schema (${schema:-none})"
done
unit=$(sed -n 's|^\.\(/.*/systemd/system/kvmprov\.service\)$|\1|p' <<<"$contents")
if command -v systemd-analyze >/dev/null; then
  out=$(systemd-analyze verify --man=no "$unit" 2>&1) && [ -z "$out" ] && ok || bad "systemd-analyze verify $unit: $out"
fi
man -w kvmprov >/dev/null 2>&1 && ok || echo "man -w kvmprov: man-db index not found (not an error)"

# --- purge: kvmprov's files and what it generated go, foreign bytes of /etc/modules stay
# The package's files (not the directories it shares with others), to check after the purge.
files=$(dpkg -L kvmprov | while IFS= read -r f; do [ -d "$f" ] || echo "$f"; done)
[ -n "$files" ] && ok || bad "dpkg -L kvmprov lists no files"
[ -e /etc/modules ] && cp -p /etc/modules "$TMP/modules.orig"
planted=1
for f in "${GENERATED[@]}"; do
  mkdir -p "$(dirname "$f")" && printf '# written by the kvmprov package test\n' >"$f"
done
# A hostile /etc/modules: a block on the first line behind a byte order mark and with CRLF,
# another tool's block whose marker starts like ours, a second block of ours, a last line without
# its newline, mode 0640 and group adm. The purge leaves exactly the operator's bytes.
bom=$'\xef\xbb\xbf'
orig=$(cat /etc/modules 2>/dev/null; echo .)
orig=${orig%.}
legacy=$'# BEGIN kvmprovisioner-legacy\nfoo\n# END kvmprovisioner-legacy\n'
printf '%s' "$bom"$'# BEGIN kvmprov (profile "test"): managed by kvmprov, do not edit\r\nkvm\r\n# END kvmprov\r\n' \
  "$orig" "$legacy" $'# BEGIN kvmprov\nvhost_net\n# END kvmprov  \n' 'last line' >/etc/modules
printf '%s' "$bom$orig$legacy" 'last line' >"$TMP/modules.expected"
chmod 0640 /etc/modules
chgrp adm /etc/modules
if dpkg_locked -P kvmprov >"$TMP/purge.log" 2>&1; then ok; installed=0; else cat "$TMP/purge.log" >&2; bad "dpkg -P"; fi
expect_same_modules "installing and purging"
if dpkg-query -W -f='${Status}' kvmprov 2>/dev/null | grep -q 'installed\|config-files'; then
  bad "kvmprov still known to dpkg after purge"
else
  ok
fi
left=0
while IFS= read -r f; do
  if [ -e "$f" ] || [ -L "$f" ]; then
    bad "left after purge: $f"
    left=1
  fi
done <<<"$files"
[ "$left" = 0 ] && ok
for d in /usr/share/kvmprov /usr/share/doc/kvmprov; do [ ! -e "$d" ] && ok || bad "$d left after purge"; done
[ ! -e /etc/kvmprov ] && ok || bad "/etc/kvmprov left after purge"
for f in "${GENERATED[@]}"; do [ ! -e "$f" ] && ok || bad "purge left $f"; done
cmp -s /etc/modules "$TMP/modules.expected" && ok ||
  bad "purge did not keep the operator's bytes of /etc/modules: $(od -c /etc/modules | head -20)"
[ "$(stat -c '%a %U %G' /etc/modules)" = "640 root adm" ] && ok ||
  bad "purge changed /etc/modules' mode or owner: $(stat -c '%a %U %G' /etc/modules)"
[ -z "$(find /etc -maxdepth 1 -name '.modules.*')" ] && ok || bad "purge left a temporary in /etc"
[ -z "$(grep -v '^dpkg: warning' "$TMP/purge.log" | grep kvmprov: )" ] && ok ||
  bad "purge printed: $(cat "$TMP/purge.log")"
rm -f "${GENERATED[@]}"
if [ -e "$TMP/modules.orig" ]; then cp -p "$TMP/modules.orig" /etc/modules; else rm -f /etc/modules; fi
planted=0

finish package
