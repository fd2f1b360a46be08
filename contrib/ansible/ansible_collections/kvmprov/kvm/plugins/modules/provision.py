#!/usr/bin/python
# SPDX-License-Identifier: MIT
# Ansible module that converges a host to a kvmprov profile (kvmprov apply/plan/reset --json).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: provision
short_description: Provision a KVM host with kvmprov
description:
  - Runs C(kvmprov apply --json) (C(kvmprov plan --json) in check mode) and returns its report.
  - C(changed) is true when the report's C(summary.changed) is greater than zero; in check mode it
    means "would change". The task fails when kvmprov reports a failed action, rejects the profile
    or cannot run; C(msg) then carries kvmprov's own message (for an invalid profile the
    C(FILE:LINE:COL) error lines of C(kvmprov validate)).
  - Check mode writes nothing on the target. An inline profile is put in a private temporary
    directory for the run and removed afterwards.
  - File contents (the before and after text of each file kvmprov writes) are returned only in
    diff mode, as Ansible's diff; the registered result carries every action without them, so
    that C(-v) output shows no file's content. For a file kvmprov edits but does not own
    (nova.conf), kvmprov reports only the keys it manages; this module reads no file of the
    target for its diff, so nothing else of such a file can appear.
  - Kernel actions under a I(root) other than C(/) are reported by kvmprov as skipped; they are
    not failures.
version_added: 0.1.0
author:
  - kvmprov developers (@kvmprov)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
options:
  profile:
    description:
      - Path of the profile on the target.
      - Together with I(profile_content), the file this content belongs in. The module writes it
        (only when its bytes differ) before applying; in check mode it writes nothing and plans
        from a temporary copy, reporting paths as if the file were in place.
      - Neither I(profile) nor I(profile_content) means kvmprov's built-in default profile.
    type: path
  profile_content:
    description:
      - The profile, inline. A string is YAML text, passed to kvmprov byte for byte.
      - A mapping is the profile as data, written as JSON (which is YAML) so that every value
        keeps its type. A device's C(mode) must then be a string such as C("0660"); a number is
        refused, because YAML 1.1 reads an unquoted C(0660) as the number 432.
      - Without I(profile) it is passed on kvmprov's standard input (C(--profile -)). kvmprov
        names such a profile C(<stdin>) in the files it writes, so repeated runs stay idempotent.
    type: raw
  root:
    description:
      - Operate on the system image below this directory (kvmprov C(--root)).
    type: path
    default: /
  facts:
    description:
      - Facts to override, passed as C(--fact KEY=VALUE) (for example C(cpu_vendor=amd) for an
        image built for another CPU). Not passed with I(state=absent), because C(kvmprov reset)
        reads no facts.
    type: dict
    default: {}
  allow_reload:
    description:
      - Reload a loaded module whose parameters differ from the profile, only when nothing uses
        it (kvmprov C(--allow-reload)).
    type: bool
    default: false
  lock_timeout:
    description:
      - Seconds to wait for another kvmprov run's lock (kvmprov C(--lock-timeout)). Not passed
        in check mode, which takes no lock.
    type: float
  state:
    description:
      - C(present) applies the profile.
      - C(absent) removes the files kvmprov wrote (C(kvmprov reset)); loaded modules stay. In
        check mode it reports what C(kvmprov reset --dry-run) would remove.
    type: str
    choices: [present, absent]
    default: present
  binary:
    description:
      - The kvmprov program, a name looked up in C(PATH) (and the sbin directories) or a path.
    type: str
    default: kvmprov
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
notes:
  - No option carries a secret, so none is marked C(no_log); what could (the content of a file
    kvmprov edits) is kept out of the result as described above.
seealso:
  - name: kvmprov(8)
    description: The command this module runs.
    link: https://github.com/kvmprov/kvmprov/blob/main/man/kvmprov.8
"""

EXAMPLES = r"""
- name: Provision with the profile installed on the host
  kvmprov.kvm.provision:
    profile: /etc/kvmprov/profile.yaml

- name: Build an image for AMD hosts, inline profile
  kvmprov.kvm.provision:
    root: /srv/images/compute
    facts:
      cpu_vendor: amd
    profile_content: |
      version: 1
      name: compute
      modules:
        - name: kvm
        - name: kvm_amd
          when: { cpu_vendor: [amd, hygon] }
          options: { nested: 1 }
      persist: modules-load.d

- name: The profile as data; modes are quoted strings
  kvmprov.kvm.provision:
    profile_content:
      version: 1
      name: compute
      devices:
        - node: kvm
          group: kvm
          mode: "0660"

- name: Remove what kvmprov wrote
  kvmprov.kvm.provision:
    state: absent
"""

RETURN = r"""
report:
  description: >-
    kvmprov's JSON report (format, verb, dry_run, profile, facts, actions, summary; see
    /usr/share/kvmprov/schema/report.schema.json), its actions without file contents.
  returned: when kvmprov produced a report
  type: dict
actions:
  description: >-
    The report's actions, each with id, kind, target, status and detail (and device, nova or
    options where they apply); the before and after text of files only in diff mode.
  returned: when kvmprov produced a report
  type: list
  elements: dict
summary:
  description: Counts of changed, unchanged, failed, skipped and pending actions.
  returned: when kvmprov produced a report
  type: dict
profile_written:
  description: Whether the module wrote I(profile) from I(profile_content).
  returned: always
  type: bool
cmd:
  description: The kvmprov command line that was run.
  returned: when kvmprov ran
  type: list
  elements: str
rc:
  description: kvmprov's exit status.
  returned: when kvmprov ran
  type: int
stderr:
  description: kvmprov's standard error.
  returned: when kvmprov ran
  type: str
kvmprov_seconds:
  description: Wall-clock time kvmprov itself took, in seconds.
  returned: when kvmprov ran
  type: float
"""

import json
import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes
from ansible.module_utils.six import string_types

INLINE_NAME = "ansible-profile.yaml"
# What the report says about a file's content; returned only in diff mode.
CONTENT_KEYS = ("before", "after", "diff")


def find_binary(module, name):
    if "/" in name:
        if not (os.path.isfile(name) and os.access(name, os.X_OK)):
            module.fail_json(msg='kvmprov binary "%s" is not an executable file' % name)
        return name
    return module.get_bin_path(name, required=True, opt_dirs=["/usr/sbin", "/sbin", "/usr/local/sbin"])


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "surrogateescape")
    except (IOError, OSError):
        return None


def profile_text(module, content):
    """The profile as text: a string as it is, a mapping as JSON. A device's mode must be a
    string: YAML 1.1 (Ansible's) reads an unquoted 0660 as the number 432."""
    if content is None:
        return None
    if isinstance(content, dict):
        for i, device in enumerate(content.get("devices") or []):
            mode = device.get("mode") if isinstance(device, dict) else None
            if mode is not None and not isinstance(mode, string_types):
                module.fail_json(
                    msg='profile_content: devices entry %d (node "%s"): mode %r is a number, not '
                        'a string; YAML reads an unquoted 0660 as the number 432: quote it, '
                        'e.g. mode: "0660"' % (i + 1, device.get("node"), mode),
                    profile_written=False)
        text = json.dumps(content, indent=2, sort_keys=False)
    elif isinstance(content, string_types):
        text = content
    else:
        module.fail_json(msg="profile_content must be YAML text or a mapping, not %s"
                         % type(content).__name__, profile_written=False)
    return text if text.endswith("\n") else text + "\n"


def write_atomically(module, path, content, validate=None):
    """Writes CONTENT to PATH through a temporary file in the same directory and a rename.
    VALIDATE, a kvmprov binary, must accept the temporary file as a profile first: an invalid
    profile never replaces a good one."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        os.makedirs(directory, 0o755)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path))
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(to_bytes(content, errors="surrogate_or_strict"))
            f.flush()
            os.fsync(f.fileno())
        if validate:
            rc, out, err = module.run_command([validate, "validate", tmp])
            if rc != 0:
                os.unlink(tmp)
                module.fail_json(msg=(err.strip() or out.strip()).replace(tmp, path),
                                 rc=rc, profile_written=False)
        module.atomic_move(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def under_root(root, path):
    return os.path.join(root, path.lstrip("/")) if root != "/" else path


def file_diffs(actions, root):
    diffs = []
    for a in actions:
        if a.get("status") != "changed" or ("before" not in a and "after" not in a):
            continue
        diffs.append({
            "before_header": under_root(root, a["target"]),
            "after_header": under_root(root, a["target"]),
            "before": a.get("before") or "",
            "after": a.get("after") or "",
        })
    return diffs


def without_content(actions):
    return [dict((k, v) for k, v in a.items() if k not in CONTENT_KEYS) for a in actions]


def summarize(actions):
    summary = dict(changed=0, unchanged=0, failed=0, skipped=0, pending=0)
    for a in actions:
        if a.get("status") in summary:
            summary[a["status"]] += 1
    return summary


def rename_source(report, temp_path, real_path):
    """Reports a plan made from a temporary copy of the profile as if it came from REAL_PATH.

    kvmprov names the profile's path in the headers of the files it writes, so a plan made
    from a copy differs from the real one in that line alone; this puts the real path back
    and re-decides which file actions would change anything.
    """
    for a in report.get("actions", []):
        if "after" not in a or a.get("after") is None:
            continue
        a["after"] = a["after"].replace("(%s)" % temp_path, "(%s)" % real_path)
        if a.get("status") == "changed" and a["after"] == a.get("before"):
            a["status"] = "unchanged"
            a["detail"] = "up to date"
            a["diff"] = ""
    if isinstance(report.get("profile"), dict):
        report["profile"]["source"] = real_path
    report["summary"] = summarize(report.get("actions", []))


def base_command(params, binary, check_mode):
    """kvmprov's command line up to the verb. kvmprov refuses an option its verb does not take:
    reset reads no facts, and only a run that changes something (apply, reset without
    --dry-run) takes the lock. The running system is no --root at all: kvmprov refuses a --root
    that is "/"."""
    cmd = [binary, "--json"]
    if params["root"] not in ("/", ""):
        cmd += ["--root", params["root"]]
    if params["state"] == "present":
        for key, value in sorted(params["facts"].items()):
            if isinstance(value, bool):
                value = "true" if value else "false"
            cmd += ["--fact", "%s=%s" % (key, value)]
    if params["lock_timeout"] is not None and not check_mode:
        cmd += ["--lock-timeout", str(params["lock_timeout"])]
    return cmd


class Run(object):
    """One kvmprov run: its command line, where it runs, and what the module did before it."""

    def __init__(self, cmd):
        self.cmd = cmd
        self.stdin = None  # profile_content passed on standard input (--profile -)
        self.workdir = None  # private temporary directory for an inline profile
        self.rename = None  # (temporary path, real path) when planning from a copy
        self.result = dict(changed=False, profile_written=False)

    def profile_diff(self, path, content):
        self.result.setdefault("diff", []).append({
            "before_header": path, "after_header": path,
            "before": read_text(path) or "", "after": content})

    def inline(self, module, content):
        """Puts CONTENT in a private temporary directory and returns its path."""
        self.workdir = tempfile.mkdtemp(prefix="kvmprov-", dir=module.tmpdir)
        path = os.path.join(self.workdir, INLINE_NAME)
        with open(path, "wb") as f:
            f.write(to_bytes(content, errors="surrogate_or_strict"))
        return path


def prepare_profile(module, run, binary):
    """Adds --profile to RUN.cmd, writing or staging profile_content as the options ask."""
    p = module.params
    content = profile_text(module, p["profile_content"])
    if content is None:
        if p["profile"]:
            run.cmd += ["--profile", p["profile"]]
        return
    if p["profile"] and read_text(p["profile"]) == content:
        run.cmd += ["--profile", p["profile"]]
    elif p["profile"] and not module.check_mode:
        if module._diff:
            run.profile_diff(p["profile"], content)
        write_atomically(module, p["profile"], content, validate=binary)
        run.result.update(profile_written=True, changed=True)
        run.cmd += ["--profile", p["profile"]]
    elif p["profile"]:
        # Check mode: plan from a copy, reported as if the file were in place.
        temp_path = run.inline(module, content)
        run.rename = (temp_path, p["profile"])
        run.cmd += ["--profile", temp_path]
        if module._diff:
            run.profile_diff(p["profile"], content)
        run.result["changed"] = True
    else:
        # Standard input has one name, "<stdin>", so the headers kvmprov writes into generated
        # files are the same on every run; a temporary file's name would change them each time.
        run.stdin = content
        run.cmd += ["--profile", "-"]


def execute(module, run):
    started = time.time()
    try:
        rc, out, err = module.run_command(run.cmd, data=run.stdin, binary_data=True,
                                          environ_update={"NO_COLOR": "1"})
    finally:
        if run.workdir:
            shutil.rmtree(run.workdir, ignore_errors=True)
    run.result.update(cmd=run.cmd, rc=rc, stderr=err,
                      kvmprov_seconds=round(time.time() - started, 4))
    try:
        report = json.loads(out) if out.strip() else None
    except ValueError:
        report = None
    if not isinstance(report, dict) or "actions" not in report:
        # Usage errors, an invalid profile (65) or a lock timeout: kvmprov says why on stderr.
        module.fail_json(msg=err.strip() or out.strip() or "kvmprov exited with status %d" % rc,
                         stdout=out, **run.result)
    return rc, err, report


def report_outcome(module, run, rc, err, report):
    if run.rename:
        rename_source(report, *run.rename)
    actions = report.get("actions", [])
    summary = report.get("summary") or summarize(actions)
    if module._diff:
        run.result.setdefault("diff", []).extend(file_diffs(actions, module.params["root"]))
    actions = without_content(actions)
    report["actions"] = actions
    run.result.update(report=report, actions=actions, summary=summary)
    if summary.get("changed", 0) > 0:
        run.result["changed"] = True

    for a in actions:
        if a.get("status") == "pending":
            module.warn("kvmprov: %s %s pending: %s" % (a.get("kind"), a.get("target"), a.get("detail")))

    failed = [a for a in actions if a.get("status") == "failed"]
    if failed or rc != 0:
        lines = ["%s %s: %s" % (a.get("kind"), a.get("target"), a.get("detail")) for a in failed]
        if err.strip():
            lines.append(err.strip())
        if not lines:
            lines.append("kvmprov exited with status %d" % rc)
        verb = report.get("verb", "apply")
        module.fail_json(msg="kvmprov %s: %s" % (verb, "; ".join(lines)), **run.result)
    module.exit_json(**run.result)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            profile=dict(type="path"),
            profile_content=dict(type="raw"),
            root=dict(type="path", default="/"),
            facts=dict(type="dict", default={}),
            allow_reload=dict(type="bool", default=False),
            lock_timeout=dict(type="float"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            binary=dict(type="str", default="kvmprov"),
        ),
        supports_check_mode=True,
    )
    binary = find_binary(module, module.params["binary"])
    run = Run(base_command(module.params, binary, module.check_mode))
    if module.params["state"] == "absent":
        run.cmd.append("reset")
        if module.check_mode:
            run.cmd.append("--dry-run")
    else:
        if module.params["allow_reload"]:
            run.cmd.append("--allow-reload")
        prepare_profile(module, run, binary)
        run.cmd.append("plan" if module.check_mode else "apply")
    rc, err, report = execute(module, run)
    report_outcome(module, run, rc, err, report)


if __name__ == "__main__":
    main()
