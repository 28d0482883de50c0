"""What exists and what it costs (`labctl cost`): one line per billed resource, grouped by
course, owner or kind. Pure: computed from a scan and the price table."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from labctl import labels as L
from labctl.hygiene.model import Inventory
from labctl.models import Vm, VmState
from labctl.pricing import GIB, Estimate, PriceTable, total


@dataclass(frozen=True)
class CostLine:
    kind: str
    name: str
    where: str
    state: str
    detail: str  # what bills: "n1-standard-8 + 1x nvidia-tesla-p100 (spot), 100 GB pd-balanced"
    cost: Estimate
    labels: Mapping[str, str]

    @property
    def course(self) -> str | None:
        return self.labels.get(L.COURSE)

    @property
    def owner(self) -> str | None:
        return self.labels.get(L.OWNER)


@dataclass(frozen=True)
class Group:
    name: str
    count: int
    cost: Estimate


@dataclass(frozen=True)
class CostReport:
    lines: list[CostLine]
    groups: list[Group]
    total: Estimate
    by: str
    prices_date: str
    cleanup_saving: Estimate  # per month, what `labctl cleanup` would save
    not_counted: int  # resources without labctl's labels (counted only with --all)
    sources: dict[str, dict[str, str]]


def cost_report(
    inventory: Inventory,
    prices: PriceTable,
    *,
    by: str = "course",
    managed_only: bool = True,
    course: str | None = None,
    owner: str | None = None,
    cleanup_saving: Estimate | None = None,
) -> CostReport:
    lines, not_counted = [], 0
    for line in _lines(inventory, prices):
        if managed_only and not L.is_managed(line.labels):
            not_counted += 1
        elif (course is None or line.course == course) and (owner is None or line.owner == owner):
            lines.append(line)
    return CostReport(
        lines=lines,
        groups=_groups(lines, by),
        total=total(line.cost for line in lines),
        by=by,
        prices_date=prices.date,
        cleanup_saving=cleanup_saving or Estimate(0.0),
        not_counted=not_counted,
        sources=prices.sources,
    )


def _groups(lines: list[CostLine], by: str) -> list[Group]:
    members: dict[str, list[CostLine]] = {}
    for line in lines:
        key = line.kind if by == "kind" else getattr(line, by) or "-"
        members.setdefault(key, []).append(line)
    return [
        Group(name, len(group), total(line.cost for line in group))
        for name, group in sorted(members.items())
    ]


def _lines(inventory: Inventory, prices: PriceTable) -> Iterator[CostLine]:
    """Every resource that bills. An address in use bills as its VM's external IP; firewall
    rules are free."""
    vms = {(vm.zone, vm.name) for vm in inventory.vms}
    attached: dict[tuple[str, str], list[Any]] = {}
    unattached = []
    for disk in inventory.disks:
        users = [u for u in disk.users if (disk.zone, u) in vms]
        if users:
            attached.setdefault((disk.zone, users[0]), []).append(disk)
        else:
            unattached.append(disk)
    for vm in inventory.vms:
        disks = attached.get((vm.zone, vm.name), [])
        cost = prices.vm_estimate(vm, disks) + prices.vm_address_estimate(vm)
        yield CostLine("instance", vm.name, vm.zone, vm.state.value, _vm_detail(vm, disks), cost,
                       vm.labels)  # fmt: skip
    for disk in unattached:
        detail = f"{disk.size_gb} GB {disk.type.removeprefix('pd-')}, no VM"
        yield CostLine("disk", disk.name, disk.zone, "unattached", detail,
                       prices.disk_estimate(disk), disk.labels)  # fmt: skip
    for address in inventory.addresses:
        if address.status == "RESERVED" and address.external:
            detail = f"{address.address}, unused"
            yield CostLine("address", address.name, address.region, "reserved", detail,
                           prices.address_estimate(in_use=False), address.labels)  # fmt: skip
    for snap in inventory.snapshots:
        detail = f"{snap.storage_bytes / GIB:.1f} GiB of disk {snap.source_disk}"
        yield CostLine("snapshot", snap.name, "global", snap.status.lower(), detail,
                       prices.snapshot_estimate(snap.storage_bytes), snap.labels)  # fmt: skip
    for bucket in inventory.buckets:
        size = "size unknown" if bucket.total_bytes is None else (
            f"{bucket.object_count} objects, {bucket.total_bytes / GIB:.1f} GiB")  # fmt: skip
        detail = f"{bucket.storage_class}, {size}"
        yield CostLine("bucket", bucket.name, bucket.location.lower(), "-", detail,
                       prices.bucket_estimate(bucket), bucket.labels)  # fmt: skip


def _vm_detail(vm: Vm, disks: list[Any]) -> str:
    parts = []
    if vm.state is not VmState.STOPPED:
        gpu = f" + {vm.gpu.count}x {vm.gpu.type.removeprefix('nvidia-tesla-')}" if vm.gpu else ""
        parts.append(f"{vm.machine_type}{gpu} {vm.provisioning.value}")
        if vm.external_ip:
            parts.append("IP")
    parts += [f"{d.size_gb} GB {d.type.removeprefix('pd-')}" for d in disks]
    return ", ".join(parts) or "-"
