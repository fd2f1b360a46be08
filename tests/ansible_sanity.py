#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The kvmprov.kvm collection's sanity tests, run offline with Debian's packages.

"ansible-test sanity" installs each test's tools with pip into virtual environments, which needs
the network. This runs the same checks with the same configurations from Debian's packages:
ansible-test's own validate-modules (python3-voluptuous), pylint with ansible-test's collection
configuration and plugins, pycodestyle ("pep8") and yamllint with ansible-test's settings,
shellcheck with its exclusions, ansible-test's code-smell scripts, compile, ansible-doc, the
integration aliases, the role's argument specs, the changelog's structure and the Galaxy
tarball. Errors are reported as ansible-test does ("path:line:col: test: message"), and
tests/sanity/ignore-X.Y.txt of the installed ansible-core applies, an unused entry being an error
too. Only "changelog" (antsibull-changelog is not in Debian), "import" (a venv per Python) and
"mypy"/"pslint" (not applicable offline, or not relevant: no PowerShell) are left out; the
changelog's structure is checked here instead.

Usage: ansible_sanity.py COLLECTION_DIR [SCRIPT...]: SCRIPTs are shell scripts outside the
collection that drive it (shellcheck'd alike). Exits 77 (skipped) when a tool is missing.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

try:
    import ansible
    import ansible_test
    import yaml
    # What the tests below run, imported only to know they are there.
    import voluptuous  # noqa: F401  pylint: disable=unused-import
    import pylint  # noqa: F401  pylint: disable=unused-import
    import pycodestyle  # noqa: F401  pylint: disable=unused-import
    import yamllint  # noqa: F401  pylint: disable=unused-import
except ImportError as e:
    print("SKIP: %s (apt-get install ansible-core python3-voluptuous pylint pycodestyle yamllint)" % e)
    sys.exit(77)
if not shutil.which("shellcheck"):
    print("SKIP: shellcheck missing (apt-get install shellcheck)")
    sys.exit(77)

COLLECTION = os.path.abspath(sys.argv[1])
OUTSIDE_SCRIPTS = [os.path.abspath(p) for p in sys.argv[2:]]
NAMESPACE, NAME = COLLECTION.split(os.sep)[-2:]
COLLECTIONS_PATH = os.path.dirname(os.path.dirname(os.path.dirname(COLLECTION)))
SANITY = os.path.join(os.path.dirname(ansible_test.__file__), "_util", "controller", "sanity")
PYTHON = sys.executable
ANSIBLE_VERSION = ".".join(ansible.__version__.split(".")[:2])
# A home of its own: ansible-galaxy and ansible-doc keep caches and temporaries there.
HOME = tempfile.mkdtemp(prefix="ansible-sanity.")
ENV = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, PYTHONDONTWRITEBYTECODE="1",
           ANSIBLE_NOCOLOR="1", HOME=HOME, ANSIBLE_HOME=os.path.join(HOME, ".ansible"))

errors = []  # (path, line, column, test, message)
ran = {}  # test -> number of files checked


def error(path, test, message, line=0, column=0):
    errors.append((path, int(line or 0), int(column or 0), test, message.strip()))


def tool(test, cmd, files, env=None):
    ran[test] = ran.get(test, 0) + len(files)
    return subprocess.run(cmd + files, cwd=COLLECTION, env=env or ENV, capture_output=True,
                          text=True, check=False)


def all_files():
    out = []
    for root, dirs, names in os.walk(COLLECTION):
        rel = os.path.relpath(root, COLLECTION)
        dirs[:] = [d for d in dirs if not (rel == "tests" and d == "output") and d != "__pycache__"]
        for n in names:
            path = os.path.normpath(os.path.join(rel, n))
            if not path.endswith(".tar.gz"):
                out.append(path)
    return sorted(out)


FILES = all_files()
PY = [f for f in FILES if f.endswith(".py")]
MODULES = [f for f in PY if f.startswith("plugins/modules/")]
YAML = [f for f in FILES if f.endswith((".yml", ".yaml"))]
SHELL = [f for f in FILES if f.endswith(".sh")]
TEXT = [f for f in FILES if not f.endswith((".tar.gz", ".png"))]

# --- validate-modules: ansible-test's validator, as "ansible-test sanity" calls it
r = tool("validate-modules", [PYTHON, os.path.join(SANITY, "validate-modules", "validate.py"),
                              "--format", "json", "--arg-spec", "--collection",
                              "ansible_collections/%s/%s" % (NAMESPACE, NAME),
                              "--collection-version",
                              yaml.safe_load(open(os.path.join(COLLECTION, "galaxy.yml")))["version"]],
         MODULES, env=dict(ENV, PYTHONPATH=os.path.join(SANITY, "validate-modules")))
if r.returncode not in (0, 3) or (r.stderr.strip() and not r.stdout.strip()):
    error("plugins/modules", "validate-modules", "validate-modules failed: " + r.stderr[-2000:])
else:
    for path, report in json.loads(r.stdout or "{}").items():
        for e in report.get("errors", []):
            error(path, "validate-modules:" + e["code"], e["msg"], e.get("line"), e.get("column"))

# --- pylint, with ansible-test's collection configuration and plugins
plugins = os.path.join(SANITY, "pylint", "plugins")
names = sorted(os.path.splitext(p)[0] for p in os.listdir(plugins)
               if p.endswith(".py") and p != "__init__.py")
r = tool("pylint", [PYTHON, "-m", "pylint", "--jobs", "0", "--reports", "n",
                    "--max-line-length", "160", "--max-complexity", "20",
                    "--rcfile", os.path.join(SANITY, "pylint", "config", "collection.cfg"),
                    "--output-format", "json",
                    "--load-plugins", ",".join(names + ["pylint.extensions.mccabe"]),
                    "--collection-name", "%s.%s" % (NAMESPACE, NAME)],
         PY, env=dict(ENV, PYTHONPATH=os.pathsep.join([plugins, COLLECTIONS_PATH]),
                      PYLINTHOME=tempfile.mkdtemp(),
                      # Where ansible-test's pylint plugins find the collection's plugin types.
                      **dict(("ANSIBLE_TEST_%s_PATH" % t.upper(),
                              os.path.join(COLLECTION, "plugins", t) + os.sep)
                             for t in ("action", "become", "cache", "callback", "cliconf",
                                       "connection", "doc_fragments", "filter", "httpapi",
                                       "inventory", "lookup", "module_utils", "modules",
                                       "netconf", "shell", "strategy", "terminal", "test",
                                       "vars", "plugin_utils"))))
if r.returncode >= 32 or not r.stdout.strip().startswith("["):
    error(".", "pylint", "pylint failed: %s%s" % (r.stdout[-1000:], r.stderr[-1000:]))
else:
    for m in json.loads(r.stdout):
        error(m["path"], "pylint:" + m["symbol"], m["message"], m["line"], m["column"])

# --- pep8: pycodestyle as ansible-test runs it
ignore = open(os.path.join(SANITY, "pep8", "current-ignore.txt")).read().split()
r = tool("pep8", [PYTHON, "-m", "pycodestyle", "--max-line-length", "160", "--config", "/dev/null",
                  "--ignore", ",".join(ignore)], PY)
for line in r.stdout.splitlines():
    m = re.match(r"^(.*):(\d+):(\d+): (\S+) (.*)$", line)
    if m:
        error(m.group(1), "pep8:" + m.group(4), m.group(5), m.group(2), m.group(3))
    elif line.strip():
        error(".", "pep8", line)

# --- yamllint: ansible-test's linter (YAML files and the modules' documentation blocks)
r = tool("yamllint", [PYTHON, os.path.join(SANITY, "yamllint", "yamllinter.py")], YAML + MODULES)
if r.returncode != 0 and not r.stdout.strip():
    error(".", "yamllint", "yamllint failed: " + r.stderr[-2000:])
for m in json.loads(r.stdout or '{"messages": []}')["messages"]:
    error(m["path"], "yamllint:" + m["code"], m["message"], m["line"], m["column"])

# --- shellcheck, with ansible-test's exclusions
# The collection's scripts as ansible-test checks them; kvmprov's test scripts that drive it at
# warning level, as the project's other scripts ("A && ok || bad" is their idiom).
exclude = open(os.path.join(SANITY, "shellcheck", "exclude.txt")).read().split()
for scripts, level in ((SHELL, "style"), (OUTSIDE_SCRIPTS, "warning")):
    if not scripts:
        continue
    r = tool("shellcheck", ["shellcheck", "-S", level, "-e", ",".join(exclude), "--format", "gcc"],
             scripts)
    for line in r.stdout.splitlines():
        m = re.match(r"^(.*):(\d+):(\d+): \w+: (.*)$", line)
        error(m.group(1) if m else ".", "shellcheck", m.group(4) if m else line,
              m and m.group(2), m and m.group(3))

# --- ansible-test's code-smell scripts, each on the files its configuration selects
for conf in sorted(glob.glob(os.path.join(SANITY, "code-smell", "*.json"))):
    test = os.path.basename(conf)[:-len(".json")]
    if test == "changelog":
        continue  # needs antsibull-changelog; the structure is checked below
    c = json.load(open(conf))
    files = TEXT if c.get("text") else FILES
    if c.get("extensions"):
        files = [f for f in files if os.path.splitext(f)[1] in c["extensions"]]
    if c.get("prefixes"):
        files = [f for f in files if f.startswith(tuple(c["prefixes"]))]
    if c.get("files"):
        files = [f for f in files if os.path.basename(f) in c["files"]]
    if not files:
        continue
    r = tool(test, [PYTHON, conf[:-len(".json")] + ".py"], files)
    for line in (r.stdout + r.stderr).splitlines():
        m = re.match(r"^([^:]+):(\d+):(\d+): (.*)$", line) or re.match(r"^([^:]+):()()\s*(.*)$", line)
        if m:
            error(m.group(1), test, m.group(4), m.group(2), m.group(3))
        elif line.strip():
            error(".", test, line)

# --- compile, with this Python
for f in PY:
    r = subprocess.run([PYTHON, "-c", "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')", f],
                       cwd=COLLECTION, capture_output=True, text=True, check=False)
    if r.returncode:
        error(f, "compile", r.stderr.strip().splitlines()[-1])
ran["compile"] = len(PY)

# --- ansible-doc: every module and the role document themselves
for f in MODULES:
    fqcn = "%s.%s.%s" % (NAMESPACE, NAME, os.path.basename(f)[:-3])
    r = subprocess.run(["ansible-doc", "-t", "module", fqcn], env=ENV, capture_output=True, text=True,
                       check=False)
    if r.returncode or "[WARNING]" in r.stderr:
        error(f, "ansible-doc", r.stderr.strip() or "exit %d" % r.returncode)
for role in sorted(os.listdir(os.path.join(COLLECTION, "roles"))):
    r = subprocess.run(["ansible-doc", "-j", "-t", "role", "%s.%s.%s" % (NAMESPACE, NAME, role)],
                       env=ENV, capture_output=True, text=True, check=False)
    doc = json.loads(r.stdout or "{}").get("%s.%s.%s" % (NAMESPACE, NAME, role), {})
    if r.returncode or "error" in doc or "main" not in doc.get("entry_points", {}):
        error("roles/%s/meta/argument_specs.yml" % role, "ansible-doc",
              doc.get("error") or r.stderr.strip() or "no argument specs")
ran["ansible-doc"] = len(MODULES) + len(os.listdir(os.path.join(COLLECTION, "roles")))

# --- integration-aliases: every target has its aliases file
targets = sorted(glob.glob(os.path.join(COLLECTION, "tests", "integration", "targets", "*")))
for t in targets:
    if not os.path.isfile(os.path.join(t, "aliases")):
        error(os.path.relpath(t, COLLECTION), "integration-aliases", "missing aliases file")
ran["integration-aliases"] = len(targets)
if not targets:
    error("tests/integration", "integration-aliases", "no integration target")

# --- changelog structure (what antsibull-changelog lint checks first)
changelog = yaml.safe_load(open(os.path.join(COLLECTION, "changelogs", "changelog.yaml")))
config = yaml.safe_load(open(os.path.join(COLLECTION, "changelogs", "config.yaml")))
sections = {s[0] for s in config["sections"]} | {config["prelude_section_name"], "trivial"}
galaxy = yaml.safe_load(open(os.path.join(COLLECTION, "galaxy.yml")))
if galaxy["version"] not in changelog.get("releases", {}):
    error("changelogs/changelog.yaml", "changelog", "no release %s" % galaxy["version"])
for version, release in changelog.get("releases", {}).items():
    for section in release.get("changes", {}):
        if section not in sections:
            error("changelogs/changelog.yaml", "changelog", "%s: unknown section %s" % (version, section))
    if not re.match(r"^\d{4}-\d\d-\d\d$", str(release.get("release_date", ""))):
        error("changelogs/changelog.yaml", "changelog", "%s: release_date not YYYY-MM-DD" % version)
    if "v%s\n" % version not in open(os.path.join(COLLECTION, "CHANGELOG.rst")).read():
        error("CHANGELOG.rst", "changelog", "no section for v%s" % version)
ran["changelog"] = 1

# --- what ansible-test's ignore file lets through; an entry nothing matches is an error too
ignore_file = "tests/sanity/ignore-%s.txt" % ANSIBLE_VERSION
ignored = {}
if os.path.exists(os.path.join(COLLECTION, ignore_file)):
    for n, line in enumerate(open(os.path.join(COLLECTION, ignore_file)), 1):
        line = re.sub(r" *#.*$", "", line.rstrip("\n"))
        if not line:
            error(ignore_file, "ignores", "line %d is empty or only a comment" % n)
            continue
        path, code = line.split(" ", 1)
        ignored[(path, code)] = 0
    # The files for other versions are not checked by this ansible-core: they must say the same.
    for other in glob.glob(os.path.join(COLLECTION, "tests", "sanity", "ignore-*.txt")):
        if open(other).read() != open(os.path.join(COLLECTION, ignore_file)).read():
            error(os.path.relpath(other, COLLECTION), "ignores", "differs from " + ignore_file)
remaining = []
for e in errors:
    key = (e[0], e[3])
    if key in ignored:
        ignored[key] += 1
    else:
        remaining.append(e)
for (path, code), n in ignored.items():
    if not n:
        remaining.append((ignore_file, 0, 0, "ignores", "ignoring %s %s, which is not reported" % (path, code)))

# --- the Galaxy tarball: the licence travels with it; no test output, no stray archives
with tempfile.TemporaryDirectory() as out:
    r = subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", out, COLLECTION],
                       env=ENV, capture_output=True, text=True, check=False)
    tarballs = glob.glob(os.path.join(out, "*.tar.gz"))
    if r.returncode or len(tarballs) != 1:
        remaining.append((".", 0, 0, "galaxy", "ansible-galaxy collection build: " + r.stderr.strip()))
    else:
        with tarfile.open(tarballs[0]) as t:
            members = t.getnames()
            if "LICENSE" not in members:
                remaining.append((".", 0, 0, "galaxy", "LICENSE is not in the tarball"))
            elif t.extractfile("LICENSE").read() != open(os.path.join(COLLECTION, "LICENSE"), "rb").read():
                remaining.append(("LICENSE", 0, 0, "galaxy", "the tarball's LICENSE differs"))
            for m in members:
                if m.startswith("tests/output") or m.endswith(".tar.gz"):
                    remaining.append((m, 0, 0, "galaxy", "in the tarball"))
        ran["galaxy"] = len(members)
# The collection's licence is the project's.
top = os.path.join(COLLECTIONS_PATH, "..", "..", "LICENSE")
if os.path.exists(top) and open(top, "rb").read() != open(os.path.join(COLLECTION, "LICENSE"), "rb").read():
    remaining.append(("LICENSE", 0, 0, "galaxy", "differs from kvmprov's LICENSE"))
# Links in the README must work once the collection is installed on its own.
for m in re.finditer(r"\]\(([^)]+)\)", open(os.path.join(COLLECTION, "README.md")).read()):
    link = m.group(1)
    if not re.match(r"^(https?://|#)", link) and (link.startswith("..") or not os.path.exists(
            os.path.join(COLLECTION, link.split("#")[0]))):
        remaining.append(("README.md", 0, 0, "galaxy", "link %s leaves the collection" % link))

for path, line, column, test, message in sorted(remaining):
    print("ERROR: %s:%d:%d: %s: %s" % (path, line, column, test, message))
print("ansible-core %s; ignore file %s (%d entries)" % (ansible.__version__, ignore_file, len(ignored)))
print("ran: " + ", ".join("%s (%d files)" % kv for kv in sorted(ran.items())))
print("not run: changelog lint (antsibull-changelog is not in Debian: structure checked instead), "
      "import (needs a venv per Python), mypy and pslint")
print("ansible-sanity: %d passed, %d failed" % (len(ran), len(remaining)))
shutil.rmtree(HOME, ignore_errors=True)
sys.exit(1 if remaining else 0)
