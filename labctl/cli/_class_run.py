"""What the `labctl class` commands do once their options are parsed: read the class file and
roster, one domain call per step, then output."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.cli import _class_views as class_views
from labctl.cli._errors import PAST
from labctl.cli._output import Format
from labctl.errors import PartialFailure, QuotaExceeded

if TYPE_CHECKING:
    from labctl.classroom.apply import SetupReport
    from labctl.classroom.classfile import ClassFile
    from labctl.classroom.plan import ClassPlan
    from labctl.classroom.roster import Roster
    from labctl.cli._app import AppContext
    from labctl.config import Settings
    from labctl.providers.base import StorageProvider

TITLES = {"vms": "VMs"}  # a phase's bar title, when it is not the phase's own name


def _load(app: AppContext, file: Path | None) -> tuple[ClassFile, Roster, Settings]:
    """The class file, its roster and the course settings with the class's own: all checked
    before any cloud call."""
    from labctl.classroom.classfile import class_settings, load_class
    from labctl.classroom.roster import load_roster

    cf = load_class(file)
    roster = load_roster(cf.roster)
    return cf, roster, class_settings(cf, app.settings)


def _storage(app: AppContext, cf: ClassFile) -> StorageProvider | None:
    return app.storage if cf.buckets else None


def _file_arg(cf: ClassFile) -> str:
    """The FILE to repeat in a next-step hint ('' for the default class.toml)."""
    from labctl.classroom.classfile import DEFAULT_FILE

    return "" if str(cf.path) == DEFAULT_FILE else f" {cf.path}"


def _plan(app: AppContext, cf: ClassFile, roster: Roster, settings: Settings) -> ClassPlan:
    from labctl.classroom.plan import build_plan
    from labctl.pricing import load_prices

    with app.out.spinner(f"Reading class {cf.course}...") as spinner:
        return build_plan(
            cf,
            roster,
            settings,
            app.compute,
            _storage(app, cf),
            load_prices(),
            on_step=lambda step: spinner.update(f"{cf.course}: {step}..."),
        )


def plan(app: AppContext, file: Path | None) -> None:
    cf, roster, settings = _load(app, file)
    planned = _plan(app, cf, roster, settings)
    class_views.emit_class_plan(app.out, planned)
    if not planned.quota.fits:
        app.out.warn(class_views.quota_refusal(planned))
    app.out.next_step(f"labctl class setup{_file_arg(cf)}")


def setup(app: AppContext, file: Path | None, *, prune: bool, yes: bool, dry_run: bool) -> None:
    cf, roster, settings = _load(app, file)
    planned = _plan(app, cf, roster, settings)
    if not planned.quota.fits:
        if app.out.fmt is Format.table:
            class_views.emit_quota(app.out, planned)
        raise _refusal(planned)
    if dry_run:
        class_views.emit_class_plan(app.out, planned)
        app.out.info("dry run: nothing was changed")
        return
    todo = class_views.setup_summary(planned, prune=prune)
    if not todo:
        app.out.success(f"class {cf.course} already matches {cf.roster.name}: nothing to do")
        class_views.emit_setup_report(app.out, planned, None)
        return
    for line in todo:
        app.out.info(line)
    app.out.confirm(f"Set up class {cf.course}?", yes=yes, declined="nothing changed")
    report = _apply(app, planned, prune=prune)
    class_views.emit_setup_report(app.out, planned, report)
    _finish_setup(app, cf, report)


def _refusal(planned: ClassPlan) -> QuotaExceeded:
    from labctl.classroom.placement import GLOBAL

    first = planned.quota.requests[0] if planned.quota.requests else None
    return QuotaExceeded(
        class_views.quota_refusal(planned),
        metric=first.metric if first else "CPUS",
        region=None if first is None or first.region == GLOBAL else first.region,
        limit=first.current if first else None,
        needed=first.limit if first else None,
    )


def _apply(app: AppContext, planned: ClassPlan, *, prune: bool) -> SetupReport:
    from labctl.classroom.apply import Setup

    run = Setup(planned, app.compute, _storage(app, planned.cf))
    totals = run.totals()
    totals["prune"] = totals["prune"] if prune else 0
    with bars(app, totals) as advance:
        run.start_schedules()
        run.students(advance)
        run.schedules(advance)
        if prune:
            run.prune(advance)
    return run.report


def _finish_setup(app: AppContext, cf: ClassFile, report: SetupReport) -> None:
    if report.failures:
        for name, error in report.failures.items():
            app.out.error(f"{name}: {error.message}")
        raise PartialFailure(
            f"class {cf.course}: {len(report.failures)} step(s) failed; the rest is done",
            report.failures,
            kind="class",
            name=str(cf.path),
        )
    app.out.success(f"class {cf.course} is set up")
    app.out.next_step(f"labctl class status{_file_arg(cf)}")


@contextmanager
def bars(app: AppContext, totals: dict[str, int]) -> Iterator[Callable[[str, int], None]]:
    """One progress bar per phase on stderr, kept when done; `advance(phase, n)` may be called
    from worker threads. Nothing is drawn without a terminal or with -q."""
    shown = {phase: total for phase, total in totals.items() if total}
    if app.out.verbosity < 0 or not app.out.stderr.is_terminal or not shown:
        yield lambda phase, n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=app.out.stderr) as progress:
        tasks = {p: progress.add_task(TITLES.get(p, p), total=t) for p, t in shown.items()}

        def advance(phase: str, n: int) -> None:
            if phase in tasks:
                progress.advance(tasks[phase], n)

        yield advance


def status(app: AppContext, file: Path | None) -> None:
    from labctl.classroom.status import class_status
    from labctl.pricing import load_prices

    cf, roster, settings = _load(app, file)
    with app.out.spinner(f"Looking at class {cf.course}..."):
        found = class_status(
            cf,
            roster,
            app.compute,
            _storage(app, cf),
            load_prices(),
            disk_gb=settings.course.boot_disk.size_gb,
        )
    class_views.emit_class_status(app.out, found)
    for warning in class_views.budget_warnings(found):
        app.out.warn(warning)
    if found.recorded:
        app.out.info(
            f"recorded the finished runs of {found.recorded} stopped VM(s) in their labels"
        )
    app.out.next_step(f"labctl class stop{_file_arg(cf)}", f"labctl class start{_file_arg(cf)}")


def lifecycle(
    app: AppContext, file: Path | None, action: str, students: list[str], *, yes: bool, wait: bool
) -> None:
    """stop/start: the class's VMs in one list call, confirmed, acted on together."""
    from labctl.classroom.classfile import load_class
    from labctl.classroom.lifecycle import select, stop_or_start
    from labctl.cli._vm_run import FINAL_STATE, report_outcomes

    cf = load_class(file)
    with app.out.spinner(f"Looking up the VMs of class {cf.course}..."):
        chosen = select(cf, app.compute, action, students)
    for vm in chosen.already:
        app.out.info(f"{vm.name}: already {vm.state.value}")
    if not chosen.targets:
        app.out.info(f"no VMs to {action}")
        app.out.emit([], (), ())
        return
    question = class_views.lifecycle_question(cf.course, action, chosen.targets)
    app.out.confirm(question, yes=yes, declined=f"nothing {PAST[action]}")
    total = len(chosen.targets)
    with app.out.progress(f"{action.capitalize()} {total} VM(s)", total) as advance:
        outcomes = stop_or_start(
            cf, app.compute, action, chosen.targets, wait=wait, on_result=lambda _: advance(1)
        )
    state = FINAL_STATE[action] if wait else "accepted"
    report_outcomes(app, outcomes, action, state=state, done=state)  # vm start says "started"
    then = "start" if action == "stop" else "status"
    app.out.next_step(f"labctl class {then}{_file_arg(cf)}")


def teardown(
    app: AppContext,
    file: Path | None,
    *,
    keep_buckets: bool,
    snapshot: bool,
    yes: bool,
    dry_run: bool,
) -> None:
    """The plan first (a table, or JSON at the end), then everything of the class deleted."""
    from labctl.classroom.classfile import load_class
    from labctl.classroom.lifecycle import plan_teardown, teardown

    cf = load_class(file)
    now = datetime.now(UTC)
    storage = None if keep_buckets else app.storage
    with app.out.spinner(f"Looking up class {cf.course}..."):
        planned = plan_teardown(
            cf, app.compute, storage, keep_buckets=keep_buckets, snapshot=snapshot, now=now
        )
    class_views.emit_teardown_plan(app.out, planned)
    if planned.empty or dry_run:
        app.out.info("nothing to delete" if planned.empty else "dry run: nothing was deleted")
        class_views.emit_teardown_result(app.out, planned, None)
        return
    app.out.confirm(class_views.teardown_question(planned), yes=yes, declined="nothing deleted")
    with bars(app, class_views.teardown_totals(planned)) as advance:
        failures = teardown(planned, app.compute, storage, now=now, on_progress=advance)
    class_views.emit_teardown_result(app.out, planned, failures)
    if failures:
        raise PartialFailure(f"class {cf.course}: {len(failures)} deletion(s) failed", failures)
    app.out.success(f"class {cf.course} is gone")
