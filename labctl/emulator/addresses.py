"""Regional addresses: reserve, get, list, aggregatedList, delete and setLabels.

An address is RESERVED until an instance uses it (its ``natIP``), then IN_USE with the
instance in ``users``; deleting the instance makes it RESERVED again. Reserving one needs no
instance, which is how forgotten static IPs come to be billed.
"""

from __future__ import annotations

from typing import Any

from labctl.emulator import fingerprints, quotas
from labctl.emulator.api import Ctx, handler
from labctl.emulator.errors import ApiError, already_exists, in_use, not_found
from labctl.emulator.listing import aggregated_response, list_response, regional_scopes
from labctl.emulator.operations import scoped_op
from labctl.emulator.state import LINK, fingerprint, new_id, timestamp

_STATIC_POOL = "198.51.100"  # reserved addresses (RFC 5737); ephemeral ones start at 203.0.113


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
    quotas.check_one(ctx.state, ctx.faults, ctx.project, "STATIC_ADDRESSES", region)
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
    return scoped_op(ctx, f"regions/{region}", "insert", addr["selfLink"], addr["id"])


def _find(ctx: Ctx, name: str) -> dict[str, Any]:
    region = ctx.region()
    addr = ctx.proj["_addresses"].get(f"{region}/{name}")
    if addr is None:
        raise not_found(f"projects/{ctx.project}/regions/{region}/addresses/{name}")
    return addr


@handler("compute.addresses.get")
def get_address(ctx: Ctx) -> dict[str, Any]:
    return _find(ctx, ctx.params["address"])


@handler("compute.addresses.delete")
def delete_address(ctx: Ctx) -> dict[str, Any]:
    addr = _find(ctx, ctx.params["address"])
    if addr.get("users"):
        raise in_use("address", addr["selfLink"][len(LINK) :], addr["users"][0][len(LINK) :])
    region = ctx.region()
    del ctx.proj["_addresses"][f"{region}/{addr['name']}"]
    return scoped_op(ctx, f"regions/{region}", "delete", addr["selfLink"], addr["id"])


@handler("compute.addresses.setLabels")
def set_address_labels(ctx: Ctx) -> dict[str, Any]:
    addr = _find(ctx, ctx.params["resource"])
    fingerprints.require(
        ctx.body.get("labelFingerprint"), addr["labelFingerprint"], fingerprints.LABELS_CHANGED
    )
    addr["labels"] = dict(ctx.body.get("labels") or {})
    addr["labelFingerprint"] = fingerprint([addr["labels"], new_id()])
    return scoped_op(ctx, f"regions/{ctx.region()}", "setLabels", addr["selfLink"], addr["id"])


@handler("compute.addresses.list")
def list_addresses(ctx: Ctx) -> dict[str, Any]:
    region = ctx.region()
    return list_response(
        "compute#addressList",
        f"projects/{ctx.project}/regions/{region}/addresses",
        regional_scopes(ctx, "_addresses")[f"regions/{region}"],
        ctx.query,
        ctx.base,
    )


@handler("compute.addresses.aggregatedList")
def aggregated_addresses(ctx: Ctx) -> dict[str, Any]:
    return aggregated_response(
        "compute#addressAggregatedList",
        f"projects/{ctx.project}/aggregated/addresses",
        "addresses",
        regional_scopes(ctx, "_addresses"),
        ctx.query,
        ctx.base,
    )
