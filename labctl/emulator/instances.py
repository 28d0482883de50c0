"""Instances: insert, get, and the lifecycle (stop/start/delete/preempt) with its effects."""

from __future__ import annotations

import time
from typing import Any

from labctl import catalog
from labctl.emulator import operations, quotas
from labctl.emulator.api import Ctx, handler, last
from labctl.emulator.build import Plan, instance_path, plan_instance, run_deadline
from labctl.emulator.errors import ApiError, bad_request, not_found
from labctl.emulator.state import State, timestamp
from labctl.emulator.stockouts import stockout_error

# Ephemeral external IPs come from the three documentation ranges (RFC 5737).
_NAT_POOLS = ("203.0.113", "198.51.100", "192.0.2")


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


def _nat_ips_in_use(state: State) -> set[str]:
    """External IPs of all VMs; built once, then kept up to date as IPs come and go."""
    used: set[str] | None = state.caches.get("natIPs")
    if used is None:
        used = state.caches["natIPs"] = {
            ac["natIP"]
            for proj in state.projects.values()
            for inst in proj["_instances"].values()
            for nic in inst.get("networkInterfaces", [])
            for ac in nic.get("accessConfigs", [])
            if ac.get("natIP")
        }
    return used


def _nat_ip(state: State) -> str:
    used = _nat_ips_in_use(state)
    for pool in _NAT_POOLS:
        for host in range(1, 255):
            if f"{pool}.{host}" not in used:
                used.add(f"{pool}.{host}")
                return f"{pool}.{host}"
    return f"{_NAT_POOLS[0]}.{len(used) % 254 + 1}"  # more VMs than addresses: reuse


def _set_nat_ips(state: State, inst: dict[str, Any], on: bool) -> None:
    """Ephemeral external IPs exist only while the VM runs; reserved ones stay."""
    for nic in inst.get("networkInterfaces", []):
        for ac in nic.get("accessConfigs", []):
            if ac.get("_reserved"):
                continue  # a static address stays with the VM (and in use) until it is deleted
            if on and not ac.get("natIP"):
                ac["natIP"] = _nat_ip(state)
            elif not on:
                _nat_ips_in_use(state).discard(ac.pop("natIP", ""))


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
            deadline = run_deadline(inst)
            if deadline is not None:
                scheduling = inst.setdefault("resourceStatus", {}).setdefault("scheduling", {})
                scheduling["terminationTimestamp"] = timestamp(deadline)
        elif new_status == "TERMINATED":
            mark_stopped(state, inst)

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
                release(disk, inst["selfLink"])
        for addr in proj["_addresses"].values():
            if inst["selfLink"] in addr.get("users", []):
                addr["users"] = [u for u in addr["users"] if u != inst["selfLink"]]
                if not addr["users"]:
                    addr["status"] = "RESERVED"
                    addr.pop("users")
        proj["_guestAttributes"].pop(key, None)
        proj["_runLimited"].pop(key, None)
        for nic in inst.get("networkInterfaces", []):
            for ac in nic.get("accessConfigs", []):
                _nat_ips_in_use(state).discard(ac.get("natIP", ""))
        del proj["_instances"][key]

    state.handlers["instance_status"] = status
    state.handlers["instance_delete"] = delete


def mark_stopped(state: State, inst: dict[str, Any], at: float | None = None) -> None:
    """What reaching TERMINATED changes besides the status."""
    inst["status"] = "TERMINATED"
    inst["lastStopTimestamp"] = timestamp(at)
    _set_nat_ips(state, inst, False)
    # "The terminationTimestamp is removed whenever the VM is stopped" (gcloud's help).
    (inst.get("resourceStatus") or {}).get("scheduling", {}).pop("terminationTimestamp", None)


def release(disk: dict[str, Any], user: str) -> None:
    """``user`` no longer uses ``disk`` (detached, or its instance was deleted)."""
    disk["users"] = [u for u in disk.get("users", []) if u != user]
    disk["lastDetachTimestamp"] = timestamp()


def bump(inst: dict[str, Any]) -> int:
    inst["_gen"] = int(inst.get("_gen", 0)) + 1
    return int(inst["_gen"])


def commit_instance(
    state: State, project: str, zone: str, plan: Plan, seconds: float, now: float
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
    _nat_ips_in_use(state).update(ip for ip in reserved if ip)
    sched = inst.get("scheduling") or {}
    if "maxRunDuration" in sched or "terminationTime" in sched:
        proj["_runLimited"][key] = True  # the runtime sweep looks at these only
    proj["_instances"][key] = inst
    gen = inst["_gen"]
    state.schedule(now + seconds / 2, "instance_status", project, key, gen, "STAGING")
    state.schedule(now + seconds, "instance_status", project, key, gen, "RUNNING")


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


def create_planned(ctx: Ctx, zone: str, plan: Plan, group_id: str | None = None) -> dict[str, Any]:
    """Quota check (synchronous 403), stockout (failed operation), else store the instance."""
    inst = plan.inst
    quotas.check(ctx.state, ctx.faults, ctx.project, zone, quotas.demand_of(inst, plan.new_disks))
    now = time.time()
    seconds = ctx.faults.operation_seconds
    machine, acc = _machine_and_accels(inst)
    err = None
    if ctx.faults.stocked_out(zone, acc, machine):  # a failed operation; nothing is stored
        accelerators = inst.get("guestAccelerators") or []
        err = stockout_error(ctx.faults, ctx.project, zone, machine, accelerators)
    else:
        commit_instance(ctx.state, ctx.project, zone, plan, seconds, now)
    return operations.new_operation(
        ctx.state,
        ctx.project,
        f"zones/{zone}",
        "insert",
        inst["selfLink"],
        inst["id"],
        seconds,
        error=err,
        group_id=group_id,
        now=now,
    )


@handler("compute.instances.get")
def get(ctx: Ctx) -> dict[str, Any]:
    return get_instance(ctx.state, ctx.project, ctx.zone(), ctx.params["instance"])


def lifecycle_op(
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
    gen = bump(inst)
    if inst["status"] != "TERMINATED":
        inst["status"] = "STOPPING"
    ctx.state.schedule(
        now + ctx.faults.operation_seconds,
        "instance_delete",
        ctx.project,
        f"{zone}/{inst['name']}",
        gen,
    )
    return lifecycle_op(ctx, "delete", inst)


@handler("compute.instances.stop")
def stop(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    inst = get_instance(ctx.state, ctx.project, zone, ctx.params["instance"])
    if inst["status"] not in ("TERMINATED", "STOPPING"):
        stop_instance(ctx.state, ctx.project, zone, inst, ctx.faults.operation_seconds)
    return lifecycle_op(ctx, "stop", inst)


def stop_instance(
    state: State, project: str, zone: str, inst: dict[str, Any], seconds: float
) -> None:
    gen = bump(inst)
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
        return lifecycle_op(ctx, "start", inst)
    termination_time = (inst.get("scheduling") or {}).get("terminationTime")
    deadline = run_deadline(inst)
    if termination_time and deadline is not None and deadline <= time.time():
        raise bad_request(
            f"The instance cannot be started: its terminationTime '{termination_time}' has passed."
        )
    quotas.check(ctx.state, ctx.faults, ctx.project, zone, quotas.demand_of(inst), starting=True)
    machine, acc = _machine_and_accels(inst)
    if ctx.faults.stocked_out(zone, acc, machine):
        err = stockout_error(
            ctx.faults, ctx.project, zone, machine, inst.get("guestAccelerators") or []
        )
        return lifecycle_op(ctx, "start", inst, err)
    gen = bump(inst)
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
    return lifecycle_op(ctx, "start", inst)


def preempt(state: State, project: str, zone: str, name: str) -> dict[str, Any]:
    """Preempt a Spot/preemptible VM: STOP -> TERMINATED, DELETE -> gone. Records the operation."""
    inst = get_instance(state, project, zone, name)
    sched = inst.get("scheduling") or {}
    if not quotas.is_spot(sched):
        raise bad_request(f"Instance '{name}' is not a Spot or preemptible VM.")
    now = time.time()
    key = f"{zone}/{name}"
    gen = bump(inst)
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
