"""Spend so far per student, from labels alone, surviving stop and start.

Compute keeps only the current run's start (`lastStartTimestamp`) and the last stop
(`lastStopTimestamp`). labctl keeps the rest in two labels on the VM:

- `labctl-run-seconds`: seconds of finished runs counted so far;
- `labctl-run-counted`: the start (YYYYMMDD-HHMMSS, UTC) of the last run added to it.

Running time = counted seconds + the current run (now - lastStartTimestamp) while it runs, or
+ the last run (lastStopTimestamp - lastStartTimestamp) once stopped if not counted yet.
`class stop` and `class status` write a stopped VM's uncounted run into the labels, and so
does every start through labctl (`class start`, `vm start`), so it survives the next start.
What this misses: a run that ends without labctl seeing the VM stopped before it starts again
(idle shutdown or preemption, then a scheduled start). Compute + GPU, and the boot disk
(which bills whether the VM runs or not, since its creation), are priced from the price
table; a part without a price makes the spend unknown, never $0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from labctl.classroom.scan import STUDENT
from labctl.labels import CREATED_FORMAT
from labctl.models import Disk, Vm, VmState
from labctl.pricing import PriceTable
from labctl.providers.base import ComputeProvider, Operation
from labctl.runner import Outcome, apply_to_many

RUN_SECONDS = "labctl-run-seconds"
RUN_COUNTED = "labctl-run-counted"
BUDGET_WARNINGS = (0.5, 0.9, 1.0)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(CREATED_FORMAT)


def counted_seconds(vm: Vm) -> int:
    text = vm.labels.get(RUN_SECONDS, "0")
    return int(text) if text.isdigit() else 0


def uncounted_run(vm: Vm) -> int | None:
    """Seconds of a finished run of a stopped VM that the labels do not hold yet, else None."""
    if vm.state is not VmState.STOPPED or vm.last_started is None or vm.last_stopped is None:
        return None
    if vm.last_stopped <= vm.last_started or vm.labels.get(RUN_COUNTED) == _stamp(vm.last_started):
        return None
    return int((vm.last_stopped - vm.last_started).total_seconds())


def record_run(vm: Vm) -> dict[str, str] | None:
    """The labels to write so the finished run is counted; None if nothing to record."""
    seconds = uncounted_run(vm)
    if seconds is None or vm.last_started is None:
        return None
    return {
        RUN_SECONDS: str(counted_seconds(vm) + seconds),
        RUN_COUNTED: _stamp(vm.last_started),
    }


def record_runs(compute: ComputeProvider, vms: Sequence[Vm]) -> list[Outcome[Vm]]:
    """Write each stopped class VM's finished, uncounted run into its labels (spend survives
    the next start); every change is sent first, then the operations are waited on."""
    todo = [
        (vm, labels)
        for vm in vms
        if vm.labels.get(STUDENT) and (labels := record_run(vm)) is not None
    ]
    if not todo:
        return []

    def send(item: tuple[Vm, dict[str, str]]) -> Operation | None:
        vm, labels = item
        return compute.start_label_update(vm.name, vm.zone, lambda current: {**current, **labels})

    outcomes = apply_to_many(
        todo,
        key=lambda item: item[0].name,
        send=send,
        wait=lambda _item, op: compute.wait(op) if op is not None else None,
        action="label",
        kind="vm",
    )
    return [Outcome(o.key, o.item[0], o.value, o.error) for o in outcomes]


def current_run(vm: Vm, now: datetime) -> int | None:
    """Seconds the VM has been running now (None when it is not running)."""
    if vm.state not in (VmState.RUNNING, VmState.PENDING, VmState.STOPPING):
        return None
    start = vm.last_started or vm.created
    return max(0, int((now - start).total_seconds())) if start else 0


def run_seconds(vm: Vm, now: datetime) -> int:
    """Every second the VM ran, as far as Compute and the labels tell."""
    return counted_seconds(vm) + (uncounted_run(vm) or 0) + (current_run(vm, now) or 0)


@dataclass(frozen=True)
class Spend:
    """USD amounts are None when a price is unknown."""

    hours: float
    compute_usd: float | None  # machine + GPU while running
    disk_usd: float | None  # the boot disk since creation
    approximate: bool

    @property
    def total_usd(self) -> float | None:
        if self.compute_usd is None or self.disk_usd is None:
            return None
        return round(self.compute_usd + self.disk_usd, 2)


def boot_disk(vm_name: str, zone: str, size_gb: int) -> Disk:
    # Disk's default type, pd-standard: what a boot disk created without a type is
    # (instances.insert, initializeParams.diskType).
    return Disk(vm_name, zone, size_gb, ())


def spend(vm: Vm, prices: PriceTable, now: datetime, *, disk_gb: int) -> Spend:
    hourly = prices.running_estimate(vm)
    disk_hourly = prices.disk_estimate(boot_disk(vm.name, vm.zone, disk_gb))
    hours = run_seconds(vm, now) / 3600
    lifetime = max(0.0, (now - vm.created).total_seconds()) / 3600 if vm.created else 0.0
    return Spend(
        round(hours, 2),
        _times(hourly.usd_per_hour, hours),
        _times(disk_hourly.usd_per_hour, lifetime),
        hourly.approximate or disk_hourly.approximate,
    )


def _times(usd_per_hour: float | None, hours: float) -> float | None:
    return None if usd_per_hour is None else round(usd_per_hour * hours, 2)


def budget_level(spent: float | None, budget: float | None) -> float | None:
    """The highest warning threshold reached (0.5, 0.9, 1.0), or None."""
    if not budget or spent is None:
        return None
    reached = [level for level in BUDGET_WARNINGS if spent >= budget * level]
    return reached[-1] if reached else None
