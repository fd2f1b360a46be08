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
  - Diff mode returns the before and after text of every file kvmprov changes (or would change).
  - Kernel actions under a I(root) other than C(/) are reported by kvmprov as skipped; they are
    not failures.
version_added: 0.1.0
author:
  - kvmprov developers
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
      - The profile as inline YAML.
      - Without I(profile) it is written to C(ansible-profile.yaml) in a private temporary
        directory on the target, used for this run only and removed afterwards. kvmprov names
        the profile by that relative name in the files it writes, so repeated runs stay
        idempotent.
    type: str
  root:
    description:
      - Operate on the system image below this directory (kvmprov C(--root)).
    type: path
    default: /
  facts:
    description:
      - Facts to override, passed as C(--fact KEY=VALUE) (for example C(cpu_vendor=amd) for an
        image built for another CPU). Not passed with I(state=absent): C(kvmprov reset) reads
        no facts.
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

- name: Remove what kvmprov wrote
  kvmprov.kvm.provision:
    state: absent
"""

RETURN = r"""
report:
  description: kvmprov's JSON report (verb, dry_run, profile, facts, actions, summary).
  returned: when kvmprov produced a report
  type: dict
actions:
  description: The report's actions, each with id, kind, target, status and detail.
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

# The files `kvmprov reset` owns outright, and the shared file where it keeps a marked block.
INLINE_NAME = "ansible-profile.yaml"


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


def main():
    module = AnsibleModule(
        argument_spec=dict(
            profile=dict(type="path"),
            profile_content=dict(type="str"),
            root=dict(type="path", default="/"),
            facts=dict(type="dict", default={}),
            allow_reload=dict(type="bool", default=False),
            lock_timeout=dict(type="float"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            binary=dict(type="str", default="kvmprov"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    binary = find_binary(module, p["binary"])
    root = p["root"]
    result = dict(changed=False, profile_written=False)

    # kvmprov refuses an option its verb does not take: reset reads no facts, and only a run that
    # changes something (apply, reset without --dry-run) takes the lock.
    cmd = [binary, "--json", "--root", root]
    if p["state"] == "present":
        for key, value in sorted(p["facts"].items()):
            if isinstance(value, bool):
                value = "true" if value else "false"
            cmd += ["--fact", "%s=%s" % (key, value)]
    if p["lock_timeout"] is not None and not module.check_mode:
        cmd += ["--lock-timeout", str(p["lock_timeout"])]

    workdir = None  # private temporary directory for an inline profile
    cwd = None
    rename = None  # (temporary path, real path) when planning from a copy

    if p["state"] == "absent":
        cmd.append("reset")
        if module.check_mode:
            cmd.append("--dry-run")
    else:
        if p["allow_reload"]:
            cmd.append("--allow-reload")
        content = p["profile_content"]
        if content is not None and not content.endswith("\n"):
            content += "\n"
        if content is not None:
            if p["profile"] and read_text(p["profile"]) == content:
                cmd += ["--profile", p["profile"]]
            elif p["profile"] and not module.check_mode:
                if module._diff:
                    result.setdefault("diff", []).append({
                        "before_header": p["profile"], "after_header": p["profile"],
                        "before": read_text(p["profile"]) or "", "after": content})
                write_atomically(module, p["profile"], content, validate=binary)
                result["profile_written"] = True
                result["changed"] = True
                cmd += ["--profile", p["profile"]]
            else:
                workdir = tempfile.mkdtemp(prefix="kvmprov-", dir=module.tmpdir)
                with open(os.path.join(workdir, INLINE_NAME), "wb") as f:
                    f.write(to_bytes(content, errors="surrogate_or_strict"))
                if p["profile"]:
                    temp_path = os.path.join(workdir, INLINE_NAME)
                    rename = (temp_path, p["profile"])
                    cmd += ["--profile", temp_path]
                    if module._diff:
                        result.setdefault("diff", []).append({
                            "before_header": p["profile"], "after_header": p["profile"],
                            "before": read_text(p["profile"]) or "", "after": content})
                    result["changed"] = True
                else:
                    # A relative name keeps the headers kvmprov writes the same on every run.
                    cwd = workdir
                    cmd += ["--profile", INLINE_NAME]
        elif p["profile"]:
            cmd += ["--profile", p["profile"]]
        cmd.append("plan" if module.check_mode else "apply")

    started = time.time()
    try:
        rc, out, err = module.run_command(cmd, cwd=cwd, environ_update={"NO_COLOR": "1"})
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    elapsed = round(time.time() - started, 4)
    result.update(cmd=cmd, rc=rc, stderr=err, kvmprov_seconds=elapsed)

    try:
        report = json.loads(out) if out.strip() else None
    except ValueError:
        report = None
    if not isinstance(report, dict) or "actions" not in report:
        # Usage errors, an invalid profile (65) or a lock timeout: kvmprov says why on stderr.
        message = err.strip() or out.strip() or "kvmprov exited with status %d" % rc
        result["stdout"] = out
        module.fail_json(msg=message, **result)

    if rename:
        rename_source(report, *rename)
    actions = report.get("actions", [])
    summary = report.get("summary") or summarize(actions)
    result.update(report=report, actions=actions, summary=summary)
    if summary.get("changed", 0) > 0:
        result["changed"] = True
    if module._diff:
        result.setdefault("diff", []).extend(file_diffs(actions, root))

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
        module.fail_json(msg="kvmprov %s: %s" % (verb, "; ".join(lines)), **result)

    module.exit_json(**result)


if __name__ == "__main__":
    main()
