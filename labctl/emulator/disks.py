"""Disks: insert, get, list, delete, setLabels, and attaching/detaching them to instances.

A disk's ``users`` lists the instances it is attached to; ``lastAttachTimestamp`` and
``lastDetachTimestamp`` follow attach, detach and instance deletion, as Compute's do, so a
cleanup tool can tell how long a disk has been orphaned.
"""

from __future__ import annotations

from typing import Any

from labctl import catalog
from labctl.emulator import fingerprints, quotas
from labctl.emulator.api import Ctx, handler, last, to_link
from labctl.emulator.build import new_disk, resolve_image, zonal_ref
from labctl.emulator.errors import already_exists, in_use, invalid_field, not_found
from labctl.emulator.instances import get_instance, release
from labctl.emulator.listing import aggregated_response, list_response, zonal_scopes
from labctl.emulator.operations import scoped_op
from labctl.emulator.state import LINK, fingerprint, new_id, timestamp


def find_disk(ctx: Ctx, zone: str, name: str) -> dict[str, Any]:
    disk = ctx.proj["_disks"].get(f"{zone}/{name}")
    if disk is None:
        raise not_found(f"projects/{ctx.project}/zones/{zone}/disks/{name}")
    return disk


@handler("compute.disks.insert")
def insert_disk(ctx: Ctx) -> dict[str, Any]:
    zone, body = ctx.zone(), ctx.body
    name = body["name"]
    if f"{zone}/{name}" in ctx.proj["_disks"]:
        raise already_exists(f"projects/{ctx.project}/zones/{zone}/disks/{name}")
    image_project, image = None, None
    source_image = body.get("sourceImage") or ctx.query.get("sourceImage")
    if source_image:
        image_project, image = resolve_image(source_image, ctx.project, "resource.sourceImage")
    size = int(body.get("sizeGb") or (image[2] if image else 500))
    if image and size < image[2]:
        raise invalid_field(
            "resource.sizeGb",
            size,
            f"Requested disk size cannot be smaller than the image size ({image[2]} GB)",
        )
    type_name = zonal_ref(
        body.get("type") or "pd-standard", ctx.project, zone, "diskTypes", "resource.type"
    )
    disk = new_disk(ctx.project, zone, name, size, type_name, image_project, image)
    metric = quotas.disk_metric(type_name)
    quotas.check_one(ctx.state, ctx.faults, ctx.project, metric, catalog.ZONES[zone], size)
    disk["labels"] = dict(body.get("labels") or {})
    disk["labelFingerprint"] = fingerprint(disk["labels"])
    if body.get("description"):
        disk["description"] = body["description"]
    ctx.proj["_disks"][f"{zone}/{name}"] = disk
    return scoped_op(ctx, f"zones/{zone}", "insert", disk["selfLink"], disk["id"])


@handler("compute.disks.get")
def get_disk(ctx: Ctx) -> dict[str, Any]:
    return find_disk(ctx, ctx.zone(), ctx.params["disk"])


@handler("compute.disks.delete")
def delete_disk(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    disk = find_disk(ctx, zone, ctx.params["disk"])
    if disk.get("users"):
        raise in_use("disk", disk["selfLink"][len(LINK) :], disk["users"][0][len(LINK) :])
    for snap in ctx.proj["_snapshots"].values():
        if snap["status"] == "CREATING" and snap["sourceDiskId"] == disk["id"]:
            # A snapshot being taken uses its disk until it is READY (or FAILED).
            raise in_use("disk", disk["selfLink"][len(LINK) :], snap["selfLink"][len(LINK) :])
    del ctx.proj["_disks"][f"{zone}/{disk['name']}"]
    return scoped_op(ctx, f"zones/{zone}", "delete", disk["selfLink"], disk["id"])


@handler("compute.disks.setLabels")
def set_disk_labels(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    disk = find_disk(ctx, zone, ctx.params["resource"])
    fingerprints.require(
        ctx.body.get("labelFingerprint"), disk["labelFingerprint"], fingerprints.LABELS_CHANGED
    )
    disk["labels"] = dict(ctx.body.get("labels") or {})
    disk["labelFingerprint"] = fingerprint([disk["labels"], new_id()])
    return scoped_op(ctx, f"zones/{zone}", "setLabels", disk["selfLink"], disk["id"])


@handler("compute.disks.list")
def list_disks(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    items = zonal_scopes(ctx, "_disks")[f"zones/{zone}"]
    return list_response(
        "compute#diskList", f"projects/{ctx.project}/zones/{zone}/disks", items, ctx.query, ctx.base
    )


@handler("compute.disks.aggregatedList")
def aggregated_disks(ctx: Ctx) -> dict[str, Any]:
    return aggregated_response(
        "compute#diskAggregatedList",
        f"projects/{ctx.project}/aggregated/disks",
        "disks",
        zonal_scopes(ctx, "_disks"),
        ctx.query,
        ctx.base,
    )


# --- attach / detach -------------------------------------------------------------------------
@handler("compute.instances.attachDisk")
def attach_disk(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    inst = get_instance(ctx.state, ctx.project, zone, ctx.params["instance"])
    body = ctx.body
    if not body.get("source"):
        raise invalid_field("resource.source", "", "A disk to attach needs its source URL.")
    source = to_link(body["source"], ctx.project, "resource.source")
    parts = source[len(LINK) :].split("/")
    if len(parts) != 6 or parts[2] != "zones" or parts[4] != "disks":
        raise invalid_field("resource.source", body["source"], "Expected zones/ZONE/disks/NAME.")
    if parts[3] != zone:
        raise invalid_field(
            "resource.source",
            body["source"],
            f"Disk must be in the same zone as the instance ('{zone}').",
        )
    disk = find_disk(ctx, zone, parts[5])
    mode = body.get("mode", "READ_WRITE")
    if disk.get("users") and (mode == "READ_WRITE" or not ctx.flag("forceAttach")):
        raise in_use("disk", disk["selfLink"][len(LINK) :], disk["users"][0][len(LINK) :])
    index = 1 + max((int(d.get("index", 0)) for d in inst["disks"]), default=-1)
    device = body.get("deviceName") or f"persistent-disk-{index}"
    if any(d.get("deviceName") == device for d in inst["disks"]):
        raise invalid_field(
            "resource.deviceName", device, "The device name is already used by another disk."
        )
    inst["disks"].append(
        {
            "kind": "compute#attachedDisk",
            "type": body.get("type", "PERSISTENT"),
            "mode": mode,
            "source": disk["selfLink"],
            "deviceName": device,
            "index": index,
            "boot": bool(body.get("boot", False)),
            "autoDelete": bool(body.get("autoDelete", False)),
            "interface": body.get("interface", "SCSI"),
            "diskSizeGb": str(disk["sizeGb"]),
            "architecture": "X86_64",
        }
    )
    disk["users"] = [*disk.get("users", []), inst["selfLink"]]
    disk["lastAttachTimestamp"] = timestamp()
    return scoped_op(ctx, f"zones/{zone}", "attachDisk", inst["selfLink"], inst["id"])


@handler("compute.instances.detachDisk")
def detach_disk(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    inst = get_instance(ctx.state, ctx.project, zone, ctx.params["instance"])
    device = ctx.query.get("deviceName", "")
    attached = next((d for d in inst["disks"] if d.get("deviceName") == device), None)
    if attached is None:
        raise invalid_field("deviceName", device, "No attached disk found with that device name.")
    if attached.get("boot") and inst["status"] != "TERMINATED":
        raise invalid_field(
            "deviceName", device, "The boot disk can only be detached from a stopped instance."
        )
    inst["disks"] = [d for d in inst["disks"] if d is not attached]
    disk = ctx.proj["_disks"].get(f"{zone}/{last(attached['source'])}")
    if disk is not None:
        release(disk, inst["selfLink"])
    return scoped_op(ctx, f"zones/{zone}", "detachDisk", inst["selfLink"], inst["id"])
