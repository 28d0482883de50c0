"""What `labctl cleanup` and `labctl cost` do once their options are parsed: one scan, the
plan (or the costs), then (for cleanup, when confirmed) the actions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import typer

from labctl.cli import _cleanup_views as cleanup_views
from labctl.cli._output import Format
from labctl.errors import Declined, PartialFailure

if TYPE_CHECKING:
    from labctl.cli._app import AppContext
    from labctl.hygiene import Inventory, Options, Plan, Result

FINDINGS_EXIT = 3  # --exit-code: the plan had findings


@dataclass(frozen=True)
class Request:
    """cleanup's flags, as given."""

    course: str | None = None
    owner: str | None = None
    kinds: tuple[str, ...] = ()
    older_than: str | None = None
    show_all: bool = False
    include_buckets: bool = False
    delete: bool = False
    snapshot: bool = True


def options(request: Request) -> Options:
    """The flags checked and in the domain's terms (owner slugged, age parsed)."""
    from labctl.hygiene import KINDS, Options
    from labctl.labels import owner_slug, parse_duration

    age = request.older_than
    return Options(
        course=request.course,
        owner=owner_slug(request.owner) if request.owner else None,
        kinds=request.kinds or KINDS,
        older_than=parse_duration(age, field="--older-than") if age else None,
        delete_running=request.delete,
        snapshot=request.snapshot,
        include_buckets=request.include_buckets,
    )


def survey(
    app: AppContext, chosen: Options, *, count_all_buckets: bool = False
) -> tuple[Inventory, Plan]:
    from labctl import hygiene
    from labctl.pricing import load_prices

    # Cloud Storage is asked only when buckets are in scope (its client costs start-up time).
    storage = app.storage if "bucket" in chosen.kinds else None
    with app.out.spinner("Scanning instances, disks, addresses, snapshots, rules and buckets..."):
        return hygiene.survey(
            app.compute,
            storage,
            hygiene.Policy.from_settings(app.settings),
            chosen,
            now=datetime.now(UTC),
            prices=load_prices(),
            count_all_buckets=count_all_buckets,
        )


def cleanup(
    app: AppContext, request: Request, *, dry_run: bool, yes: bool, exit_code: bool
) -> None:
    inventory, plan = survey(app, options(request))
    for name, error in inventory.unreadable.items():
        app.out.warn(f"{name}: activity not readable ({error.message}); no idle finding")
    if app.out.fmt is Format.table:
        cleanup_views.emit_plan_tables(app.out, plan, show_all=request.show_all)
    for line in cleanup_views.plan_summary(plan):
        app.out.info(line)
    results: dict[str, Result | str] = {}
    applied = False
    if not plan.actions:
        app.out.info("nothing to clean up" if not plan.findings else "nothing to do")
    elif dry_run:
        app.out.info("dry run: nothing changed")
        results = dict.fromkeys((f.key for f in plan.actions), "planned")
    elif _confirmed(app, plan, yes=yes):
        results, applied = dict(_apply(app, plan)), True
    else:
        results = dict.fromkeys((f.key for f in plan.actions), "not done")
    _finish(app, plan, results, applied=applied, show_all=request.show_all)
    if exit_code and plan.findings:
        raise typer.Exit(FINDINGS_EXIT)


def _confirmed(app: AppContext, plan: Plan, *, yes: bool) -> bool:
    """Ask on a terminal; without one (and without --yes) nothing changes, and that is no error."""
    count = len(plan.actions)
    saving = plan.monthly_saving.monthly()
    try:
        app.out.confirm(f"Apply these {count} action(s) (saves {saving})?", yes=yes, declined="")
    except Declined as exc:
        app.out.info(
            "no terminal to confirm on: nothing changed; pass --yes to apply the plan"
            if exc.no_terminal
            else "nothing changed"
        )
        return False
    return True


def _apply(app: AppContext, plan: Plan) -> list[tuple[str, Result]]:
    from labctl import hygiene

    storage = app.storage if any(f.kind == "bucket" for f in plan.actions) else None
    total = len(plan.actions)
    with app.out.progress(f"Cleaning up {total} resource(s)", total) as advance:
        done = hygiene.apply(app.compute, storage, plan, on_result=lambda _: advance(1))
    for result in done:
        f = result.finding
        if result.error is not None:
            app.out.error(f"{f.kind} {f.name}: {result.error.message}")
        else:
            app.out.success(f"{f.kind} {f.name} ({f.where}): {result.outcome}")
    return [(r.finding.key, r) for r in done]


def _finish(
    app: AppContext,
    plan: Plan,
    results: dict[str, Result | str],
    *,
    applied: bool,
    show_all: bool,
) -> None:
    """The JSON document, the next step, and one error if something failed."""
    if app.out.fmt is Format.json:
        app.out.json(
            cleanup_views.cleanup_document(plan, results, applied=applied, show_all=show_all)
        )
    failed = {
        r.finding.name: r.error
        for r in results.values()
        if not isinstance(r, str) and r.error is not None
    }
    if failed:
        raise PartialFailure(f"{len(failed)} of {len(results)} cleanup action(s) failed", failed)
    if applied:
        app.out.next_step("labctl cost")
    elif plan.actions:
        app.out.next_step("labctl cleanup --yes")
    elif plan.left_alone and not show_all:
        app.out.next_step("labctl cleanup --all --dry-run")


def costs(
    app: AppContext, *, by: str, course: str | None, owner: str | None, managed_only: bool
) -> None:
    from labctl.hygiene.costs import cost_report
    from labctl.pricing import load_prices

    chosen = options(Request(course=course, owner=owner))
    inventory, plan = survey(app, chosen, count_all_buckets=True)
    report = cost_report(
        inventory,
        load_prices(),
        by=by,
        managed_only=managed_only,
        course=chosen.course,
        owner=chosen.owner,
        cleanup_saving=plan.monthly_saving,
    )
    cleanup_views.emit_costs(app.out, report)
    if not report.lines:
        app.out.info(
            "nothing that bills"
            + (" created by labctl (--all counts everything)" if managed_only else "")
        )
    app.out.info(
        f"total {report.total.monthly()} ({report.total}); estimate, prices dated "
        f"{report.prices_date}"
    )
    if report.not_counted:
        app.out.info(
            f"{report.not_counted} resource(s) without labctl's labels not counted "
            "(--all counts them)"
        )
    if plan.actions:
        app.out.info(f"labctl cleanup would save {plan.monthly_saving.monthly()}")
        app.out.next_step("labctl cleanup --dry-run")
