"""Read-only handlers: project, regions, zones, machine types, accelerator types, images."""

from __future__ import annotations

import time
from typing import Any

from labctl import catalog
from labctl.emulator import catalog as emu_catalog
from labctl.emulator import fingerprints, operations, quota_view
from labctl.emulator.api import Ctx, handler
from labctl.emulator.errors import not_found
from labctl.emulator.listing import aggregated_response, list_response
from labctl.emulator.state import fingerprint


@handler("compute.projects.get")
def get_project(ctx: Ctx) -> dict[str, Any]:
    out = dict(ctx.proj)
    out["quotas"] = quota_view.project_quotas(ctx.state, ctx.faults, ctx.project)
    return out


@handler("compute.projects.setCommonInstanceMetadata")
def set_common_metadata(ctx: Ctx) -> dict[str, Any]:
    current = ctx.proj["commonInstanceMetadata"]
    fingerprints.require(
        ctx.body.get("fingerprint"), current["fingerprint"], fingerprints.METADATA_CHANGED
    )
    items = list(ctx.body.get("items") or [])
    ctx.proj["commonInstanceMetadata"] = {
        "kind": "compute#metadata",
        "items": items,
        "fingerprint": fingerprint([items, time.time()]),
    }
    return operations.new_operation(
        ctx.state,
        ctx.project,
        "global",
        "setCommonInstanceMetadata",
        f"@/projects/{ctx.project}",
        ctx.proj["id"],
        ctx.faults.operation_seconds,
    )


@handler("compute.regions.get")
def get_region(ctx: Ctx) -> dict[str, Any]:
    region = ctx.params["region"]
    if region not in catalog.REGIONS:
        raise not_found(f"projects/{ctx.project}/regions/{region}")
    return emu_catalog.region_resource(
        ctx.project, region, quota_view.region_quotas(ctx.state, ctx.faults, ctx.project, region)
    )


@handler("compute.regions.list")
def list_regions(ctx: Ctx) -> dict[str, Any]:
    by_region = quota_view.all_region_quotas(ctx.state, ctx.faults, ctx.project)
    items = [emu_catalog.region_resource(ctx.project, r, by_region[r]) for r in catalog.REGIONS]
    return list_response(
        "compute#regionList",
        f"projects/{ctx.project}/regions",
        ctx.render(items),
        ctx.query,
        ctx.base,
    )


@handler("compute.zones.get")
def get_zone(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.params["zone"]
    if zone not in catalog.ZONES:
        raise not_found(f"projects/{ctx.project}/zones/{zone}")
    return emu_catalog.zone_resource(ctx.project, zone)


@handler("compute.zones.list")
def list_zones(ctx: Ctx) -> dict[str, Any]:
    items = [emu_catalog.zone_resource(ctx.project, z) for z in catalog.ZONES]
    return list_response(
        "compute#zoneList", f"projects/{ctx.project}/zones", ctx.render(items), ctx.query, ctx.base
    )


@handler("compute.machineTypes.get")
def get_machine_type(ctx: Ctx) -> dict[str, Any]:
    zone, name = ctx.zone(), ctx.params["machineType"]
    if name not in catalog.MACHINE_TYPES:
        raise not_found(f"projects/{ctx.project}/zones/{zone}/machineTypes/{name}")
    return emu_catalog.machine_type_resource(ctx.project, zone, name)


@handler("compute.machineTypes.list")
def list_machine_types(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    items = [emu_catalog.machine_type_resource(ctx.project, zone, n) for n in catalog.MACHINE_TYPES]
    return list_response(
        "compute#machineTypeList",
        f"projects/{ctx.project}/zones/{zone}/machineTypes",
        ctx.render(items),
        ctx.query,
        ctx.base,
    )


@handler("compute.machineTypes.aggregatedList")
def aggregated_machine_types(ctx: Ctx) -> dict[str, Any]:
    scopes = {
        f"zones/{z}": ctx.render(
            [emu_catalog.machine_type_resource(ctx.project, z, n) for n in catalog.MACHINE_TYPES]
        )
        for z in catalog.ZONES
    }
    return aggregated_response(
        "compute#machineTypeAggregatedList",
        f"projects/{ctx.project}/aggregated/machineTypes",
        "machineTypes",
        scopes,
        ctx.query,
        ctx.base,
    )


@handler("compute.acceleratorTypes.get")
def get_accelerator_type(ctx: Ctx) -> dict[str, Any]:
    zone, name = ctx.zone(), ctx.params["acceleratorType"]
    if name not in catalog.accelerators_in_zone(zone):
        raise not_found(f"projects/{ctx.project}/zones/{zone}/acceleratorTypes/{name}")
    return emu_catalog.accelerator_type_resource(ctx.project, zone, name)


def _accelerators(ctx: Ctx, zone: str) -> list[dict[str, Any]]:
    return ctx.render(
        [
            emu_catalog.accelerator_type_resource(ctx.project, zone, n)
            for n in catalog.accelerators_in_zone(zone)
        ]
    )


@handler("compute.acceleratorTypes.list")
def list_accelerator_types(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    return list_response(
        "compute#acceleratorTypeList",
        f"projects/{ctx.project}/zones/{zone}/acceleratorTypes",
        _accelerators(ctx, zone),
        ctx.query,
        ctx.base,
    )


@handler("compute.acceleratorTypes.aggregatedList")
def aggregated_accelerator_types(ctx: Ctx) -> dict[str, Any]:
    scopes = {f"zones/{z}": _accelerators(ctx, z) for z in catalog.ZONES}
    return aggregated_response(
        "compute#acceleratorTypeAggregatedList",
        f"projects/{ctx.project}/aggregated/acceleratorTypes",
        "acceleratorTypes",
        scopes,
        ctx.query,
        ctx.base,
    )


@handler("compute.images.get")
def get_image(ctx: Ctx) -> dict[str, Any]:
    entry = emu_catalog.find_image(ctx.project, ctx.params["image"])
    if entry is None:
        raise not_found(f"projects/{ctx.project}/global/images/{ctx.params['image']}")
    return emu_catalog.image_resource(ctx.project, entry)


@handler("compute.images.getFromFamily")
def get_image_from_family(ctx: Ctx) -> dict[str, Any]:
    entry = emu_catalog.find_image_family(ctx.project, ctx.params["family"])
    if entry is None:
        raise not_found(f"projects/{ctx.project}/global/images/family/{ctx.params['family']}")
    return emu_catalog.image_resource(ctx.project, entry)


@handler("compute.images.list")
def list_images(ctx: Ctx) -> dict[str, Any]:
    items = [
        emu_catalog.image_resource(ctx.project, e) for e in emu_catalog.IMAGES.get(ctx.project, [])
    ]
    return list_response(
        "compute#imageList",
        f"projects/{ctx.project}/global/images",
        ctx.render(items),
        ctx.query,
        ctx.base,
    )


@handler("compute.imageFamilyViews.get")
def get_image_family_view(ctx: Ctx) -> dict[str, Any]:
    """gcloud resolves an image family this way when it creates several VMs at once."""
    entry = emu_catalog.find_image_family(ctx.project, ctx.params["family"])
    if entry is None:
        raise not_found(
            f"projects/{ctx.project}/zones/{ctx.params['zone']}/imageFamilyViews/"
            f"{ctx.params['family']}"
        )
    return {"image": emu_catalog.image_resource(ctx.project, entry)}
