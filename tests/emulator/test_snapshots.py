"""Snapshots: createSnapshot (zonal op) -> CREATING -> READY, global get/list/setLabels/delete."""

from __future__ import annotations

from typing import Any

from labctl.emulator import Emulator
from tests.emulator._http import Api, vm_body

ZONE = "us-central1-c"
DISKS = f"projects/labctl-demo/zones/{ZONE}/disks"
SNAPSHOTS = "projects/labctl-demo/global/snapshots"
ZONE_OPS = f"projects/labctl-demo/zones/{ZONE}/operations"
GLOBAL_OPS = "projects/labctl-demo/global/operations"


def wait(api: Api, op: dict[str, Any]) -> dict[str, Any]:
    scope = ZONE_OPS if "zone" in op else GLOBAL_OPS
    for _ in range(20):  # each wait blocks up to the server's cap
        status, done = api.post(f"{scope}/{op['name']}/wait")
        assert status == 200, done
        if done["status"] == "DONE":
            return done
    raise AssertionError(f"operation {op['name']} never finished")


def test_create_snapshot_of_a_boot_disk(api: Api, emulator: Emulator) -> None:
    api.post(f"projects/labctl-demo/zones/{ZONE}/instances", vm_body())
    emulator.set_faults({"operation_seconds": 0.3})
    body = {"name": "vm-1-final", "labels": {"labctl-course": "ml"}, "description": "last state"}
    status, op = api.post(f"{DISKS}/vm-1/createSnapshot", body)
    assert status == 200, op
    assert op["operationType"] == "createSnapshot" and op["zone"].endswith(f"/zones/{ZONE}")
    assert op["targetLink"].endswith(f"/zones/{ZONE}/disks/vm-1")
    creating = api.get(f"{SNAPSHOTS}/vm-1-final")[1]
    assert creating["status"] == "CREATING"
    assert api.post(f"{DISKS}/vm-1/createSnapshot", body)[0] == 409

    assert "error" not in wait(api, op)
    snap = api.get(f"{SNAPSHOTS}/vm-1-final")[1]
    disk = api.get(f"{DISKS}/vm-1")[1]
    assert snap["status"] == "READY"
    assert snap["sourceDisk"] == disk["selfLink"] and snap["sourceDiskId"] == disk["id"]
    assert snap["diskSizeGb"] == disk["sizeGb"] == "100"
    assert 0 < int(snap["storageBytes"]) < int(disk["sizeGb"]) * 2**30
    assert snap["storageBytesStatus"] == "UP_TO_DATE"
    assert snap["labels"] == {"labctl-course": "ml"} and snap["labelFingerprint"]
    assert snap["description"] == "last state" and snap["creationTimestamp"]
    assert snap["storageLocations"] == ["us"]
    assert snap["selfLink"].endswith("/global/snapshots/vm-1-final")


def test_labels_list_and_delete(api: Api) -> None:
    api.post(DISKS, {"name": "data", "sizeGb": "200"})
    api.post(f"{DISKS}/data/createSnapshot", {"name": "s1", "storageLocations": ["us-central1"]})
    api.post(f"{DISKS}/data/createSnapshot", {"name": "s2"})
    s1 = api.get(f"{SNAPSHOTS}/s1")[1]
    assert s1["storageLocations"] == ["us-central1"]
    assert int(s1["storageBytes"]) < 200 * 2**30 // 10  # a blank disk stores little
    status, op = api.post(
        f"{SNAPSHOTS}/s1/setLabels",
        {"labels": {"owner": "alice"}, "labelFingerprint": s1["labelFingerprint"]},
    )
    assert status == 200 and "zone" not in op and "region" not in op
    assert (
        api.post(f"{SNAPSHOTS}/s1/setLabels", {"labels": {}, "labelFingerprint": "AAAA"})[0] == 412
    )
    _, listed = api.get(SNAPSHOTS, filter="labels.owner = alice")
    assert [s["name"] for s in listed["items"]] == ["s1"]
    status, op = api.delete(f"{SNAPSHOTS}/s2")
    assert status == 200 and op["operationType"] == "delete"
    assert wait(api, op)["status"] == "DONE"
    assert api.get(f"{SNAPSHOTS}/s2")[0] == 404
    assert [s["name"] for s in api.get(SNAPSHOTS)[1]["items"]] == ["s1"]


def test_bad_requests(api: Api) -> None:
    assert api.post(f"{DISKS}/ghost/createSnapshot", {"name": "s"})[0] == 404
    api.post(DISKS, {"name": "data", "sizeGb": "10"})
    status, err = api.post(f"{DISKS}/data/createSnapshot", {"labels": {}})
    assert status == 400 and "name" in err["error"]["message"]
    assert api.get(f"{SNAPSHOTS}/ghost")[0] == 404


def test_snapshots_insert_is_a_global_operation(api: Api) -> None:
    api.post(DISKS, {"name": "data", "sizeGb": "10"})
    status, op = api.post(SNAPSHOTS, {"name": "s1", "sourceDisk": f"zones/{ZONE}/disks/data"})
    assert status == 200 and op["operationType"] == "insert" and "zone" not in op
    assert api.get(f"{SNAPSHOTS}/s1")[1]["sourceDisk"].endswith("/disks/data")


def test_failed_snapshot_keeps_its_disk(api: Api, emulator: Emulator) -> None:
    api.post(DISKS, {"name": "data", "sizeGb": "10"})
    emulator.set_faults({"operation_seconds": 0.3, "snapshot_failures": ["data"]})
    _, op = api.post(f"{DISKS}/data/createSnapshot", {"name": "before-delete"})
    # While it is being taken, the disk cannot go.
    status, err = api.delete(f"{DISKS}/data")
    assert status == 400
    assert err["error"]["errors"][0]["reason"] == "resourceInUseByAnotherResource"
    done = wait(api, op)
    assert done["error"]["errors"][0]["code"] == "INTERNAL_ERROR"
    assert done["httpErrorStatusCode"] == 500
    assert api.get(f"{SNAPSHOTS}/before-delete")[1]["status"] == "FAILED"
    assert api.get(f"{DISKS}/data")[0] == 200
    emulator.set_faults({})
    assert api.delete(f"{DISKS}/data")[0] == 200  # nothing holds it any more


def test_aggregated_operations_filter_on_status(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"operation_seconds": 30})
    api.post(DISKS, {"name": "slow", "sizeGb": "10"})
    emulator.set_faults({})
    api.post("projects/labctl-demo/regions/us-central1/addresses", {"name": "ip-1"})
    _, agg = api.get("projects/labctl-demo/aggregated/operations")
    assert agg["kind"] == "compute#operationAggregatedList"
    ops = {s: v["operations"] for s, v in agg["items"].items() if "operations" in v}
    assert set(ops) == {f"zones/{ZONE}", "regions/us-central1"}
    _, pending = api.get("projects/labctl-demo/aggregated/operations", filter="status != DONE")
    running = [o for v in pending["items"].values() for o in v.get("operations", [])]
    assert [o["targetLink"].rsplit("/", 1)[1] for o in running] == ["slow"]
    assert "warning" in pending["items"]["regions/us-central1"]
