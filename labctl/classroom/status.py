"""`class status`: one row per student from one aggregated VM list and one bucket list, plus
the on-VM agent's guest attributes of running VMs (read concurrently)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from labctl.classroom.classfile import ClassFile
from labctl.classroom.roster import Member, Roster
from labctl.classroom.scan import STUDENT, ClassResources, leftovers, scan, slug_of_vm
from labctl.classroom.spend import Spend, budget_level, current_run, record_runs, spend
from labctl.labels import OWNER
from labctl.models import Bucket, Vm, VmState
from labctl.pricing import PriceTable
from labctl.providers.base import ComputeProvider, StorageProvider
from labctl.vms import LAST_ACTIVE, parse_time, read_reports


@dataclass(frozen=True)
class StudentStatus:
    slug: str
    member: Member | None  # None: in the cloud, no longer in the roster
    vm: Vm | None
    bucket: Bucket | None
    last_active: datetime | str | None
    running_seconds: int | None
    spend: Spend | None
    budget_usd: float | None

    @property
    def budget_level(self) -> float | None:
        return budget_level(self.spend.total_usd, self.budget_usd) if self.spend else None


@dataclass(frozen=True)
class ClassStatus:
    course: str
    rows: list[StudentStatus]
    recorded: int  # finished runs written into labels by this look
    prices_date: str
    now: datetime


def class_status(
    cf: ClassFile,
    roster: Roster,
    compute: ComputeProvider,
    storage: StorageProvider | None,
    prices: PriceTable,
    *,
    disk_gb: int,
    now: datetime | None = None,
) -> ClassStatus:
    now = now or datetime.now(UTC)
    found = scan(compute, storage, cf.course, schedules=False)
    running = [vm for vm in found.vms if vm.state is VmState.RUNNING]
    active = _last_active(compute, running)
    recorded = record_runs(compute, found.vms)
    rows = []
    for slug, member, vm, bucket in _seats(found, roster):
        rows.append(
            StudentStatus(
                slug=slug,
                member=member,
                vm=vm,
                bucket=bucket,
                last_active=active.get(vm.name) if vm else None,
                running_seconds=current_run(vm, now) if vm else None,
                spend=spend(vm, prices, now, disk_gb=disk_gb) if vm else None,
                budget_usd=cf.budget_usd,
            )
        )
    return ClassStatus(cf.course, rows, len(recorded), prices.date, now)


def _seats(
    found: ClassResources, roster: Roster
) -> list[tuple[str, Member | None, Vm | None, Bucket | None]]:
    """Roster students in roster order (with or without resources), then those only in the
    cloud, by slug."""
    vms = {vm.labels.get(STUDENT, ""): vm for vm in found.vms}
    buckets = {b.labels.get(STUDENT, ""): b for b in found.buckets}
    seats: list[tuple[str, Member | None, Vm | None, Bucket | None]] = []
    for member in roster.students:
        vm, bucket = vms.get(member.digest), buckets.get(member.digest)
        slug = (
            slug_of_vm(vm, found.course) if vm else bucket.labels.get(OWNER, "") if bucket else ""
        )
        seats.append((slug, member, vm, bucket))
    for left in leftovers(found, {m.digest for m in roster.students}):
        vm = left.vms[-1] if left.vms else None
        bucket = left.buckets[-1] if left.buckets else None
        seats.append((left.slug, None, vm, bucket))
    return seats


def _last_active(compute: ComputeProvider, running: Sequence[Vm]) -> dict[str, datetime | str]:
    """VM name -> the agent's last activity; a value that is not a time is shown as written."""
    found: dict[str, datetime | str] = {}
    for outcome in read_reports(compute, running):
        value = outcome.value.get(LAST_ACTIVE) if outcome.ok else None
        if value:
            found[outcome.item.name] = parse_time(value) or value
    return found
