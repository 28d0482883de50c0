"""`labctl cost`: what exists now and what it costs, per hour and per month (an estimate)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from labctl.cli import _cleanup_run as run
from labctl.cli._app import AppContext, shared_options
from labctl.cli._options import (
    AllOpt,
    CourseOpt,
    OwnerOpt,
)

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
@shared_options()
def cost(
    app: AppContext,
    by: ByOpt = By.course,
    course: CourseOpt = None,
    owner: OwnerOpt = None,
    all_: AllOpt = False,
) -> None:
    """Running VMs (machine, GPU, disks, IP), stopped VMs (disks), unused addresses, snapshots
    and buckets, with what `labctl cleanup` would save. Prices are dated estimates."""
    run.costs(app, by=by.value, course=course, owner=owner, managed_only=not all_)
