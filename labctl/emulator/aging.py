"""Aging (tests only): move a resource's timestamps into the past.

Hygiene rules ("a disk detached for 7 days", "a VM running past its maxRunDuration") can then
be tested without waiting. Every ``...Timestamp`` field of the resource moves by the same
amount, nested ones included (``resourceStatus.scheduling.terminationTimestamp``).
"""

from __future__ import annotations

from typing import Any

from labctl.emulator.errors import ApiError, not_found
from labctl.emulator.state import State, shift_timestamp

# kind -> (project collection, location part of the key: "zone", "region" or None)
KINDS: dict[str, tuple[str, str | None]] = {
    "instance": ("_instances", "zone"),
    "disk": ("_disks", "zone"),
    "address": ("_addresses", "region"),
    "resource_policy": ("_resourcePolicies", "region"),
    "snapshot": ("_snapshots", None),
    "firewall": ("_firewalls", None),
}
_PATH_WORD = {
    "instance": "instances",
    "disk": "disks",
    "address": "addresses",
    "resource_policy": "resourcePolicies",
    "snapshot": "snapshots",
    "firewall": "firewalls",
}


def _shift(value: Any, seconds: float) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("Timestamp") and isinstance(item, str) and item:
                value[key] = shift_timestamp(item, seconds)
            else:
                _shift(item, seconds)
    elif isinstance(value, list):
        for item in value:
            _shift(item, seconds)


def age(
    state: State,
    project: str,
    kind: str,
    name: str,
    seconds: float,
    zone: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    """Shift every timestamp of one resource ``seconds`` into the past; return the resource."""
    kind = kind.replace("-", "_")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    collection, scope = KINDS[kind]
    where = {"zone": zone, "region": region}.get(scope or "")
    if scope and not where:
        raise ValueError(f"a {kind} needs {scope}=...")
    key = f"{where}/{name}" if scope else name
    resource = state.project(project)[collection].get(key)
    if resource is None:
        place = f"{scope}s/{where}" if scope else "global"
        raise not_found(f"projects/{project}/{place}/{_PATH_WORD[kind]}/{name}")
    if seconds < 0:
        raise ApiError(400, "Aging moves timestamps into the past only.", "invalid")
    _shift(resource, seconds)
    return resource
