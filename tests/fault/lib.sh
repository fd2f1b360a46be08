# SPDX-License-Identifier: MIT
# Shared by the fault tests: sourced with the kvmprov binary as $1. tests/lib.sh with its scratch
# directory ($TMP) made, and what only the fault tests need: a fingerprint of a directory tree to
# prove that nothing changed, the temporaries kvmprov left, an image root with systemd.
set -u
KVMPROV=$(realpath "$1")
SOURCE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=tests/lib.sh
source "$SOURCE_DIR/tests/lib.sh"
scratch
export NO_COLOR=1

# tree DIR: every entry below DIR with its type, mode, size and a hash of its content, sorted;
# two equal fingerprints mean nothing was created, removed, retyped, rechmodded or rewritten.
tree() {
  (cd "$1" && find . -printf '%p %y %m %s %l\n' | sort &&
    find . -type f -print0 | sort -z | xargs -0r sha256sum)
}

# temporaries DIR: the temporary files kvmprov left below DIR, one per line.
temporaries() { find "$1" -name '.kvmprov.*'; }

# systemd_root DIR: an image root in which systemd is installed (modules-load.d persistence).
systemd_root() {
  mkdir -p "$1/usr/lib/systemd" && install -m 0755 /dev/null "$1/usr/lib/systemd/systemd"
}
