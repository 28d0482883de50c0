"""Resource policies (instance schedules): insert, get, list, aggregatedList, delete.

Rules from https://cloud.google.com/compute/docs/instances/schedule-instance-start-stop: a
schedule applies to VMs in its own region, a VM has at most one schedule, and a schedule still
attached to a VM cannot be deleted. The emulator stores schedules; it does not run them.
"""

from __future__ import annotations

import copy
import re
import zoneinfo
from typing import Any

from labctl.emulator.api import Ctx, handler, to_link
from labctl.emulator.errors import already_exists, in_use, invalid_field, not_found
from labctl.emulator.listing import aggregated_response, list_response, regional_scopes
from labctl.emulator.operations import scoped_op
from labctl.emulator.state import LINK, new_id, parse_timestamp, timestamp

_CRON_FIELD = re.compile(r"[\w*/,-]+")
_FIELD = "resource.instanceSchedulePolicy"


def _check_schedule(policy: dict[str, Any]) -> None:
    starts, stops = policy.get("vmStartSchedule"), policy.get("vmStopSchedule")
    if not starts and not stops:
        raise invalid_field(_FIELD, "", "Specify vmStartSchedule, vmStopSchedule or both.")
    for key, sched in (("vmStartSchedule", starts), ("vmStopSchedule", stops)):
        if not sched:
            continue
        cron = str(sched.get("schedule") or "")
        fields = cron.split()
        if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
            raise invalid_field(
                f"{_FIELD}.{key}.schedule", cron, "Must be a unix-cron schedule of five fields."
            )
    tz = policy.get("timeZone") or ""
    try:
        zoneinfo.ZoneInfo(tz)
    except (KeyError, ValueError) as exc:
        raise invalid_field(
            f"{_FIELD}.timeZone", tz, "Must be a time zone name from the tz database."
        ) from exc
    for key in ("startTime", "expirationTime"):
        if policy.get(key):
            try:
                parse_timestamp(policy[key])
            except ValueError as exc:
                raise invalid_field(f"{_FIELD}.{key}", policy[key], "Must be RFC 3339.") from exc


@handler("compute.resourcePolicies.insert")
def insert_policy(ctx: Ctx) -> dict[str, Any]:
    region, body = ctx.region(), ctx.body
    name = body["name"]
    path = f"projects/{ctx.project}/regions/{region}/resourcePolicies/{name}"
    if f"{region}/{name}" in ctx.proj["_resourcePolicies"]:
        raise already_exists(path)
    if body.get("instanceSchedulePolicy") is not None:
        _check_schedule(body["instanceSchedulePolicy"])
    elif not any(k.endswith("Policy") for k in body):
        raise invalid_field("resource", name, "A resource policy needs one policy type.")
    policy = copy.deepcopy(body)
    policy.update(
        kind="compute#resourcePolicy",
        id=new_id(),
        creationTimestamp=timestamp(),
        name=name,
        region=f"{LINK}projects/{ctx.project}/regions/{region}",
        selfLink=LINK + path,
        status="READY",
    )
    ctx.proj["_resourcePolicies"][f"{region}/{name}"] = policy
    return scoped_op(ctx, f"regions/{region}", "insert", policy["selfLink"], policy["id"])


def _find(ctx: Ctx) -> dict[str, Any]:
    region, name = ctx.region(), ctx.params["resourcePolicy"]
    policy = ctx.proj["_resourcePolicies"].get(f"{region}/{name}")
    if policy is None:
        raise not_found(f"projects/{ctx.project}/regions/{region}/resourcePolicies/{name}")
    return policy


@handler("compute.resourcePolicies.get")
def get_policy(ctx: Ctx) -> dict[str, Any]:
    return _find(ctx)


@handler("compute.resourcePolicies.delete")
def delete_policy(ctx: Ctx) -> dict[str, Any]:
    policy = _find(ctx)
    for inst in ctx.proj["_instances"].values():
        if policy["selfLink"] in (inst.get("resourcePolicies") or []):
            path = policy["selfLink"][len(LINK) :]
            raise in_use("resource_policy", path, inst["selfLink"][len(LINK) :])
    del ctx.proj["_resourcePolicies"][f"{ctx.region()}/{policy['name']}"]
    return scoped_op(ctx, f"regions/{ctx.region()}", "delete", policy["selfLink"], policy["id"])


@handler("compute.resourcePolicies.list")
def list_policies(ctx: Ctx) -> dict[str, Any]:
    region = ctx.region()
    return list_response(
        "compute#resourcePolicyList",
        f"projects/{ctx.project}/regions/{region}/resourcePolicies",
        regional_scopes(ctx, "_resourcePolicies")[f"regions/{region}"],
        ctx.query,
        ctx.base,
    )


@handler("compute.resourcePolicies.aggregatedList")
def aggregated_policies(ctx: Ctx) -> dict[str, Any]:
    return aggregated_response(
        "compute#resourcePolicyAggregatedList",
        f"projects/{ctx.project}/aggregated/resourcePolicies",
        "resourcePolicies",
        regional_scopes(ctx, "_resourcePolicies"),
        ctx.query,
        ctx.base,
    )


def _key(link: str) -> str:
    """``region/name`` of ``@/projects/P/regions/R/resourcePolicies/N``."""
    parts = link.split("/")
    return f"{parts[-3]}/{parts[-1]}"


# --- attaching to instances (used by instances.insert and add/removeResourcePolicies) -------
def resolve(
    proj: dict[str, Any], project: str, region: str, urls: list[Any], attached: list[str]
) -> list[str]:
    """The links of ``attached`` plus ``urls``, checked as Compute checks them."""
    out = list(attached)
    for i, url in enumerate(urls):
        field = f"resource.resourcePolicies[{i}]"
        link = to_link(url, project, field)
        parts = link[len(LINK) :].split("/")
        if len(parts) != 6 or parts[2] != "regions" or parts[4] != "resourcePolicies":
            raise invalid_field(field, url, "Expected regions/REGION/resourcePolicies/NAME.")
        if parts[3] != region:
            raise invalid_field(
                field,
                url,
                f"Resource policy must be in the same region as the instance ('{region}').",
            )
        if f"{parts[3]}/{parts[5]}" not in proj["_resourcePolicies"]:
            raise not_found(link[len(LINK) :])
        if link not in out:
            out.append(link)
    schedules = [
        link for link in out if "instanceSchedulePolicy" in proj["_resourcePolicies"][_key(link)]
    ]
    if len(schedules) > 1:
        raise invalid_field(
            "resource.resourcePolicies",
            ",".join(s.rsplit("/", 1)[1] for s in schedules),
            "An instance can have at most one instance schedule policy.",
        )
    return out
