"""`labctl cleanup`: find what labctl made that keeps billing, show the plan, then act on it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from labctl.cli import _cleanup_run as run
from labctl.cli._app import AppContext, shared_options
from labctl.cli._options import (
    CourseOpt,
    DryRunOpt,
    OlderThanOpt,
    OwnerOpt,
    YesOpt,
)

app = typer.Typer(
    add_completion=False,
    help="Find what labctl made that keeps billing; show the plan, then clean it up.",
    rich_markup_mode=None,
)


class Kind(StrEnum):  # labctl.hygiene.KINDS, spelled out so that --help needs no import
    instance = "instance"
    disk = "disk"
    address = "address"
    snapshot = "snapshot"
    firewall = "firewall"
    bucket = "bucket"


def _flag(decl: str, help: str) -> typer.models.OptionInfo:
    return typer.Option(decl, help=help, show_default=False)


KindOpt = Annotated[
    list[Kind] | None,
    typer.Option(
        "--kind",
        metavar="KIND",
        help="Only this kind (repeatable): instance, disk, address, snapshot, firewall, bucket.",
        show_default=False,
    ),
]
AllLeftOpt = Annotated[
    bool, _flag("--all", "Also list what was left alone (not labctl's, or labctl-keep=true).")
]
IncludeBucketsOpt = Annotated[
    bool, _flag("--include-buckets", "Delete bucket findings too, with their objects.")
]
DeleteOpt = Annotated[
    bool,
    _flag("--delete", "Delete idle and long-running VMs (after a snapshot) instead of stopping."),
]
NoSnapshotOpt = Annotated[
    bool, _flag("--no-snapshot", "Delete instances and disks without snapshotting them first.")
]
ExitCodeOpt = Annotated[
    bool, _flag("--exit-code", "Exit 3 when there are findings (for cron); 1 still means failures.")
]


@app.command()
@shared_options()
def cleanup(
    app: AppContext,
    course: CourseOpt = None,
    owner: OwnerOpt = None,
    kind: KindOpt = None,
    older_than: OlderThanOpt = None,
    all_: AllLeftOpt = False,
    include_buckets: IncludeBucketsOpt = False,
    delete: DeleteOpt = False,
    no_snapshot: NoSnapshotOpt = False,
    exit_code: ExitCodeOpt = False,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
) -> None:
    """Stop idle VMs, delete expired or long-stopped ones, orphaned disks, unused addresses, old
    snapshots and unused firewall rules that labctl made; asks first (--yes skips)."""
    request = run.Request(
        course=course,
        owner=owner,
        kinds=tuple(k.value for k in kind or Kind),
        older_than=older_than,
        show_all=all_,
        include_buckets=include_buckets,
        delete=delete,
        snapshot=not no_snapshot,
    )
    run.cleanup(app, request, dry_run=dry_run, yes=yes, exit_code=exit_code)
