"""`labctl vm ssh` via the CLI: the fake provider and a real sshd."""

from __future__ import annotations

import os
import shutil

import pytest
from typer.testing import CliRunner

from labctl.cli import _ssh, app
from labctl.cli._app import AppContext
from labctl.config import config_dir
from labctl.providers.fake.compute import FakeCompute
from labctl.ssh.hostkeys import KnownHosts
from tests.cli import _ssh_vm
from tests.cli._ssh_vm import USER, VM, ZONE, LabVm

servers, lab_vm = _ssh_vm.servers, _ssh_vm.lab_vm  # the fixtures this module uses


def test_runs_a_command_and_exits_with_its_code(
    runner: CliRunner, lab_vm: LabVm, app_context: AppContext
) -> None:
    args = ["vm", "ssh", VM, *lab_vm.ssh_args, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3"]
    result = runner.invoke(app, args, obj=app_context)
    assert result.exit_code == 3
    assert result.stdout == "hi\n" and result.stderr == "oops\n"
    # One word is a shell line, as with OpenSSH.
    piped = runner.invoke(
        app, ["vm", "ssh", VM, *lab_vm.ssh_args, "--", "echo a b | wc -w"], obj=app_context
    )
    assert piped.exit_code == 0 and piped.stdout.strip() == "2"


def test_without_command_execs_openssh(
    runner: CliRunner,
    lab_vm: LabVm,
    app_context: AppContext,
    fake_compute: FakeCompute,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(os, "execvp", lambda path, argv: calls.append((path, argv)))
    result = runner.invoke(app, ["vm", "ssh", VM, *lab_vm.ssh_args], obj=app_context)
    assert result.exit_code == 0, result.stderr
    [(path, argv)] = calls
    vm_id = fake_compute.get_vm(VM, ZONE).id
    assert path == shutil.which("ssh") and argv[-1] == f"{USER}@127.0.0.1"
    assert "StrictHostKeyChecking=yes" in argv and f"HostKeyAlias=compute.{vm_id}" in argv
    assert argv[argv.index("-p") + 1] == str(lab_vm.sshd.port)
    # The host key was verified and recorded first, so OpenSSH's strict check passes.
    assert KnownHosts.in_config_dir(config_dir()).lookup(f"compute.{vm_id}")

    monkeypatch.setattr(shutil, "which", lambda name: None)
    before = len(fake_compute.calls)
    missing = runner.invoke(app, ["vm", "ssh", VM, *lab_vm.ssh_args], obj=app_context)
    assert missing.exit_code == 1 and "OpenSSH client (ssh) is not installed" in missing.stderr
    assert len(fake_compute.calls) == before  # checked before any API call


def test_unknown_host_key_prompt_on_a_terminal(
    runner: CliRunner,
    lab_vm: LabVm,
    app_context: AppContext,
    fake_compute: FakeCompute,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_compute.set_guest_attributes(VM, ZONE, {})
    monkeypatch.setattr(_ssh, "stdin_is_tty", lambda: True)
    args = ["vm", "ssh", VM, *lab_vm.ssh_args, "--", "true"]
    declined = runner.invoke(app, args, input="n\n", obj=app_context)
    assert declined.exit_code == 1 and "can't be established" in declined.stderr
    accepted = runner.invoke(app, args, input="y\n", obj=app_context)
    assert accepted.exit_code == 0, accepted.stderr
    assert "Trust this key and continue connecting?" in accepted.stderr
    # Recorded: from now on the key is known and nobody is asked.
    again = runner.invoke(app, args, obj=app_context)
    assert again.exit_code == 0 and "Trust this key" not in again.stderr


def test_the_user_vm_create_set_up_is_the_default(
    runner: CliRunner, lab_vm: LabVm, app_context: AppContext, fake_compute: FakeCompute
) -> None:
    # vm create records the VM user in `labctl-user`; Jupyter runs as that user on the VM.
    fake_compute.update_metadata(VM, ZONE, lambda items: {**items, "labctl-user": USER})
    port = ["--ssh-port", str(lab_vm.sshd.port)]
    result = runner.invoke(app, ["vm", "ssh", VM, *port, "--", "id", "-un"], obj=app_context)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == USER
