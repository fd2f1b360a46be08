# SPDX-License-Identifier: MIT
# Unit tests of kvmprov.kvm.check against a stand-in for "kvmprov check --json".

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.kvmprov.kvm.plugins.modules import check

CHECKS = [dict(id="cpu", title="CPU", state="PASS", detail="amd", hint=""),
          dict(id="dev-kvm", title="/dev/kvm", state="FAIL", detail="missing", hint="load kvm")]


def verdict(usable, reason):
    return json.dumps(dict(format=1, checks=CHECKS, verdict=dict(
        usable=usable, reason=reason, advice="one sentence", virt_type="kvm" if usable else "qemu",
        exit_status=0 if usable else 1)))


class Done(Exception):
    def __init__(self, how, result):
        super(Done, self).__init__(how)
        self.how, self.result = how, result


@pytest.fixture
def run(monkeypatch, tmp_path):
    binary = tmp_path / "kvmprov"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)

    def exit_json(self, **kw):
        raise Done("exit", kw)

    def fail_json(self, **kw):
        raise Done("fail", kw)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)

    def go(rc, out, err=""):
        calls = []
        args = dict(binary=str(binary), _ansible_tmpdir=str(tmp_path), _ansible_remote_tmp=str(tmp_path))
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))
        monkeypatch.setattr(basic.AnsibleModule, "run_command",
                            lambda self, cmd, **kw: calls.append(cmd) or (rc, out, err))
        with pytest.raises(Done) as e:
            check.main()
        return e.value.how, e.value.result, calls

    return go


def test_a_usable_host(run, tmp_path):
    how, result, calls = run(0, verdict(True, "ok"))
    assert how == "exit" and result["changed"] is False
    assert calls == [[str(tmp_path / "kvmprov"), "check", "--json"]]
    assert result["ansible_facts"]["kvmprov"] == dict(usable=True, reason="ok", virt_type="kvm",
                                                      advice="one sentence", checks=CHECKS)


def test_an_unusable_host_is_an_answer_not_a_failure(run):
    how, result = run(1, verdict(False, "no-hardware-support"))[:2]
    assert how == "exit" and result["rc"] == 1
    facts = result["ansible_facts"]["kvmprov"]
    assert facts["usable"] is False and facts["virt_type"] == "qemu"


def test_kvmprov_that_cannot_run_fails(run):
    how, result = run(64, "", "kvmprov: unknown option\n")[:2]
    assert how == "fail" and result["msg"] == "kvmprov: unknown option"
    how, result = run(2, verdict(True, "ok"))[:2]
    assert how == "fail" and result["msg"] == "kvmprov check exited with status 2"
