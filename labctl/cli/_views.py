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
    from labctl.buckets import AccessChange, DeletePlan
    from labctl.errors import LabctlError
    from labctl.models import BlobInfo, Bucket, BucketSpec, Vm
    from labctl.pricing import PriceTable
    from labctl.runner import Outcome
    from labctl.transfers import Transfer

VM_COLUMNS = ("NAME", "ZONE", "STATUS", "OWNER", "MACHINE", "GPU", "MODEL", "EXTERNAL IP", "AGE")


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


def vm_record(vm: Vm, prices: PriceTable) -> dict[str, Any]:
    from labctl.labels import COURSE, OWNER

    estimate = prices.vm_estimate(vm)
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
        str(prices.vm_estimate(vm)),
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
    out.table((*VM_COLUMNS, "COST"), [vm_row(vm, prices, now) for vm in vms])
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
    from labctl.cli._errors import render

    record: dict[str, Any] = {
        "name": outcome.key,
        "zone": getattr(outcome.item, "zone", None),
        "ok": outcome.ok,
        "state": state if outcome.ok else None,
    }
    if outcome.error is not None:
        message, hint, _ = render(outcome.error)
        record["error"] = {"message": message, "hint": hint}
    return record


def failures_summary(failures: dict[str, LabctlError]) -> list[tuple[str, str]]:
    from labctl.cli._errors import render

    return [(name, render(error)[0]) for name, error in failures.items()]


# -- buckets and objects -------------------------------------------------------------------------
# Sizes are bytes as integers in JSON; tables show them as 2.0 KiB.

BUCKET_COLUMNS = ("NAME", "LOCATION", "CLASS", "COURSE", "OWNER", "AGE")
TRANSFER_COLUMNS = ("URL", "SIZE", "FILE")


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


def bucket_record(bucket: Bucket) -> dict[str, Any]:
    from labctl.labels import COURSE, OWNER

    return {
        "name": bucket.name,
        "url": f"gs://{bucket.name}",
        "location": bucket.location,
        "storage_class": bucket.storage_class,
        "course": bucket.labels.get(COURSE),
        "owner": bucket.labels.get(OWNER),
        "created": bucket.created.isoformat() if bucket.created else None,
        "objects": bucket.object_count,
        "bytes": bucket.total_bytes,
        "labels": dict(bucket.labels),
    }


def emit_buckets(out: Output, found: Sequence[Bucket], *, sizes: bool) -> None:
    """A table (OBJECTS and SIZE with sizes) or a JSON list."""
    if out.fmt is Format.json:
        out.json([bucket_record(b) for b in found])
        return
    now = datetime.now(UTC)
    rows = []
    for b in found:
        record = bucket_record(b)
        row = [b.name, b.location, b.storage_class, record["course"] or "-", record["owner"] or "-"]
        row.append(age(b.created, now))
        if sizes:
            row += [str(b.object_count), human_bytes(b.total_bytes)]
        rows.append(row)
    if rows:
        out.table((*BUCKET_COLUMNS, *(("OBJECTS", "SIZE") if sizes else ())), rows)


def emit_bucket(out: Output, bucket: Bucket) -> None:
    """One bucket: a FIELD/VALUE table or one JSON object."""
    record = bucket_record(bucket)
    if out.fmt is Format.json:
        out.json(record)
        return
    shown = {k: v for k, v in record.items() if k not in ("labels", "objects", "bytes")}
    shown["labels"] = ", ".join(f"{k}={v}" for k, v in sorted(bucket.labels.items()))
    out.table(("FIELD", "VALUE"), [(k, "-" if v in (None, "") else v) for k, v in shown.items()])


def bucket_request_record(spec: BucketSpec, derived_from: str | None) -> dict[str, Any]:
    """What `bucket create` would send (its dry run)."""
    return {
        "name": spec.name,
        "name_derived_from": derived_from,
        "location": spec.location,
        "storage_class": spec.storage_class,
        "labels": dict(spec.labels),
        "uniform_bucket_level_access": True,
        "public_access_prevention": "enforced",
    }


def blob_record(bucket: str, blob: BlobInfo) -> dict[str, Any]:
    return {
        "url": f"gs://{bucket}/{blob.name}",
        "name": blob.name,
        "size": blob.size,
        "crc32c": blob.crc32c,
        "md5": blob.md5,
        "updated": blob.updated.isoformat() if blob.updated else None,
    }


def emit_blobs(out: Output, bucket: str, blobs: Sequence[BlobInfo]) -> None:
    rows = [
        (
            f"gs://{bucket}/{b.name}",
            human_bytes(b.size),
            b.updated.strftime("%Y-%m-%d %H:%M") if b.updated else "-",
        )
        for b in blobs
    ]
    out.emit([blob_record(bucket, b) for b in blobs], ("URL", "SIZE", "UPDATED"), rows)


def delete_plan_record(plan: DeletePlan) -> dict[str, Any]:
    return {"name": plan.name, "objects": plan.objects, "bytes": plan.bytes}


def delete_plan_rows(plans: Sequence[DeletePlan]) -> list[tuple[str, int, str]]:
    return [(p.name, p.objects, human_bytes(p.bytes)) for p in plans]


def bucket_outcome_record(outcome: Outcome[Any]) -> dict[str, Any]:
    """One bucket of a batch delete: its name, what went with it, and the error if it failed."""
    plan = outcome.item
    record: dict[str, Any] = {
        "name": outcome.key,
        "objects": getattr(plan, "objects", None),
        "bytes": getattr(plan, "bytes", None),
        "ok": outcome.ok,
        "state": "deleted" if outcome.ok else None,
    }
    if outcome.error is not None:
        record["error"] = error_record(outcome.error)
    return record


def transfer_record(outcome: Outcome[Transfer]) -> dict[str, Any]:
    """One file of an upload or download: where from and to, its size and checksums."""
    item, info = outcome.item, outcome.value
    record: dict[str, Any] = {
        "url": item.url if item.bucket else None,
        "file": str(item.local),
        "size": info.size if info is not None else item.size,
        "crc32c": info.crc32c if info is not None else None,
        "md5": info.md5 if info is not None else None,
        "ok": outcome.ok,
    }
    if outcome.error is not None:
        record["error"] = error_record(outcome.error)
    return record


def emit_transfers(out: Output, outcomes: Sequence[Outcome[Transfer]]) -> None:
    """Every file of a transfer as a JSON list; in a table, the files moved."""
    done = [o for o in outcomes if o.ok]
    rows = [(o.item.url, human_bytes(o.value.size), str(o.item.local)) for o in done]
    out.emit([transfer_record(o) for o in outcomes], TRANSFER_COLUMNS, rows)


def access_record(change: AccessChange) -> dict[str, Any]:
    request = change.request
    return {
        "bucket": request.bucket,
        "member": request.member,
        "role": request.role,
        "iam_role": request.full_role,
        "action": "grant" if change.granted else "revoke",
        "changed": change.changed,
        "bindings": {role: list(members) for role, members in change.members.items()},
    }


def emit_access(out: Output, change: AccessChange) -> None:
    """The bucket's bindings after a grant or revoke: ROLE/MEMBER rows or one JSON object."""
    if out.fmt is Format.json:
        out.json(access_record(change))
        return
    rows = [(role, m) for role, members in change.members.items() for m in members]
    if rows:
        out.table(("ROLE", "MEMBER"), rows)


def error_record(error: LabctlError) -> dict[str, Any]:
    from labctl.cli._errors import render

    message, hint, _ = render(error)
    return {"message": message, "hint": hint}


# -- classes ------------------------------------------------------------------------------------
# Money is USD as numbers in JSON; tables show "$12.34". A plan is one JSON object.

if TYPE_CHECKING:
    from labctl.classroom.apply import SetupReport
    from labctl.classroom.lifecycle import TeardownPlan
    from labctl.classroom.plan import ClassPlan, Seat
    from labctl.classroom.status import ClassStatus, StudentStatus

CLASS_PLAN_COLUMNS = ("STUDENT", "SLUG", "VM", "ZONE", "BUCKET", "ACCESS")
QUOTA_COLUMNS = ("REGION", "METRIC", "PER VM", "VMS", "NEEDED", "FREE", "LIMIT", "OK")
STATUS_COLUMNS = (
    "STUDENT",
    "VM",
    "STATE",
    "ZONE",
    "EXTERNAL IP",
    "GPU",
    "UP",  # running for
    "ACTIVE",  # last active, as the on-VM agent reports it
    "SPEND",
    "BUDGET",
)


def usd(amount: float) -> str:
    return f"${amount:,.2f}"


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(value, 2)


def _access_changes(seat: Seat) -> list[dict[str, Any]]:
    changes = []
    for resource, diff in (("vm", seat.vm_access), ("bucket", seat.bucket_access)):
        if diff is not None and diff.changed:
            changes.append(
                {
                    "resource": resource,
                    "role": diff.role,
                    "grant": sorted(diff.grant),
                    "revoke": sorted(diff.revoke),
                }
            )
    return changes


def seat_record(seat: Seat) -> dict[str, Any]:
    bucket = None
    if seat.bucket_action != "none":
        bucket = {
            "name": seat.bucket_name,
            "action": seat.bucket_action,
            "labels_to_fix": dict(seat.bucket_labels),
        }
    return {
        "email": seat.student.email,
        "name": seat.student.name,
        "slug": seat.slug,
        "vm": {
            "name": seat.vm_name,
            "action": seat.vm_action,
            "zone": seat.zone or None,
            "state": seat.vm.state.value if seat.vm else None,
            "labels_to_fix": dict(seat.vm_labels),
            "conflict": seat.conflict,
        },
        "bucket": bucket,
        "access": _access_changes(seat),
        "schedule_detach": list(seat.detach),
    }


def _access_text(seat: Seat) -> str:
    grants = sum(len(c["grant"]) for c in _access_changes(seat))
    revokes = sum(len(c["revoke"]) for c in _access_changes(seat))
    parts = [f"+{grants}" if grants else "", f"-{revokes}" if revokes else ""]
    return " ".join(p for p in parts if p) or "ok"


def seat_row(seat: Seat) -> tuple[str, ...]:
    vm = seat.vm_action + (" labels" if seat.vm_labels else "")
    bucket = seat.bucket_action + (" labels" if seat.bucket_labels else "")
    return (seat.student.email, seat.slug, vm, seat.zone or "-", bucket, _access_text(seat))


def quota_record(line: Any) -> dict[str, Any]:
    return {
        "region": line.region,
        "metric": line.metric,
        "per_vm": _number(line.per_vm),
        "vms": line.vms,
        "needed": _number(line.needed),
        "free": _number(line.free),
        "limit": _number(line.limit),
        "usage": _number(line.usage),
        "ok": line.ok,
    }


def class_plan_record(plan: ClassPlan) -> dict[str, Any]:
    cost, schedule = plan.cost, plan.schedule
    return {
        "course": plan.course,
        "file": str(plan.cf.path),
        "roster": str(plan.cf.roster),
        "ends": plan.cf.ends.isoformat(),
        "zones": plan.zones,
        "students": [seat_record(s) for s in plan.seats],
        "tas": [t.email for t in plan.tas],
        "removed": [
            {
                "slug": left.slug,
                "vms": [vm.name for vm in left.vms],
                "buckets": [b.name for b in left.buckets],
            }
            for left in plan.leftovers
        ],
        "quota": class_quota_record(plan),
        "schedule": {
            "name": schedule.name,
            "create_in": [s.region for s in schedule.missing_in(plan.regions)],
            "attach_to": [s.vm_name for s in plan.attachments],
            "delete": [f"{s.name} ({s.region})" for s in schedule.stale],
        },
        "cost": {
            "vms": cost.vms,
            "per_hour_usd": cost.per_hour_usd,
            "per_month_usd": cost.per_month_usd,
            "disks_per_month_usd": cost.disks_per_month_usd,
            "approximate": cost.approximate,
            "prices_date": cost.prices_date,
        },
    }


def class_quota_record(plan: ClassPlan) -> dict[str, Any]:
    quota = plan.quota
    return {
        "fits": quota.fits,
        "lines": [quota_record(line) for line in quota.lines],
        "capacity": dict(quota.capacity),
        "unplaced": list(quota.unplaced),
        "requests": [
            {"region": r.region, "metric": r.metric, "limit": r.current, "request": r.limit}
            for r in quota.requests
        ],
    }


def emit_quota(out: Output, plan: ClassPlan) -> None:
    rows = [
        (
            line.region,
            line.metric,
            _number(line.per_vm),
            line.vms,
            _number(line.needed),
            _number(line.free),
            _number(line.limit),
            "yes" if line.ok else "NO",
        )
        for line in plan.quota.lines
    ]
    if rows:
        out.table(QUOTA_COLUMNS, rows, title="quota (the whole class running at once)")


def emit_class_plan(out: Output, plan: ClassPlan) -> None:
    """Students, removed students, quota and cost: tables on stdout, or one JSON object."""
    if out.fmt is Format.json:
        out.json(class_plan_record(plan))
        return
    if plan.seats:
        out.table(CLASS_PLAN_COLUMNS, [seat_row(s) for s in plan.seats], title="students")
    if plan.leftovers:
        rows = [
            (left.slug, ", ".join(vm.name for vm in left.vms) or "-", len(left.buckets))
            for left in plan.leftovers
        ]
        out.table(("REMOVED", "VMS", "BUCKETS"), rows, title="not in the roster (kept)")
    emit_quota(out, plan)
    for line in plan_lines(plan):
        out.info(line)


def plan_lines(plan: ClassPlan) -> list[str]:
    cost, approx = plan.cost, "~" if plan.cost.approximate else ""
    lines = [
        f"{len(plan.seats)} students, {len(plan.tas)} TAs; VMs: "
        + ", ".join(
            f"{plan.count('vm', a)} {a}"
            for a in ("create", "update", "unchanged", "conflict", "no-room")
            if plan.count("vm", a)
        ),
        f"cost: {approx}{usd(cost.per_hour_usd)}/h with all {cost.vms} VMs running; "
        f"{approx}{usd(cost.per_month_usd)}/month if left running (boot disks "
        f"{usd(cost.disks_per_month_usd)}/month); prices dated {cost.prices_date}",
    ]
    wanted = plan.cf.schedule
    if plan.schedule.name and wanted is not None:
        lines.append(
            f"schedule {plan.schedule.name}: start {wanted.start or '-'}, stop "
            f"{wanted.stop or '-'} ({wanted.timezone}), one per region"
        )
    if plan.leftovers:
        lines.append(f"{len(plan.leftovers)} student(s) in the cloud are not in the roster")
    return lines


def quota_refusal(plan: ClassPlan) -> str:
    """'the class does not fit ...: request X in R to N (now M), ...'."""
    quota = plan.quota
    missing = len(quota.unplaced)
    new = missing + len(quota.zones)
    regions = ", ".join(f"{r} {n}" for r, n in quota.capacity.items())
    requests = "; ".join(
        f"{r.metric} in {r.region} to {_number(r.limit)} (now {_number(r.current)})"
        for r in quota.requests
    )
    return (
        f"the class does not fit its zones' quota: {missing} of {new} new VMs have no room "
        f"(VMs that still fit: {regions}); nothing was created"
        + (f"; request {requests}" if requests else "")
    )


def setup_summary(plan: ClassPlan, *, prune: bool) -> list[str]:
    """What setup is about to do, one line per kind; [] when nothing."""
    lines = []
    if plan.count("vm", "create"):
        lines.append(
            f"create {plan.count('vm', 'create')} VMs in {', '.join(plan.zones)} "
            f"({'~' if plan.cost.approximate else ''}{usd(plan.cost.per_hour_usd)}/h "
            "for the class while running)"
        )
    if plan.count("vm", "update") or plan.count("bucket", "update"):
        lines.append(
            f"fix labels of {plan.count('vm', 'update')} VMs, "
            f"{plan.count('bucket', 'update')} buckets"
        )
    if plan.count("bucket", "create"):
        lines.append(f"create {plan.count('bucket', 'create')} buckets")
    if plan.access_changes:
        lines.append(f"change access on {plan.access_changes} VMs and buckets")
    schedule = plan.schedule
    if plan.attachments or schedule.stale or schedule.missing_in(plan.regions):
        lines.append(f"instance schedule {schedule.name or '(none)'}: {len(plan.attachments)} VMs")
    if plan.count("vm", "conflict"):
        lines.append(f"{plan.count('vm', 'conflict')} VM names are taken by others: skipped")
    if plan.leftovers:
        what = "delete" if prune else "keep (--prune deletes them)"
        lines.append(f"{len(plan.leftovers)} students not in the roster: {what}")
    if plan.leftovers and not prune and len(lines) == 1:
        return []
    return lines


def emit_setup_report(out: Output, plan: ClassPlan, report: SetupReport | None) -> None:
    """Per phase: changed, unchanged, failed (a table, or one JSON object with each student);
    with no report (nothing to do) only the JSON."""
    if out.fmt is Format.json:
        out.json(setup_record(plan, report))
        return
    if report is None:
        return
    rows = [
        (p, c.changed, c.unchanged, c.failed)
        for p, c in report.counts.items()
        if p != "prune" or c.changed or c.failed
    ]
    out.table(("PHASE", "CHANGED", "UNCHANGED", "FAILED"), rows, title=f"class {plan.course}")


def setup_record(plan: ClassPlan, report: SetupReport | None) -> dict[str, Any]:
    students = []
    for seat in plan.seats:
        result = report.seats.get(seat.slug) if report else None
        students.append(
            {
                "email": seat.student.email,
                "slug": seat.slug,
                "vm": seat.vm_name,
                "zone": (result.zone if result else None) or seat.zone or None,
                "bucket": (result.bucket if result else None) or seat.bucket_name,
                "errors": {
                    phase: error_record(error)
                    for phase, error in (result.errors if result else {}).items()
                },
            }
        )
    phases = {}
    if report is not None:
        phases = {p: vars(c) for p, c in report.counts.items()}
    return {
        "course": plan.course,
        "phases": phases,
        "students": students,
        "ok": not (report and report.failures),
    }


def _ago(moment: Any, now: datetime) -> str:
    if moment is None:
        return "-"
    if isinstance(moment, str):
        return moment
    return f"{age(moment, now)} ago"


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m"


def student_status_record(row: StudentStatus, now: datetime) -> dict[str, Any]:
    vm, spent = row.vm, row.spend
    return {
        "email": row.member.email if row.member else None,
        "name": row.member.name if row.member else None,
        "slug": row.slug,
        "in_roster": row.member is not None,
        "vm": vm.name if vm else None,
        "state": vm.state.value if vm else None,
        "zone": vm.zone if vm else None,
        "external_ip": vm.external_ip if vm else None,
        "gpu": {"type": vm.gpu.type, "count": vm.gpu.count} if vm and vm.gpu else None,
        "running_seconds": row.running_seconds,
        "last_active": row.last_active.isoformat()
        if isinstance(row.last_active, datetime)
        else row.last_active,
        "bucket": row.bucket.name if row.bucket else None,
        "spend": {
            "hours": spent.hours,
            "compute_usd": spent.compute_usd,
            "disk_usd": spent.disk_usd,
            "total_usd": spent.total_usd,
            "approximate": spent.approximate,
        }
        if spent
        else None,
        "budget_usd": row.budget_usd,
        "budget_used": round(spent.total_usd / row.budget_usd, 3)
        if spent and row.budget_usd
        else None,
    }


def short_gpu(vm: Vm) -> str:
    """'1x p100' (the model without its vendor prefix), or '-'."""
    if not vm.gpu:
        return "-"
    return f"{vm.gpu.count}x {vm.gpu.type.removeprefix('nvidia-').removeprefix('tesla-')}"


def student_status_row(row: StudentStatus, now: datetime) -> tuple[str, ...]:
    vm, spent = row.vm, row.spend
    who = row.member.email if row.member else f"{row.slug} (not in roster)"
    budget = f"{spent.total_usd / row.budget_usd:.0%}" if spent and row.budget_usd else "-"
    return (
        who,
        vm.name if vm else "-",
        vm.state.value if vm else "missing",
        vm.zone if vm else "-",
        (vm.external_ip or "-") if vm else "-",
        short_gpu(vm) if vm else "-",
        _duration(row.running_seconds),
        _ago(row.last_active, now),
        (("~" if spent.approximate else "") + usd(spent.total_usd)) if spent else "-",
        budget,
    )


def emit_class_status(out: Output, status: ClassStatus) -> None:
    records = [student_status_record(r, status.now) for r in status.rows]
    rows = [student_status_row(r, status.now) for r in status.rows]
    out.emit(records, STATUS_COLUMNS, rows)
    if out.fmt is Format.table and rows:
        budget = next((r.budget_usd for r in status.rows if r.budget_usd), None)
        share = f"; BUDGET: share of {usd(budget)} per student" if budget else ""
        out.info(
            f"SPEND: compute, GPU and boot disk so far, from run time kept in labels and prices "
            f"dated {status.prices_date} (~ approximate){share}"
        )


def budget_warnings(status: ClassStatus) -> list[str]:
    warnings = []
    for row in status.rows:
        level = row.budget_level
        if level is not None and row.spend is not None and row.budget_usd:
            who = row.member.email if row.member else row.slug
            warnings.append(
                f"{who}: {usd(row.spend.total_usd)} spent, {level:.0%}+ of the "
                f"{usd(row.budget_usd)} budget"
            )
    return warnings


def lifecycle_question(course: str, action: str, targets: Sequence[Vm]) -> str:
    names = ", ".join(vm.name for vm in targets[:5])
    more = f" and {len(targets) - 5} more" if len(targets) > 5 else ""
    return f"{action.capitalize()} {len(targets)} VM(s) of class {course} ({names}{more})?"


def emit_lifecycle(
    out: Output, outcomes: Sequence[Outcome[Any]], action: str, *, wait: bool
) -> None:
    state = {"stop": "stopped", "start": "running"}[action] if wait else "accepted"
    for outcome in outcomes:
        if outcome.error is not None:
            out.error(f"{outcome.key}: {outcome.error.message}")
        else:
            out.success(f"{outcome.key} ({getattr(outcome.item, 'zone', '')}): {state}")
    if out.fmt is Format.json:
        out.json([outcome_record(o, state) for o in outcomes])


def emit_teardown_plan(out: Output, plan: TeardownPlan) -> None:
    """The plan as tables (JSON comes once, at the end, with the result)."""
    if out.fmt is Format.json or plan.empty:
        return
    rows: list[tuple[str, ...]] = [
        (
            "vm",
            vm.name,
            vm.zone,
            f"snapshot {plan.snapshots[vm.name]}" if plan.snapshots else vm.state.value,
        )
        for vm in plan.vms
    ]
    rows += [
        ("bucket", f"gs://{b.name}", "-", f"{b.objects} objects, {human_bytes(b.bytes)}")
        for b in plan.buckets
    ]
    rows += [("schedule", s.name, s.region, "") for s in plan.schedules]
    out.table(("KIND", "NAME", "WHERE", "DETAIL"), rows, title=f"class {plan.course}: to delete")
    if plan.kept_buckets:
        out.info(f"{plan.kept_buckets} bucket(s) kept (--keep-buckets)")


def teardown_question(plan: TeardownPlan) -> str:
    objects = sum(b.objects for b in plan.buckets)
    return (
        f"Delete {len(plan.vms)} VM(s), {len(plan.buckets)} bucket(s) with {objects} object(s) "
        f"and {len(plan.schedules)} schedule(s) of class {plan.course}?"
    )


def teardown_totals(plan: TeardownPlan) -> dict[str, int]:
    return {
        "snapshots": len(plan.snapshots),
        "vms": len(plan.vms),
        "buckets": len(plan.buckets),
        "schedules": len(plan.schedules),
    }


def emit_teardown_result(
    out: Output, plan: TeardownPlan, failures: dict[str, LabctlError] | None
) -> None:
    """JSON only: the plan, whether it ran, and what failed."""
    if out.fmt is not Format.json:
        return
    out.json(
        {
            "course": plan.course,
            "deleted": failures is not None,
            "vms": [
                {"name": vm.name, "zone": vm.zone, "snapshot": plan.snapshots.get(vm.name)}
                for vm in plan.vms
            ],
            "buckets": [delete_plan_record(b) for b in plan.buckets],
            "schedules": [{"name": s.name, "region": s.region} for s in plan.schedules],
            "failures": {name: error_record(e) for name, e in (failures or {}).items()},
        }
    )
