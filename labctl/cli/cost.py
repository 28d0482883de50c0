"""`labctl cost`: what exists now and what it costs, per hour and per month (an estimate)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from labctl.cli import _cleanup_run as run
from labctl.cli._app import use
from labctl.cli._options import (
    AllOpt,
    ConfigOpt,
    CourseOpt,
    FormatOpt,
    OwnerOpt,
    ProjectOpt,
    QuietOpt,
    VerboseOpt,
)
from labctl.cli._output import Format

app = typer.Typer(
    add_completion=False,
    help="What exists now and what it costs per hour and month, by course, owner or kind.",
    rich_markup_mode=None,
)


class By(StrEnum):
    course = "course"
    owner = "owner"
    kind = "kind"


ByOpt = Annotated[By, typer.Option("--by", help="Group the totals by course, owner or kind.")]


@app.command()
def cost(
    ctx: typer.Context,
    by: ByOpt = By.course,
    course: CourseOpt = None,
    owner: OwnerOpt = None,
    all_: AllOpt = False,
    project: ProjectOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.table,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Running VMs (machine, GPU, disks, IP), stopped VMs (disks), unused addresses, snapshots
    and buckets, with what `labctl cleanup` would save. Prices are dated estimates."""
    app_ = use(ctx, fmt=fmt, verbose=verbose, quiet=quiet, project=project, config=config)
    run.costs(app_, by=by.value, course=course, owner=owner, managed_only=not all_)
