"""Disks, addresses, firewalls and networks."""

from __future__ import annotations

import time
from typing import Any

from labctl import catalog
from labctl.emulator import catalog as emu_catalog
from labctl.emulator import fingerprints, operations
from labctl.emulator.api import Ctx, handler, to_link
from labctl.emulator.build import new_disk, resolve_image, zonal_ref
from labctl.emulator.errors import ApiError, already_exists, invalid_field, not_found
from labctl.emulator.listing import aggregated_response, list_response
from labctl.emulator.state import LINK, fingerprint, new_id, timestamp

_STATIC_POOL = "198.51.100"  # reserved addresses; ephemeral ones start at 203.0.113


def _op(ctx: Ctx, scope: str, kind: str, target: str, target_id: str) -> dict[str, Any]:
    return operations.new_operation(
        ctx.state, ctx.project, scope, kind, target, target_id, ctx.faults.operation_seconds
    )


# --- disks ---------------------------------------------------------------------------------
def _disk(ctx: Ctx, zone: str, name: str) -> dict[str, Any]:
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
    disk["labels"] = dict(body.get("labels") or {})
    disk["labelFingerprint"] = fingerprint(disk["labels"])
    if body.get("description"):
        disk["description"] = body["description"]
    ctx.proj["_disks"][f"{zone}/{name}"] = disk
    return _op(ctx, f"zones/{zone}", "insert", disk["selfLink"], disk["id"])


@handler("compute.disks.get")
def get_disk(ctx: Ctx) -> dict[str, Any]:
    return _disk(ctx, ctx.zone(), ctx.params["disk"])


@handler("compute.disks.delete")
def delete_disk(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    disk = _disk(ctx, zone, ctx.params["disk"])
    if disk.get("users"):
        raise ApiError(
            400,
            f"The disk resource '{disk['selfLink'][len(LINK) :]}' is already being used by "
            f"'{disk['users'][0][len(LINK) :]}'",
            "resourceInUseByAnotherResource",
        )
    del ctx.proj["_disks"][f"{zone}/{disk['name']}"]
    return _op(ctx, f"zones/{zone}", "delete", disk["selfLink"], disk["id"])


@handler("compute.disks.setLabels")
def set_disk_labels(ctx: Ctx) -> dict[str, Any]:
    zone = ctx.zone()
    disk = _disk(ctx, zone, ctx.params["resource"])
    fingerprints.require(
        ctx.body.get("labelFingerprint"), disk["labelFingerprint"], fingerprints.LABELS_CHANGED
    )
    disk["labels"] = dict(ctx.body.get("labels") or {})
    disk["labelFingerprint"] = fingerprint([disk["labels"], time.time()])
    return _op(ctx, f"zones/{zone}", "setLabels", disk["selfLink"], disk["id"])


def zonal_scopes(ctx: Ctx, collection: str) -> dict[str, list[dict[str, Any]]]:
    scopes: dict[str, list[dict[str, Any]]] = {f"zones/{z}": [] for z in catalog.ZONES}
    for key, item in ctx.proj[collection].items():
        scopes[f"zones/{key.split('/', 1)[0]}"].append(item)
    return {scope: ctx.render(items) for scope, items in scopes.items()}


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


# --- addresses -----------------------------------------------------------------------------
def _free_static_ip(ctx: Ctx) -> str:
    used = {a.get("address") for p in ctx.state.projects.values() for a in p["_addresses"].values()}
    for host in range(1, 255):
        if f"{_STATIC_POOL}.{host}" not in used:
            return f"{_STATIC_POOL}.{host}"
    raise ApiError(503, "No free static addresses left in the emulator pool.", "backendError")


@handler("compute.addresses.insert")
def insert_address(ctx: Ctx) -> dict[str, Any]:
    region, body = ctx.region(), ctx.body
    name = body["name"]
    key = f"{region}/{name}"
    path = f"projects/{ctx.project}/regions/{region}/addresses/{name}"
    if key in ctx.proj["_addresses"]:
        raise already_exists(path)
    addr = dict(body)
    labels = dict(body.get("labels") or {})
    addr.update(
        kind="compute#address",
        id=new_id(),
        creationTimestamp=timestamp(),
        name=name,
        address=body.get("address") or _free_static_ip(ctx),
        status="RESERVED",
        region=f"{LINK}projects/{ctx.project}/regions/{region}",
        selfLink=LINK + path,
        addressType=body.get("addressType", "EXTERNAL"),
        networkTier=body.get("networkTier", "PREMIUM"),
        labels=labels,
        labelFingerprint=fingerprint(labels),
    )
    ctx.proj["_addresses"][key] = addr
    return _op(ctx, f"regions/{region}", "insert", addr["selfLink"], addr["id"])


@handler("compute.addresses.get")
def get_address(ctx: Ctx) -> dict[str, Any]:
    region = ctx.region()
    addr = ctx.proj["_addresses"].get(f"{region}/{ctx.params['address']}")
    if addr is None:
        raise not_found(
            f"projects/{ctx.project}/regions/{region}/addresses/{ctx.params['address']}"
        )
    return addr


@handler("compute.addresses.delete")
def delete_address(ctx: Ctx) -> dict[str, Any]:
    addr = get_address(ctx)
    if addr.get("users"):
        raise ApiError(
            400,
            f"The address resource '{addr['selfLink'][len(LINK) :]}' is already being used by "
            f"'{addr['users'][0][len(LINK) :]}'",
            "resourceInUseByAnotherResource",
        )
    region = ctx.region()
    del ctx.proj["_addresses"][f"{region}/{addr['name']}"]
    return _op(ctx, f"regions/{region}", "delete", addr["selfLink"], addr["id"])


def _regional_scopes(ctx: Ctx) -> dict[str, list[dict[str, Any]]]:
    scopes: dict[str, list[dict[str, Any]]] = {f"regions/{r}": [] for r in catalog.REGIONS}
    for key, item in ctx.proj["_addresses"].items():
        scopes[f"regions/{key.split('/', 1)[0]}"].append(item)
    return {scope: ctx.render(items) for scope, items in scopes.items()}


@handler("compute.addresses.list")
def list_addresses(ctx: Ctx) -> dict[str, Any]:
    region = ctx.region()
    return list_response(
        "compute#addressList",
        f"projects/{ctx.project}/regions/{region}/addresses",
        _regional_scopes(ctx)[f"regions/{region}"],
        ctx.query,
        ctx.base,
    )


@handler("compute.addresses.aggregatedList")
def aggregated_addresses(ctx: Ctx) -> dict[str, Any]:
    return aggregated_response(
        "compute#addressAggregatedList",
        f"projects/{ctx.project}/aggregated/addresses",
        "addresses",
        _regional_scopes(ctx),
        ctx.query,
        ctx.base,
    )


# --- firewalls and networks ----------------------------------------------------------------
@handler("compute.firewalls.insert")
def insert_firewall(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body
    name = body["name"]
    path = f"projects/{ctx.project}/global/firewalls/{name}"
    if name in ctx.proj["_firewalls"]:
        raise already_exists(path)
    if not body.get("allowed") and not body.get("denied"):
        raise invalid_field("resource.allowed", "", "A firewall rule needs allowed or denied.")
    fw = dict(body)
    direction = body.get("direction", "INGRESS")
    fw.update(
        kind="compute#firewall",
        id=new_id(),
        creationTimestamp=timestamp(),
        name=name,
        network=to_link(
            body.get("network") or "global/networks/default", ctx.project, "resource.network"
        ),
        priority=int(body.get("priority", 1000)),
        direction=direction,
        disabled=bool(body.get("disabled", False)),
        logConfig=body.get("logConfig") or {"enable": False},
        selfLink=LINK + path,
    )
    if direction == "INGRESS" and not any(
        body.get(k) for k in ("sourceRanges", "sourceTags", "sourceServiceAccounts")
    ):
        fw["sourceRanges"] = ["0.0.0.0/0"]
    ctx.proj["_firewalls"][name] = fw
    return _op(ctx, "global", "insert", fw["selfLink"], fw["id"])


@handler("compute.firewalls.get")
def get_firewall(ctx: Ctx) -> dict[str, Any]:
    fw = ctx.proj["_firewalls"].get(ctx.params["firewall"])
    if fw is None:
        raise not_found(f"projects/{ctx.project}/global/firewalls/{ctx.params['firewall']}")
    return fw


@handler("compute.firewalls.delete")
def delete_firewall(ctx: Ctx) -> dict[str, Any]:
    fw = get_firewall(ctx)
    del ctx.proj["_firewalls"][fw["name"]]
    return _op(ctx, "global", "delete", fw["selfLink"], fw["id"])


@handler("compute.firewalls.list")
def list_firewalls(ctx: Ctx) -> dict[str, Any]:
    return list_response(
        "compute#firewallList",
        f"projects/{ctx.project}/global/firewalls",
        ctx.render(list(ctx.proj["_firewalls"].values())),
        ctx.query,
        ctx.base,
    )


def _default_network(project: str) -> dict[str, Any]:
    return {
        "kind": "compute#network",
        "id": emu_catalog.stable_id("network", project, "default"),
        "creationTimestamp": emu_catalog.CATALOG_TIMESTAMP,
        "name": "default",
        "description": "Default network for the project",
        "autoCreateSubnetworks": True,
        "routingConfig": {"routingMode": "REGIONAL"},
        "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
        "subnetworks": [
            f"{LINK}projects/{project}/regions/{r}/subnetworks/default" for r in catalog.REGIONS
        ],
        "selfLink": f"{LINK}projects/{project}/global/networks/default",
    }


@handler("compute.networks.get")
def get_network(ctx: Ctx) -> dict[str, Any]:
    if ctx.params["network"] != "default":
        raise not_found(f"projects/{ctx.project}/global/networks/{ctx.params['network']}")
    return _default_network(ctx.project)


@handler("compute.networks.list")
def list_networks(ctx: Ctx) -> dict[str, Any]:
    return list_response(
        "compute#networkList",
        f"projects/{ctx.project}/global/networks",
        ctx.render([_default_network(ctx.project)]),
        ctx.query,
        ctx.base,
    )
