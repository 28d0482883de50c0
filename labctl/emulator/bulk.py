"""Instance listing (list, aggregatedList) and bulkInsert."""

from __future__ import annotations

import copy
import re
import time
from typing import Any

from labctl.emulator import catalog as emu_catalog
from labctl.emulator import operations, quotas
from labctl.emulator.api import Ctx, handler
from labctl.emulator.build import instance_path, plan_instance
from labctl.emulator.errors import ApiError, already_exists, invalid_field
from labctl.emulator.instances import commit_instance
from labctl.emulator.listing import aggregated_response, list_response, zonal_scopes
from labctl.emulator.state import LINK, new_id
from labctl.emulator.stockouts import stockout_error

_MAX_BULK = 1000


@handler("compute.instances.list")
def list_instances(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    return list_response(
        "compute#instanceList",
        f"projects/{ctx.project}/zones/{zone}/instances",
        zonal_scopes(ctx, "_instances")[f"zones/{zone}"],
        ctx.query,
        ctx.base,
    )


@handler("compute.instances.aggregatedList")
def aggregated_instances(ctx: Ctx) -> dict[str, Any]:
    return aggregated_response(
        "compute#instanceAggregatedList",
        f"projects/{ctx.project}/aggregated/instances",
        "instances",
        zonal_scopes(ctx, "_instances"),
        ctx.query,
        ctx.base,
    )


def _names(ctx: Ctx, zone: str, body: dict[str, Any], count: int) -> list[str]:
    """Explicit names first, then ``namePattern`` numbers (skipping names already taken)."""
    names = list(body.get("perInstanceProperties") or {})
    existing = {
        key.split("/", 1)[1] for key in ctx.proj["_instances"] if key.startswith(f"{zone}/")
    }
    for name in names:
        if name in existing:
            raise already_exists(instance_path(ctx.project, zone, name))
    pattern = body.get("namePattern")
    if len(names) < count:
        m = re.search(r"#+", pattern or "")
        if not pattern or not m or len(m.group(0)) > 18:
            raise invalid_field(
                "resource.namePattern", pattern or "", "Must contain one run of up to 18 '#'."
            )
        width = len(m.group(0))
        for n in range(1, 10**width):
            if len(names) >= count:
                break
            name = f"{pattern[: m.start()]}{n:0{width}d}{pattern[m.end() :]}"
            if name not in existing and name not in names:
                names.append(name)
    return names[:count]


def _instance_body(props: dict[str, Any], name: str, zone: str) -> dict[str, Any]:
    """InstanceProperties use bare names for machine, accelerator and disk types."""
    body = copy.deepcopy(props)
    body["name"] = name
    body["machineType"] = f"zones/{zone}/machineTypes/{props.get('machineType', '')}"
    for acc in body.get("guestAccelerators") or []:
        acc["acceleratorType"] = f"zones/{zone}/acceleratorTypes/{acc.get('acceleratorType', '')}"
    for i, disk in enumerate(body.get("disks") or []):
        init = disk.get("initializeParams")
        if init and init.get("diskName") and i == 0:
            init["diskName"] = name  # one boot disk per VM, named after it
    return body


@handler("compute.instances.bulkInsert")
def bulk_insert(ctx: Ctx) -> dict[str, Any]:
    zone, body = ctx.zone(), ctx.body
    if body.get("sourceInstanceTemplate"):
        raise ApiError(501, "The emulator does not support instance templates.")
    props = body.get("instanceProperties")
    if not props:
        raise ApiError(
            400, "Required field 'resource.instanceProperties' not specified", "required"
        )
    count = int(body.get("count") or len(body.get("perInstanceProperties") or {}))
    min_count = int(body.get("minCount") or count)
    if not 1 <= count <= _MAX_BULK or not 1 <= min_count <= count:
        raise invalid_field("resource.count", count, f"Must be 1..{_MAX_BULK} and >= minCount.")
    names = _names(ctx, zone, body, count)
    plans = [
        plan_instance(ctx.state, ctx.project, zone, _instance_body(props, n, zone)) for n in names
    ]
    demand = quotas.demand_of(plans[0].inst, plans[0].new_disks)
    demand.instances = len(plans)
    quotas.check(ctx.state, ctx.faults, ctx.project, zone, demand)
    now, seconds = time.time(), ctx.faults.operation_seconds
    group_id = new_id()
    machine = plans[0].inst["machineType"].rsplit("/", 1)[-1]
    accels = plans[0].inst.get("guestAccelerators") or []
    acc = accels[0]["acceleratorType"].rsplit("/", 1)[-1] if accels else None
    target = f"{LINK}projects/{ctx.project}/zones/{zone}"
    created = 0
    error = None
    if ctx.faults.stocked_out(zone, acc, machine):
        error = stockout_error(ctx.faults, ctx.project, zone, machine, accels)
    else:
        for plan in plans:
            commit_instance(ctx.state, ctx.project, zone, plan, seconds, now)
            operations.new_operation(
                ctx.state,
                ctx.project,
                f"zones/{zone}",
                "insert",
                plan.inst["selfLink"],
                plan.inst["id"],
                seconds,
                group_id=group_id,
                now=now,
            )
            created += 1
    op = operations.new_operation(
        ctx.state,
        ctx.project,
        f"zones/{zone}",
        "bulkInsert",
        target,
        emu_catalog.stable_id("zone", zone),
        seconds,
        error=error,
        group_id=group_id,
        now=now,
    )
    op["instancesBulkInsertOperationMetadata"] = {
        "perLocationStatus": {
            f"zones/{zone}": {
                "status": "DONE",
                "targetVmCount": count,
                "createdVmCount": created,
                "failedToCreateVmCount": count - created,
                "deletedVmCount": 0,
            }
        }
    }
    return op
