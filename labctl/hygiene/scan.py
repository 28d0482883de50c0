"""The scan: one list call per kind of resource (at most six, sent together), then at most one
guest-attribute read per running labctl VM and one object listing per bucket finding."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from labctl.errors import NotFound
from labctl.hygiene import rules
from labctl.hygiene.model import Inventory, Options, Plan, Policy
from labctl.models import Bucket, Vm
from labctl.pricing import PriceTable
from labctl.providers.base import ComputeProvider, StorageProvider
from labctl.runner import raise_first, read_many
from labctl.vms import LAST_ACTIVE, parse_time, read_reports

# inventory field -> the kinds that need it listed
NEEDED_FOR = {
    "vms": ("instance", "firewall"),
    "disks": ("instance", "disk"),
    "addresses": ("address",),
    "snapshots": ("instance", "disk", "snapshot"),
    "firewalls": ("firewall",),
    "buckets": ("bucket",),
}


def scan(
    compute: ComputeProvider, storage: StorageProvider | None, kinds: Sequence[str]
) -> Inventory:
    """List what the kinds need, concurrently; a failed list fails the scan (a plan made from
    part of the picture could delete what another list would have shown in use)."""
    calls: dict[str, Callable[[], list[Any]]] = {
        "vms": compute.list_vms,
        "disks": compute.list_disks,
        "addresses": compute.list_addresses,
        "snapshots": compute.list_snapshots,
        "firewalls": compute.list_firewalls,
    }
    if storage is not None:
        calls["buckets"] = storage.list_buckets
    wanted = [f for f, needs in NEEDED_FOR.items() if f in calls and set(needs) & set(kinds)]
    outcomes = read_many(wanted, lambda field: calls[field](), doing="listing")
    raise_first(outcomes)
    return Inventory(**{o.key: o.value for o in outcomes})


def read_activity(compute: ComputeProvider, inventory: Inventory, vms: Sequence[Vm]) -> None:
    """The on-VM agent's last activity, for these VMs (one read each, concurrently). A VM
    without the attribute has no idle finding; one that cannot be read is noted."""

    for outcome in read_reports(compute, vms):
        vm = outcome.item
        if isinstance(outcome.error, NotFound):
            continue  # deleted since the list: nothing to do
        if outcome.error is not None:
            inventory.unreadable[vm.name] = outcome.error
            continue
        when = parse_time(outcome.value.get(LAST_ACTIVE))
        if when is not None:
            inventory.last_active[(vm.zone, vm.name)] = when


def count_objects(storage: StorageProvider, inventory: Inventory, names: Sequence[str]) -> None:
    """Fill object counts and bytes of these buckets (one object listing each)."""

    def count(bucket: Bucket) -> Bucket:
        blobs = storage.list_blobs(bucket.name)
        return replace(bucket, object_count=len(blobs), total_bytes=sum(b.size for b in blobs))

    wanted = set(names)
    chosen = [b for b in inventory.buckets if b.name in wanted]
    counted = {}
    for outcome in read_many(chosen, count, key=lambda b: b.name):
        if outcome.error is not None and not isinstance(outcome.error, NotFound):
            raise outcome.error
        if outcome.error is None:
            counted[outcome.key] = outcome.value
    inventory.buckets = [counted.get(b.name, b) for b in inventory.buckets]


def survey(
    compute: ComputeProvider,
    storage: StorageProvider | None,
    policy: Policy,
    options: Options,
    *,
    now: datetime,
    prices: PriceTable,
    count_all_buckets: bool = False,
) -> tuple[Inventory, Plan]:
    """Scan, read what the rules need (activity, bucket sizes), then plan."""
    inventory = scan(compute, storage, options.kinds)
    read_activity(compute, inventory, rules.activity_wanted(inventory, policy, options, now))
    if storage is not None:
        names = (
            [b.name for b in inventory.buckets]
            if count_all_buckets
            else rules.buckets_to_count(inventory, policy, options, now)
        )
        count_objects(storage, inventory, names)
    return inventory, rules.plan(inventory, policy, options, now=now, prices=prices)
