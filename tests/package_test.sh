#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds the Debian package from a clean copy of the source, lints it, installs it with dpkg -i,
# runs the installed kvmprov, purges it and checks that nothing of kvmprov's is left.
# Usage: package_test.sh SOURCE_DIR. Exits 77 (skipped) when it cannot run here.
set -u
SRC=$(realpath "$1")
skip() { echo "SKIP: $*"; exit 77; }

[ "$(id -u)" = 0 ] || skip "not root: installing and purging a package needs root"
command -v dpkg-buildpackage >/dev/null || skip "dpkg-buildpackage missing (apt-get install dpkg-dev debhelper)"
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

TMP=$(mktemp -d)
installed=0
planted=0
cleanup() {
  if [ "$installed" = 1 ]; then dpkg -P kvmprov >/dev/null 2>&1; fi
  if [ "$planted" = 1 ]; then
    rm -f "${GENERATED[@]}"
    if [ -e "$TMP/modules.orig" ]; then cat "$TMP/modules.orig" >/etc/modules; else rm -f /etc/modules; fi
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*" >&2; }
loaded_modules() { cut -d' ' -f1 /proc/modules 2>/dev/null | sort; }

# --- a clean copy of the source: tracked and new files, nothing ignored (no build trees)
mkdir "$TMP/src"
if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$SRC" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -xf - -C "$TMP/src"
else
  tar -C "$SRC" --exclude='./build*' --exclude='./obj-*' -cf - . | tar -xf - -C "$TMP/src"
fi

# --- build; the unit tests run in the suite already, so skip them here
start=$(date +%s)
if (cd "$TMP/src" && DEB_BUILD_OPTIONS="nocheck parallel=2" dpkg-buildpackage -us -uc -b) \
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
for path in $(sed -nE 's#^[A-Za-z0-9_-]+(_DIR:PATH|:FILEPATH)=(/usr/(lib|share|include)/[^;]*)$#\2#p' "$cache"); do
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
  ./usr/share/bash-completion/completions/kvmprov; do
  grep -qx -- "$f" <<<"$contents" && ok || bad "$f not in the package"
done
grep -q '/systemd/system/kvmprov.service$' <<<"$contents" && ok || bad "kvmprov.service not in the package"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/kvmprov/profile.yaml && ok || bad "profile.yaml is not a conffile"
# The MIT notice travels with the package, word for word as in LICENSE.
copyright=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - ./usr/share/doc/kvmprov/copyright)
words() { tr -s ' \n.' '\n' | grep -v '^$'; }
grep -q '^License: MIT$' <<<"$copyright" && ok || bad "debian/copyright names no MIT licence"
mit=$(sed -n '/^License: MIT$/,/^$/p' <<<"$copyright" | sed '1d' | words)
license=$(sed -n '/^Permission is hereby granted/,$p' "$SRC/LICENSE" | words)
[ "$mit" = "$license" ] && ok || bad "the MIT text in debian/copyright differs from LICENSE"
grep -qx 'Files: tests/data/cpu_map/\*' <<<"$copyright" && ok || bad "debian/copyright does not cover the libvirt CPU map fixtures"
# libkmod and libudev are opened with dlopen, invisible to dpkg-shlibdeps: listed by hand.
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libkmod2 libudev1; do
  case ", $depends," in *", $lib,"*) ok ;; *) bad "Depends lacks $lib: $depends" ;; esac
done

if command -v lintian >/dev/null; then
  start=$(date +%s)
  if lint=$(lintian --fail-on error,warning "$TMP"/kvmprov_*.changes 2>&1); then ok; else bad "lintian: $lint"; fi
  echo "lintian: $(($(date +%s) - start)) s${lint:+; $lint}"
else
  echo "lintian not installed: package not linted"
fi

# --- install: must not change the kernel's state or enable the unit
before=$(loaded_modules)
installed=1
if dpkg -i "$deb" >"$TMP/install.log" 2>&1; then ok; else cat "$TMP/install.log" >&2; bad "dpkg -i"; fi
expect_same_modules() { [ "$(loaded_modules)" = "$before" ] && ok || bad "$1 changed the loaded modules"; }
expect_same_modules "installing"
for f in "${GENERATED[@]}"; do [ ! -e "$f" ] && ok || bad "installing created $f"; done
[ ! -e /etc/systemd/system/multi-user.target.wants/kvmprov.service ] && ok || bad "unit enabled on install"

out=$(kvmprov version) && ok || bad "kvmprov version: exit $?"
case $out in "kvmprov "*) ok ;; *) bad "kvmprov version printed [$out]" ;; esac
out=$(kvmprov validate /etc/kvmprov/profile.yaml 2>&1) && ok || bad "validate /etc/kvmprov/profile.yaml: $out"
mkdir "$TMP/root"
out=$(NO_COLOR=1 kvmprov plan --root "$TMP/root" --fact cpu_vendor=intel 2>&1) && ok || bad "plan --root: $out"
case $out in *"to change"*) ok ;; *) bad "plan --root printed [$out]" ;; esac
[ -z "$(ls -A "$TMP/root")" ] && ok || bad "plan wrote into the root"
[ -x /usr/sbin/kvmprov ] && ok || bad "/usr/sbin/kvmprov not installed"
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
printf '# BEGIN kvmprov (profile "test"): managed by kvmprov, do not edit\n# END kvmprov\n' >>/etc/modules
if dpkg -P kvmprov >"$TMP/purge.log" 2>&1; then ok; installed=0; else cat "$TMP/purge.log" >&2; bad "dpkg -P"; fi
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
if [ -e "$TMP/modules.orig" ]; then
  cmp -s /etc/modules "$TMP/modules.orig" && ok || bad "purge did not restore /etc/modules byte for byte"
else
  [ ! -s /etc/modules ] && ok || bad "purge left bytes in /etc/modules"
  rm -f /etc/modules
fi
planted=0

echo "package: $pass passed, $fail failed"
[ "$fail" = 0 ]
