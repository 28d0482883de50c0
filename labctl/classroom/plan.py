"""The plan of a class: from the class file, the roster and one scan of the cloud, what setup
creates, changes or leaves per student, the quota it needs and what it costs. Reads only."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from labctl import access as login
from labctl.buckets import BucketPlan, check_location
from labctl.classroom import access
from labctl.classroom.classfile import ClassFile
from labctl.classroom.placement import Demand, Need, QuotaCheck, check_and_place
from labctl.classroom.roster import Member, Roster, assign_slugs
from labctl.classroom.scan import (
    SCHEDULE_PREFIX,
    STUDENT,
    ClassResources,
    Leftover,
    known_slugs,
    leftovers,
    scan,
    schedule_description,
    vm_name,
)
from labctl.classroom.spend import boot_disk
from labctl.config import Settings
from labctl.errors import InvalidInput, NotFound
from labctl.labels import COURSE, EXPIRES, MANAGED, OWNER
from labctl.models import Bucket, BucketSpec, Schedule, Vm, VmSpec, VmState, region_of
from labctl.naming import derive_bucket_name
from labctl.pricing import PriceTable, total
from labctl.providers.base import ComputeProvider, StorageProvider
from labctl.provisioning import check_spec
from labctl.runner import raise_first, read_many
from labctl.vm_spec import VmRequest, build_spec

# The labels labctl keeps right on a class's VMs and buckets (a drift is fixed by setup).
KEPT_LABELS = (MANAGED, COURSE, OWNER, EXPIRES, STUDENT)
RESERVED_USERS = frozenset({"root", "daemon", "bin", "sys", "nobody", "sshd"})


@dataclass
class Seat:
    """One student's part of the class: what exists and what setup does about it."""

    student: Member
    slug: str
    vm_name: str
    vm: Vm | None = None
    spec: VmSpec | None = None  # to create (its zone is the placement), None if it exists
    vm_labels: dict[str, str] = field(default_factory=dict)  # labels to fix on the VM
    conflict: str | None = None  # why nothing can be done (a name used by someone else)
    bucket: Bucket | None = None
    bucket_plan: BucketPlan | None = None  # to create
    bucket_labels: dict[str, str] = field(default_factory=dict)
    vm_access: access.AccessDiff | None = None
    bucket_access: access.AccessDiff | None = None
    detach: tuple[str, ...] = ()  # other schedules of the class attached to the VM

    @property
    def zone(self) -> str | None:
        if self.vm is not None:
            return self.vm.zone
        return self.spec.zone if self.spec is not None else None

    @property
    def vm_action(self) -> str:
        """create, unchanged, update, conflict or no-room (quota)."""
        if self.conflict:
            return "conflict"
        if self.vm is None:
            return "create" if self.spec is not None and self.spec.zone else "no-room"
        return "update" if self.vm_labels else "unchanged"

    @property
    def bucket_action(self) -> str:
        if self.bucket_plan is not None:
            return "create"
        if self.bucket is None:
            return "none"
        return "update" if self.bucket_labels else "unchanged"

    @property
    def bucket_name(self) -> str | None:
        if self.bucket is not None:
            return self.bucket.name
        return self.bucket_plan.spec.name if self.bucket_plan is not None else None


@dataclass(frozen=True)
class SchedulePlan:
    name: str | None  # the class's schedule in every region; None: the class has none
    wanted: Schedule | None  # the template (region empty)
    existing: tuple[Schedule, ...]  # the current name's, per region
    stale: tuple[Schedule, ...]  # older class schedules: detached, then deleted

    def missing_in(self, regions: Sequence[str]) -> list[Schedule]:
        have = {s.region for s in self.existing}
        if self.wanted is None:
            return []
        return [replace(self.wanted, region=r) for r in dict.fromkeys(regions) if r not in have]


@dataclass(frozen=True)
class Cost:
    """USD amounts are None when a price is unknown (never shown as $0)."""

    vms: int
    per_hour_usd: float | None  # every VM running
    per_month_usd: float | None  # left running a whole month, boot disks included
    disks_per_month_usd: float | None
    approximate: bool
    prices_date: str


@dataclass
class ClassPlan:
    cf: ClassFile
    settings: Settings
    now: datetime
    seats: list[Seat]
    tas: list[Member]
    leftovers: list[Leftover]
    quota: QuotaCheck
    zones: list[str]  # allowed and offering the GPU and machine type, in preference order
    offering: dict[str, int]
    schedule: SchedulePlan
    cost: Cost

    @property
    def course(self) -> str:
        return self.cf.course

    def count(self, what: str, action: str) -> int:
        attribute = {"vm": "vm_action", "bucket": "bucket_action"}[what]
        return sum(1 for s in self.seats if getattr(s, attribute) == action)

    @property
    def access_changes(self) -> int:
        return sum(
            1
            for s in self.seats
            for d in (s.vm_access, s.bucket_access)
            if d is not None and d.changed
        )

    @property
    def regions(self) -> list[str]:
        """Regions with VMs of the class, existing or planned."""
        return sorted({region_of(zone) for s in self.seats if (zone := s.zone)})

    @property
    def attachments(self) -> list[Seat]:
        """Seats whose VM (existing or planned) lacks the class schedule."""
        name = self.schedule.name
        if name is None:
            return []
        return [
            s
            for s in self.seats
            if s.zone
            and s.vm_action != "conflict"
            and (s.vm is None or name not in s.vm.resource_policies)
        ]


# -- building the plan -----------------------------------------------------------------------


def build_plan(
    cf: ClassFile,
    roster: Roster,
    settings: Settings,
    compute: ComputeProvider,
    storage: StorageProvider | None,
    prices: PriceTable,
    *,
    now: datetime | None = None,
    on_step: Callable[[str], None] = lambda _: None,
) -> ClassPlan:
    """Read the cloud once and plan: nothing is changed. `settings` is class_settings(...)."""
    now = now or datetime.now(UTC)
    if cf.ends < now.date():
        raise InvalidInput(
            f"{cf.where('class.ends')}: class.ends {cf.ends} is in the past; nothing would last",
            field=cf.where("class.ends"),
        )
    on_step("reading the class")
    found = scan(compute, storage, cf.course)
    template, zones, offering, cpus = _check_vm(cf, settings, compute, now)
    slugs = assign_slugs(roster.students, known_slugs(found))
    seats = [_seat(m, slugs[m.digest], cf, found, template) for m in roster.students]
    on_step("checking quota")
    quota = _quota(seats, found, zones, template, cpus, compute)
    for seat in seats:
        if seat.spec is not None:
            seat.spec = replace(seat.spec, zone=quota.zones.get(seat.vm_name, ""))
        _locate_bucket(seat, cf, zones)
    on_step("reading access")
    _access(seats, roster.tas, compute, storage)
    schedule = _schedule_plan(cf, found)
    for seat in seats:
        if seat.vm is not None:
            seat.detach = tuple(
                p for p in seat.vm.resource_policies if _is_stale(p, cf.course, schedule)
            )
    plan = ClassPlan(
        cf=cf,
        settings=settings,
        now=now,
        seats=seats,
        tas=roster.tas,
        leftovers=leftovers(found, {m.digest for m in roster.students}),
        quota=quota,
        zones=zones,
        offering=offering,
        schedule=schedule,
        cost=_cost(seats, template, prices),
    )
    return plan


def _check_vm(
    cf: ClassFile, settings: Settings, compute: ComputeProvider, now: datetime
) -> tuple[VmSpec, list[str], dict[str, int], int]:
    """The spec every VM shares (checked with the API once), the usable zones, the zones
    offering the GPU, and the machine type's vCPUs."""
    allowed = settings.allowed_zones
    known = compute.list_zones()
    unknown = [z for z in allowed if z not in known]
    if unknown:
        raise InvalidInput(
            f"{cf.where('class.zones')}: unknown zone {unknown[0]!r}", field=cf.where("class.zones")
        )
    template = build_spec(
        VmRequest(
            name=vm_name(cf.course, "template"), owner="template", expires=cf.ends.isoformat()
        ),
        settings,
        now=now,
    )
    checked = check_spec(compute, template, zones=known)
    offering = checked.offering  # {} without a GPU
    skipped = [z for z in allowed if offering and z not in offering]
    if template.gpu and skipped:
        raise InvalidInput(
            f"{cf.where('class.zones')}: {', '.join(skipped)} do not offer {template.gpu.type}; "
            f"zones that do: {', '.join(sorted(offering))}",
            field=cf.where("class.zones"),
        )
    for zone in allowed[1:]:  # the first is template.zone, which check_spec read
        try:
            compute.get_machine_type(zone, template.machine_type)
        except NotFound:
            raise InvalidInput(
                f"{cf.where('class.zones')}: {zone} does not offer {template.machine_type}",
                field=cf.where("class.zones"),
            ) from None
    return template, allowed, offering, checked.machine_type.cpus


def vm_user(slug: str) -> str:
    """The Linux user Jupyter runs as on the student's VM: the slug (a valid user name)."""
    return f"{slug}-student"[:32] if slug in RESERVED_USERS else slug


def _seat(
    student: Member,
    slug: str,
    cf: ClassFile,
    found: ClassResources,
    template: VmSpec,
) -> Seat:
    name = vm_name(cf.course, slug)
    seat = Seat(student, slug, name)
    labels = {**template.labels, OWNER: slug, STUDENT: student.digest}
    mine = [vm for vm in found.vms if vm.labels.get(STUDENT) == student.digest]
    named = [vm for vm in found.vms + found.other_vms if vm.name == name and vm not in mine]
    if mine:
        seat.vm = mine[0]
    elif named and _drifted_away(named[0].labels, cf.course, student):
        seat.vm = named[0]  # ours, with labels that drifted away from the class
    elif named:
        owner = named[0].labels.get(COURSE) or "no labctl course label"
        seat.conflict = f"VM {name} already exists in {named[0].zone} ({owner})"
    if seat.vm is not None:
        seat.vm_labels = _drift(seat.vm.labels, labels)
    elif seat.conflict is None:
        metadata = {
            **template.metadata,
            login.USER_KEY: vm_user(slug),
            login.BLOCK_PROJECT_KEYS: "TRUE",
        }
        seat.spec = replace(template, name=name, labels=labels, metadata=metadata, zone="")
    if cf.buckets:
        _bucket(seat, cf, found, labels)
    return seat


def _drift(current: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str]:
    """The kept labels whose value differs (or is missing), with the value they should have."""
    return {k: wanted[k] for k in KEPT_LABELS if k in wanted and current.get(k) != wanted[k]}


def _drifted_away(labels: Mapping[str, str], course: str, student: Member) -> bool:
    """The student's resource whose course or managed label was lost (never another course's)."""
    return labels.get(STUDENT) == student.digest and labels.get(COURSE) in (None, course)


def _bucket(seat: Seat, cf: ClassFile, found: ClassResources, labels: dict[str, str]) -> None:
    mine = [b for b in found.buckets if b.labels.get(STUDENT) == seat.student.digest]
    mine += [
        b
        for b in found.other_buckets
        if _drifted_away(b.labels, cf.course, seat.student) and b.name.startswith(f"{cf.course}-")
    ]
    if mine:
        seat.bucket = mine[0]
        seat.bucket_labels = _drift(seat.bucket.labels, labels)
        return
    prefix = f"{cf.course}-{seat.slug}"
    spec = BucketSpec(derive_bucket_name(prefix), labels=dict(labels))
    seat.bucket_plan = BucketPlan(spec, derived_from=prefix)


def _locate_bucket(seat: Seat, cf: ClassFile, zones: list[str]) -> None:
    """A new bucket lives where its student's VM does (no egress charge between them), or
    where [class.bucket] location says."""
    if seat.bucket_plan is None:
        return
    where = cf.bucket_location or region_of(seat.zone or zones[0])
    try:
        location = check_location(where)
    except InvalidInput as exc:
        raise InvalidInput(
            f"{cf.where('class.bucket.location')}: {exc.message}",
            field=cf.where("class.bucket.location"),
        ) from None
    spec = replace(seat.bucket_plan.spec, location=location)
    seat.bucket_plan = replace(seat.bucket_plan, spec=spec)


def _quota(
    seats: list[Seat],
    found: ClassResources,
    zones: list[str],
    template: VmSpec,
    cpus: int,
    compute: ComputeProvider,
) -> QuotaCheck:
    regions = list(dict.fromkeys(region_of(z) for z in zones))
    regional = {r: compute.region_quotas(r) for r in regions}
    project = compute.project_quotas()
    existing = [s.vm for s in seats if s.vm is not None]
    demand = Demand(
        need=Need.of(template, cpus),
        new=sorted(s.vm_name for s in seats if s.vm is None and s.conflict is None),
        existing_zones=Counter(vm.zone for vm in existing),
        stopped_regions=Counter(vm.region for vm in existing if vm.state is VmState.STOPPED),
    )
    return check_and_place(demand, zones, regional, project)


def _access(
    seats: list[Seat], tas: list[Member], compute: ComputeProvider, storage: StorageProvider | None
) -> None:
    """Each seat's access diffs: new resources get everything; existing ones are read (every
    VM's and bucket's policy, concurrently)."""
    current_vm: dict[str, dict[str, tuple[str, ...]]] = {}
    current_bucket: dict[str, dict[str, list[str]]] = {}
    vms = [s for s in seats if s.vm is not None]
    if vms:
        outcomes = read_many(
            vms, lambda s: compute.get_vm_iam(s.vm_name, s.zone or ""), key=lambda s: s.vm_name
        )
        raise_first(outcomes)
        current_vm = {o.key: dict(o.value.bindings) for o in outcomes}
    buckets = [s for s in seats if s.bucket is not None]
    if buckets and storage is not None:
        outcomes = read_many(
            buckets,
            lambda s: storage.bucket_members(s.bucket_name or ""),
            key=lambda s: s.bucket_name or "",
        )
        raise_first(outcomes)
        current_bucket = {o.key: o.value for o in outcomes}
    for seat in seats:
        wanted = access.wanted_members(seat.student, tas)
        if seat.vm is not None or seat.spec is not None:
            seat.vm_access = access.diff(access.VM_ROLE, wanted, current_vm.get(seat.vm_name))
        if seat.bucket is not None or seat.bucket_plan is not None:
            seat.bucket_access = access.diff(
                access.BUCKET_ROLE, wanted, current_bucket.get(seat.bucket_name or "")
            )


def schedule_name(cf: ClassFile) -> str | None:
    if cf.schedule is None:
        return None
    text = f"{cf.schedule.start}|{cf.schedule.stop}|{cf.schedule.timezone}"
    return f"{cf.course}-{SCHEDULE_PREFIX}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


def _schedule_plan(cf: ClassFile, found: ClassResources) -> SchedulePlan:
    name = schedule_name(cf)
    wanted = None
    if name is not None and cf.schedule is not None:
        wanted = Schedule(
            name=name,
            region="",
            start=cf.schedule.start,
            stop=cf.schedule.stop,
            timezone=cf.schedule.timezone,
            description=schedule_description(cf.course),
        )
    existing = tuple(s for s in found.schedules if s.name == name)
    stale = tuple(s for s in found.schedules if s.name != name)
    return SchedulePlan(name, wanted, existing, stale)


def _is_stale(policy: str, course: str, schedule: SchedulePlan) -> bool:
    return policy.startswith(f"{course}-{SCHEDULE_PREFIX}-") and policy != schedule.name


def _cost(seats: list[Seat], template: VmSpec, prices: PriceTable) -> Cost:
    zones = [s.zone for s in seats if s.zone and s.vm_action != "conflict"]
    running = total(prices.running_estimate(replace(template, zone=z)) for z in zones)
    disks = total(
        prices.disk_estimate(boot_disk(template.name, z, template.disk_size_gb)) for z in zones
    )
    both = running + disks
    hourly = running.usd_per_hour
    return Cost(
        vms=len(zones),
        per_hour_usd=None if hourly is None else round(hourly, 2),
        per_month_usd=both.usd_per_month,
        disks_per_month_usd=disks.usd_per_month,
        approximate=both.approximate,
        prices_date=prices.date,
    )
