#!/usr/bin/python
# SPDX-License-Identifier: MIT
# Ansible facts module: kvmprov's verdict on whether this host can run KVM guests.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: check
short_description: Gather kvmprov's KVM usability verdict as facts
description:
  - Runs C(kvmprov check --json) and sets C(ansible_facts.kvmprov) to its verdict, with the keys
    C(usable), C(reason), C(virt_type), C(advice) and the individual C(checks).
  - A host where KVM is not usable is not a failure (kvmprov exits 1 there); the task fails only
    when kvmprov cannot run or prints no verdict.
  - Reads only; runs the same in check mode.
version_added: 0.1.0
author:
  - kvmprov developers (@kvmprov)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
options:
  binary:
    description:
      - The kvmprov program, a name looked up in C(PATH) (and the sbin directories) or a path.
    type: str
    default: kvmprov
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
seealso:
  - name: kvmprov(8)
    description: The command this module runs, and what each check means.
    link: https://github.com/kvmprov/kvmprov/blob/main/man/kvmprov.8
"""

EXAMPLES = r"""
- name: Ask kvmprov whether KVM works here
  kvmprov.kvm.check:

- name: Configure nova with hardware acceleration only where it works
  ansible.builtin.set_fact:
    nova_virt_type: "{{ ansible_facts.kvmprov.virt_type }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts set by the module.
  returned: always
  type: dict
  contains:
    kvmprov:
      description: The verdict of C(kvmprov check).
      type: dict
      contains:
        usable:
          description: Whether KVM guests can be accelerated on this host.
          type: bool
        reason:
          description: Reason code, for example C(ok), C(ok-paravirtual), C(no-hardware-support).
          type: str
        virt_type:
          description: The libvirt/nova virt type to use, C(kvm) or C(qemu).
          type: str
        advice:
          description: One sentence an operator can act on.
          type: str
        checks:
          description: Each check with id, title, state (PASS, WARN, FAIL, SKIP), detail and hint.
          type: list
          elements: dict
rc:
  description: kvmprov's exit status (0 usable, 1 not usable).
  returned: always
  type: int
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec=dict(binary=dict(type="str", default="kvmprov")),
        supports_check_mode=True,
    )
    name = module.params["binary"]
    if "/" in name:
        if not (os.path.isfile(name) and os.access(name, os.X_OK)):
            module.fail_json(msg='kvmprov binary "%s" is not an executable file' % name)
        binary = name
    else:
        binary = module.get_bin_path(name, required=True,
                                     opt_dirs=["/usr/sbin", "/sbin", "/usr/local/sbin"])

    cmd = [binary, "check", "--json"]
    rc, out, err = module.run_command(cmd, environ_update={"NO_COLOR": "1"})
    try:
        report = json.loads(out)
        verdict = report["verdict"]
    except (ValueError, KeyError, TypeError):
        module.fail_json(msg=err.strip() or "kvmprov check printed no verdict (exit %d)" % rc,
                         cmd=cmd, rc=rc, stdout=out, stderr=err)
    # kvm-ok's convention: 1 means "not usable", which is an answer, not an error.
    if rc not in (0, 1):
        module.fail_json(msg=err.strip() or "kvmprov check exited with status %d" % rc,
                         cmd=cmd, rc=rc, stdout=out, stderr=err)

    facts = dict(
        usable=bool(verdict.get("usable")),
        reason=verdict.get("reason", ""),
        virt_type=verdict.get("virt_type", "qemu"),
        advice=verdict.get("advice", ""),
        checks=report.get("checks", []),
    )
    module.exit_json(changed=False, rc=rc, cmd=cmd, ansible_facts=dict(kvmprov=facts))


if __name__ == "__main__":
    main()
