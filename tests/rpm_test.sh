#!/bin/bash
# SPDX-License-Identifier: MIT
# Builds the binary RPM from rpm/kvmprov.spec with rpmbuild -bb, its %check included (the unit
# and command-line tests), checks its file list with rpm -qlp and lints it with rpmlint. Debian lacks the cmake and systemd RPM macros (and the
# -devel packages BuildRequires names), so this test defines the macros and passes --nodeps.
# Usage: rpm_test.sh SOURCE_DIR. Exits 77 (skipped) when rpmbuild is missing.
set -u
SRC=$(realpath "$1")
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
command -v rpmbuild >/dev/null || skip "rpmbuild missing (apt-get install rpm)"

scratch

version=$(sed -n 's/^Version: *//p' "$SRC/rpm/kvmprov.spec")
top="$TMP/rpmbuild"
mkdir -p "$top/SOURCES" "$top/SPECS"
mkdir -p "$TMP/kvmprov-$version"
copy_source_tree "$SRC" "$TMP/kvmprov-$version"
tar -C "$TMP" -czf "$top/SOURCES/kvmprov-$version.tar.gz" "kvmprov-$version"
cp "$SRC/rpm/kvmprov.spec" "$top/SPECS/"

# What Fedora's cmake-rpm-macros and systemd-rpm-macros provide, in their simplest form.
cat >"$TMP/macros" <<'MACROS'
%__cmake /usr/bin/cmake
%__ctest /usr/bin/ctest
%__cmake_builddir redhat-linux-build
%_vpath_builddir %{__cmake_builddir}
%cmake %{__cmake} -S . -B %{__cmake_builddir} -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX:PATH=%{_prefix} -DCMAKE_INSTALL_SYSCONFDIR:PATH=%{_sysconfdir} -DCMAKE_INSTALL_LIBDIR:PATH=%{_libdir} -DCMAKE_INSTALL_MANDIR:PATH=%{_mandir}
%cmake_build %{__cmake} --build %{__cmake_builddir} -j2
%cmake_install DESTDIR="%{buildroot}" %{__cmake} --install %{__cmake_builddir}
%ctest %{__ctest} --test-dir %{__cmake_builddir} --output-on-failure
%_unitdir /usr/lib/systemd/system
%bash_completions_dir %{_datadir}/bash-completion/completions
%zsh_completions_dir %{_datadir}/zsh/site-functions
%fish_completions_dir %{_datadir}/fish/vendor_completions.d
%systemd_requires %{nil}
%systemd_post() if [ $1 -eq 1 ] && command -v systemctl >/dev/null; then systemctl --no-reload preset %{?*} >/dev/null 2>&1 || :; fi
%systemd_preun() if [ $1 -eq 0 ] && command -v systemctl >/dev/null; then systemctl --no-reload disable --now %{?*} >/dev/null 2>&1 || :; fi
%systemd_postun() if command -v systemctl >/dev/null; then systemctl daemon-reload >/dev/null 2>&1 || :; fi
%debug_package %{nil}
%packager kvmprov developers <kvmprov-devel@kvmprov.org>
# Debian's brp-compress uses bash's read -d under #!/bin/sh (dash): run it with bash.
%__os_install_post \
    bash /usr/lib/rpm/brp-compress %{_prefix} \
    /usr/lib/rpm/brp-strip %{__strip} \
%{nil}
MACROS

start=$(date +%s)
if rpmbuild -bb --nodeps --load "$TMP/macros" --define "_topdir $top" \
  "$top/SPECS/kvmprov.spec" >"$TMP/build.log" 2>&1; then
  ok
else
  tail -40 "$TMP/build.log" >&2
  bad "rpmbuild -bb failed"
  echo "rpm: $pass passed, $fail failed"
  exit 1
fi
echo "rpmbuild -bb: $(($(date +%s) - start)) s"
# %check ran the unit and command-line tests, and they passed.
checks=$(sed -n '/^Executing(%check)/,/^Executing(%install)\|^Processing files/p' "$TMP/build.log")
for t in unit cli; do
  grep -qE "Test +#[0-9]+: $t \.+ +Passed" <<<"$checks" && ok || bad "%check did not pass the $t test"
done
grep -q '100% tests passed, 0 tests failed out of 2' <<<"$checks" && ok ||
  bad "%check: $(grep -E 'tests passed|tests failed' <<<"$checks")"
rpmfile=$(ls "$top"/RPMS/*/kvmprov-"$version"-*.rpm)
[ -f "$rpmfile" ] && ok || bad "no kvmprov rpm built"

files=$(rpm -qlp "$rpmfile" 2>/dev/null)
for f in /usr/sbin/kvmprov /etc/kvmprov /etc/kvmprov/profile.yaml \
  /usr/share/kvmprov/profiles/default.yaml /usr/share/kvmprov/profiles/nested.yaml \
  /usr/share/kvmprov/profiles/openstack-compute.yaml /usr/lib/systemd/system/kvmprov.service \
  /usr/share/bash-completion/completions/kvmprov /usr/share/zsh/site-functions/_kvmprov \
  /usr/share/fish/vendor_completions.d/kvmprov.fish /usr/share/doc/kvmprov-$version/README.md \
  /usr/share/licenses/kvmprov-$version/LICENSE /usr/share/kvmprov/schema/report.schema.json \
  /usr/share/kvmprov/schema/check.schema.json /usr/share/kvmprov/schema/validate.schema.json \
  /usr/share/kvmprov/schema/profile.schema.json; do
  grep -qx -- "$f" <<<"$files" && ok || bad "$f not in the rpm"
done
grep -qx '/usr/share/man/man8/kvmprov\.8\.gz' <<<"$files" && ok || bad "kvmprov.8.gz not in the rpm"
grep -qx '/usr/share/man/man5/kvmprov\.yaml\.5\.gz' <<<"$files" && ok || bad "kvmprov.yaml.5.gz not in the rpm"
unexpected=$(grep -v -e '^/usr/sbin/kvmprov$' -e '^/etc/kvmprov' -e '^/usr/share/kvmprov' \
  -e '^/usr/lib/systemd/system/kvmprov.service$' -e '^/usr/share/bash-completion' \
  -e '^/usr/share/man/man[58]/kvmprov' -e '^/usr/share/doc/kvmprov' -e '^/usr/lib/.build-id' \
  -e '^/usr/share/licenses/kvmprov' -e '^/usr/share/zsh/site-functions/_kvmprov$' \
  -e '^/usr/share/fish/vendor_completions.d/kvmprov.fish$' \
  <<<"$files")
[ -z "$unexpected" ] && ok || bad "unexpected files in the rpm: $unexpected"
requires=$(rpm -qp --requires "$rpmfile" 2>/dev/null)
for dep in kmod-libs systemd-libs shadow-utils systemd-udev; do
  grep -q "^$dep" <<<"$requires" && ok || bad "Requires lacks $dep: $requires"
done
# Linked dynamically against libstdc++, yaml-cpp and pugixml: nothing static to declare.
mkdir "$TMP/unpacked"
(cd "$TMP/unpacked" && rpm2cpio "$rpmfile" | cpio -idm --quiet)
needed=$(objdump -p "$TMP/unpacked/usr/sbin/kvmprov" | awk '$1 == "NEEDED" { print $2 }')
for lib in libstdc++.so.6 libyaml-cpp.so.0.7 libpugixml.so.1; do
  grep -qx "$lib" <<<"$needed" && ok || bad "kvmprov is not linked against $lib: $needed"
done
if grep -qE '^BuildRequires:.*-static' "$SRC/rpm/kvmprov.spec"; then
  bad "the spec asks for static libraries although it links dynamically"
else
  ok
fi
rpm -qp --configfiles "$rpmfile" 2>/dev/null | grep -qx /etc/kvmprov/profile.yaml && ok ||
  bad "profile.yaml is not a config file"
scripts=$(rpm -qp --scripts "$rpmfile" 2>/dev/null)
for s in postinstall preuninstall postuninstall; do
  grep -q "^$s scriptlet" <<<"$scripts" && ok || bad "no $s scriptlet"
done

if command -v rpmlint >/dev/null; then
  lint=$(rpmlint -c "$SRC/rpm/rpmlint.toml" "$rpmfile" 2>&1)
  grep -q ' 0 errors' <<<"$lint" && ok || bad "rpmlint reports errors: $lint"
  echo "rpmlint: $(grep -E ': (E|W): ' <<<"$lint" | tr '\n' ';')$(tail -1 <<<"$lint")"
else
  echo "rpmlint not installed: rpm not linted"
fi

finish rpm
