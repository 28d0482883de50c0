"""Snapshots: disks.createSnapshot (zonal operation), snapshots.insert/get/list/delete/setLabels.

A snapshot is CREATING until its operation is DONE, then READY (or FAILED when the
``snapshot_failures`` fault names its disk). While it is CREATING its disk cannot be deleted.
``storageBytes`` is a fraction of the disk, as for a real, mostly empty disk: snapshots store
only written blocks (https://cloud.google.com/compute/docs/disks/snapshots).
"""

from __future__ import annotations

import copy
import time
from typing import Any

from labctl import catalog
from labctl.emulator import fingerprints, operations, quotas
from labctl.emulator.api import Ctx, handler, to_link
from labctl.emulator.disks import find_disk
from labctl.emulator.errors import already_exists, invalid_field, not_found
from labctl.emulator.listing import list_response
from labctl.emulator.operations import scoped_op
from labctl.emulator.state import LINK, State, fingerprint, new_id, timestamp

# Snapshots go to the nearest multi-region unless storageLocations says otherwise.
_MULTI_REGION = {"us": "us", "europe": "eu", "asia": "asia", "australia": "asia"}
# Share of the disk a snapshot stores: an image-based boot disk is mostly its image.
_USED_SHARE_IMAGE, _USED_SHARE_BLANK = 0.2, 0.01
_FAILURE = {
    "error": {
        "errors": [
            {
                "code": "INTERNAL_ERROR",
                "message": "Internal error. Please try again or contact Google Support. "
                "(Code: 'snapshot-creation-failed')",
            }
        ]
    },
    "httpErrorStatusCode": 500,
    "httpErrorMessage": "INTERNAL SERVER ERROR",
}


def register_effects(state: State) -> None:
    def finish(project: str, name: str, snapshot_id: str) -> None:
        snap = state.project(project)["_snapshots"].get(name)
        if snap is None or snap["id"] != snapshot_id or snap["status"] != "CREATING":
            return
        if snap.pop("_fails", False):
            snap["status"] = "FAILED"
            return
        snap.update(
            status="READY",
            storageBytes=snap["_bytes"],
            creationSizeBytes=snap["_bytes"],
            storageBytesStatus="UP_TO_DATE",
        )

    state.handlers["snapshot_done"] = finish


def _create(ctx: Ctx, zone: str, disk: dict[str, Any], scope: str) -> dict[str, Any]:
    body = ctx.body
    name = body["name"]
    path = f"projects/{ctx.project}/global/snapshots/{name}"
    if name in ctx.proj["_snapshots"]:
        raise already_exists(path)
    quotas.check_one(ctx.state, ctx.faults, ctx.project, "SNAPSHOTS", None)
    region = catalog.ZONES[zone]
    locations = body.get("storageLocations") or [_MULTI_REGION[region.split("-", 1)[0]]]
    share = _USED_SHARE_IMAGE if disk.get("sourceImage") else _USED_SHARE_BLANK
    labels = dict(body.get("labels") or {})
    snap: dict[str, Any] = {
        "kind": "compute#snapshot",
        "id": new_id(),
        "creationTimestamp": timestamp(),
        "name": name,
        "status": "CREATING",
        "sourceDisk": disk["selfLink"],
        "sourceDiskId": disk["id"],
        "diskSizeGb": str(disk["sizeGb"]),
        "storageBytes": "0",
        "storageBytesStatus": "UPDATING",
        "storageLocations": list(locations),
        "snapshotType": body.get("snapshotType", "STANDARD"),
        "labels": labels,
        "labelFingerprint": fingerprint(labels),
        "architecture": disk.get("architecture", "X86_64"),
        "selfLink": LINK + path,
        "_bytes": str(int(int(disk["sizeGb"]) * 2**30 * share)),
    }
    if body.get("description"):
        snap["description"] = body["description"]
    fails = ctx.faults.snapshot_fails(disk["name"])
    if fails:
        snap["_fails"] = True
    ctx.proj["_snapshots"][name] = snap
    now, seconds = time.time(), ctx.faults.operation_seconds
    # disks.createSnapshot is an operation on the disk; snapshots.insert one on the snapshot.
    on_disk = scope.startswith("zones/")
    target = disk if on_disk else snap
    op = operations.new_operation(
        ctx.state,
        ctx.project,
        scope,
        "createSnapshot" if on_disk else "insert",
        target["selfLink"],
        target["id"],
        seconds,
        error=copy.deepcopy(_FAILURE) if fails else None,
        now=now,
    )
    ctx.state.schedule(op["_done"], "snapshot_done", ctx.project, name, snap["id"])
    return op


@handler("compute.disks.createSnapshot")
def create_snapshot(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    disk = find_disk(ctx, zone, ctx.params["disk"])
    return _create(ctx, zone, disk, f"zones/{zone}")


@handler("compute.snapshots.insert")
def insert_snapshot(ctx: Ctx) -> dict[str, Any]:
    raw = ctx.body.get("sourceDisk")
    if not raw:
        raise invalid_field("resource.sourceDisk", "", "A snapshot needs a sourceDisk.")
    parts = to_link(raw, ctx.project, "resource.sourceDisk")[len(LINK) :].split("/")
    if len(parts) != 6 or parts[2] != "zones" or parts[4] != "disks":
        raise invalid_field("resource.sourceDisk", raw, "Expected zones/ZONE/disks/NAME.")
    if parts[3] not in catalog.ZONES:
        raise invalid_field("resource.sourceDisk", raw, "Unknown zone.")
    disk = find_disk(ctx, parts[3], parts[5])
    return _create(ctx, parts[3], disk, "global")


def _find(ctx: Ctx, name: str) -> dict[str, Any]:
    snap = ctx.proj["_snapshots"].get(name)
    if snap is None and name.isdigit():
        snap = next((s for s in ctx.proj["_snapshots"].values() if s["id"] == name), None)
    if snap is None:
        raise not_found(f"projects/{ctx.project}/global/snapshots/{name}")
    return snap


@handler("compute.snapshots.get")
def get_snapshot(ctx: Ctx) -> dict[str, Any]:
    return _find(ctx, ctx.params["snapshot"])


@handler("compute.snapshots.list")
def list_snapshots(ctx: Ctx) -> dict[str, Any]:
    return list_response(
        "compute#snapshotList",
        f"projects/{ctx.project}/global/snapshots",
        ctx.render(list(ctx.proj["_snapshots"].values())),
        ctx.query,
        ctx.base,
    )


@handler("compute.snapshots.delete")
def delete_snapshot(ctx: Ctx) -> dict[str, Any]:
    snap = _find(ctx, ctx.params["snapshot"])
    del ctx.proj["_snapshots"][snap["name"]]
    return scoped_op(ctx, "global", "delete", snap["selfLink"], snap["id"])


@handler("compute.snapshots.setLabels")
def set_snapshot_labels(ctx: Ctx) -> dict[str, Any]:
    snap = _find(ctx, ctx.params["resource"])
    fingerprints.require(
        ctx.body.get("labelFingerprint"), snap["labelFingerprint"], fingerprints.LABELS_CHANGED
    )
    snap["labels"] = dict(ctx.body.get("labels") or {})
    snap["labelFingerprint"] = fingerprint([snap["labels"], new_id()])
    return scoped_op(ctx, "global", "setLabels", snap["selfLink"], snap["id"])
