#!/bin/bash
# SPDX-License-Identifier: MIT
# The kvmprov.kvm collection's own tests, run by ansible-test as a collection author runs them:
# "ansible-test units" and "ansible-test integration", both with --local (Debian's ansible-core,
# python3-pytest, python3-pytest-xdist and python3-pytest-forked; no network). The collection is
# copied to a temporary tree, so ansible-test's output and its integration_config.yml (which
# points the integration target at the kvmprov under test) stay out of the source.
# Usage: ansible_collection_test.sh PATH/TO/kvmprov SOURCE_DIR. Exits 77 (skipped) when
# ansible-test or the pytest plugins are missing.
set -u
KVMPROV=$(realpath "$1")
SRC=$(realpath "$2")
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
command -v ansible-test >/dev/null || skip "ansible-test missing (apt-get install ansible-core)"
python3 -c 'import pytest, xdist, pytest_forked' 2>/dev/null ||
  skip "pytest plugins missing (apt-get install python3-pytest python3-pytest-xdist python3-pytest-forked)"
scratch
export HOME=$TMP/home ANSIBLE_NOCOLOR=1
mkdir -p "$HOME" "$TMP/ansible_collections/kvmprov"
cp -r "$SRC/contrib/ansible/ansible_collections/kvmprov/kvm" "$TMP/ansible_collections/kvmprov/"
cd "$TMP/ansible_collections/kvmprov/kvm" || exit 1
rm -rf tests/output
printf 'kvmprov_binary: %s\n' "$KVMPROV" >tests/integration/integration_config.yml
python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
for what in units integration; do
  if ansible-test "$what" --local --python "$python" >"$TMP/$what.log" 2>&1; then
    ok
    grep -E '[0-9]+ passed|PLAY RECAP' -A1 "$TMP/$what.log" | tail -n 2
  else
    bad "ansible-test $what:"
    tail -n 40 "$TMP/$what.log" >&2
  fi
done
finish ansible-collection
