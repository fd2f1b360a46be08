#!/bin/bash
# SPDX-License-Identifier: MIT
# The JSON contract. The schemas in schema/ are valid JSON Schemas (2020-12). Every JSON document
# the command-line tests make kvmprov print (cli_test.sh run once more through json_capture.sh),
# and those this test adds (apply, validate, reset, a plan with nova.conf and devices, check),
# validates against its verb's schema, "format": 1 included. Every shipped profile, and every
# valid one of the fuzz corpus, validates against the profile schema and is accepted by kvmprov
# validate; the shipped ones name the schema on a yaml-language-server line that resolves to it;
# profiles the schema must refuse are refused.
# Usage: schema_test.sh PATH/TO/kvmprov SOURCE_DIR
set -u
KVMPROV=$(realpath "$1")
SRC=$(realpath "$2")
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh"
scratch
export NO_COLOR=1
# Debian's python3, whose python3-jsonschema and python3-yaml scripts/install-deps.sh installs.
PYTHON=/usr/bin/python3
"$PYTHON" -c 'import jsonschema, yaml' 2>/dev/null ||
  skip "python3-jsonschema or python3-yaml missing (apt-get install python3-jsonschema python3-yaml)"

# --- the command-line tests' JSON, captured
mkdir "$TMP/json"
KVMPROV_WRAPPER="$SRC/tests/json_capture.sh" KVMPROV_JSON_DIR="$TMP/json" \
  KVMPROV_SOURCE_DIR="$SRC" "$SRC/tests/cli_test.sh" "$KVMPROV" >"$TMP/cli.log" 2>&1 ||
  echo "note: cli_test.sh reported failures of its own (see the cli test); its JSON is checked here"

# --- more documents: apply, validate, reset, a plan that edits nova.conf and manages devices
keep() { # keep NAME ARGS...: kvmprov ARGS... --json, its stdout kept like the captured ones
  printf '%s\n' "${@:2}" >"$TMP/json/own-$1.args"
  "$KVMPROV" "${@:2}" >"$TMP/json/own-$1.json" 2>"$TMP/json/own-$1.err"
}
R=$TMP/root
mkdir -p "$R/etc/nova"
printf 'root:x:0:\nkvm:x:994:\n' >"$R/etc/group"
printf 'root:x:0:0:root:/root:/bin/sh\nnova:x:64060:64060::/var/lib/nova:/bin/sh\n' >"$R/etc/passwd"
printf '[DEFAULT]\ndebug = false\n\n[libvirt]\nvirt_type = qemu\n' >"$R/etc/nova/nova.conf"
cat >"$TMP/nova.yaml" <<'YAML'
version: 1
name: schema-test
modules:
  - name: kvm
  - name: kvm_intel
    when: { cpu_vendor: intel }
    options: { nested: 1 }
devices:
  - { node: kvm, group: kvm, mode: "0660" }
groups:
  - { name: kvm, members: [nova] }
nova:
  virt_type: kvm
  cpu_mode: host-model
YAML
keep plan-nova plan --json --root "$R" --profile "$TMP/nova.yaml" --fact cpu_vendor=intel
keep apply apply --json --root "$R" --profile "$TMP/nova.yaml" --fact cpu_vendor=intel
keep apply-again apply --json --root "$R" --profile "$TMP/nova.yaml" --fact cpu_vendor=intel
keep reset-dry reset --json --root "$R" --dry-run
keep reset reset --json --root "$R"
keep check check --json
for p in "$SRC"/profiles/*.yaml "$SRC/contrib/profile.yaml"; do
  keep "validate-$(basename "$p" .yaml)" validate --json "$p"
done

"$PYTHON" - "$SRC" "$KVMPROV" "$TMP/json" <<'PY'
import glob, json, os, re, subprocess, sys
import jsonschema, yaml

src, kvmprov, captured = sys.argv[1:]
passed = failed = 0

def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL: " + what, file=sys.stderr)

schemas = {}
for path in sorted(glob.glob(os.path.join(src, "schema", "*.schema.json"))):
    name = os.path.basename(path).split(".")[0]
    with open(path) as f:
        schema = json.load(f)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
        check(True, "")
    except jsonschema.SchemaError as e:
        check(False, f"{path} is not a valid JSON Schema: {e.message}")
    schemas[name] = jsonschema.Draft202012Validator(schema)
check(set(schemas) == {"report", "check", "validate", "version", "profile"}, f"schemas: {sorted(schemas)}")

def problems(validator, doc):
    return ["/".join(map(str, e.absolute_path)) + ": " + e.message
            for e in validator.iter_errors(doc)]

# Every JSON document, against its verb's schema.
VERB_SCHEMA = {"plan": "report", "apply": "report", "reset": "report", "check": "check",
               "validate": "validate", "version": "version"}
seen = {}
for out in sorted(glob.glob(os.path.join(captured, "*.json"))):
    args = open(out[:-len(".json")] + ".args").read().split("\n")
    verb = next(("version" if a in ("--version", "-V") else a for a in args
                 if a in VERB_SCHEMA or a in ("--version", "-V")), None)
    text = open(out, "rb").read()
    if not text.strip():
        continue  # an error: its message went to stderr
    label = f"kvmprov {' '.join(a for a in args if a)}"
    try:
        doc = json.loads(text)
    except ValueError as e:
        check(False, f"{label} printed no JSON: {e}")
        continue
    check(verb in VERB_SCHEMA, f"{label}: a JSON document from a verb with no schema ({verb})")
    if verb not in VERB_SCHEMA:
        continue
    errors = problems(schemas[VERB_SCHEMA[verb]], doc)
    check(not errors, f"{label}: not a valid {VERB_SCHEMA[verb]} document: {errors[:5]}")
    seen[verb] = seen.get(verb, 0) + 1
    if VERB_SCHEMA[verb] == "report":
        # What the schema cannot say: the summary counts the actions.
        counts = {s: sum(a["status"] == s for a in doc.get("actions", []))
                  for s in ("changed", "unchanged", "failed", "skipped", "pending")}
        check(doc.get("summary") == counts, f"{label}: summary {doc.get('summary')} != {counts}")
cli = [f for f in glob.glob(os.path.join(captured, "run.*.json"))]
check(len(cli) >= 5, f"only {len(cli)} JSON documents captured from the command-line tests")
for verb in VERB_SCHEMA:
    check(seen.get(verb, 0) >= 1, f"no JSON document from kvmprov {verb} was validated")
print(f"JSON documents validated: {sum(seen.values())} ({len(cli)} from the command-line tests); "
      f"by verb: {dict(sorted(seen.items()))}")

# The plan with nova.conf and devices has the optional parts the schema describes.
with open(os.path.join(captured, "own-plan-nova.json")) as f:
    plan = json.load(f)
kinds = {a["kind"] for a in plan["actions"]}
check({"write", "group", "member", "node", "virt-type", "cpu-mode"} <= kinds,
      f"the nova plan lacks kinds: {kinds}")

# Profiles: the shipped ones and the fuzz corpus's valid ones are valid, for kvmprov and the schema.
profile_schema = schemas["profile"]
shipped = sorted(glob.glob(os.path.join(src, "profiles", "*.yaml"))) + [
    os.path.join(src, "contrib", "profile.yaml")]
corpus = sorted(glob.glob(os.path.join(src, "fuzz", "corpus", "profile", "valid-*.yaml")))
for path in shipped + corpus:
    with open(path) as f:
        doc = yaml.safe_load(f)
    errors = problems(profile_schema, doc)
    check(not errors, f"{path} does not validate against the profile schema: {errors}")
    r = subprocess.run([kvmprov, "validate", path], capture_output=True, text=True)
    check(r.returncode == 0, f"kvmprov validate {path}: exit {r.returncode}: {r.stderr.strip()}")
# Each shipped profile tells editors where its schema is: relative to the file in the source
# tree and once installed (profiles/ beside schema/), and /etc/kvmprov/profile.yaml by the
# installed path.
installed = "/usr/share/kvmprov/schema/profile.schema.json"
for path in shipped:
    text = open(path).read()
    m = re.search(r"^# yaml-language-server: \$schema=(\S+)$", text, re.M)
    check(m is not None, f"{path} has no yaml-language-server $schema line")
    if not m:
        continue
    target = m.group(1)
    if target.startswith("file://"):
        check(target == "file://" + installed, f"{path} names {target}, not the installed schema")
    else:
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
        check(resolved == os.path.join(src, "schema", "profile.schema.json"),
              f"{path}: $schema={target} resolves to {resolved}")

# Profiles the schema refuses, each for one reason; kvmprov validate refuses them too (exit 65).
BASE = "version: 1\nname: t\n"
refused = {
    "unknown key": BASE + "modles:\n  - name: kvm\n",
    "version 2": "version: 2\nname: t\n",
    "no name": "version: 1\n",
    "name with a blank": "version: 1\nname: a b\n",
    "module name with a dot": BASE + "modules:\n  - name: kvm.intel\n",
    "unknown vendor": BASE + "modules:\n  - name: kvm\n    when: { cpu_vendor: arm }\n",
    "empty vendor list": BASE + "modules:\n  - name: kvm\n    when: { cpu_vendor: [] }\n",
    "option value with a quote": BASE + "modules:\n  - name: kvm\n    options: { a: 'x\"y' }\n",
    "option value with a blank": BASE + "modules:\n  - name: kvm\n    options: { a: 'x y' }\n",
    "option name with a dash": BASE + "modules:\n  - name: kvm\n    options: { a-b: 1 }\n",
    "unknown persist": BASE + "persist: sometimes\n",
    "node with ..": BASE + "devices:\n  - node: ../etc/passwd\n",
    "absolute node": BASE + "devices:\n  - node: /dev/kvm\n",
    "setuid mode": BASE + "devices:\n  - node: kvm\n    mode: \"4755\"\n",
    "mode of 5 digits": BASE + "devices:\n  - node: kvm\n    mode: \"00660\"\n",
    "group starting with -": BASE + "groups:\n  - name: -kvm\n",
    "group with a colon": BASE + "groups:\n  - name: 'a:b'\n",
    "all-digit group": BASE + "groups:\n  - name: '123'\n",
    "group name of 33 characters": BASE + "groups:\n  - name: " + "g" * 33 + "\n",
    "custom without models": BASE + "nova:\n  cpu_mode: custom\n",
    "models without custom": BASE + "nova:\n  cpu_models: [Nehalem]\n",
    "relative nova.conf": BASE + "nova:\n  config: etc/nova/nova.conf\n",
    "unknown virt_type": BASE + "nova:\n  virt_type: xen\n",
}
# Only the schema: an unquoted mode is a YAML number, which the schema refuses with the hint to
# quote it ("mode: 0660" is 432 to Ansible's YAML 1.1).
schema_only = {"unquoted mode": BASE + "devices:\n  - node: kvm\n    mode: 0660\n"}
for what, text in {**refused, **schema_only}.items():
    errors = problems(profile_schema, yaml.safe_load(text))
    check(bool(errors), f"the profile schema accepts a profile with {what}")
    if what in refused:
        path = os.path.join(captured, "refused.yaml")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([kvmprov, "validate", path], capture_output=True, text=True)
        check(r.returncode == 65, f"kvmprov validate accepts a profile with {what} (exit "
                                  f"{r.returncode}), which the schema refuses")

print(f"schema: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY
