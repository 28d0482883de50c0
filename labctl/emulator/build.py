"""Building an instance from an insert body: references, Compute's rules, disks and NICs."""

from __future__ import annotations

import copy
import time
from typing import Any

from labctl import catalog
from labctl.emulator import catalog as emu_catalog
from labctl.emulator import policies, quotas
from labctl.emulator.api import last, to_link
from labctl.emulator.errors import ApiError, already_exists, invalid_field, not_found
from labctl.emulator.state import LINK, State, fingerprint, new_id, parse_timestamp, timestamp


def instance_path(project: str, zone: str, name: str) -> str:
    return f"projects/{project}/zones/{zone}/instances/{name}"


# --- resolving references in a request body ---------------------------------------------------
def zonal_ref(value: Any, project: str, zone: str, collection: str, field: str) -> str:
    """Resolve a bare name or URL of a zonal catalog item; return its name."""
    if isinstance(value, str) and value and "/" not in value:
        return value  # instanceProperties (bulkInsert) use bare names
    link = to_link(value, project, field)
    parts = link[len(LINK) :].split("/")
    if len(parts) < 6 or parts[2] != "zones" or parts[4] != collection:
        raise invalid_field(field, value, f"Expected a URL of zones/ZONE/{collection}/NAME.")
    if parts[3] != zone:
        raise invalid_field(
            field, value, f"The {collection} is in zone '{parts[3]}', not in zone '{zone}'."
        )
    return parts[5]


def resolve_image(value: Any, project: str, field: str) -> tuple[str, tuple[str, str, int, str]]:
    """Resolve an image URL to a catalog image.

    Forms: ``projects/P/global/images/NAME``, ``projects/P/global/images/family/F`` and
    ``projects/P/zones/Z/imageFamilyViews/F`` (gcloud uses the last when it creates several VMs).
    """
    link = to_link(value, project, field)
    parts = link[len(LINK) :].split("/")
    entry = None
    if len(parts) == 5 and parts[2:4] == ["global", "images"]:
        entry = emu_catalog.find_image(parts[1], parts[4])
    elif len(parts) == 6 and (
        parts[2:5] == ["global", "images", "family"]
        or (parts[2] == "zones" and parts[4] == "imageFamilyViews")
    ):
        entry = emu_catalog.find_image_family(parts[1], parts[5])
    if entry is None:
        raise not_found(link[len(LINK) :])
    return parts[1], entry


# --- rules ---------------------------------------------------------------------------------
def _scheduling(body: dict[str, Any], has_gpu: bool) -> dict[str, Any]:
    sched = dict(body.get("scheduling") or {})
    spot = quotas.is_spot(sched)
    if spot:
        if sched.get("automaticRestart") is True:
            raise invalid_field(
                "resource.scheduling.automaticRestart",
                "true",
                "Preemptible instances cannot be automatically restarted.",
            )
        if sched.get("onHostMaintenance") == "MIGRATE":
            raise invalid_field(
                "resource.scheduling.onHostMaintenance",
                "MIGRATE",
                "Preemptible instances must have onHostMaintenance set to TERMINATE.",
            )
        # Compute: "For preemptible instances, the default and only possible behavior is TERMINATE".
        sched.setdefault("onHostMaintenance", "TERMINATE")
        sched["automaticRestart"] = False
        sched["preemptible"] = True
        sched.setdefault("provisioningModel", "STANDARD")  # legacy preemptible
        if sched["provisioningModel"] == "SPOT":
            sched.setdefault("instanceTerminationAction", "STOP")
    else:
        sched.setdefault("onHostMaintenance", "MIGRATE")
        sched.setdefault("automaticRestart", True)
        sched.setdefault("preemptible", False)
        sched.setdefault("provisioningModel", "STANDARD")
    _run_limits(sched)
    if has_gpu and sched["onHostMaintenance"] != "TERMINATE":
        raise invalid_field(
            "resource.scheduling.onHostMaintenance",
            sched["onHostMaintenance"],
            "Instances with guest accelerators do not support live migration.",
        )
    return sched


def _run_limits(sched: dict[str, Any]) -> None:
    """Check ``maxRunDuration`` / ``terminationTime``; either makes the VM stop or go away."""
    field = "resource.scheduling"
    duration = sched.get("maxRunDuration")
    if duration is not None:
        seconds = int(duration.get("seconds") or 0) + int(duration.get("nanos") or 0) / 1e9
        if seconds <= 0:
            raise invalid_field(f"{field}.maxRunDuration", duration, "Must be positive.")
    if sched.get("terminationTime"):
        try:
            parse_timestamp(sched["terminationTime"])
        except ValueError as exc:
            raise invalid_field(
                f"{field}.terminationTime", sched["terminationTime"], "Must be RFC 3339."
            ) from exc
        if duration is not None:
            raise invalid_field(
                f"{field}.terminationTime",
                sched["terminationTime"],
                "maxRunDuration and terminationTime are mutually exclusive.",
            )
    if duration is not None or sched.get("terminationTime"):
        # Compute's docs always pair them; STOP is what a Spot VM defaults to as well.
        sched.setdefault("instanceTerminationAction", "STOP")


def run_deadline(inst: dict[str, Any]) -> float | None:
    """When a RUNNING instance must be stopped or deleted (``terminationTimestamp``), if ever.

    ``maxRunDuration`` counts from the last time the VM entered RUNNING; ``terminationTime``
    is absolute.
    """
    sched = inst.get("scheduling") or {}
    if sched.get("terminationTime"):
        return parse_timestamp(sched["terminationTime"])
    duration = sched.get("maxRunDuration")
    if duration is None or not inst.get("lastStartTimestamp"):
        return None
    seconds = int(duration.get("seconds") or 0) + int(duration.get("nanos") or 0) / 1e9
    return parse_timestamp(inst["lastStartTimestamp"]) + seconds


def _accelerators(
    body: dict[str, Any], project: str, zone: str, machine: str
) -> list[dict[str, Any]]:
    out = []
    for i, acc in enumerate(body.get("guestAccelerators") or []):
        field = f"resource.guestAccelerators[{i}].acceleratorType"
        raw = acc.get("acceleratorType")
        name = zonal_ref(raw, project, zone, "acceleratorTypes", field)
        if zone not in catalog.accelerator_zones(name):
            raise invalid_field(
                field, raw, f"Accelerator type '{name}' does not exist in zone '{zone}'."
            )
        count = int(acc.get("acceleratorCount") or 0)
        max_cards = catalog.ACCELERATORS[name][1]
        if count not in (1, 2, 4, 8) or count > max_cards:
            raise invalid_field(
                f"resource.guestAccelerators[{i}].acceleratorCount",
                count,
                f"Must be 1, 2 or 4 (up to {max_cards}) for {name}.",
            )
        if not machine.startswith(catalog.GPU_MACHINE_FAMILIES):
            raise invalid_field(
                "resource.machineType",
                machine,
                f"Machine type '{machine}' does not support accelerator type '{name}'.",
            )
        link = f"{LINK}projects/{project}/zones/{zone}/acceleratorTypes/{name}"
        out.append({"acceleratorType": link, "acceleratorCount": count})
    return out


class Plan:
    """A checked insert: the instance record plus the disks to create with it."""

    def __init__(self, inst: dict[str, Any], new_disks: list[dict[str, Any]], attach: list[str]):
        self.inst = inst
        self.new_disks = new_disks
        self.attach = attach  # keys of existing disks to attach


def plan_instance(state: State, project: str, zone: str, body: dict[str, Any]) -> Plan:
    """Apply Compute's checks to an Instance body and build the stored record (no side effects)."""
    proj = state.project(project)
    name = body.get("name") or ""
    key = f"{zone}/{name}"
    if key in proj["_instances"]:
        raise already_exists(instance_path(project, zone, name))
    if not body.get("machineType"):
        raise ApiError(400, "Required field 'resource.machineType' not specified", "required")
    machine = zonal_ref(body["machineType"], project, zone, "machineTypes", "resource.machineType")
    if machine not in catalog.MACHINE_TYPES:
        raise invalid_field(
            "resource.machineType",
            body["machineType"],
            f"Machine type with name '{machine}' does not exist in zone '{zone}'.",
        )
    accelerators = _accelerators(body, project, zone, machine)
    sched = _scheduling(body, bool(accelerators))
    inst_link = f"{LINK}{instance_path(project, zone, name)}"
    disks, new_disks, attach = _disks(state, project, zone, name, body)
    region = catalog.ZONES[zone]
    nics = _nics(state, project, region, body)
    inst = copy.deepcopy(body)
    inst.pop("sourceMachineImage", None)
    metadata = dict(body.get("metadata") or {})
    metadata.update(kind="compute#metadata", items=list(metadata.get("items") or []))
    metadata["fingerprint"] = fingerprint(metadata["items"])
    tags = dict(body.get("tags") or {})
    tags["fingerprint"] = fingerprint(tags.get("items") or [])
    labels = dict(body.get("labels") or {})
    inst.update(
        kind="compute#instance",
        id=new_id(),
        creationTimestamp=timestamp(),
        name=name,
        machineType=f"{LINK}projects/{project}/zones/{zone}/machineTypes/{machine}",
        status="PROVISIONING",
        zone=f"{LINK}projects/{project}/zones/{zone}",
        networkInterfaces=nics,
        disks=disks,
        metadata=metadata,
        tags=tags,
        labels=labels,
        labelFingerprint=fingerprint(labels),
        scheduling=sched,
        cpuPlatform="Intel Broadwell",
        canIpForward=bool(body.get("canIpForward", False)),
        deletionProtection=bool(body.get("deletionProtection", False)),
        startRestricted=False,
        fingerprint=fingerprint([name, time.time()]),
        selfLink=inst_link,
        satisfiesPzi=False,
    )
    if body.get("resourcePolicies"):
        inst["resourcePolicies"] = policies.resolve(
            proj, project, region, list(body["resourcePolicies"]), []
        )
    if accelerators:
        inst["guestAccelerators"] = accelerators
    else:
        inst.pop("guestAccelerators", None)
    inst["_gen"] = 0
    return Plan(inst, new_disks, attach)


def _disks(
    state: State, project: str, zone: str, name: str, body: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    proj = state.project(project)
    raw_disks = list(body.get("disks") or [])
    if not any(d.get("boot") for d in raw_disks) and raw_disks:
        raw_disks[0] = {**raw_disks[0], "boot": True}  # Compute treats the first disk as boot
    if not raw_disks:
        raise invalid_field("resource.disks", "", "At least one boot disk must be specified.")
    attached: list[dict[str, Any]] = []
    new_disks: list[dict[str, Any]] = []
    attach: list[str] = []
    for i, raw in enumerate(raw_disks):
        field = f"resource.disks[{i}]"
        init = raw.get("initializeParams")
        if init:
            disk_name = init.get("diskName") or (name if i == 0 else f"{name}-{i}")
            if f"{zone}/{disk_name}" in proj["_disks"] or any(
                d["name"] == disk_name for d in new_disks
            ):
                raise already_exists(f"projects/{project}/zones/{zone}/disks/{disk_name}")
            image_project, image = None, None
            if init.get("sourceImage"):
                image_project, image = resolve_image(
                    init["sourceImage"], project, f"{field}.initializeParams.sourceImage"
                )
            size = int(init.get("diskSizeGb") or (image[2] if image else 10))
            if image and size < image[2]:
                raise invalid_field(
                    f"{field}.initializeParams.diskSizeGb",
                    size,
                    f"Requested disk size cannot be smaller than the image size ({image[2]} GB)",
                )
            disk_type = init.get("diskType") or "pd-balanced"
            type_name = zonal_ref(
                disk_type, project, zone, "diskTypes", f"{field}.initializeParams.diskType"
            )
            disk = new_disk(project, zone, disk_name, size, type_name, image_project, image)
            disk["labels"] = dict(init.get("labels") or {})
            disk["labelFingerprint"] = fingerprint(disk["labels"])
            new_disks.append(disk)
            source = disk["selfLink"]
        elif raw.get("source"):
            source = to_link(raw["source"], project, f"{field}.source")
            disk_key = f"{zone}/{last(source)}"
            existing = proj["_disks"].get(disk_key)
            if existing is None:
                raise not_found(source[len(LINK) :])
            if existing.get("users") and raw.get("mode", "READ_WRITE") == "READ_WRITE":
                raise ApiError(
                    400,
                    f"The disk resource '{source[len(LINK) :]}' is already being used by "
                    f"'{existing['users'][0][len(LINK) :]}'",
                    "resourceInUseByAnotherResource",
                )
            attach.append(disk_key)
            size = int(existing["sizeGb"])
        else:
            raise invalid_field(field, "", "A disk needs either source or initializeParams.")
        attached.append(
            {
                "kind": "compute#attachedDisk",
                "type": raw.get("type", "PERSISTENT"),
                "mode": raw.get("mode", "READ_WRITE"),
                "source": source,
                "deviceName": raw.get("deviceName") or (f"persistent-disk-{i}"),
                "index": i,
                "boot": bool(raw.get("boot", False)),
                # The API default is false: only a client that asks gets its disk deleted.
                "autoDelete": bool(raw.get("autoDelete", False)),
                "interface": raw.get("interface", "SCSI"),
                "diskSizeGb": str(size),
                "architecture": "X86_64",
            }
        )
    return attached, new_disks, attach


def new_disk(
    project: str,
    zone: str,
    name: str,
    size: int,
    type_name: str,
    image_project: str | None = None,
    image: tuple[str, str, int, str] | None = None,
) -> dict[str, Any]:
    disk: dict[str, Any] = {
        "kind": "compute#disk",
        "id": new_id(),
        "creationTimestamp": timestamp(),
        "name": name,
        "sizeGb": str(size),
        "zone": f"{LINK}projects/{project}/zones/{zone}",
        "status": "READY",
        "selfLink": f"{LINK}projects/{project}/zones/{zone}/disks/{name}",
        "type": f"{LINK}projects/{project}/zones/{zone}/diskTypes/{type_name}",
        "users": [],
        "labels": {},
        "labelFingerprint": fingerprint({}),
        "physicalBlockSizeBytes": "4096",
        "architecture": "X86_64",
    }
    if image and image_project:
        disk["sourceImage"] = f"{LINK}projects/{image_project}/global/images/{image[1]}"
        disk["sourceImageId"] = emu_catalog.stable_id("image", image_project, image[1])
    return disk


def _nics(state: State, project: str, region: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    raw_nics = body.get("networkInterfaces") or []
    if not raw_nics:
        raise invalid_field(
            "resource.networkInterfaces", "", "At least one network interface is required."
        )
    proj = state.project(project)
    out = []
    for i, raw in enumerate(raw_nics):
        nic = copy.deepcopy(raw)
        n = proj["_nextIp"]
        proj["_nextIp"] = n + 1
        network = raw.get("network") or "global/networks/default"
        nic.update(
            kind="compute#networkInterface",
            name=f"nic{i}",
            network=to_link(network, project, f"resource.networkInterfaces[{i}].network"),
            subnetwork=to_link(
                raw.get("subnetwork") or f"regions/{region}/subnetworks/{last(network)}",
                project,
                f"resource.networkInterfaces[{i}].subnetwork",
            ),
            networkIP=raw.get("networkIP") or f"10.128.{n // 250}.{n % 250 + 2}",
            fingerprint=fingerprint([i, n]),
            stackType=raw.get("stackType", "IPV4_ONLY"),
        )
        configs = []
        for raw_ac in raw.get("accessConfigs") or []:
            ac = dict(raw_ac)
            ac.update(kind="compute#accessConfig", type=raw_ac.get("type", "ONE_TO_ONE_NAT"))
            ac.setdefault("name", "External NAT")
            ac.setdefault("networkTier", "PREMIUM")
            if raw_ac.get("natIP"):
                ac["_reserved"] = True
            configs.append(ac)
        nic["accessConfigs"] = configs
        out.append(nic)
    return out
