"""Timestamps Compute keeps (start/stop, attach/detach), disk users, and maxRunDuration."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from labctl.emulator import Emulator
from labctl.emulator.validate import discovery
from tests.emulator._http import Api, vm_body

ZONE = "us-central1-c"
INSTANCES = f"projects/labctl-demo/zones/{ZONE}/instances"
DISKS = f"projects/labctl-demo/zones/{ZONE}/disks"


def ts(value: str) -> datetime:
    """Compute writes RFC 3339 with milliseconds and an offset: 2026-11-24T04:05:06.123-08:00."""
    parsed = datetime.fromisoformat(value)
    assert parsed.utcoffset() is not None and "T" in value
    return parsed


def vm(api: Api, name: str = "vm-1") -> dict[str, Any]:
    status, body = api.get(f"{INSTANCES}/{name}")
    assert status == 200, body
    return body


def test_start_stop_and_preempt_timestamps(api: Api, emulator: Emulator) -> None:
    api.post(INSTANCES, vm_body())
    first = vm(api)
    assert first["status"] == "RUNNING" and "lastStopTimestamp" not in first
    started = ts(first["lastStartTimestamp"])
    api.post(f"{INSTANCES}/vm-1/stop")
    stopped = vm(api)
    assert stopped["status"] == "TERMINATED" and ts(stopped["lastStopTimestamp"]) >= started
    api.post(f"{INSTANCES}/vm-1/start")
    restarted = vm(api)
    assert ts(restarted["lastStartTimestamp"]) >= ts(stopped["lastStopTimestamp"])
    emulator.preempt("labctl-demo", ZONE, "vm-1")
    preempted = vm(api)
    assert preempted["status"] == "TERMINATED"
    assert ts(preempted["lastStopTimestamp"]) >= ts(restarted["lastStartTimestamp"])


def test_disk_users_through_instance_delete(api: Api) -> None:
    api.post(DISKS, {"name": "data", "sizeGb": "50"})
    body = vm_body()
    body["disks"].append({"source": f"zones/{ZONE}/disks/data", "autoDelete": False})
    api.post(INSTANCES, body)
    data = api.get(f"{DISKS}/data")[1]
    assert [u.rsplit("/", 1)[1] for u in data["users"]] == ["vm-1"]
    ts(data["lastAttachTimestamp"])
    assert api.get(f"{DISKS}/vm-1")[1]["users"][0].endswith("/instances/vm-1")  # boot disk

    status, err = api.delete(f"{DISKS}/data")
    assert status == 400
    assert err["error"]["errors"][0]["reason"] == "resourceInUseByAnotherResource"
    assert err["error"]["message"] == (
        f"The disk resource 'projects/labctl-demo/zones/{ZONE}/disks/data' is already being "
        f"used by 'projects/labctl-demo/zones/{ZONE}/instances/vm-1'"
    )

    api.delete(f"{INSTANCES}/vm-1")
    assert api.get(f"{DISKS}/vm-1")[0] == 404  # autoDelete boot disk went with the VM
    orphan = api.get(f"{DISKS}/data")[1]
    assert "users" not in orphan or orphan["users"] == []
    assert ts(orphan["lastDetachTimestamp"]) >= ts(orphan["lastAttachTimestamp"])
    assert api.delete(f"{DISKS}/data")[0] == 200


def test_attach_and_detach(api: Api) -> None:
    api.post(INSTANCES, vm_body())
    api.post(DISKS, {"name": "data", "sizeGb": "20"})
    source = f"projects/labctl-demo/zones/{ZONE}/disks/data"
    status, op = api.post(f"{INSTANCES}/vm-1/attachDisk", {"source": source, "deviceName": "d1"})
    assert status == 200 and op["operationType"] == "attachDisk"
    attached = api.get(f"{DISKS}/data")[1]
    assert attached["users"][0].endswith("/instances/vm-1")
    assert [d["deviceName"] for d in vm(api)["disks"]][-1] == "d1"
    # A READ_WRITE disk has one user.
    api.post(INSTANCES, vm_body("vm-2"))
    status, err = api.post(f"{INSTANCES}/vm-2/attachDisk", {"source": source})
    assert status == 400
    assert err["error"]["errors"][0]["reason"] == "resourceInUseByAnotherResource"

    assert api.post(f"{INSTANCES}/vm-1/detachDisk", deviceName="nope")[0] == 400
    status, op = api.post(f"{INSTANCES}/vm-1/detachDisk", deviceName="d1")
    assert status == 200 and op["operationType"] == "detachDisk"
    detached = api.get(f"{DISKS}/data")[1]
    assert not detached.get("users")
    assert ts(detached["lastDetachTimestamp"]) >= ts(detached["lastAttachTimestamp"])
    assert "d1" not in [d["deviceName"] for d in vm(api)["disks"]]


def test_termination_timestamp_is_a_real_field() -> None:
    props = discovery()["schemas"]["ResourceStatusScheduling"]["properties"]
    assert "terminationTimestamp" in props
    assert "maxRunDuration" in discovery()["schemas"]["Scheduling"]["properties"]


def _limited(name: str, action: str, seconds: int = 3600) -> dict[str, Any]:
    body = vm_body(name, spot=False)
    body["scheduling"].update(maxRunDuration={"seconds": str(seconds)})
    body["scheduling"]["instanceTerminationAction"] = action
    return body


def test_max_run_duration_stops_at_the_deadline(api: Api, emulator: Emulator) -> None:
    assert api.post(INSTANCES, _limited("vm-1", "STOP"))[0] == 200
    running = vm(api)
    start = ts(running["lastStartTimestamp"])
    deadline = ts(running["resourceStatus"]["scheduling"]["terminationTimestamp"])
    assert deadline - start == timedelta(hours=1)
    assert running["status"] == "RUNNING"

    aged = emulator.age("instance", "vm-1", zone=ZONE, minutes=59)
    assert aged["status"] == "RUNNING"
    emulator.age("instance", "vm-1", zone=ZONE, minutes=2)
    stopped = vm(api)
    assert stopped["status"] == "TERMINATED"
    # Stopped at its deadline (now 61 minutes after the aged start), not when noticed.
    assert ts(stopped["lastStopTimestamp"]) - ts(stopped["lastStartTimestamp"]) == timedelta(
        hours=1
    )
    assert "terminationTimestamp" not in stopped.get("resourceStatus", {}).get("scheduling", {})
    assert not stopped["networkInterfaces"][0]["accessConfigs"][0].get("natIP")

    # A restart gives the VM a new hour.
    api.post(f"{INSTANCES}/vm-1/start")
    assert vm(api)["status"] == "RUNNING"


def test_max_run_duration_delete_also_removes_the_boot_disk(api: Api, emulator: Emulator) -> None:
    api.post(INSTANCES, _limited("vm-1", "DELETE"))
    emulator.age("instance", "vm-1", zone=ZONE, hours=2)
    assert api.get(f"{INSTANCES}/vm-1")[0] == 404
    assert api.get(f"{DISKS}/vm-1")[0] == 404
    _, listed = api.get("projects/labctl-demo/aggregated/instances")
    assert all("instances" not in scope for scope in listed["items"].values())


def test_termination_time_rules(api: Api) -> None:
    body = vm_body(spot=False)
    body["scheduling"].update(
        terminationTime="2001-01-01T00:00:00Z",
        maxRunDuration={"seconds": "60"},
        instanceTerminationAction="STOP",
    )
    assert api.post(INSTANCES, body)[0] == 400  # exclusive
    del body["scheduling"]["maxRunDuration"]
    assert api.post(INSTANCES, body)[0] == 200
    assert vm(api)["status"] == "TERMINATED"  # its time had already passed
    status, err = api.post(f"{INSTANCES}/vm-1/start")
    assert status == 400 and "terminationTime" in err["error"]["message"]
    bad = vm_body("vm-2", spot=False)
    bad["scheduling"]["maxRunDuration"] = {"seconds": "0"}
    assert api.post(INSTANCES, bad)[0] == 400
