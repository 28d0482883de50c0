"""`labctl class`: an instructor sets up, runs and tears down a whole class."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labctl.cli import _class_run as run
from labctl.cli._app import AppContext, shared_options
from labctl.cli._options import (
    DryRunOpt,
    NoWaitOpt,
    YesOpt,
)

app = typer.Typer(
    add_completion=False,
    help="A whole class from a class file and a roster: set up, run and tear down.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

FileArg = Annotated[
    Path | None,
    typer.Argument(
        metavar="[FILE]",
        help="The class file [default: ./class.toml].",
        show_default=False,
        dir_okay=False,
    ),
]
PruneOpt = Annotated[
    bool,
    typer.Option(
        "--prune",
        show_default=False,
        help="Delete the VMs and buckets of students not in the roster.",
    ),
]
StudentOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--student",
        metavar="EMAIL",
        help="Only this student's VM (repeatable) [default: the whole class].",
        show_default=False,
    ),
]
KeepBucketsOpt = Annotated[
    bool, typer.Option("--keep-buckets", show_default=False, help="Keep the students' buckets.")
]
SnapshotOpt = Annotated[
    bool,
    typer.Option(
        "--snapshot", show_default=False, help="Snapshot each VM's boot disk before deleting it."
    ),
]


@app.command()
@shared_options()
def plan(
    app: AppContext,
    file: FileArg = None,
) -> None:
    """What setup would create, change or leave per student; quota needed; cost. Reads only."""
    run.plan(app, file)


@app.command()
@shared_options()
def setup(
    app: AppContext,
    file: FileArg = None,
    prune: PruneOpt = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Create what the plan lists (VMs, buckets, access, schedules); re-run to resume."""
    run.setup(app, file, prune=prune, yes=yes, dry_run=dry_run)


@app.command()
@shared_options()
def status(
    app: AppContext,
    file: FileArg = None,
) -> None:
    """One row per student: VM state, zone, IP, GPU, running for, last active, spend/budget."""
    run.status(app, file)


LIFECYCLE_HELP = {
    "stop": "Stop the class's VMs (or some students'): GPU billing stops, the disks stay.",
    "start": "Start the class's VMs (or some students').",
}


def _lifecycle_command(action: str) -> None:
    """class stop and class start take the same options and differ only in what they do."""

    def command(
        app: AppContext,
        file: FileArg = None,
        student: StudentOpt = None,
        yes: YesOpt = False,
        no_wait: NoWaitOpt = False,
    ) -> None:
        run.lifecycle(app, file, action, student or [], yes=yes, wait=not no_wait)

    command.__doc__ = LIFECYCLE_HELP[action]
    app.command(action)(shared_options()(command))


for _action in LIFECYCLE_HELP:
    _lifecycle_command(_action)


@app.command()
@shared_options()
def teardown(
    app: AppContext,
    file: FileArg = None,
    keep_buckets: KeepBucketsOpt = False,
    snapshot: SnapshotOpt = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
) -> None:
    """Show the plan, then delete every VM, bucket and schedule of the class (asks first)."""
    run.teardown(app, file, keep_buckets=keep_buckets, snapshot=snapshot, yes=yes, dry_run=dry_run)
