"""The records of cleanup: what the user chose, what the scan found, and the plan."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from labctl.errors import LabctlError
from labctl.models import Address, Bucket, Disk, Firewall, Snapshot, Vm
from labctl.pricing import Estimate, total

if TYPE_CHECKING:
    from labctl.config import Settings

# Every kind cleanup knows, in the order the plan is applied: instances first (deleting one
# frees its disks and addresses), buckets last (they go only when asked for).
KINDS = ("instance", "disk", "address", "snapshot", "firewall", "bucket")
ACTION_PAST = {"stop": "stopped", "delete": "deleted", "release": "released"}
NO_ACTION = "none"


@dataclass(frozen=True)
class Policy:
    """The thresholds (None: that rule is off) and the courses' last days."""

    idle: timedelta | None = timedelta(minutes=60)
    running: timedelta | None = timedelta(hours=12)
    stopped: timedelta | None = timedelta(days=7)
    orphan_disk: timedelta | None = timedelta(days=1)
    unused_address: timedelta | None = timedelta(hours=24)
    snapshot: timedelta | None = timedelta(days=30)
    course_ends: Mapping[str, date] = field(default_factory=dict)  # course -> its last day

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        c = settings.cleanup

        def on(value: int, unit: str) -> timedelta | None:
            return timedelta(**{unit: value}) if value else None

        ends = {settings.course.name: settings.course.ends} if settings.course.ends else {}
        return cls(
            idle=on(c.idle_minutes, "minutes"),
            running=on(c.max_running_hours, "hours"),
            stopped=on(c.stopped_days, "days"),
            orphan_disk=on(c.orphan_disk_days, "days"),
            unused_address=on(c.unused_address_hours, "hours"),
            snapshot=on(c.snapshot_days, "days"),
            course_ends=ends,
        )


@dataclass(frozen=True)
class Options:
    """What the user asked for: which resources, and how far cleanup may go."""

    course: str | None = None
    owner: str | None = None  # a label value (already slugged)
    kinds: tuple[str, ...] = KINDS
    older_than: timedelta | None = None  # only resources created at least this long ago
    delete_running: bool = False  # --delete: idle and long-running VMs are deleted, not stopped
    snapshot: bool = True  # --no-snapshot: delete instances and disks without a snapshot first
    include_buckets: bool = False


@dataclass
class Inventory:
    """What one scan found. `last_active` holds the on-VM agent's report, by (zone, name), for
    the running VMs it was read for; buckets carry sizes when they were counted."""

    vms: list[Vm] = field(default_factory=list)
    disks: list[Disk] = field(default_factory=list)
    addresses: list[Address] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    firewalls: list[Firewall] = field(default_factory=list)
    buckets: list[Bucket] = field(default_factory=list)
    last_active: dict[tuple[str, str], datetime] = field(default_factory=dict)
    unreadable: dict[str, LabctlError] = field(default_factory=dict)  # name -> why not read


@dataclass(frozen=True)
class PlannedSnapshot:
    """A snapshot taken (and awaited) before its disk goes. `exists`: an earlier run took it."""

    name: str
    disk: str
    zone: str
    size_gb: int
    exists: bool
    cost_max: Estimate  # if it stored the whole disk; it stores only the blocks written
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Finding:
    """One resource cleanup acts on (or, for a bucket without --include-buckets, reports)."""

    kind: str
    name: str
    rule: str  # "idle", "running", "stopped", "expired", "orphaned", "unused", "old", ...
    reason: str  # for people: "stopped 9 days"
    action: str  # "stop", "delete", "release", or "none" (reported only)
    cost: Estimate  # what it costs now
    saving: Estimate  # what stops being billed once the action is done
    zone: str | None = None
    region: str | None = None
    location: str | None = None  # a bucket's location
    course: str | None = None
    owner: str | None = None
    snapshots: tuple[PlannedSnapshot, ...] = ()
    objects: int | None = None  # a bucket's objects and bytes
    bytes: int | None = None
    note: str = ""

    @property
    def key(self) -> str:
        """Unique within a plan: "instance/us-central1-c/ana-gpu"."""
        return "/".join(p for p in (self.kind, self.zone or self.region, self.name) if p)

    @property
    def where(self) -> str:
        return self.zone or self.region or self.location or "global"

    @property
    def acts(self) -> bool:
        return self.action != NO_ACTION


@dataclass(frozen=True)
class LeftAlone:
    """A resource cleanup never touches: not labctl's, or labelled labctl-keep=true."""

    kind: str
    name: str
    where: str
    why: str  # "no labctl labels" | "labctl-keep=true"
    would: str = ""  # the finding it would be, were it labctl's ("stopped 9 days")


@dataclass
class Plan:
    now: datetime
    findings: list[Finding]  # in apply order: by kind (KINDS), then name
    left_alone: list[LeftAlone]
    prices_date: str = ""

    @property
    def actions(self) -> list[Finding]:
        return [f for f in self.findings if f.acts]

    @property
    def unmanaged(self) -> int:
        return sum(1 for r in self.left_alone if r.why != "labctl-keep=true")

    @property
    def kept(self) -> int:
        return len(self.left_alone) - self.unmanaged

    @property
    def monthly_saving(self) -> Estimate:
        return total(f.saving for f in self.actions)

    @property
    def new_snapshots(self) -> list[PlannedSnapshot]:
        return [s for f in self.actions for s in f.snapshots if not s.exists]

    @property
    def snapshot_cost_max(self) -> Estimate:
        return total(s.cost_max for s in self.new_snapshots)


@dataclass(frozen=True)
class Result:
    """What applying one finding came to: "stopped", "deleted", "released", "already gone",
    or "failed" with the error."""

    finding: Finding
    outcome: str
    error: LabctlError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
