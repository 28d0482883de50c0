"""Firewall rules and the project's ``default`` network, with its four default rules.

A new project's ``default`` network comes with ``default-allow-internal``, ``-ssh``, ``-rdp``
and ``-icmp`` (priority 65534; https://cloud.google.com/vpc/docs/firewalls#more_rules_default_vpc).
They are ordinary rules: they can be deleted, and the ``default_firewall_rules`` fault leaves
some or all of them out of new projects.
"""

from __future__ import annotations

from typing import Any

from labctl import catalog
from labctl.emulator import catalog as emu_catalog
from labctl.emulator.api import Ctx, handler, to_link
from labctl.emulator.errors import already_exists, invalid_field, not_found
from labctl.emulator.listing import list_response
from labctl.emulator.operations import scoped_op
from labctl.emulator.state import LINK, new_id, timestamp

_ALL_PORTS = ["0-65535"]
# name -> (description, sourceRanges, allowed)
DEFAULT_RULES: dict[str, tuple[str, list[str], list[dict[str, Any]]]] = {
    "default-allow-icmp": ("Allow ICMP from anywhere", ["0.0.0.0/0"], [{"IPProtocol": "icmp"}]),
    "default-allow-internal": (
        "Allow internal traffic on the default network",
        ["10.128.0.0/9"],
        [
            {"IPProtocol": "tcp", "ports": _ALL_PORTS},
            {"IPProtocol": "udp", "ports": _ALL_PORTS},
            {"IPProtocol": "icmp"},
        ],
    ),
    "default-allow-rdp": (
        "Allow RDP from anywhere",
        ["0.0.0.0/0"],
        [{"IPProtocol": "tcp", "ports": ["3389"]}],
    ),
    "default-allow-ssh": (
        "Allow SSH from anywhere",
        ["0.0.0.0/0"],
        [{"IPProtocol": "tcp", "ports": ["22"]}],
    ),
}


def add_default_rules(proj: dict[str, Any], project: str, names: list[str]) -> None:
    """Create the named default rules in a new project (what Compute does for ``default``)."""
    for name in names:
        description, ranges, allowed = DEFAULT_RULES[name]
        proj["_firewalls"][name] = {
            "kind": "compute#firewall",
            "id": new_id(),
            "creationTimestamp": proj["creationTimestamp"],
            "name": name,
            "description": description,
            "network": f"{LINK}projects/{project}/global/networks/default",
            "priority": 65534,
            "sourceRanges": list(ranges),
            "allowed": [dict(a) for a in allowed],
            "direction": "INGRESS",
            "logConfig": {"enable": False},
            "disabled": False,
            "selfLink": f"{LINK}projects/{project}/global/firewalls/{name}",
        }


@handler("compute.firewalls.insert")
def insert_firewall(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body
    name = body["name"]
    path = f"projects/{ctx.project}/global/firewalls/{name}"
    if name in ctx.proj["_firewalls"]:
        raise already_exists(path)
    if not body.get("allowed") and not body.get("denied"):
        raise invalid_field("resource.allowed", "", "A firewall rule needs allowed or denied.")
    priority = int(body.get("priority", 1000))
    if not 0 <= priority <= 65535:
        raise invalid_field("resource.priority", priority, "Must be between 0 and 65535.")
    fw = dict(body)  # description, targetTags, sourceRanges, allowed... are kept as sent
    direction = body.get("direction", "INGRESS")
    fw.update(
        kind="compute#firewall",
        id=new_id(),
        creationTimestamp=timestamp(),
        name=name,
        network=to_link(
            body.get("network") or "global/networks/default", ctx.project, "resource.network"
        ),
        priority=priority,
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
    return scoped_op(ctx, "global", "insert", fw["selfLink"], fw["id"])


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
    return scoped_op(ctx, "global", "delete", fw["selfLink"], fw["id"])


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
