"""From a scan to a plan, with no provider and no clock of its own: every rule is a pure
function of what was found, the thresholds and `now`.

A threshold is reached at that age or more ("stopped 7 days" with stopped_days = 7 is a
finding). A rule whose threshold is None is off. Only resources with labctl-managed=true (or,
for firewall rules, labctl's name prefix and description) and without labctl-keep=true become
findings; the others are left alone and counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from labctl import labels as L
from labctl.errors import LabctlError
from labctl.hygiene.model import (
    KINDS,
    NO_ACTION,
    Finding,
    Inventory,
    LeftAlone,
    Options,
    Plan,
    PlannedSnapshot,
    Policy,
)
from labctl.models import Address, Bucket, Disk, Firewall, Snapshot, Vm, VmState
from labctl.pricing import GIB, Estimate, PriceTable, total

SNAPSHOT_NAME_MAX = 63
SNAPSHOT_NAME_TRIES = 9  # -2 ... -9 when the day's name is taken by another (or a failed) one


@dataclass(frozen=True)
class Verdict:
    rule: str
    reason: str
    action: str


@dataclass(frozen=True)
class Candidate:
    """Any scanned resource, in one shape, with what the rules say about it."""

    kind: str
    name: str
    verdict: Verdict | None
    managed: bool
    kept: bool
    created: datetime | None
    labels: Mapping[str, str] = field(default_factory=dict)
    zone: str | None = None
    region: str | None = None
    location: str | None = None
    course: str | None = None
    cost: Estimate = field(default_factory=lambda: Estimate(0.0))
    saving: Callable[[str], Estimate] | None = None  # action -> what it saves
    resource: object = None


def age_text(delta: timedelta) -> str:
    """'75 min', '14 h', '9 days'."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


def reached(threshold: timedelta | None, since: datetime | None, now: datetime) -> bool:
    return threshold is not None and since is not None and now - since >= threshold


def expired(labels: Mapping[str, str], today: date) -> date | None:
    """The labctl-expires date if it is before today (the label means "delete after that day")."""
    when = L.expiry_of(labels)
    return when if when is not None and when < today else None


# -- one rule per kind ---------------------------------------------------------------------------


def instance_verdict(
    vm: Vm, last_active: datetime | None, policy: Policy, now: datetime
) -> Verdict | None:
    """Past its expiry: delete. Stopped too long: delete. Running: idle, or up too long: stop."""
    when = expired(vm.labels, now.date())
    if when is not None:
        return Verdict("expired", f"expired {when.isoformat()}", "delete")
    if vm.state is VmState.STOPPED:
        since = vm.last_stopped or vm.created
        if reached(policy.stopped, since, now):
            assert since is not None
            return Verdict("stopped", f"stopped {age_text(now - since)}", "delete")
        return None
    if vm.state is not VmState.RUNNING:
        return None  # starting or stopping: look again next time
    if reached(policy.idle, last_active, now):
        assert last_active is not None
        return Verdict("idle", f"idle {age_text(now - last_active)}", "stop")
    started = vm.last_started or vm.created
    if reached(policy.running, started, now):
        assert started is not None
        return Verdict("running", f"running {age_text(now - started)}", "stop")
    return None


def disk_verdict(disk: Disk, policy: Policy, now: datetime) -> Verdict | None:
    if disk.users:
        return None
    since = disk.last_detached or disk.created
    if reached(policy.orphan_disk, since, now):
        assert since is not None
        return Verdict("orphaned", f"no VM for {age_text(now - since)}", "delete")
    return None


def address_verdict(address: Address, policy: Policy, now: datetime) -> Verdict | None:
    """A reserved address not in use. Compute does not say since when it is unused: its
    reservation time stands in."""
    if address.status != "RESERVED" or address.users:
        return None
    if reached(policy.unused_address, address.created, now):
        assert address.created is not None
        return Verdict("unused", f"reserved, unused {age_text(now - address.created)}", "release")
    return None


def snapshot_verdict(snapshot: Snapshot, policy: Policy, now: datetime) -> Verdict | None:
    if snapshot.status == "FAILED":
        return Verdict("failed", "snapshot failed", "delete")
    if snapshot.status == "READY" and reached(policy.snapshot, snapshot.created, now):
        assert snapshot.created is not None
        return Verdict("old", f"{age_text(now - snapshot.created)} old", "delete")
    return None


def firewall_verdict(firewall: Firewall, tags_in_use: set[str]) -> Verdict | None:
    """A rule for target tags that no VM carries (a rule without tags applies to every VM)."""
    if not firewall.target_tags or tags_in_use.intersection(firewall.target_tags):
        return None
    tags = ", ".join(firewall.target_tags)
    return Verdict("unused", f"no VM has tag {tags}", "delete")


def bucket_verdict(bucket: Bucket, policy: Policy, today: date) -> Verdict | None:
    course = bucket.labels.get(L.COURSE)
    ends = policy.course_ends.get(course) if course else None
    if ends is not None and ends < today:
        return Verdict("course-ended", f"course {course} ended {ends.isoformat()}", "delete")
    when = expired(bucket.labels, today)
    if when is not None:
        return Verdict("expired", f"expired {when.isoformat()}", "delete")
    return None


# -- every resource as a candidate ---------------------------------------------------------------


def _candidates(
    inventory: Inventory, policy: Policy, prices: PriceTable, now: datetime
) -> Iterator[Candidate]:
    disks_of = _disks_by_vm(inventory.disks)
    for vm in inventory.vms:
        active = inventory.last_active.get((vm.zone, vm.name))
        own = disks_of.get((vm.zone, vm.name), [])
        compute = prices.vm_estimate(vm) + prices.vm_address_estimate(vm)
        whole = compute + total(prices.disk_estimate(d) for d in own)
        yield Candidate(
            "instance",
            vm.name,
            instance_verdict(vm, active, policy, now),
            L.is_managed(vm.labels),
            L.is_kept(vm.labels),
            vm.created,
            vm.labels,
            zone=vm.zone,
            cost=whole,
            saving=_saving(compute, whole),
            resource=vm,
        )
    for disk in inventory.disks:
        cost = prices.disk_estimate(disk)
        yield _labelled("disk", disk, disk_verdict(disk, policy, now), cost, zone=disk.zone)
    for address in inventory.addresses:
        cost = (
            prices.address_estimate(in_use=False) if address.status == "RESERVED" else Estimate(0.0)
        )
        verdict = address_verdict(address, policy, now)
        yield _labelled("address", address, verdict, cost, region=address.region)
    for snapshot in inventory.snapshots:
        cost = prices.snapshot_estimate(snapshot.storage_bytes)
        yield _labelled("snapshot", snapshot, snapshot_verdict(snapshot, policy, now), cost)
    tags_in_use = {tag for vm in inventory.vms for tag in vm.tags}
    for rule in inventory.firewalls:
        yield Candidate(
            "firewall",
            rule.name,
            firewall_verdict(rule, tags_in_use),
            L.is_labctl_firewall(rule.name, rule.description),
            False,
            rule.created,
            course=L.firewall_course(rule.description),
            resource=rule,
        )
    for bucket in inventory.buckets:
        verdict = bucket_verdict(bucket, policy, now.date())
        cost = prices.bucket_estimate(bucket)
        yield _labelled("bucket", bucket, verdict, cost, location=bucket.location)


def _saving(stopped: Estimate, deleted: Estimate) -> Callable[[str], Estimate]:
    """A VM's saving: its machine, GPU and IP when stopped; its disks too when deleted."""
    return lambda action: stopped if action == "stop" else deleted


def _labelled(
    kind: str,
    resource: Disk | Address | Snapshot | Bucket,
    verdict: Verdict | None,
    cost: Estimate,
    *,
    zone: str | None = None,
    region: str | None = None,
    location: str | None = None,
) -> Candidate:
    labels = resource.labels
    return Candidate(
        kind,
        resource.name,
        verdict,
        L.is_managed(labels),
        L.is_kept(labels),
        resource.created or L.created_of(labels),
        labels,
        zone=zone,
        region=region,
        location=location,
        cost=cost,
        resource=resource,
    )


def _disks_by_vm(disks: list[Disk]) -> dict[tuple[str, str], list[Disk]]:
    found: dict[tuple[str, str], list[Disk]] = {}
    for disk in disks:
        for user in disk.users:
            found.setdefault((disk.zone, user), []).append(disk)
    return found


def _selected(candidate: Candidate, options: Options, now: datetime) -> bool:
    """--course, --owner and --older-than (labels as labctl writes them)."""
    course = candidate.course or candidate.labels.get(L.COURSE)
    if options.course and course != options.course:
        return False
    if options.owner and candidate.labels.get(L.OWNER) != options.owner:
        return False
    return options.older_than is None or reached(options.older_than, candidate.created, now)


# -- the plan ------------------------------------------------------------------------------------


def activity_wanted(
    inventory: Inventory, policy: Policy, options: Options, now: datetime
) -> list[Vm]:
    """The running labctl VMs whose on-VM activity decides whether they are a finding: at most
    one guest-attribute read each, and none for a VM already found for another reason."""
    if "instance" not in options.kinds or policy.idle is None:
        return []
    wanted = []
    for vm in inventory.vms:
        if vm.state is not VmState.RUNNING or not L.is_managed(vm.labels) or L.is_kept(vm.labels):
            continue
        candidate = Candidate("instance", vm.name, None, True, False, vm.created, vm.labels)
        if _selected(candidate, options, now) and instance_verdict(vm, None, policy, now) is None:
            wanted.append(vm)
    return wanted


def buckets_to_count(
    inventory: Inventory, policy: Policy, options: Options, now: datetime
) -> list[str]:
    """The labctl buckets that are findings: the plan shows their objects and bytes."""
    if "bucket" not in options.kinds:
        return []
    return [
        b.name
        for b in inventory.buckets
        if L.is_managed(b.labels)
        and not L.is_kept(b.labels)
        and bucket_verdict(b, policy, now.date()) is not None
    ]


def plan(
    inventory: Inventory, policy: Policy, options: Options, *, now: datetime, prices: PriceTable
) -> Plan:
    """The findings in apply order, and what was left alone (in the kinds asked for)."""
    findings: list[Finding] = []
    left_alone: list[LeftAlone] = []
    names = SnapshotNames(inventory.snapshots, now.date())
    sizes = {(d.zone, d.name): d for d in inventory.disks}
    for c in _candidates(inventory, policy, prices, now):
        if c.kind not in options.kinds:
            continue
        if not c.managed or c.kept:
            why = "labctl-keep=true" if c.managed else "no labctl labels"
            would = c.verdict.reason if c.verdict else ""
            left_alone.append(LeftAlone(c.kind, c.name, _where(c), why, would))
        elif c.verdict is not None and _selected(c, options, now):
            findings.append(_finding(c, c.verdict, options, names, sizes, prices, now))
    findings.sort(key=lambda f: (KINDS.index(f.kind), f.where, f.name))
    left_alone.sort(key=lambda r: (KINDS.index(r.kind), r.where, r.name))
    return Plan(now, findings, left_alone, prices.date)


def _where(c: Candidate) -> str:
    return c.zone or c.region or c.location or "global"


def _finding(
    c: Candidate,
    verdict: Verdict,
    options: Options,
    names: SnapshotNames,
    disks: Mapping[tuple[str, str], Disk],
    prices: PriceTable,
    now: datetime,
) -> Finding:
    action = verdict.action
    if action == "stop" and options.delete_running:
        action = "delete"
    note = ""
    if c.kind == "bucket" and not options.include_buckets:
        action, note = NO_ACTION, "kept: --include-buckets deletes it"
    saving = c.saving(action) if c.saving else c.cost
    snapshots: tuple[PlannedSnapshot, ...] = ()
    if action == "delete" and options.snapshot and c.kind in ("instance", "disk"):
        snapshots = _snapshots_for(c, names, disks, prices, now)
    bucket = c.resource if isinstance(c.resource, Bucket) else None
    return Finding(
        kind=c.kind,
        name=c.name,
        rule=verdict.rule,
        reason=verdict.reason,
        action=action,
        cost=c.cost,
        saving=saving if action != NO_ACTION else Estimate(0.0),
        zone=c.zone,
        region=c.region,
        location=c.location,
        course=c.course or c.labels.get(L.COURSE),
        owner=c.labels.get(L.OWNER),
        snapshots=snapshots,
        objects=bucket.object_count if bucket else None,
        bytes=bucket.total_bytes if bucket else None,
        note=note,
    )


def _snapshots_for(
    c: Candidate,
    names: SnapshotNames,
    disks: Mapping[tuple[str, str], Disk],
    prices: PriceTable,
    now: datetime,
) -> tuple[PlannedSnapshot, ...]:
    """One snapshot per disk the delete removes: the disk itself, or each of the VM's disks."""
    assert c.zone is not None
    disk_names = c.resource.disks if isinstance(c.resource, Vm) else (c.name,)
    planned = []
    for disk_name in disk_names:
        disk = disks.get((c.zone, disk_name))
        size = disk.size_gb if disk else 0
        name, exists = names.choose(disk_name)
        source_labels = disk.labels if disk else c.labels
        labels = {
            L.MANAGED: "true",
            **{k: source_labels[k] for k in (L.COURSE, L.OWNER) if k in source_labels},
            L.CREATED: now.strftime(L.CREATED_FORMAT),
        }
        cost = prices.snapshot_estimate(size * GIB)
        planned.append(PlannedSnapshot(name, disk_name, c.zone, size, exists, cost, labels))
    return tuple(planned)


class SnapshotNames:
    """Names for the snapshots taken before a delete: the disk's name and the day
    ("data-20261201"), "-2" ... when that name is taken by another disk's or a failed one. A
    READY snapshot of the same disk with the day's name is an earlier run's: it is reused."""

    def __init__(self, existing: list[Snapshot], day: date) -> None:
        self._existing = {s.name: s for s in existing}
        self._day = day
        self._chosen: set[str] = set()

    def choose(self, disk: str) -> tuple[str, bool]:
        for attempt in range(1, SNAPSHOT_NAME_TRIES + 1):
            suffix = f"-{self._day:%Y%m%d}" + (f"-{attempt}" if attempt > 1 else "")
            name = disk[: SNAPSHOT_NAME_MAX - len(suffix)].rstrip("-") + suffix
            if name in self._chosen:
                continue
            found = self._existing.get(name)
            if found is None or (found.source_disk == disk and found.status == "READY"):
                self._chosen.add(name)
                return name, found is not None
        raise LabctlError(f"no free snapshot name for disk {disk} today", kind="disk", name=disk)
