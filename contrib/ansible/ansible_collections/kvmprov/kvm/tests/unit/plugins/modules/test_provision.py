# SPDX-License-Identifier: MIT
# Unit tests of kvmprov.kvm.provision: the module runs against a stand-in for kvmprov that
# records each command line and answers with a canned report.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.kvmprov.kvm.plugins.modules import provision

SECRETS = ("S3cretDB", "R4bbitPass", "K3ystonePass")


class Exited(Exception):
    def __init__(self, result):
        super(Exited, self).__init__(result)
        self.result = result


class Failed(Exception):
    def __init__(self, result):
        super(Failed, self).__init__(result)
        self.result = result


def action(id_, kind, target, status, detail, **extra):
    a = dict(id=id_, kind=kind, target=target, status=status, detail=detail)
    a.update(extra)
    return a


def report(verb, actions, dry_run=False):
    summary = dict((s, sum(a["status"] == s for a in actions))
                   for s in ("changed", "unchanged", "failed", "skipped", "pending"))
    return json.dumps(dict(format=1, verb=verb, dry_run=dry_run,
                           profile=dict(name="t", source="p.yaml"), facts={},
                           actions=actions, summary=summary))


MODPROBE = action("file:/etc/modprobe.d/kvmprov.conf", "write", "/etc/modprobe.d/kvmprov.conf",
                  "changed", "create", before=None, after="options kvm_amd nested=1\n",
                  diff="+options kvm_amd nested=1\n")
LOAD = action("module:kvm", "load", "kvm", "changed", "loaded")


class Kvmprov(object):
    """Stands in for the kvmprov program: records what it was asked, answers with a report."""

    def __init__(self, out="", rc=0, err=""):
        self.out, self.rc, self.err = out, rc, err
        self.calls = []
        self.profile = None  # the profile text kvmprov would have read

    def __call__(self, module, args, **kwargs):
        self.calls.append(dict(args=list(args), stdin=kwargs.get("data")))
        if "--profile" in args:
            path = args[args.index("--profile") + 1]
            if path == "-":
                self.profile = kwargs.get("data")
            elif os.path.exists(path):
                with open(path) as f:
                    self.profile = f.read()
        return self.rc, self.out, self.err


@pytest.fixture
def run(monkeypatch, tmp_path):
    """run(ARGS, KVMPROV, check_mode=, diff=) -> (outcome, result): the module's exit_json or
    fail_json arguments."""
    binary = tmp_path / "kvmprov"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)

    def exit_json(self, **kw):
        raise Exited(kw)

    def fail_json(self, **kw):
        raise Failed(kw)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    warnings = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, w: warnings.append(w))

    def go(args, kvmprov, check_mode=False, diff=False):
        args = dict(args, binary=str(binary), _ansible_check_mode=check_mode, _ansible_diff=diff,
                    _ansible_tmpdir=str(tmp_path), _ansible_remote_tmp=str(tmp_path),
                    _ansible_keep_remote_files=False)
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args})))

        def run_command(self, args, **kw):
            return kvmprov(self, args, **kw)

        monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
        del warnings[:]
        try:
            provision.main()
        except Exited as e:
            return "exit", dict(e.result, warnings=list(warnings))
        except Failed as e:
            return "fail", dict(e.result, warnings=list(warnings))
        raise AssertionError("the module neither exited nor failed")

    return go


def test_apply_runs_kvmprov_with_the_options(run, tmp_path):
    k = Kvmprov(report("apply", [LOAD, MODPROBE]))
    outcome, result = run(dict(root=str(tmp_path), facts=dict(cpu_vendor="amd", svm=True),
                               allow_reload=True, lock_timeout=2.5,
                               profile="/etc/kvmprov/profile.yaml"), k)
    assert outcome == "exit"
    assert k.calls[0]["args"][1:] == [
        "--json", "--root", str(tmp_path), "--fact", "cpu_vendor=amd", "--fact", "svm=true",
        "--lock-timeout", "2.5", "--allow-reload", "--profile", "/etc/kvmprov/profile.yaml",
        "apply"]
    assert result["changed"] is True
    assert result["summary"]["changed"] == 2
    assert result["rc"] == 0


def test_the_running_system_is_no_root_at_all(run):
    # kvmprov refuses --root / (a root that is the running system's is a usage error).
    k = Kvmprov(report("apply", [LOAD]))
    outcome = run(dict(profile="/etc/kvmprov/profile.yaml"), k)[0]
    assert outcome == "exit"
    assert "--root" not in k.calls[0]["args"]


def test_file_contents_only_in_diff_mode(run, tmp_path):
    k = Kvmprov(report("apply", [LOAD, MODPROBE]))
    result = run(dict(root=str(tmp_path)), k)[1]
    assert "diff" not in result
    for a in result["actions"] + result["report"]["actions"]:
        assert not set(a) & {"before", "after", "diff"}, a
    assert "nested=1" not in json.dumps(result)

    result = run(dict(root=str(tmp_path)), k, diff=True)[1]
    assert result["diff"] == [{
        "before_header": str(tmp_path / "etc/modprobe.d/kvmprov.conf"),
        "after_header": str(tmp_path / "etc/modprobe.d/kvmprov.conf"),
        "before": "", "after": "options kvm_amd nested=1\n"}]
    for a in result["actions"]:
        assert not set(a) & {"before", "after", "diff"}, a


def test_nothing_of_nova_conf_but_what_kvmprov_reports(run, tmp_path):
    """The module reads no file of the target for its diff: only kvmprov's report, which for
    nova.conf carries the managed keys, reaches the result."""
    nova = tmp_path / "etc/nova/nova.conf"
    nova.parent.mkdir(parents=True)
    nova.write_text("[DEFAULT]\ntransport_url = rabbit://openstack:R4bbitPass@mq\n"
                    "[database]\nconnection = mysql+pymysql://nova:S3cretDB@db/nova\n"
                    "[keystone_authtoken]\npassword = K3ystonePass\n"
                    "[libvirt]\nvirt_type = qemu\n")
    managed = action("file:/etc/nova/nova.conf", "write", "/etc/nova/nova.conf", "changed",
                     "update", before="[libvirt]\nvirt_type = qemu\n",
                     after="[libvirt]\nvirt_type = kvm\n", diff="-virt_type = qemu\n+virt_type = kvm\n",
                     nova=dict(virt_type="kvm", cpu_mode="host-model"))
    k = Kvmprov(report("apply", [managed]))
    for check_mode in (False, True):
        result = run(dict(root=str(tmp_path), profile_content="version: 1\nname: t\n"), k,
                     check_mode=check_mode, diff=True)[1]
        text = json.dumps(result)
        for secret in SECRETS:
            assert secret not in text
        assert "virt_type = kvm" in text  # the managed key, in the diff


def test_check_mode_plans(run, tmp_path):
    k = Kvmprov(report("plan", [MODPROBE], dry_run=True))
    outcome, result = run(dict(root=str(tmp_path)), k, check_mode=True)
    assert outcome == "exit" and result["changed"] is True
    assert k.calls[0]["args"][-1] == "plan"


def test_state_absent_resets(run, tmp_path):
    k = Kvmprov(report("reset", [], dry_run=True))
    run(dict(root=str(tmp_path), state="absent"), k, check_mode=True)
    assert k.calls[0]["args"][-2:] == ["reset", "--dry-run"]
    run(dict(root=str(tmp_path), state="absent"), k)
    assert k.calls[1]["args"][-1] == "reset"


def test_a_failed_action_fails_the_task(run, tmp_path):
    failed = action("module:kvm_intel", "load", "kvm_intel", "failed", "no hardware support")
    k = Kvmprov(report("apply", [LOAD, failed]), rc=1, err="kvmprov: 1 failed")
    outcome, result = run(dict(root=str(tmp_path)), k)
    assert outcome == "fail"
    assert result["msg"] == "kvmprov apply: load kvm_intel: no hardware support; kvmprov: 1 failed"
    assert result["changed"] is True


def test_an_invalid_profile_fails_with_kvmprovs_message(run, tmp_path):
    err = 'p.yaml:3:1: unknown key "modles" (did you mean "modules"?)'
    outcome, result = run(dict(root=str(tmp_path)), Kvmprov("", rc=65, err=err + "\n"))
    assert outcome == "fail" and result["msg"] == err and result["rc"] == 65


def test_pending_actions_are_warnings(run, tmp_path):
    pending = action("module:kvm_amd", "reload", "kvm_amd", "pending", "needs --allow-reload")
    outcome, result = run(dict(root=str(tmp_path)), Kvmprov(report("apply", [pending])))
    assert outcome == "exit" and result["changed"] is False
    assert result["warnings"] == ["kvmprov: reload kvm_amd pending: needs --allow-reload"]


def test_inline_profile_on_standard_input(run, tmp_path):
    # One name for the profile on every run: the headers kvmprov writes stay the same.
    k = Kvmprov(report("apply", [LOAD]))
    run(dict(root=str(tmp_path), profile_content="version: 1\nname: inline"), k)
    call = k.calls[0]
    assert call["args"][-3:] == ["--profile", "-", "apply"]
    assert k.profile == "version: 1\nname: inline\n"


def test_a_mapping_keeps_its_modes_strings(run, tmp_path):
    k = Kvmprov(report("apply", [LOAD]))
    content = dict(version=1, name="data", devices=[dict(node="kvm", group="kvm", mode="0660")])
    assert run(dict(root=str(tmp_path), profile_content=content), k)[0] == "exit"
    assert json.loads(k.profile)["devices"][0]["mode"] == "0660"


def test_a_mapping_with_a_numeric_mode_is_refused(run, tmp_path):
    k = Kvmprov(report("apply", [LOAD]))
    content = dict(version=1, name="data", devices=[dict(node="kvm", mode=432)])
    outcome, result = run(dict(root=str(tmp_path), profile_content=content), k)
    assert outcome == "fail" and not k.calls
    assert 'mode 432 is a number' in result["msg"] and 'quote it, e.g. mode: "0660"' in result["msg"]


def test_profile_content_written_to_profile_when_it_differs(run, tmp_path):
    path = tmp_path / "etc/kvmprov/profile.yaml"
    k = Kvmprov(report("apply", []))
    k_validate = Kvmprov("", rc=0)

    def kvmprov(module, args, **kwargs):
        return (k_validate if "validate" in args else k)(module, args, **kwargs)

    args = dict(root=str(tmp_path), profile=str(path), profile_content="version: 1\nname: w\n")
    result = run(args, kvmprov)[1]
    assert result["profile_written"] is True and result["changed"] is True
    assert path.read_text() == "version: 1\nname: w\n"
    result = run(args, kvmprov)[1]
    assert result["profile_written"] is False and result["changed"] is False
