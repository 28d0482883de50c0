"""`labctl ssh-key add/show` on the fake provider."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner

from labctl.cli import app
from labctl.config import config_dir
from labctl.models import VmSpec
from labctl.providers.fake.compute import FakeCompute
from labctl.ssh import commands
from labctl.ssh.keys import default_key_path, ensure_key_pair, parse_ssh_keys_entry

VM, ZONE = "lab-vm", "us-central1-c"
BOB = (
    "bob:ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBobBobBobBobBobBobBobBobBobBobBobBobBobBo bob@laptop"
)


@pytest.fixture
def vm(fake_compute: FakeCompute) -> str:
    metadata = {"ssh-keys": BOB, "startup-script": "#!/bin/sh\n"}
    spec = VmSpec(VM, ZONE, "n1-standard-8", "img-project", "img-family", 50, metadata=metadata)
    fake_compute.create_vm(spec, request_id="req-1")
    return VM


def metadata(fake: FakeCompute) -> dict[str, str]:
    return dict(fake.get_vm(VM, ZONE).metadata)


def test_add_keeps_other_keys_and_blocks_project_keys(
    runner: CliRunner, fake_compute: FakeCompute, vm: str
) -> None:
    result = runner.invoke(app, ["ssh-key", "add", vm, "--user", "alice", "--days", "7"])
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
    assert "next: labctl vm ssh lab-vm" in result.stderr and result.stdout == ""

    # Adding again replaces alice's key instead of piling up copies.
    again = runner.invoke(app, ["ssh-key", "add", vm, "--user", "alice"])
    assert again.exit_code == 0, again.stderr
    lines = metadata(fake_compute)["ssh-keys"].splitlines()
    assert lines[0] == BOB and len(lines) == 2
    entry = parse_ssh_keys_entry(lines[1])
    assert entry is not None and entry.expire_on is not None
    # Default lifetime: course.ssh_key_days (30 in the bundled defaults).
    assert abs(entry.expire_on - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)


def test_add_as_json(runner: CliRunner, fake_compute: FakeCompute, vm: str) -> None:
    result = runner.invoke(app, ["ssh-key", "add", vm, "--user", "alice", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["vm"] == VM and data["zone"] == ZONE and data["user"] == "alice"
    assert data["fingerprint"].startswith("SHA256:")


def test_add_rejects_a_system_account_before_any_api_call(
    runner: CliRunner, fake_compute: FakeCompute, vm: str
) -> None:
    before = len(fake_compute.calls)
    result = runner.invoke(app, ["ssh-key", "add", vm, "--user", "root"])
    assert result.exit_code == 2 and "system account" in result.stderr
    assert len(fake_compute.calls) == before


def test_add_unknown_vm(runner: CliRunner, fake_compute: FakeCompute) -> None:
    result = runner.invoke(app, ["ssh-key", "add", "nope", "--user", "alice"])
    assert result.exit_code == 1 and "not found" in result.stderr


def test_add_wait_polls_the_vm_with_the_new_key(
    runner: CliRunner, fake_compute: FakeCompute, vm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(commands, "wait_for_ssh_key", lambda access, **kw: seen.append(access))
    fake_compute.set_external_ip(VM, ZONE, "198.51.100.7")
    args = ["ssh-key", "add", vm, "--user", "alice", "--wait", "--ssh-port", "2222"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    [access] = seen
    assert (access.user, access.host, access.port) == ("alice", "198.51.100.7", 2222)
    assert access.alias == f"compute.{fake_compute.get_vm(VM, ZONE).id}"
    assert f"{VM} accepts the key" in result.stderr

    fake_compute.stop_vm(VM, ZONE)
    stopped = runner.invoke(app, args)
    assert stopped.exit_code == 1 and f"labctl vm start {VM}" in stopped.stderr


def test_show_prints_path_and_fingerprint(runner: CliRunner) -> None:
    result = runner.invoke(app, ["ssh-key", "show", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    pair = ensure_key_pair(config_dir())
    assert data["private_key"] == str(pair.private_path)
    assert data["public_key"] == str(pair.private_path) + ".pub"
    assert data["fingerprint"].startswith("SHA256:")
    with open(data["public_key"]) as fh:
        assert fh.read().startswith(pair.public_openssh)

    table = runner.invoke(app, ["ssh-key", "show"])
    assert data["fingerprint"] in table.stdout and "public_key" in table.stdout


def test_add_defaults_to_the_user_vm_create_set_up(
    runner: CliRunner, fake_compute: FakeCompute, vm: str
) -> None:
    fake_compute.update_metadata(VM, ZONE, lambda items: {**items, "labctl-user": "carol"})
    result = runner.invoke(app, ["ssh-key", "add", vm])
    assert result.exit_code == 0, result.stderr
    users = [parse_ssh_keys_entry(line) for line in metadata(fake_compute)["ssh-keys"].splitlines()]
    assert [u.user for u in users if u] == ["bob", "carol"]
