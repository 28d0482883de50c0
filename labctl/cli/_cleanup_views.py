"""cleanup's plan and cost's report as tables and JSON (conventions in _views.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from labctl.cli._output import Format, Output
from labctl.cli._views import error_record, human_bytes

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
