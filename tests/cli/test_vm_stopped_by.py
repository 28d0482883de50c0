"""`vm show` says why a spot VM stopped: "preempted" from Compute's compute.instances.preempted
operation, "idle" from what the on-VM agent records (guest attributes labctl/stopped-by and
labctl/stopped-at), nothing for a stop by a person. On the emulator, through the GCP provider."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner, Result

from labctl.cli import app
from labctl.cli._app import AppContext
from labctl.emulator import Emulator
from labctl.providers import registry

PROJECT, ZONE = "labctl-demo", "us-central1-c"


@pytest.fixture
def on_emulator(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    yield emulator


def labctl(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), obj=AppContext(providers=registry.gcp()))


def _spot_vm(emu: Emulator, name: str) -> None:
    created = labctl("vm", "create", name, "--no-gpu", "--zone", ZONE)
    assert created.exit_code == 0, created.output
    emu.age("instance", name, zone=ZONE, minutes=30)  # started half an hour ago


def _show(name: str) -> dict[str, object]:
    shown = labctl("vm", "show", name, "--format", "json")
    assert shown.exit_code == 0, shown.output
    record: dict[str, object] = json.loads(shown.stdout)
    return record


def test_a_preempted_spot_vm_says_so(on_emulator: Emulator) -> None:
    _spot_vm(on_emulator, "ana")
    on_emulator.preempt(PROJECT, ZONE, "ana")
    record = _show("ana")
    assert record["state"] == "stopped"
    assert record["stopped_by"] == "preempted"
    table = labctl("vm", "show", "ana").stdout
    assert any(line.split() == ["stopped_by", "preempted"] for line in table.splitlines())


def test_an_idle_shutdown_says_so(on_emulator: Emulator) -> None:
    _spot_vm(on_emulator, "bo")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    on_emulator.set_guest_attribute(PROJECT, ZONE, "bo", "labctl/stopped-by", "idle")
    on_emulator.set_guest_attribute(PROJECT, ZONE, "bo", "labctl/stopped-at", now)
    assert labctl("vm", "stop", "bo").exit_code == 0
    assert _show("bo")["stopped_by"] == "idle"


def test_a_stop_by_a_person_or_an_old_reason_says_nothing(on_emulator: Emulator) -> None:
    _spot_vm(on_emulator, "cy")
    assert labctl("vm", "stop", "cy").exit_code == 0
    assert _show("cy")["stopped_by"] is None
    assert labctl("vm", "start", "cy").exit_code == 0
    on_emulator.age("instance", "cy", zone=ZONE, minutes=5)
    on_emulator.preempt(PROJECT, ZONE, "cy")
    assert labctl("vm", "start", "cy").exit_code == 0
    assert labctl("vm", "stop", "cy").exit_code == 0
    assert _show("cy")["stopped_by"] is None  # preempted before its last start: not why


def test_a_running_vm_has_no_stop_reason(on_emulator: Emulator) -> None:
    _spot_vm(on_emulator, "di")
    assert _show("di")["stopped_by"] is None
