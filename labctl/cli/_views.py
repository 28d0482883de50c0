"""How records look to people (tables) and to scripts (JSON), in one place.

JSON conventions: a command about one thing prints an object, about many a list; numbers are
numbers (`"cost_per_hour_usd": 0.81`), structures stay structures (`"gpu": {"type", "count"}`),
and nothing is repeated per row that belongs to the whole answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from labctl.cli._output import Format, Output

if TYPE_CHECKING:
    from labctl.errors import LabctlError
    from labctl.models import Vm
    from labctl.pricing import Estimate, PriceTable
    from labctl.runner import Outcome

VM_COLUMNS = ("NAME", "ZONE", "STATUS", "OWNER", "MACHINE", "GPU", "MODEL", "EXTERNAL IP", "AGE")
# Left out, in this order, when a terminal is too narrow for the whole table.
VM_OPTIONAL_COLUMNS = ("MACHINE", "MODEL", "AGE", "EXTERNAL IP", "OWNER")


def age(created: datetime | None, now: datetime | None = None) -> str:
    """'3d', '5h', '12m', '40s' or '-'."""
    if created is None:
        return "-"
    seconds = max(0, int(((now or datetime.now(UTC)) - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def gpu_text(vm: Vm) -> str:
    """'1x nvidia-tesla-p100', or '-' without a GPU."""
    return f"{vm.gpu.count}x {vm.gpu.type}" if vm.gpu else "-"


def vm_cost(vm: Vm, prices: PriceTable) -> Estimate:
    """Per hour now: machine and GPU while the VM runs; once it is stopped, its disks. Their
    sizes come with the VM (no disk listing); the type does not, so they are priced as
    pd-standard, the type labctl's boot disks are, and marked approximate on other VMs."""
    from dataclasses import replace

    from labctl.labels import is_managed
    from labctl.models import Disk, VmState

    if vm.state is not VmState.STOPPED:
        return prices.vm_estimate(vm)
    disks = [Disk(name=vm.name, zone=vm.zone, size_gb=vm.disk_gb, users=(vm.name,))]
    estimate = prices.vm_estimate(vm, disks)
    return estimate if is_managed(vm.labels) else replace(estimate, approximate=True)


def vm_record(vm: Vm, prices: PriceTable) -> dict[str, Any]:
    from labctl.labels import COURSE, OWNER

    estimate = vm_cost(vm, prices)
    return {
        "name": vm.name,
        "zone": vm.zone,
        "id": vm.id,
        "status": vm.status,
        "state": vm.state.value,
        "owner": vm.labels.get(OWNER),
        "course": vm.labels.get(COURSE),
        "machine_type": vm.machine_type,
        "gpu": {"type": vm.gpu.type, "count": vm.gpu.count} if vm.gpu else None,
        "provisioning": vm.provisioning.value,
        "external_ip": vm.external_ip,
        "internal_ip": vm.internal_ip,
        "created": vm.created.isoformat() if vm.created else None,
        "cost_per_hour_usd": estimate.usd_per_hour,
        "cost_approximate": estimate.approximate,
        "labels": dict(vm.labels),
    }


def vm_row(vm: Vm, prices: PriceTable, now: datetime) -> tuple[str, ...]:
    from labctl.labels import OWNER

    return (
        vm.name,
        vm.zone,
        vm.status,
        vm.labels.get(OWNER, "-"),
        vm.machine_type,
        gpu_text(vm),
        vm.provisioning.value,
        vm.external_ip or "-",
        age(vm.created, now),
        str(vm_cost(vm, prices)),
    )


def emit_vms(out: Output, vms: Sequence[Vm]) -> None:
    """A table (with an estimated COST column) or a JSON list."""
    from labctl.pricing import load_prices

    prices = load_prices()
    if out.fmt is Format.json:
        out.json([vm_record(vm, prices) for vm in vms])
        return
    if not vms:
        return
    now = datetime.now(UTC)
    rows = [vm_row(vm, prices, now) for vm in vms]
    out.table((*VM_COLUMNS, "COST"), rows, optional=VM_OPTIONAL_COLUMNS)
    out.info(f"COST: estimated per hour from prices dated {prices.date} (~ approximate)")


def emit_vm(out: Output, vm: Vm, extra: dict[str, Any]) -> None:
    """One VM in detail: a FIELD/VALUE table or one JSON object."""
    from labctl.pricing import load_prices

    record = {**vm_record(vm, load_prices()), **extra}
    if out.fmt is Format.json:
        out.json(record)
        return
    shown = {k: v for k, v in record.items() if k not in ("labels", "cost_approximate")}
    shown["gpu"] = gpu_text(vm)
    shown["labels"] = ", ".join(f"{k}={v}" for k, v in sorted(vm.labels.items()))
    out.table(("FIELD", "VALUE"), [(k, "-" if v in (None, "") else v) for k, v in shown.items()])


def outcome_record(outcome: Outcome[Any], state: str | None) -> dict[str, Any]:
    """One item of a batch: its name, zone, final state, and the error if it failed."""
    record: dict[str, Any] = {
        "name": outcome.key,
        "zone": getattr(outcome.item, "zone", None),
        "ok": outcome.ok,
        "state": state if outcome.ok else None,
    }
    if outcome.error is not None:
        record["error"] = error_record(outcome.error)
    return record


def human_bytes(size: int | None) -> str:
    """'512 B', '2.0 KiB', '3.0 GiB'; '-' when unknown."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def usd(amount: float | None) -> str:
    """$1,234.56, or "unknown" when a price was missing (never $0)."""
    return "unknown" if amount is None else f"${amount:,.2f}"


def error_record(error: LabctlError) -> dict[str, Any]:
    from labctl.cli._errors import render

    message, hint, _ = render(error)
    return {"message": message, "hint": hint}
