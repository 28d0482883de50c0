"""Aging: every timestamp of one resource moves into the past, in-process or over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from labctl.emulator import Emulator
from labctl.emulator.errors import ApiError
from tests.emulator._http import Api, vm_body

ZONE = "us-central1-c"
INSTANCES = f"projects/labctl-demo/zones/{ZONE}/instances"
DISKS = f"projects/labctl-demo/zones/{ZONE}/disks"


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_age_shifts_every_timestamp_of_one_disk(api: Api, emulator: Emulator) -> None:
    api.post(INSTANCES, vm_body())
    api.post(DISKS, {"name": "data", "sizeGb": "10"})
    api.post(f"{INSTANCES}/vm-1/attachDisk", {"source": f"zones/{ZONE}/disks/data"})
    api.post(f"{INSTANCES}/vm-1/detachDisk", deviceName="persistent-disk-1")
    before = api.get(f"{DISKS}/data")[1]
    other_before = api.get(f"{DISKS}/vm-1")[1]

    aged = emulator.age("disk", "data", zone=ZONE, days=8, hours=1)
    after = api.get(f"{DISKS}/data")[1]
    assert aged["selfLink"] == after["selfLink"]
    for key in ("creationTimestamp", "lastAttachTimestamp", "lastDetachTimestamp"):
        assert ts(before[key]) - ts(after[key]) == timedelta(days=8, hours=1), key
        assert ts(after[key]).utcoffset() == ts(before[key]).utcoffset()
    assert api.get(f"{DISKS}/vm-1")[1] == other_before  # only that disk


def test_age_over_http(api: Api) -> None:
    api.post("projects/labctl-demo/regions/us-central1/addresses", {"name": "ip-1"})
    before = api.get("projects/labctl-demo/regions/us-central1/addresses/ip-1")[1]
    status, aged = api.admin(
        "POST",
        "age",
        {"kind": "address", "name": "ip-1", "region": "us-central1", "days": 30},
    )
    assert status == 200, aged
    assert ts(before["creationTimestamp"]) - ts(aged["creationTimestamp"]) == timedelta(days=30)
    assert (
        api.admin("POST", "age", {"kind": "address", "name": "nope", "region": "us-central1"})[0]
        == 404
    )
    assert api.admin("POST", "age", {"kind": "volcano", "name": "x"})[0] == 400
    assert api.admin("POST", "age", {"kind": "disk", "name": "x"})[0] == 400  # no zone


def test_age_firewall_and_missing_resource(api: Api, emulator: Emulator) -> None:
    before = api.get("projects/labctl-demo/global/firewalls/default-allow-ssh")[1]
    emulator.age("firewall", "default-allow-ssh", hours=5)
    after = api.get("projects/labctl-demo/global/firewalls/default-allow-ssh")[1]
    assert ts(before["creationTimestamp"]) - ts(after["creationTimestamp"]) == timedelta(hours=5)
    with pytest.raises(ApiError):
        emulator.age("instance", "ghost", zone=ZONE, days=1)
