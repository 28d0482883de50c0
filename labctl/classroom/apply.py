"""`class setup`: reconcile the cloud to a plan, phase by phase, every phase concurrent.

1. Schedules: the instance schedule of each region the class uses is inserted first (not waited
   on), so it is ready by the time the VMs are.
2. Students, one pipeline each through the batch engine (labctl.runner): every VM insert is
   sent first (the `Provisioner` of `vm create`: checks, requestId, retries, stockout and
   regional-quota failover); then, while it runs, the student's bucket is created and shared;
   then the VM is waited on and shared. A failed step is recorded and the student's other steps
   go on.
3. Schedule attachments (older class schedules detached first), then stale schedules deleted.
4. With --prune, the VMs and buckets of students no longer in the roster are deleted.

Re-running converges: the plan only lists what is missing or drifted, and the steps are
idempotent (a VM is looked up by its labels and name before any insert).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from labctl import buckets as bucket_ops
from labctl.buckets import BucketPlan
from labctl.classroom.lifecycle import delete_schedules
from labctl.classroom.plan import ClassPlan, Seat
from labctl.classroom.scan import STUDENT, Leftover
from labctl.errors import AlreadyExists, LabctlError, NotFound
from labctl.models import Schedule, Vm, region_of
from labctl.naming import derive_bucket_name
from labctl.providers.base import ComputeProvider, Operation, StorageProvider
from labctl.provisioning import Provisioner
from labctl.runner import Outcome, apply_to_many

PHASES = ("vms", "buckets", "access", "schedule", "prune")
Progress = Callable[[str, int], None]  # (phase, items done): called from worker threads


@dataclass
class SeatResult:
    """What happened to one student: the zone the VM is in, the bucket, each step's error."""

    zone: str | None = None
    bucket: str | None = None
    done: list[str] = field(default_factory=list)  # phases that changed something
    errors: dict[str, LabctlError] = field(default_factory=dict)


@dataclass
class PhaseCount:
    changed: int = 0
    unchanged: int = 0
    failed: int = 0


@dataclass
class SetupReport:
    """Per phase: what changed, what was already right, what failed; the failures by name."""

    counts: dict[str, PhaseCount] = field(default_factory=lambda: {p: PhaseCount() for p in PHASES})
    failures: dict[str, LabctlError] = field(default_factory=dict)  # "slug: phase" -> error
    seats: dict[str, SeatResult] = field(default_factory=dict)  # slug -> result

    def fail(self, phase: str, name: str, error: LabctlError) -> None:
        self.counts[phase].failed += 1
        self.failures[f"{name}: {phase}"] = error


@dataclass
class Setup:
    plan: ClassPlan
    compute: ComputeProvider
    storage: StorageProvider | None
    report: SetupReport = field(default_factory=SetupReport)
    _schedule_ops: dict[str, Operation | None] = field(default_factory=dict)
    _schedule_errors: dict[str, LabctlError] = field(default_factory=dict)

    # -- 1. schedules first, waited on later -----------------------------------------------------

    def start_schedules(self) -> None:
        """Send the inserts of the schedules the planned regions lack (no wait)."""
        for schedule in self.plan.schedule.missing_in(self.plan.regions):
            self._send_schedule(schedule)

    def _send_schedule(self, schedule: Schedule) -> None:
        try:
            self._schedule_ops[schedule.region] = self.compute.create_schedule(schedule)
        except AlreadyExists:
            self._schedule_ops[schedule.region] = None  # another run made it meanwhile
        except LabctlError as exc:
            self._schedule_errors[schedule.region] = exc

    # -- 2. the students ---------------------------------------------------------------------------

    def totals(self) -> dict[str, int]:
        """Items per phase for progress bars (only what has something to do)."""
        seats = self.plan.seats
        return {
            "vms": sum(1 for s in seats if s.vm_action in ("create", "update", "conflict")),
            "buckets": sum(1 for s in seats if s.bucket_action in ("create", "update")),
            "access": self.plan.access_changes,
            "schedule": len(self.plan.attachments)
            + sum(1 for s in seats if s.detach)
            + len(self.plan.schedule.stale),
            "prune": sum(len(left.vms) + len(left.buckets) for left in self.plan.leftovers),
        }

    def students(self, on_progress: Progress = lambda *_: None) -> SetupReport:
        plan, compute = self.plan, self.compute
        offering = plan.offering
        provisioners = {
            s.vm_name: Provisioner.for_spec(
                compute, s.spec, allowed_zones=plan.zones, offering=offering, check_name=False
            )
            for s in plan.seats
            if s.spec is not None and s.vm_action == "create"
        }

        errors: dict[str, LabctlError] = {}  # inserts refused at once (or whose retries ran out)

        def send(seat: Seat) -> tuple[str, Operation | None]:
            if seat.conflict:
                return "conflict", None
            try:
                if seat.vm_name in provisioners:
                    return "insert", provisioners[seat.vm_name].start()
                if seat.vm is not None and seat.vm_labels:
                    labels = dict(seat.vm_labels)
                    return "labels", compute.start_label_update(
                        seat.vm.name, seat.vm.zone, lambda current: {**current, **labels}
                    )
            except LabctlError as exc:  # the student's bucket still goes ahead
                errors[seat.slug] = exc
                return "failed", None
            return "none", None

        def wait(seat: Seat, handle: tuple[str, Operation | None]) -> SeatResult:
            result = SeatResult()
            if seat.slug in errors:
                result.errors["vms"] = errors[seat.slug]
            self._bucket(seat, result, on_progress)
            self._vm(seat, handle, provisioners.get(seat.vm_name), result, on_progress)
            return result

        outcomes = apply_to_many(
            plan.seats, key=lambda s: s.vm_name, send=send, wait=wait, action="create", kind="vm"
        )
        for outcome in outcomes:
            self._count(outcome)
        return self.report

    def _bucket(self, seat: Seat, result: SeatResult, on_progress: Progress) -> None:
        storage = self.storage
        if storage is None or seat.bucket_action == "none":
            return
        name = seat.bucket_name
        try:
            if seat.bucket_plan is not None:
                name = create_bucket(storage, seat.bucket_plan, seat.student.digest)
                result.done.append("buckets")
            elif seat.bucket_labels:
                labels = dict(seat.bucket_labels)
                storage.update_bucket_labels(name or "", lambda current: {**current, **labels})
                result.done.append("buckets")
        except LabctlError as exc:
            result.errors["buckets"] = exc
            return
        finally:
            if seat.bucket_action != "unchanged":
                on_progress("buckets", 1)
        result.bucket = name
        diff = seat.bucket_access
        if diff is not None and diff.changed and name:
            self._step(result, "access", lambda: storage.update_bucket_iam(name, diff.apply))
            on_progress("access", 1)

    def _vm(
        self,
        seat: Seat,
        handle: tuple[str, Operation | None],
        provisioner: Provisioner | None,
        result: SeatResult,
        on_progress: Progress,
    ) -> None:
        kind, operation = handle
        result.zone = seat.zone if seat.vm is not None else None
        if kind == "failed":
            pass  # recorded by send
        elif kind == "conflict":
            result.errors["vms"] = AlreadyExists(seat.conflict or "", kind="vm", name=seat.vm_name)
        elif kind == "insert" and provisioner is not None:
            try:
                result.zone = provisioner.finish(operation).zone
                result.done.append("vms")
            except LabctlError as exc:
                result.errors["vms"] = exc
        elif kind == "labels" and operation is not None:
            self._step(result, "vms", lambda: self.compute.wait(operation))
        if kind != "none":
            on_progress("vms", 1)
        diff = seat.vm_access
        if "vms" in result.errors or result.zone is None or diff is None or not diff.changed:
            return
        zone = result.zone
        self._step(
            result, "access", lambda: self.compute.update_vm_iam(seat.vm_name, zone, diff.apply)
        )
        on_progress("access", 1)

    @staticmethod
    def _step(result: SeatResult, phase: str, action: Callable[[], object]) -> None:
        try:
            action()
        except LabctlError as exc:
            result.errors.setdefault(phase, exc)
        else:
            result.done.append(phase)

    def _count(self, outcome: Outcome[Seat]) -> None:
        seat, report = outcome.item, self.report
        result: SeatResult = outcome.value if outcome.ok else SeatResult()
        if outcome.error is not None:  # the insert itself was refused (or failed to send)
            result.errors["vms"] = outcome.error
        report.seats[seat.slug] = result
        for phase in ("vms", "buckets", "access"):
            if phase in result.errors:
                report.fail(phase, seat.slug, result.errors[phase])
            elif phase in result.done:
                report.counts[phase].changed += result.done.count(phase)
            else:
                report.counts[phase].unchanged += 1

    # -- 3. schedule attachments -------------------------------------------------------------------

    def schedules(self, on_progress: Progress = lambda *_: None) -> SetupReport:
        """Wait for the schedules sent first; make any a failover region still lacks; detach
        older class schedules; attach the class's; delete the stale ones."""
        name = self.plan.schedule.name
        vms = self._class_vms()
        if name is not None:
            self._ensure_schedules(sorted({region_of(zone) for _, zone in vms}))
        work = [(seat, zone) for seat, zone in vms if self._needs_schedule_work(seat)]
        if work:
            outcomes = apply_to_many(
                work,
                key=lambda item: item[0].vm_name,
                send=lambda item: self._detach_or_attach(item[0], item[1]),
                wait=lambda item, op: self._finish_attach(item[0], item[1], op),
                action="attach",
                kind="vm",
                on_result=lambda _: on_progress("schedule", 1),
            )
            for outcome in outcomes:
                self._count_schedule(outcome.key, outcome.error)
        self._delete_stale(on_progress)
        return self.report

    def _class_vms(self) -> list[tuple[Seat, str]]:
        """(seat, zone) of every VM of the class that exists now."""
        found = []
        for seat in self.plan.seats:
            result = self.report.seats.get(seat.slug)
            zone = result.zone if result is not None else seat.zone if seat.vm else None
            if zone and (result is None or "vms" not in result.errors):
                found.append((seat, zone))
        return found

    def _needs_schedule_work(self, seat: Seat) -> bool:
        name = self.plan.schedule.name
        attached = seat.vm.resource_policies if seat.vm is not None else ()
        return bool(seat.detach) or (name is not None and name not in attached)

    def _ensure_schedules(self, regions: Sequence[str]) -> None:
        for schedule in self.plan.schedule.missing_in(regions):
            if (
                schedule.region not in self._schedule_ops
                and schedule.region not in self._schedule_errors
            ):
                self._send_schedule(schedule)
        for region, operation in list(self._schedule_ops.items()):
            if operation is None:
                continue
            try:
                self.compute.wait(operation)
                self.report.counts["schedule"].changed += 1
            except LabctlError as exc:
                self._schedule_errors[region] = exc
            self._schedule_ops[region] = None
        for region, error in self._schedule_errors.items():
            self.report.fail("schedule", f"schedule in {region}", error)

    def _detach_or_attach(self, seat: Seat, zone: str) -> tuple[str, Operation] | None:
        name = self.plan.schedule.name
        if region_of(zone) in self._schedule_errors:
            raise self._schedule_errors[region_of(zone)]
        if seat.detach:
            return "detach", self.compute.detach_schedule(seat.vm_name, zone, seat.detach[0])
        if name is None:
            return None
        return "attach", self.compute.attach_schedule(seat.vm_name, zone, name)

    def _finish_attach(self, seat: Seat, zone: str, sent: tuple[str, Operation] | None) -> None:
        if sent is None:
            return
        kind, operation = sent
        self.compute.wait(operation)
        for extra in seat.detach[1:]:
            self.compute.wait(self.compute.detach_schedule(seat.vm_name, zone, extra))
        name = self.plan.schedule.name
        if kind == "detach" and name is not None:
            self.compute.wait(self.compute.attach_schedule(seat.vm_name, zone, name))

    def _count_schedule(self, name: str, error: LabctlError | None) -> None:
        if error is not None:
            self.report.fail("schedule", name, error)
        else:
            self.report.counts["schedule"].changed += 1

    def _delete_stale(self, on_progress: Progress) -> None:
        stale = list(self.plan.schedule.stale)
        if not stale:
            return
        outcomes = delete_schedules(
            self.compute, stale, on_result=lambda _: on_progress("schedule", 1)
        )
        for outcome in outcomes:
            self._count_schedule(outcome.key, outcome.error)

    # -- 4. prune ----------------------------------------------------------------------------------

    def prune(self, on_progress: Progress = lambda *_: None) -> SetupReport:
        """Delete the VMs and buckets of students no longer in the roster."""
        items: list[tuple[str, Leftover, Vm | str]] = []
        for left in self.plan.leftovers:
            items += [(vm.name, left, vm) for vm in left.vms]
            items += [(f"gs://{b.name}", left, b.name) for b in left.buckets]
        if not items:
            return self.report
        compute, storage = self.compute, self.storage

        def send(item: tuple[str, Leftover, Vm | str]) -> Operation | None:
            target = item[2]
            try:
                if isinstance(target, Vm):
                    return compute.delete_vm(target.name, target.zone)
                if storage is not None:
                    storage.delete_bucket(target, force=True)
            except NotFound:
                pass  # already gone: what was asked for
            return None

        outcomes = apply_to_many(
            items,
            key=lambda item: item[0],
            send=send,
            wait=lambda _item, op: compute.wait(op) if op is not None else None,
            action="delete",
            kind="vm",
            on_result=lambda _: on_progress("prune", 1),
        )
        for outcome in outcomes:
            if outcome.error is not None:
                self.report.fail("prune", outcome.key, outcome.error)
            else:
                self.report.counts["prune"].changed += 1
        return self.report


def create_bucket(storage: StorageProvider, planned: BucketPlan, digest: str) -> str:
    """Create a student's bucket; its name. A name taken by someone else gets a new suffix; a
    name that is already this student's (an earlier create whose answer was lost, then retried
    by the client library) is the student's bucket, never a reason to make a second one."""
    spec = planned.spec
    for _ in range(bucket_ops.NAME_ATTEMPTS):
        try:
            return bucket_ops.create(storage, BucketPlan(spec)).bucket.name
        except AlreadyExists as exc:
            if exc.owned and storage.get_bucket(spec.name).labels.get(STUDENT) == digest:
                return spec.name
        spec = replace(spec, name=derive_bucket_name(planned.derived_from or spec.name))
    raise AlreadyExists(
        f"{bucket_ops.NAME_ATTEMPTS} bucket names for {planned.derived_from} were all taken",
        kind="bucket",
    )
