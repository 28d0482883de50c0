"""Compute Engine REST JSON (camelCase resources) -> labctl records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from labctl.models import (
    STATE_FROM_GCE,
    Address,
    Disk,
    Firewall,
    Gpu,
    IamPolicy,
    MachineType,
    Provisioning,
    Quota,
    Schedule,
    Snapshot,
    Vm,
    VmState,
)


def last_segment(url: object) -> str:
    """ ".../zones/us-central1-c" -> "us-central1-c" (also for short names)."""
    return str(url or "").rstrip("/").rsplit("/", 1)[-1]


def parse_timestamp(text: object) -> datetime | None:
    """RFC 3339 as Compute writes it ("2024-05-01T10:00:00.123-07:00"); None if absent or odd."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def metadata_items(resource: Mapping[str, Any]) -> dict[str, str]:
    items = (resource.get("metadata") or {}).get("items") or []
    return {str(i["key"]): str(i.get("value", "")) for i in items if "key" in i}


def provisioning_of(scheduling: Mapping[str, Any]) -> Provisioning:
    if scheduling.get("provisioningModel") == "SPOT":
        return Provisioning.SPOT
    if scheduling.get("preemptible"):
        return Provisioning.PREEMPTIBLE
    return Provisioning.STANDARD


def parse_vm(item: Mapping[str, Any]) -> Vm:
    status = str(item.get("status", ""))
    accelerators = item.get("guestAccelerators") or []
    gpu = None
    if accelerators:
        first = accelerators[0]
        gpu = Gpu(
            type=last_segment(first.get("acceleratorType")),
            count=int(first.get("acceleratorCount", 1)),
        )
    interfaces = item.get("networkInterfaces") or [{}]
    nic = interfaces[0] if interfaces else {}
    access = nic.get("accessConfigs") or [{}]
    return Vm(
        name=str(item["name"]),
        zone=last_segment(item.get("zone")),
        id=str(item.get("id", "")),
        state=STATE_FROM_GCE.get(status, VmState.UNKNOWN),
        status=status,
        machine_type=last_segment(item.get("machineType")),
        provisioning=provisioning_of(item.get("scheduling") or {}),
        gpu=gpu,
        external_ip=(access[0] if access else {}).get("natIP") or None,
        internal_ip=nic.get("networkIP") or None,
        created=parse_timestamp(item.get("creationTimestamp")),
        labels=dict(item.get("labels") or {}),
        metadata=metadata_items(item),
        last_started=parse_timestamp(item.get("lastStartTimestamp")),
        last_stopped=parse_timestamp(item.get("lastStopTimestamp")),
        disks=tuple(last_segment(d.get("source")) for d in item.get("disks") or ()),
        disk_gb=sum(int(d.get("diskSizeGb") or 0) for d in item.get("disks") or ()),
        tags=tuple((item.get("tags") or {}).get("items") or ()),
        resource_policies=tuple(last_segment(p) for p in item.get("resourcePolicies") or ()),
    )


def parse_disk(item: Mapping[str, Any]) -> Disk:
    return Disk(
        name=str(item["name"]),
        zone=last_segment(item.get("zone")),
        size_gb=int(item.get("sizeGb", 0)),
        users=tuple(last_segment(u) for u in item.get("users") or ()),
        labels=dict(item.get("labels") or {}),
        created=parse_timestamp(item.get("creationTimestamp")),
        type=last_segment(item.get("type")) or "pd-standard",
        last_detached=parse_timestamp(item.get("lastDetachTimestamp")),
    )


def parse_snapshot(item: Mapping[str, Any]) -> Snapshot:
    return Snapshot(
        name=str(item["name"]),
        source_disk=last_segment(item.get("sourceDisk")),
        disk_size_gb=int(item.get("diskSizeGb", 0)),
        storage_bytes=int(item.get("storageBytes", 0)),
        status=str(item.get("status", "")),
        labels=dict(item.get("labels") or {}),
        created=parse_timestamp(item.get("creationTimestamp")),
    )


def parse_address(item: Mapping[str, Any]) -> Address:
    return Address(
        name=str(item["name"]),
        region=last_segment(item.get("region")),
        address=str(item.get("address", "")),
        status=str(item.get("status", "")),
        users=tuple(last_segment(u) for u in item.get("users") or ()),
        labels=dict(item.get("labels") or {}),
        created=parse_timestamp(item.get("creationTimestamp")),
        external=item.get("addressType", "EXTERNAL") == "EXTERNAL",
    )


def parse_firewall(item: Mapping[str, Any]) -> Firewall:
    allowed = []
    for rule in item.get("allowed") or ():
        protocol = str(rule.get("IPProtocol", ""))
        ports = rule.get("ports") or []
        allowed += [f"{protocol}:{p}" for p in ports] if ports else [protocol]
    return Firewall(
        name=str(item["name"]),
        description=str(item.get("description", "")),
        target_tags=tuple(item.get("targetTags") or ()),
        source_ranges=tuple(item.get("sourceRanges") or ()),
        allowed=tuple(allowed),
        direction=str(item.get("direction", "INGRESS")),
        disabled=bool(item.get("disabled", False)),
        created=parse_timestamp(item.get("creationTimestamp")),
    )


def parse_quotas(body: Mapping[str, Any], region: str | None) -> list[Quota]:
    return [
        Quota(str(q["metric"]), float(q.get("limit", 0)), float(q.get("usage", 0)), region)
        for q in body.get("quotas") or ()
        if q.get("metric")
    ]


def parse_policy(body: Mapping[str, Any]) -> IamPolicy:
    bindings: dict[str, tuple[str, ...]] = {}
    for binding in body.get("bindings") or ():
        if binding.get("condition"):
            continue  # a conditional binding grants something narrower: leave it alone
        members = set(bindings.get(binding["role"], ())) | set(binding.get("members") or ())
        bindings[str(binding["role"])] = tuple(sorted(members))
    return IamPolicy(bindings, str(body.get("etag", "")), int(body.get("version", 1)))


def parse_schedule(item: Mapping[str, Any]) -> Schedule | None:
    """A resource policy that is an instance schedule, or None for other kinds."""
    policy = item.get("instanceSchedulePolicy")
    if not isinstance(policy, Mapping):
        return None
    return Schedule(
        name=str(item["name"]),
        region=last_segment(item.get("region")),
        start=(policy.get("vmStartSchedule") or {}).get("schedule"),
        stop=(policy.get("vmStopSchedule") or {}).get("schedule"),
        timezone=str(policy.get("timeZone", "UTC")),
        description=str(item.get("description", "")),
    )


def parse_machine_type(item: Mapping[str, Any], zone: str) -> MachineType:
    return MachineType(
        name=str(item["name"]),
        zone=last_segment(item.get("zone")) or zone,
        cpus=int(item.get("guestCpus", 0)),
        memory_mb=int(item.get("memoryMb", 0)),
    )


def parse_guest_attributes(body: Mapping[str, Any]) -> dict[str, str]:
    """getGuestAttributes -> {"namespace/key": value}."""
    items = (body.get("queryValue") or {}).get("items") or []
    result: dict[str, str] = {}
    for item in items:
        key = f"{item.get('namespace', '')}/{item.get('key', '')}"
        result[key] = str(item.get("value", ""))
    if not items and body.get("variableKey"):  # a single-key query (variableKey=ns/key)
        result[str(body["variableKey"])] = str(body.get("variableValue", ""))
    return result


def filter_expression(name: str | None) -> str | None:
    """Server-side list filter: '(name = "x")'.

    Labels are matched client-side: labctl's keys contain '-' ("labctl-course"), which is not
    a plain field path in Compute's filter grammar (gcloud also filters labels client-side).
    """
    return f'(name = "{name}")' if name else None


def matches(resource_labels: Mapping[str, str], wanted: Mapping[str, str] | None) -> bool:
    return all(resource_labels.get(k) == v for k, v in (wanted or {}).items())
