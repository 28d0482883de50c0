"""`class stop|start`: the class's VMs (or some students') at once, and `class teardown`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from labctl import buckets as bucket_ops
from labctl.buckets import DeletePlan
from labctl.classroom.classfile import ClassFile
from labctl.classroom.roster import email_digest
from labctl.classroom.scan import STUDENT, scan
from labctl.classroom.spend import record_runs
from labctl.errors import InvalidInput, LabctlError, NotFound
from labctl.labels import OWNER, managed_labels
from labctl.models import Schedule, Vm, VmState
from labctl.providers.base import ComputeProvider, Operation, StorageProvider
from labctl.runner import Outcome, apply_to_many
from labctl.vms import Selector, act_on_many

# The state a VM must be in for the action to do anything.
ACTS_ON = {"stop": (VmState.RUNNING, VmState.PENDING), "start": (VmState.STOPPED,)}


@dataclass
class Selection:
    targets: list[Vm]  # to act on
    already: list[Vm]  # already in the wanted state


def select(
    cf: ClassFile, compute: ComputeProvider, action: str, students: Sequence[str] = ()
) -> Selection:
    """The class's VMs (one aggregated list), or those of the students named by e-mail."""
    vms = compute.list_vms(labels=Selector(course=cf.course, managed_only=True).labels())
    if students:
        by_digest = {vm.labels.get(STUDENT): vm for vm in vms}
        chosen = []
        for email in dict.fromkeys(students):
            vm = by_digest.get(email_digest(email))
            if vm is None:
                raise NotFound(f"no VM of class {cf.course} for {email}", kind="vm", name=email)
            chosen.append(vm)
        vms = chosen
    wanted = ACTS_ON[action]
    return Selection(
        [vm for vm in vms if vm.state in wanted], [vm for vm in vms if vm.state not in wanted]
    )


def stop_or_start(
    cf: ClassFile,
    compute: ComputeProvider,
    action: str,
    targets: Sequence[Vm],
    *,
    wait: bool,
    on_result: Callable[[Outcome[Vm]], None] | None = None,
) -> list[Outcome[Vm]]:
    """Stop: once the VMs are stopped, record the runs that just ended (one more aggregated
    list). A start records the finished runs first, as every start does (vms.act_on_many)."""
    outcomes = act_on_many(compute, targets, action, wait=wait, on_result=on_result)
    if action == "stop" and wait:
        stopped = {o.key for o in outcomes if o.ok}
        fresh = compute.list_vms(labels=Selector(course=cf.course, managed_only=True).labels())
        record_runs(compute, [vm for vm in fresh if vm.name in stopped])
    return outcomes


# -- teardown ------------------------------------------------------------------------------------


@dataclass
class TeardownPlan:
    course: str
    vms: list[Vm]
    buckets: list[DeletePlan]
    schedules: list[Schedule]
    snapshots: dict[str, str]  # VM name -> snapshot name of its boot disk (--snapshot)
    # VMs whose snapshot an earlier run of the day took (READY, of the same disk): not redone
    snapshots_taken: frozenset[str] = frozenset()
    kept_buckets: int = 0
    failures: dict[str, LabctlError] = field(default_factory=dict)  # buckets not countable

    @property
    def empty(self) -> bool:
        return not (self.vms or self.buckets or self.schedules)


def plan_teardown(
    cf: ClassFile,
    compute: ComputeProvider,
    storage: StorageProvider | None,
    *,
    keep_buckets: bool,
    snapshot: bool,
    now: datetime,
) -> TeardownPlan:
    """Everything labelled with the course (never another course's, never unlabelled), with
    each bucket's objects counted."""
    found = scan(compute, storage, cf.course)
    plans: list[DeletePlan] = []
    failures: dict[str, LabctlError] = {}
    if found.buckets and not keep_buckets and storage is not None:
        selection = bucket_ops.plan_delete(
            storage, [b.name for b in found.buckets], force=True, now=now
        )
        plans, failures = selection.plans, dict(selection.failures)
    snapshots = {vm.name: snapshot_name(vm.name, now) for vm in found.vms} if snapshot else {}
    return TeardownPlan(
        course=cf.course,
        vms=sorted(found.vms, key=lambda vm: vm.name),
        buckets=plans,
        schedules=found.schedules,
        snapshots=snapshots,
        snapshots_taken=_taken(compute, found.vms, snapshots),
        kept_buckets=len(found.buckets) if keep_buckets else 0,
        failures=failures,
    )


def _taken(compute: ComputeProvider, vms: list[Vm], names: dict[str, str]) -> frozenset[str]:
    """The VMs whose snapshot of the day exists already, READY and of their boot disk: a rerun
    after a delete that failed reuses it (creating it again would be refused, keeping the VM)."""
    if not names:
        return frozenset()
    existing = {s.name: s for s in compute.list_snapshots()}
    return frozenset(
        vm.name
        for vm in vms
        if (found := existing.get(names[vm.name])) is not None
        and found.status == "READY"
        and vm.disks[:1] == (found.source_disk,)
    )


def snapshot_name(vm: str, now: datetime) -> str:
    """'<vm>-YYYYMMDD' (cut, with a hash of the VM name, when it would pass 63 characters)."""
    stamp = now.strftime("%Y%m%d")
    if len(vm) + 1 + len(stamp) <= 63:
        return f"{vm}-{stamp}"
    digest = hashlib.sha256(vm.encode()).hexdigest()[:4]
    return f"{vm[: 63 - len(stamp) - 6].rstrip('-')}-{digest}-{stamp}"


Progress = Callable[[str, int], None]


def teardown(
    plan: TeardownPlan,
    compute: ComputeProvider,
    storage: StorageProvider | None,
    *,
    now: datetime,
    on_progress: Progress = lambda *_: None,
) -> dict[str, LabctlError]:
    """Snapshots (if asked; a VM whose snapshot fails is kept), VMs, buckets, then schedules
    (a schedule still attached cannot be deleted). Returns the failures by name."""
    failures: dict[str, LabctlError] = dict(plan.failures)
    vms = list(plan.vms)
    if plan.snapshots:
        failed = _snapshots(plan, compute, now, failures, on_progress)
        vms = [vm for vm in vms if vm.name not in failed]
    outcomes = act_on_many(compute, vms, "delete", on_result=lambda _: on_progress("vms", 1))
    failures.update({o.key: o.error for o in outcomes if o.error is not None})
    if plan.buckets and storage is not None:
        done = bucket_ops.delete_many(
            storage, plan.buckets, force=True, on_result=lambda _: on_progress("buckets", 1)
        )
        failures.update({f"gs://{o.key}": o.error for o in done if o.error is not None})
    if plan.schedules:
        gone = delete_schedules(
            compute, plan.schedules, on_result=lambda _: on_progress("schedules", 1)
        )
        failures.update({o.key: o.error for o in gone if o.error is not None})
    return failures


def delete_schedules(
    compute: ComputeProvider,
    schedules: Sequence[Schedule],
    *,
    on_result: Callable[[Outcome[Schedule]], None] | None = None,
) -> list[Outcome[Schedule]]:
    """Delete the schedules together, each keyed "name (region)"."""
    return apply_to_many(
        schedules,
        key=lambda s: f"{s.name} ({s.region})",
        send=lambda s: compute.delete_schedule(s.name, s.region),
        wait=lambda _s, op: compute.wait(op),
        action="delete",
        kind="schedule",
        on_result=on_result,
    )


def _snapshots(
    plan: TeardownPlan,
    compute: ComputeProvider,
    now: datetime,
    failures: dict[str, LabctlError],
    on_progress: Progress,
) -> set[str]:
    def send(vm: Vm) -> Operation:
        if not vm.disks:
            raise InvalidInput(f"VM {vm.name} has no disk to snapshot", kind="vm", name=vm.name)
        labels = managed_labels(course=plan.course, owner=vm.labels.get(OWNER, "unknown"), now=now)
        return compute.create_snapshot(
            vm.disks[0], vm.zone, name=plan.snapshots[vm.name], labels=labels
        )

    outcomes = apply_to_many(
        [vm for vm in plan.vms if vm.name not in plan.snapshots_taken],
        key=lambda vm: vm.name,
        send=send,
        wait=lambda _vm, op: compute.wait(op),
        action="snapshot",
        kind="vm",
        on_result=lambda _: on_progress("snapshots", 1),
    )
    failed = {o.key for o in outcomes if o.error is not None}
    failures.update({f"{o.key} (snapshot)": o.error for o in outcomes if o.error is not None})
    return failed
