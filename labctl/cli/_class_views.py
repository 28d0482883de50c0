"""labctl class: plans, quota, setup reports, status and teardown as tables and JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from labctl.cli._bucket_views import delete_plan_record
from labctl.cli._output import Format, Output
from labctl.cli._views import age, error_record, human_bytes, usd

if TYPE_CHECKING:
    from labctl.classroom.apply import SetupReport
    from labctl.classroom.lifecycle import TeardownPlan
    from labctl.classroom.plan import ClassPlan, Seat
    from labctl.classroom.status import ClassStatus, StudentStatus
    from labctl.errors import LabctlError
    from labctl.models import Vm

# -- classes ------------------------------------------------------------------------------------
# Money is USD as numbers in JSON; tables show "$12.34". A plan is one JSON object.

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


def student_status_record(row: StudentStatus) -> dict[str, Any]:
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
        "budget_used": _share(spent.total_usd if spent else None, row.budget_usd),
    }


def _share(spent: float | None, budget: float | None) -> float | None:
    """How much of the budget is spent (0.42), or None when either is unknown."""
    return round(spent / budget, 3) if spent is not None and budget else None


def short_gpu(vm: Vm) -> str:
    """'1x p100' (the model without its vendor prefix), or '-'."""
    if not vm.gpu:
        return "-"
    return f"{vm.gpu.count}x {vm.gpu.type.removeprefix('nvidia-').removeprefix('tesla-')}"


def student_status_row(row: StudentStatus, now: datetime) -> tuple[str, ...]:
    vm, spent = row.vm, row.spend
    who = row.member.email if row.member else f"{row.slug} (not in roster)"
    share = _share(spent.total_usd if spent else None, row.budget_usd)
    budget = "-" if share is None else f"{share:.0%}"
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
    records = [student_status_record(r) for r in status.rows]
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
        "snapshots": len(plan.snapshots) - len(plan.snapshots_taken),
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
