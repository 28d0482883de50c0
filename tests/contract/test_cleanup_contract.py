"""What cleanup relies on, checked the same way on the fake and on the GCP provider over the
emulator: the lists it scans, snapshot-then-delete, refusals, and what a deleted VM leaves."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest

from labctl.emulator import Emulator
from labctl.errors import InvalidInput, LabctlError, NotFound
from labctl.models import Address, Disk, Firewall
from labctl.providers.base import ComputeProvider
from labctl.providers.fake.compute import FakeCompute
from tests.contract.test_compute_contract import _fake_world, _gcp_world, spec
from tests.emulator._http import Api

ZONE = "us-central1-c"
LABELS = {"labctl-managed": "true", "labctl-course": "cc"}
DESCRIPTION = "Created by labctl for course cc: IAP SSH"


@dataclass
class Levers:
    """Making what labctl has no command for yet, the same way on both."""

    compute: ComputeProvider
    add_disk: Callable[[str, int, str | None], None]  # name, GB, attached to VM (or None)
    add_address: Callable[[str], None]
    add_firewall: Callable[[str, tuple[str, ...]], None]
    fail_snapshots_of: Callable[[str], None]


def _fake_levers() -> Levers:
    compute = _fake_world().compute
    assert isinstance(compute, FakeCompute)
    now = datetime.now(UTC)

    def add_disk(name: str, size: int, vm: str | None) -> None:
        compute.add_disk(Disk(name, ZONE, size, (vm,) if vm else (), LABELS, now, "pd-standard"))
        if vm:
            found = compute.get_vm(vm, ZONE)
            compute.add_vm(replace(found, disks=(*found.disks, name)))

    return Levers(
        compute,
        add_disk,
        lambda name: compute.add_address(
            Address(name, "us-central1", "198.51.100.8", "RESERVED", labels=LABELS, created=now)
        ),
        lambda name, tags: compute.add_firewall(Firewall(name, DESCRIPTION, tags, created=now)),
        compute.failing_snapshots.add,
    )


def _gcp_levers(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Levers:
    compute = _gcp_world(emu, monkeypatch).compute
    api = Api(emu)
    base = "projects/labctl-demo"
    emu.set_faults({"operation_seconds": 0})

    def add_disk(name: str, size: int, vm: str | None) -> None:
        body = {"name": name, "sizeGb": str(size), "labels": LABELS}
        assert api.post(f"{base}/zones/{ZONE}/disks", body)[0] == 200
        if vm:
            attach = {"source": f"{base}/zones/{ZONE}/disks/{name}", "deviceName": name}
            assert api.post(f"{base}/zones/{ZONE}/instances/{vm}/attachDisk", attach)[0] == 200

    def add_firewall(name: str, tags: tuple[str, ...]) -> None:
        rule = {
            "name": name,
            "description": DESCRIPTION,
            "targetTags": list(tags),
            "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
        }
        assert api.post(f"{base}/global/firewalls", rule)[0] == 200

    def fail(disk: str) -> None:
        faults = emu.faults
        emu.set_faults(
            {**faults, "snapshot_failures": [*faults.get("snapshot_failures", []), disk]}
        )

    return Levers(
        compute,
        add_disk,
        lambda name: api.post(
            f"{base}/regions/us-central1/addresses", {"name": name, "labels": LABELS}
        ),
        add_firewall,
        fail,
    )


@pytest.fixture(params=["fake", "gcp"])
def levers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Levers]:
    if request.param == "fake":
        yield _fake_levers()
        return
    emu: Emulator = request.getfixturevalue("emulator")
    yield _gcp_levers(emu, monkeypatch)


def test_the_lists_cleanup_scans(levers: Levers) -> None:
    c = levers.compute
    levers.add_disk("data", 200, None)
    levers.add_address("ip1")
    levers.add_firewall("labctl-cc-iap", ("labctl-cc",))
    [disk] = c.list_disks()
    assert (disk.name, disk.zone, disk.size_gb, disk.users, disk.type) == (
        "data",
        ZONE,
        200,
        (),
        "pd-standard",
    )
    assert disk.labels == LABELS and disk.created is not None
    [address] = c.list_addresses()
    assert (address.name, address.region, address.status, address.users) == (
        "ip1",
        "us-central1",
        "RESERVED",
        (),
    )
    assert address.labels == LABELS and address.created is not None and address.external
    rule = next(f for f in c.list_firewalls() if f.name == "labctl-cc-iap")
    assert (rule.description, rule.target_tags) == (DESCRIPTION, ("labctl-cc",))


def test_snapshot_then_delete(levers: Levers) -> None:
    c = levers.compute
    levers.add_disk("data", 200, None)
    c.wait(c.create_snapshot("data", ZONE, name="data-20261201", labels=LABELS))
    [snap] = c.list_snapshots()
    assert (snap.name, snap.source_disk, snap.status, snap.labels) == (
        "data-20261201",
        "data",
        "READY",
        LABELS,
    )
    assert 0 < snap.storage_bytes < 200 * 2**30 and snap.created is not None
    c.wait(c.delete_disk("data", ZONE))
    assert c.list_disks() == []
    c.wait(c.delete_snapshot("data-20261201"))
    assert c.list_snapshots() == []


def test_a_failed_snapshot_is_listed_failed_and_its_disk_stays(levers: Levers) -> None:
    c = levers.compute
    levers.add_disk("data", 10, None)
    levers.fail_snapshots_of("data")
    with pytest.raises(LabctlError):
        c.wait(c.create_snapshot("data", ZONE, name="data-1", labels=LABELS))
    assert [(s.name, s.status) for s in c.list_snapshots()] == [("data-1", "FAILED")]
    assert [d.name for d in c.list_disks()] == ["data"]


def test_a_disk_in_use_is_refused_and_a_deleted_vm_leaves_its_data_disk_detached(
    levers: Levers,
) -> None:
    c = levers.compute
    create_vm(c)
    levers.add_disk("data", 10, "vm1")
    with pytest.raises(InvalidInput):
        c.delete_disk("data", ZONE)
    assert c.get_vm("vm1", ZONE).disks == ("vm1", "data")
    c.wait(c.delete_vm("vm1", ZONE))
    [data] = c.list_disks()
    assert data.users == () and data.last_detached is not None


def test_what_is_already_gone_is_not_found(levers: Levers) -> None:
    c = levers.compute
    for delete in (
        lambda: c.delete_disk("nope", ZONE),
        lambda: c.delete_snapshot("nope"),
        lambda: c.release_address("nope", "us-central1"),
        lambda: c.delete_firewall("nope"),
    ):
        with pytest.raises(NotFound):
            delete()


def test_release_address_and_delete_firewall(levers: Levers) -> None:
    c = levers.compute
    levers.add_address("ip1")
    levers.add_firewall("labctl-cc-iap", ("labctl-cc",))
    c.wait(c.release_address("ip1", "us-central1"))
    c.wait(c.delete_firewall("labctl-cc-iap"))
    assert c.list_addresses() == []
    assert "labctl-cc-iap" not in {f.name for f in c.list_firewalls()}


def create_vm(c: ComputeProvider) -> None:
    c.wait(c.insert_vm(spec(gpu=None), request_id=str(uuid.uuid4())))
