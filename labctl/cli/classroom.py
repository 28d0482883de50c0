"""`labctl class`: an instructor sets up, runs and tears down a whole class."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labctl.cli import _class_run as run
from labctl.cli._app import use
from labctl.cli._options import (
    ConfigOpt,
    DryRunOpt,
    FormatOpt,
    NoWaitOpt,
    ProjectOpt,
    QuietOpt,
    VerboseOpt,
    YesOpt,
)
from labctl.cli._output import Format

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
def plan(
    ctx: typer.Context,
    file: FileArg = None,
    project: ProjectOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.table,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """What setup would create, change or leave per student; quota needed; cost. Reads only."""
    app = use(ctx, fmt=fmt, verbose=verbose, quiet=quiet, project=project, config=config)
    run.plan(app, file)


@app.command()
def setup(
    ctx: typer.Context,
    file: FileArg = None,
    prune: PruneOpt = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    project: ProjectOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.table,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Create what the plan lists (VMs, buckets, access, schedules); re-run to resume."""
    app = use(ctx, fmt=fmt, verbose=verbose, quiet=quiet, project=project, config=config)
    run.setup(app, file, prune=prune, yes=yes, dry_run=dry_run)


@app.command()
def status(
    ctx: typer.Context,
    file: FileArg = None,
    project: ProjectOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.table,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """One row per student: VM state, zone, IP, GPU, running for, last active, spend/budget."""
    app = use(ctx, fmt=fmt, verbose=verbose, quiet=quiet, project=project, config=config)
    run.status(app, file)


LIFECYCLE_HELP = {
    "stop": "Stop the class's VMs (or some students'): GPU billing stops, the disks stay.",
    "start": "Start the class's VMs (or some students').",
}


def _lifecycle_command(action: str) -> None:
    """class stop and class start take the same options and differ only in what they do."""

    def command(
        ctx: typer.Context,
        file: FileArg = None,
        student: StudentOpt = None,
        yes: YesOpt = False,
        no_wait: NoWaitOpt = False,
        project: ProjectOpt = None,
        config: ConfigOpt = None,
        fmt: FormatOpt = Format.table,
        verbose: VerboseOpt = 0,
        quiet: QuietOpt = False,
    ) -> None:
        app = use(ctx, fmt=fmt, verbose=verbose, quiet=quiet, project=project, config=config)
        run.lifecycle(app, file, action, student or [], yes=yes, wait=not no_wait)

    command.__doc__ = LIFECYCLE_HELP[action]
    app.command(action)(command)


for _action in LIFECYCLE_HELP:
    _lifecycle_command(_action)


@app.command()
def teardown(
    ctx: typer.Context,
    file: FileArg = None,
    keep_buckets: KeepBucketsOpt = False,
    snapshot: SnapshotOpt = False,
    yes: YesOpt = False,
    dry_run: DryRunOpt = False,
    project: ProjectOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.table,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Show the plan, then delete every VM, bucket and schedule of the class (asks first)."""
    app = use(ctx, fmt=fmt, verbose=verbose, quiet=quiet, project=project, config=config)
    run.teardown(app, file, keep_buckets=keep_buckets, snapshot=snapshot, yes=yes, dry_run=dry_run)
