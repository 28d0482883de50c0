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


# -- cleanup and cost ------------------------------------------------------------------------------
# Money in JSON: numbers (USD) or null when a price is unknown; tables show "$1.20/mo" or
# "unknown", and "~" where a price came from another region.

if TYPE_CHECKING:
    from labctl.hygiene import Finding, LeftAlone, Plan, Result
    from labctl.hygiene.costs import CostReport

PLAN_COLUMNS = ("RESOURCE", "KIND", "WHERE", "OWNER", "WHY", "ACTION", "COST/MONTH")


def action_text(finding: Finding) -> str:
    return "keep" if not finding.acts else finding.action


def finding_record(finding: Finding, result: Result | str | None) -> dict[str, Any]:
    """One finding as the JSON record `labctl cleanup --format json` prints."""
    record: dict[str, Any] = {
        "kind": finding.kind,
        "name": finding.name,
        "zone": finding.zone,
        "region": finding.region,
        "owner": finding.owner,
        "course": finding.course,
        "rule": finding.rule,
        "reason": finding.reason,
        "action": finding.action,
        "monthly_cost_usd": finding.cost.usd_per_month,
        "monthly_saving_usd": finding.saving.usd_per_month,
        "cost_approximate": finding.cost.approximate,
        "snapshots": [
            {"name": s.name, "disk": s.disk, "size_gb": s.size_gb, "exists": s.exists}
            for s in finding.snapshots
        ],
    }
    if finding.kind == "bucket":
        record.update(location=finding.location, objects=finding.objects, bytes=finding.bytes)
    if result is None or isinstance(result, str):
        record["result"] = result
    else:
        record["result"] = result.outcome
        if result.error is not None:
            record["error"] = error_record(result.error)
    return record


def left_alone_record(item: LeftAlone) -> dict[str, Any]:
    return {"kind": item.kind, "name": item.name, "where": item.where, "why": item.why,
            "would_be": item.would or None}  # fmt: skip


def cleanup_document(
    plan: Plan, results: dict[str, Result | str], *, applied: bool, show_all: bool
) -> dict[str, Any]:
    """The plan and what became of it, as one JSON document."""
    saving = plan.monthly_saving
    return {
        "estimate": True,
        "prices_date": plan.prices_date,
        "now": plan.now.isoformat(),
        "applied": applied,
        "findings": [
            finding_record(f, results.get(f.key, "kept" if not f.acts else None))
            for f in plan.findings
        ],
        "monthly_saving_usd": saving.usd_per_month,
        "snapshots_monthly_cost_max_usd": plan.snapshot_cost_max.usd_per_month,
        "left_alone": {
            "unmanaged": plan.unmanaged,
            "kept": plan.kept,
            "resources": [left_alone_record(r) for r in plan.left_alone] if show_all else None,
        },
    }


def plan_rows(findings: Sequence[Finding]) -> list[tuple[str, ...]]:
    return [
        (f.name, f.kind, f.where, f.owner or "-", f.reason + _bucket_size(f), action_text(f),
         f.cost.monthly())
        for f in findings
    ]  # fmt: skip


def _bucket_size(finding: Finding) -> str:
    if finding.kind != "bucket" or finding.objects is None:
        return ""
    return f" ({finding.objects} objects, {human_bytes(finding.bytes)})"


def emit_plan_tables(out: Output, plan: Plan, *, show_all: bool) -> None:
    """The plan as a table (stdout), then with --all the resources left alone."""
    if plan.findings:
        out.table(PLAN_COLUMNS, plan_rows(plan.findings))
    if show_all and plan.left_alone:
        rows = [(r.name, r.kind, r.where, r.why, r.would or "-") for r in plan.left_alone]
        out.table(("RESOURCE", "KIND", "WHERE", "LEFT ALONE", "WOULD BE"), rows,
                  title="Left alone (never changed)")  # fmt: skip


def plan_summary(plan: Plan) -> list[str]:
    """The lines under the plan (stderr): the saving, the snapshots it takes, what it skips."""
    lines = []
    if plan.actions:
        lines.append(
            f"{len(plan.actions)} action(s); saves {plan.monthly_saving.monthly()} "
            f"(estimate, prices dated {plan.prices_date})"
        )
    new = plan.new_snapshots
    if new:
        lines.append(
            f"before deleting, {len(new)} snapshot(s) are taken: up to "
            f"{plan.snapshot_cost_max.monthly()} (only written blocks are stored)"
        )
    kept = [f for f in plan.findings if not f.acts]
    if kept:
        lines.append(f"{len(kept)} bucket finding(s) kept: --include-buckets deletes them")
    if plan.left_alone:
        parts = [f"{plan.unmanaged} without labctl's labels"] if plan.unmanaged else []
        parts += [f"{plan.kept} labelled labctl-keep=true"] if plan.kept else []
        lines.append(f"{len(plan.left_alone)} resource(s) left alone ({', '.join(parts)})")
    return lines


def cost_record(report: CostReport) -> dict[str, Any]:
    return {
        "estimate": True,
        "prices_date": report.prices_date,
        "by": report.by,
        "resources": [
            {
                "kind": line.kind,
                "name": line.name,
                "where": line.where,
                "course": line.course,
                "owner": line.owner,
                "state": line.state,
                "detail": line.detail,
                "cost_per_hour_usd": line.cost.usd_per_hour,
                "cost_per_month_usd": line.cost.usd_per_month,
                "cost_approximate": line.cost.approximate,
            }
            for line in report.lines
        ],
        "groups": [
            {
                "group": group.name,
                "resources": group.count,
                "cost_per_hour_usd": group.cost.usd_per_hour,
                "cost_per_month_usd": group.cost.usd_per_month,
            }
            for group in report.groups
        ],
        "total_per_hour_usd": report.total.usd_per_hour,
        "total_per_month_usd": report.total.usd_per_month,
        "cleanup_saving_per_month_usd": report.cleanup_saving.usd_per_month,
        "not_counted": report.not_counted,
        "sources": report.sources,
    }


def emit_costs(out: Output, report: CostReport) -> None:
    """Every resource and the groups (tables), or one JSON document."""
    if out.fmt is Format.json:
        out.json(cost_record(report))
        return
    if not report.lines:
        return
    rows = [
        (r.name, r.kind, r.owner or "-", r.state, _hourly(r.cost), r.cost.monthly(), r.detail)
        for r in report.lines
    ]  # fmt: skip
    columns = ("RESOURCE", "KIND", "OWNER", "STATE", "PER HOUR", "PER MONTH", "WHAT BILLS")
    out.table(columns, rows)
    groups = [(g.name, g.count, _hourly(g.cost), g.cost.monthly()) for g in report.groups]
    groups.append(("total", len(report.lines), _hourly(report.total), report.total.monthly()))
    out.table((report.by.upper(), "RESOURCES", "PER HOUR", "PER MONTH"), groups)


def _hourly(estimate: Any) -> str:
    if estimate.usd_per_hour is None:
        return "unknown"
    return f"{'~' if estimate.approximate else ''}${estimate.usd_per_hour:.4f}/h"


# -- doctor and config ---------------------------------------------------------------------------
STATUS_STYLE = {"OK": "green", "WARN": "yellow", "FAIL": "red", "SKIP": "dim"}


def doctor_record(check: Any, fix: str | None) -> dict[str, Any]:
    return {"check": check.check, "status": check.status.value, "detail": check.detail, "fix": fix}


def emit_doctor(out: Output, records: Sequence[dict[str, Any]]) -> None:
    """One entry per check ("OK    credentials  ..."), its fix below it, wrapped at spaces
    under the detail column; or a JSON list."""
    if out.fmt is Format.json:
        out.json(list(records))
        return
    import textwrap

    from labctl.cli._output import escape

    width = max((len(r["check"]) for r in records), default=0)
    indent = " " * (4 + 2 + width + 2)
    room = max(out.stdout.width - len(indent), 30)
    for r in records:
        style = STATUS_STYLE.get(r["status"], "")
        status = f"[{style}]{r['status']:<4}[/{style}]" if style else f"{r['status']:<4}"
        lines = textwrap.wrap(r["detail"], room, break_on_hyphens=False, break_long_words=False)
        if r["fix"]:
            lines += textwrap.wrap(
                "fix: " + r["fix"], room, break_on_hyphens=False, break_long_words=False
            )
        first, *rest = [escape(line) for line in lines] or [""]
        out.stdout.print(f"{status}  {escape(r['check']):<{width}}  {first}")
        for line in rest:
            out.stdout.print(indent + line)


def setting_record(setting: Any) -> dict[str, Any]:
    return {
        "setting": setting.key,
        "value": setting.value,
        "source": setting.source,
        "origin": setting.origin,
    }


def setting_text(value: Any) -> str:
    """How a value reads in a table: lists comma-separated, tables as k=v, none as '-'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return "-" if value in (None, "") else str(value)


def emit_settings(out: Output, settings: Sequence[Any]) -> None:
    """SETTING/VALUE/SOURCE rows (a file or variable named in SOURCE), or a JSON list."""
    if out.fmt is Format.json:
        out.json([setting_record(s) for s in settings])
        return
    rows = []
    for s in settings:
        origin = s.origin if s.source in ("env", "flag") else None
        source = f"{s.source} {origin}" if origin else s.source
        rows.append((s.key, setting_text(s.value), source))
    out.table(("SETTING", "VALUE", "SOURCE"), rows)
    files = sorted({(s.source, s.origin) for s in settings if s.source.endswith("file")})
    for kind, path in files:
        out.info(f"{kind}: {path}")
