"""`labctl ssh-key add/show` on the fake provider."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner, Result

from labctl.cli import app
from labctl.cli._app import AppContext
from labctl.config import config_dir
from labctl.models import VmSpec
from labctl.providers.fake.compute import FakeCompute
from labctl.ssh.keys import default_key_path, ensure_key_pair, parse_ssh_keys_entry
from tests.cli import _ssh_vm
from tests.cli._ssh_vm import USER, LabVm

VM, ZONE = "lab-vm", "us-central1-c"
Run = Callable[..., Result]
BOB = (
    "bob:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBobBobBobBobBobBobBobBobBobBobBobBobBobBo bob@laptop"
)


servers, lab_vm = _ssh_vm.servers, _ssh_vm.lab_vm  # the fixtures the --wait test uses


@pytest.fixture
def vm(fake_compute: FakeCompute) -> str:
    metadata = {"ssh-keys": BOB, "startup-script": "#!/bin/sh\n"}
    spec = VmSpec(VM, ZONE, "n1-standard-8", "img-project", "img-family", 50, metadata=metadata)
    fake_compute.insert_vm(spec, request_id="req-1")
    return VM


@pytest.fixture
def labctl(runner: CliRunner, app_context: AppContext) -> Run:
    """Run labctl on the fake provider."""

    def run(*args: str) -> Result:
        return runner.invoke(app, list(args), obj=app_context)

    return run


def metadata(fake: FakeCompute) -> dict[str, str]:
    return dict(fake.get_vm(VM, ZONE).metadata)


def test_add_keeps_other_keys_and_blocks_project_keys(
    labctl: Run, fake_compute: FakeCompute, vm: str
) -> None:
    result = labctl("ssh-key", "add", vm, "--user", "alice", "--days", "7")
    assert result.exit_code == 0, result.stderr
    meta = metadata(fake_compute)
    bob, alice = meta["ssh-keys"].splitlines()
    assert bob == BOB  # another user's key is kept as it was
    entry = parse_ssh_keys_entry(alice)
    assert entry is not None and entry.user == "alice" and entry.expire_on is not None
    ours = ensure_key_pair(config_dir())  # created by the command, in labctl's config dir
    assert ours.private_path == default_key_path(config_dir())
    assert f"{entry.key_type} {entry.key_blob}" == ours.public_openssh
    assert abs(entry.expire_on - (datetime.now(UTC) + timedelta(days=7))) < timedelta(minutes=5)
    assert meta["block-project-ssh-keys"] == "TRUE"
    assert meta["startup-script"] == "#!/bin/sh\n"  # other metadata untouched
    assert "instances.setMetadata" in fake_compute.calls
    assert "next: labctl vm ssh lab-vm" in result.stderr
    assert result.stdout.splitlines()[0].split() == ["FIELD", "VALUE"]  # what was added

    # Adding again replaces alice's key instead of piling up copies.
    again = labctl("ssh-key", "add", vm, "--user", "alice")
    assert again.exit_code == 0, again.stderr
    lines = metadata(fake_compute)["ssh-keys"].splitlines()
    assert lines[0] == BOB and len(lines) == 2
    entry = parse_ssh_keys_entry(lines[1])
    assert entry is not None and entry.expire_on is not None
    # Default lifetime: course.ssh_key_days (30 in the bundled defaults).
    assert abs(entry.expire_on - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)


def test_add_as_json(labctl: Run, fake_compute: FakeCompute, vm: str) -> None:
    result = labctl("ssh-key", "add", vm, "--user", "alice", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["vm"] == VM and data["zone"] == ZONE and data["user"] == "alice"
    assert data["fingerprint"].startswith("SHA256:")


def test_add_rejects_a_system_account_before_any_api_call(
    labctl: Run, fake_compute: FakeCompute, vm: str
) -> None:
    before = len(fake_compute.calls)
    result = labctl("ssh-key", "add", vm, "--user", "root")
    assert result.exit_code == 2 and "system account" in result.stderr
    assert len(fake_compute.calls) == before


def test_add_unknown_vm(labctl: Run, fake_compute: FakeCompute) -> None:
    result = labctl("ssh-key", "add", "nope", "--user", "alice")
    assert result.exit_code == 1 and "not found" in result.stderr


def test_add_wait_returns_once_the_vm_accepts_the_key(
    labctl: Run, lab_vm: LabVm, fake_compute: FakeCompute
) -> None:
    # The test sshd already trusts labctl's key: the wait ends with the first login.
    result = labctl("ssh-key", "add", _ssh_vm.VM, *lab_vm.ssh_args, "--wait")
    assert result.exit_code == 0, result.stderr
    assert f"{_ssh_vm.VM} accepts the key" in result.stderr
    entry = parse_ssh_keys_entry(fake_compute.get_vm(_ssh_vm.VM, _ssh_vm.ZONE).metadata["ssh-keys"])
    assert entry is not None and entry.user == USER

    fake_compute.stop_vm(_ssh_vm.VM, _ssh_vm.ZONE)
    stopped = labctl("ssh-key", "add", _ssh_vm.VM, *lab_vm.ssh_args, "--wait")
    assert stopped.exit_code == 1
    assert f"start it first: labctl vm start {_ssh_vm.VM}" in stopped.stderr


def test_add_with_a_public_key_says_to_give_the_private_one(
    labctl: Run, fake_compute: FakeCompute, vm: str
) -> None:
    private = ensure_key_pair(config_dir()).private_path
    public = private.with_name(private.name + ".pub")  # written 0644, as public keys are
    before = len(fake_compute.calls)
    result = labctl("ssh-key", "add", vm, "--user", "alice", "--identity", str(public))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {public} is a public key; logging in needs the private key",
        f"  give {private} instead (the private half of this key)",
    ]
    assert len(fake_compute.calls) == before  # refused before any API call


def test_show_prints_path_and_fingerprint(labctl: Run) -> None:
    result = labctl("ssh-key", "show", "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    pair = ensure_key_pair(config_dir())
    assert data["private_key"] == str(pair.private_path)
    assert data["public_key"] == str(pair.private_path) + ".pub"
    assert data["fingerprint"].startswith("SHA256:")
    with open(data["public_key"]) as fh:
        assert fh.read().startswith(pair.public_openssh)

    table = labctl("ssh-key", "show")
    assert data["fingerprint"] in table.stdout and "public_key" in table.stdout


def test_add_defaults_to_the_user_vm_create_set_up(
    labctl: Run, fake_compute: FakeCompute, vm: str
) -> None:
    fake_compute.update_metadata(VM, ZONE, lambda items: {**items, "labctl-user": "carol"})
    result = labctl("ssh-key", "add", vm)
    assert result.exit_code == 0, result.stderr
    users = [parse_ssh_keys_entry(line) for line in metadata(fake_compute)["ssh-keys"].splitlines()]
    assert [u.user for u in users if u] == ["bob", "carol"]
