"""Instances: insert (with Compute's rules), lifecycle, metadata/labels, guest attributes."""

from __future__ import annotations

import copy
import time
from typing import Any

from labctl.emulator import catalog, operations, quotas
from labctl.emulator.api import Ctx, handler, last, to_link
from labctl.emulator.errors import ApiError, already_exists, bad_request, invalid_field, not_found
from labctl.emulator.faults import Faults
from labctl.emulator.state import LINK, State, fingerprint, new_id, timestamp

# Ephemeral external IPs come from the three documentation ranges (RFC 5737).
_NAT_POOLS = ("203.0.113", "198.51.100", "192.0.2")


def instance_path(project: str, zone: str, name: str) -> str:
    return f"projects/{project}/zones/{zone}/instances/{name}"


def get_instance(state: State, project: str, zone: str, name: str) -> dict[str, Any]:
    """The instance by name (or by numeric id, which Compute also accepts), else 404."""
    instances = state.project(project)["_instances"]
    inst = instances.get(f"{zone}/{name}")
    if inst is None and name.isdigit():
        prefix = f"{zone}/"
        inst = next(
            (i for k, i in instances.items() if k.startswith(prefix) and i["id"] == name), None
        )
    if inst is None:
        raise not_found(instance_path(project, zone, name))
    return inst


# --- resolving references in a request body ---------------------------------------------------
def _zonal_ref(value: Any, project: str, zone: str, collection: str, field: str) -> str:
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


def _image(value: Any, project: str, field: str) -> tuple[str, tuple[str, str, int, str]]:
    """Resolve ``projects/P/global/images/NAME`` or ``.../images/family/F`` to a catalog image."""
    link = to_link(value, project, field)
    parts = link[len(LINK) :].split("/")
    entry = None
    if len(parts) == 5 and parts[2:4] == ["global", "images"]:
        entry = catalog.find_image(parts[1], parts[4])
    elif len(parts) == 6 and parts[2:5] == ["global", "images", "family"]:
        entry = catalog.find_image_family(parts[1], parts[5])
    if entry is None:
        raise not_found(link[len(LINK) :])
    return parts[1], entry


def _nat_ip(state: State) -> str:
    used = {
        ac.get("natIP")
        for proj in state.projects.values()
        for inst in proj["_instances"].values()
        for nic in inst.get("networkInterfaces", [])
        for ac in nic.get("accessConfigs", [])
    }
    for pool in _NAT_POOLS:
        for host in range(1, 255):
            if f"{pool}.{host}" not in used:
                return f"{pool}.{host}"
    return f"{_NAT_POOLS[0]}.{len(used) % 254 + 1}"  # more VMs than addresses: reuse


def _set_nat_ips(state: State, inst: dict[str, Any], on: bool) -> None:
    """Ephemeral external IPs exist only while the VM runs; reserved ones stay."""
    for nic in inst.get("networkInterfaces", []):
        for ac in nic.get("accessConfigs", []):
            if ac.get("_reserved"):
                continue
            if on and not ac.get("natIP"):
                ac["natIP"] = _nat_ip(state)
            elif not on:
                ac.pop("natIP", None)


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
    if has_gpu and sched["onHostMaintenance"] != "TERMINATE":
        raise invalid_field(
            "resource.scheduling.onHostMaintenance",
            sched["onHostMaintenance"],
            "Instances with guest accelerators do not support live migration.",
        )
    return sched


def _accelerators(
    body: dict[str, Any], project: str, zone: str, machine: str
) -> list[dict[str, Any]]:
    out = []
    for i, acc in enumerate(body.get("guestAccelerators") or []):
        field = f"resource.guestAccelerators[{i}].acceleratorType"
        raw = acc.get("acceleratorType")
        name = _zonal_ref(raw, project, zone, "acceleratorTypes", field)
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


class _Plan:
    """A checked insert: the instance record plus the disks to create with it."""

    def __init__(self, inst: dict[str, Any], new_disks: list[dict[str, Any]], attach: list[str]):
        self.inst = inst
        self.new_disks = new_disks
        self.attach = attach  # keys of existing disks to attach


def plan_instance(state: State, project: str, zone: str, body: dict[str, Any]) -> _Plan:
    """Apply Compute's checks to an Instance body and build the stored record (no side effects)."""
    proj = state.project(project)
    name = body.get("name") or ""
    key = f"{zone}/{name}"
    if key in proj["_instances"]:
        raise already_exists(instance_path(project, zone, name))
    if not body.get("machineType"):
        raise ApiError(400, "Required field 'resource.machineType' not specified", "required")
    machine = _zonal_ref(body["machineType"], project, zone, "machineTypes", "resource.machineType")
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
    if accelerators:
        inst["guestAccelerators"] = accelerators
    else:
        inst.pop("guestAccelerators", None)
    inst["_gen"] = 0
    return _Plan(inst, new_disks, attach)


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
                image_project, image = _image(
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
            type_name = _zonal_ref(
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
        disk["sourceImageId"] = catalog.stable_id("image", image_project, image[1])
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


# --- lifecycle effects (run by State.tick when due) --------------------------------------------
def register_effects(state: State) -> None:
    def status(project: str, key: str, gen: int, new_status: str) -> None:
        inst = state.project(project)["_instances"].get(key)
        if inst is None or inst["_gen"] != gen:
            return  # a later stop/start/delete superseded this transition
        inst["status"] = new_status
        if new_status == "RUNNING":
            inst["lastStartTimestamp"] = timestamp()
            _set_nat_ips(state, inst, True)
        elif new_status == "TERMINATED":
            inst["lastStopTimestamp"] = timestamp()
            _set_nat_ips(state, inst, False)

    def delete(project: str, key: str, gen: int) -> None:
        proj = state.project(project)
        inst = proj["_instances"].get(key)
        if inst is None or inst["_gen"] != gen:
            return
        zone = key.split("/", 1)[0]
        for att in inst.get("disks", []):
            disk_key = f"{zone}/{last(att['source'])}"
            disk = proj["_disks"].get(disk_key)
            if disk is None:
                continue
            if att.get("autoDelete"):
                del proj["_disks"][disk_key]
            else:
                disk["users"] = [u for u in disk.get("users", []) if u != inst["selfLink"]]
                disk["lastDetachTimestamp"] = timestamp()
        for addr in proj["_addresses"].values():
            if inst["selfLink"] in addr.get("users", []):
                addr["users"] = [u for u in addr["users"] if u != inst["selfLink"]]
                if not addr["users"]:
                    addr["status"] = "RESERVED"
                    addr.pop("users")
        proj["_guestAttributes"].pop(key, None)
        del proj["_instances"][key]

    state.handlers["instance_status"] = status
    state.handlers["instance_delete"] = delete


def _bump(inst: dict[str, Any]) -> int:
    inst["_gen"] = int(inst.get("_gen", 0)) + 1
    return int(inst["_gen"])


def commit_instance(
    state: State, project: str, zone: str, plan: _Plan, seconds: float, now: float
) -> None:
    """Store a planned instance and its disks and queue PROVISIONING -> STAGING -> RUNNING."""
    proj = state.project(project)
    inst = plan.inst
    key = f"{zone}/{inst['name']}"
    for disk in plan.new_disks:
        disk["users"] = [inst["selfLink"]]
        disk["lastAttachTimestamp"] = timestamp(now)
        proj["_disks"][f"{zone}/{disk['name']}"] = disk
    for disk_key in plan.attach:
        disk = proj["_disks"][disk_key]
        disk["users"] = [*disk.get("users", []), inst["selfLink"]]
        disk["lastAttachTimestamp"] = timestamp(now)
    region = catalog.ZONES[zone]
    reserved = {
        ac.get("natIP")
        for nic in inst["networkInterfaces"]
        for ac in nic["accessConfigs"]
        if ac.get("_reserved")
    }
    for akey, addr in proj["_addresses"].items():
        if akey.startswith(f"{region}/") and addr.get("address") in reserved:
            addr["status"] = "IN_USE"
            addr["users"] = [inst["selfLink"]]
    proj["_instances"][key] = inst
    gen = inst["_gen"]
    state.schedule(now + seconds / 2, "instance_status", project, key, gen, "STAGING")
    state.schedule(now + seconds, "instance_status", project, key, gen, "RUNNING")


# --- stockouts -----------------------------------------------------------------------------
def stockout_error(
    faults: Faults, project: str, zone: str, machine: str, accelerators: list[dict[str, Any]]
) -> dict[str, Any]:
    """The operation fields of a failed create, as Compute reports a zone without capacity."""
    acc = last(accelerators[0]["acceleratorType"]) if accelerators else None
    cards = int(accelerators[0]["acceleratorCount"]) if accelerators else 0
    region = catalog.ZONES[zone]
    candidates = catalog.accelerator_zones(acc) if acc else catalog.REGIONS[region]
    available = [
        z
        for z in candidates
        if z != zone
        and catalog.ZONES.get(z) == region
        and not faults.stocked_out(z, acc, machine, consume=False)
    ]
    what = f"A {machine} VM instance" + (f" with {cards} {acc} accelerator(s)" if acc else "")
    text = f"{what} is currently unavailable in the {zone} zone. "
    if available:
        text += (
            f"Consider trying your request in the {', '.join(available)} zone(s), which currently "
            "has/have capacity to accommodate your request. "
        )
    text += (
        "Alternatively, you can try your request again with a different VM hardware "
        "configuration or at a later time. For more information, see the troubleshooting "
        "documentation."
    )
    meta = {"zone": zone, "vmType": machine}
    if acc:
        meta["attachment"] = f"{acc}:{cards}"
    if available:
        meta["zonesAvailable"] = ",".join(available)
    return {
        "error": {
            "errors": [
                {
                    "code": "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                    "message": f"The zone 'projects/{project}/zones/{zone}' does not have enough "
                    "resources available to fulfill the request.  '(resource type:compute)'.",
                    "errorDetails": [
                        {
                            "errorInfo": {
                                "reason": "resource_availability",
                                "domain": "compute.googleapis.com",
                                "metadatas": meta,
                            }
                        },
                        {
                            "help": {
                                "links": [
                                    {
                                        "description": "Troubleshooting documentation",
                                        "url": "https://cloud.google.com/compute/docs/resource-error",
                                    }
                                ]
                            }
                        },
                        {"localizedMessage": {"locale": "en-US", "message": text}},
                    ],
                }
            ]
        },
        "httpErrorStatusCode": 503,
        "httpErrorMessage": "SERVICE UNAVAILABLE",
    }


def _machine_and_accels(inst: dict[str, Any]) -> tuple[str, str | None]:
    accels = inst.get("guestAccelerators") or []
    return last(inst["machineType"]), (last(accels[0]["acceleratorType"]) if accels else None)


# --- handlers ------------------------------------------------------------------------------
@handler("compute.instances.insert")
def insert(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    if ctx.query.get("sourceInstanceTemplate") or ctx.query.get("sourceMachineImage"):
        raise ApiError(501, "The emulator does not support instance templates or machine images.")
    plan = plan_instance(ctx.state, ctx.project, zone, ctx.body)
    return create_planned(ctx, zone, plan)


def create_planned(ctx: Ctx, zone: str, plan: _Plan, group_id: str | None = None) -> dict[str, Any]:
    """Quota check (synchronous 403), stockout (failed operation), else store the instance."""
    inst = plan.inst
    quotas.check(ctx.state, ctx.faults, ctx.project, zone, quotas.demand_of(inst))
    now = time.time()
    seconds = ctx.faults.operation_seconds
    machine, acc = _machine_and_accels(inst)
    target = inst["selfLink"]
    if ctx.faults.stocked_out(zone, acc, machine):
        err = stockout_error(
            ctx.faults, ctx.project, zone, machine, inst.get("guestAccelerators") or []
        )
        return operations.new_operation(
            ctx.state,
            ctx.project,
            f"zones/{zone}",
            "insert",
            target,
            inst["id"],
            seconds,
            error=err,
            group_id=group_id,
            now=now,
        )
    commit_instance(ctx.state, ctx.project, zone, plan, seconds, now)
    return operations.new_operation(
        ctx.state,
        ctx.project,
        f"zones/{zone}",
        "insert",
        target,
        inst["id"],
        seconds,
        group_id=group_id,
        now=now,
    )


@handler("compute.instances.get")
def get(ctx: Ctx) -> dict[str, Any]:
    return get_instance(ctx.state, ctx.project, ctx.zone(), ctx.params["instance"])


def _lifecycle_op(
    ctx: Ctx, kind: str, inst: dict[str, Any], error: dict[str, Any] | None = None
) -> dict[str, Any]:
    zone = ctx.zone()
    return operations.new_operation(
        ctx.state,
        ctx.project,
        f"zones/{zone}",
        kind,
        inst["selfLink"],
        inst["id"],
        ctx.faults.operation_seconds,
        error=error,
    )


@handler("compute.instances.delete")
def delete(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    inst = get_instance(ctx.state, ctx.project, zone, ctx.params["instance"])
    if inst.get("deletionProtection"):
        raise ApiError(
            400,
            "Invalid resource usage: 'Resource cannot be deleted if it's protected against "
            "deletion.'.",
            "resourceInUseByAnotherResource",
        )
    now = time.time()
    gen = _bump(inst)
    if inst["status"] != "TERMINATED":
        inst["status"] = "STOPPING"
    ctx.state.schedule(
        now + ctx.faults.operation_seconds,
        "instance_delete",
        ctx.project,
        f"{zone}/{inst['name']}",
        gen,
    )
    return _lifecycle_op(ctx, "delete", inst)


@handler("compute.instances.stop")
def stop(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    inst = get_instance(ctx.state, ctx.project, zone, ctx.params["instance"])
    if inst["status"] not in ("TERMINATED", "STOPPING"):
        stop_instance(ctx.state, ctx.project, zone, inst, ctx.faults.operation_seconds)
    return _lifecycle_op(ctx, "stop", inst)


def stop_instance(
    state: State, project: str, zone: str, inst: dict[str, Any], seconds: float
) -> None:
    gen = _bump(inst)
    inst["status"] = "STOPPING"
    state.schedule(
        time.time() + seconds,
        "instance_status",
        project,
        f"{zone}/{inst['name']}",
        gen,
        "TERMINATED",
    )


@handler("compute.instances.start")
def start(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    inst = get_instance(ctx.state, ctx.project, zone, ctx.params["instance"])
    if inst["status"] == "STOPPING":
        raise ApiError(
            400,
            f"The resource '{instance_path(ctx.project, zone, inst['name'])}' is not ready",
            "resourceNotReady",
        )
    if inst["status"] != "TERMINATED":
        return _lifecycle_op(ctx, "start", inst)
    quotas.check(ctx.state, ctx.faults, ctx.project, zone, quotas.demand_of(inst))
    machine, acc = _machine_and_accels(inst)
    if ctx.faults.stocked_out(zone, acc, machine):
        err = stockout_error(
            ctx.faults, ctx.project, zone, machine, inst.get("guestAccelerators") or []
        )
        return _lifecycle_op(ctx, "start", inst, err)
    gen = _bump(inst)
    inst["status"] = "STAGING"
    key = f"{zone}/{inst['name']}"
    ctx.state.schedule(
        time.time() + ctx.faults.operation_seconds,
        "instance_status",
        ctx.project,
        key,
        gen,
        "RUNNING",
    )
    return _lifecycle_op(ctx, "start", inst)


@handler("compute.instances.setMetadata")
def set_metadata(ctx: Ctx) -> dict[str, Any]:
    inst = get_instance(ctx.state, ctx.project, ctx.zone(), ctx.params["instance"])
    if ctx.body.get("fingerprint") != inst["metadata"]["fingerprint"]:
        raise ApiError(
            412,
            "Supplied fingerprint does not match current metadata fingerprint.",
            "conditionNotMet",
        )
    items = list(ctx.body.get("items") or [])
    inst["metadata"] = {"kind": "compute#metadata", "items": items}
    inst["metadata"]["fingerprint"] = fingerprint([items, time.time()])
    return _lifecycle_op(ctx, "setMetadata", inst)


@handler("compute.instances.setLabels")
def set_labels(ctx: Ctx) -> dict[str, Any]:
    inst = get_instance(ctx.state, ctx.project, ctx.zone(), ctx.params["instance"])
    if ctx.body.get("labelFingerprint") != inst["labelFingerprint"]:
        raise ApiError(
            412,
            "Labels fingerprint either invalid or resource labels have changed",
            "conditionNotMet",
        )
    inst["labels"] = dict(ctx.body.get("labels") or {})
    inst["labelFingerprint"] = fingerprint([inst["labels"], time.time()])
    return _lifecycle_op(ctx, "setLabels", inst)


@handler("compute.instances.setTags")
def set_tags(ctx: Ctx) -> dict[str, Any]:
    inst = get_instance(ctx.state, ctx.project, ctx.zone(), ctx.params["instance"])
    if ctx.body.get("fingerprint") != inst["tags"].get("fingerprint"):
        raise ApiError(
            412, "Supplied fingerprint does not match current tags fingerprint.", "conditionNotMet"
        )
    items = list(ctx.body.get("items") or [])
    inst["tags"] = {"items": items, "fingerprint": fingerprint([items, time.time()])}
    return _lifecycle_op(ctx, "setTags", inst)


@handler("compute.instances.getGuestAttributes")
def get_guest_attributes(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    inst = get_instance(ctx.state, ctx.project, zone, ctx.params["instance"])
    attrs = ctx.proj["_guestAttributes"].get(f"{zone}/{inst['name']}", {})
    out: dict[str, Any] = {
        "kind": "compute#guestAttributes",
        "selfLink": f"{inst['selfLink']}/guestAttributes",
    }
    key = ctx.query.get("variableKey")
    if key:
        namespace, _, name = key.partition("/")
        if name not in attrs.get(namespace, {}):
            raise ApiError(
                404, f"The resource '{key}' of type 'Guest Attribute' was not found.", "notFound"
            )
        out.update(variableKey=key, variableValue=attrs[namespace][name])
        return out
    query_path = ctx.query.get("queryPath", "")
    namespace = query_path.split("/", 1)[0]
    items = [
        {"namespace": ns, "key": k, "value": v}
        for ns in sorted(attrs)
        if not namespace or ns == namespace
        for k, v in sorted(attrs[ns].items())
    ]
    if not items:
        raise ApiError(
            404, f"The resource '{query_path}' of type 'Guest Attribute' was not found.", "notFound"
        )
    out.update(queryPath=query_path, queryValue={"items": items})
    return out


def set_guest_attribute(
    state: State, project: str, zone: str, instance: str, path: str, value: str
) -> None:
    """What a VM does with PUT .../guest-attributes/NAMESPACE/KEY on its metadata server."""
    get_instance(state, project, zone, instance)
    namespace, _, key = path.partition("/")
    if not namespace or not key:
        raise bad_request("guest attribute path must be NAMESPACE/KEY")
    attrs = state.project(project)["_guestAttributes"].setdefault(f"{zone}/{instance}", {})
    attrs.setdefault(namespace, {})[key] = value


def preempt(state: State, project: str, zone: str, name: str) -> dict[str, Any]:
    """Preempt a Spot/preemptible VM: STOP -> TERMINATED, DELETE -> gone. Records the operation."""
    inst = get_instance(state, project, zone, name)
    sched = inst.get("scheduling") or {}
    if not quotas.is_spot(sched):
        raise bad_request(f"Instance '{name}' is not a Spot or preemptible VM.")
    now = time.time()
    key = f"{zone}/{name}"
    gen = _bump(inst)
    op = operations.new_operation(
        state,
        project,
        f"zones/{zone}",
        "compute.instances.preempted",
        inst["selfLink"],
        inst["id"],
        0.0,
        now=now,
    )
    op["statusMessage"] = "Instance was preempted."
    op["user"] = "system"
    if sched.get("instanceTerminationAction") == "DELETE":
        state.handlers["instance_delete"](project, key, gen)
    else:
        state.handlers["instance_status"](project, key, gen, "TERMINATED")
    return op
