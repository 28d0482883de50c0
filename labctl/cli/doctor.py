"""`labctl doctor`: is this machine and this project ready for a course VM? One line a check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labctl.cli import _views as views
from labctl.cli._app import use
from labctl.cli._errors import doctor_fix
from labctl.cli._options import ConfigOpt, FormatOpt, ProjectOpt, QuietOpt, VerboseOpt, ZoneOpt
from labctl.cli._output import Format

if TYPE_CHECKING:
    from labctl.cli._app import AppContext

app = typer.Typer(
    add_completion=False,  # offered once, by the root command
    help="Check that this machine and the project are ready.",
    rich_markup_mode=None,
)

ClassOpt = Annotated[
    Path | None,
    typer.Option(
        "--class",
        metavar="FILE",
        help="Check the GPU quota for a whole class: its roster (CSV) or class file (TOML).",
        show_default=False,
        dir_okay=False,
    ),
]


@app.command()
def doctor(
    ctx: typer.Context,
    class_file: ClassOpt = None,
    project: ProjectOpt = None,
    zone: ZoneOpt = None,
    config: ConfigOpt = None,
    fmt: FormatOpt = Format.table,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Check credentials, project, APIs, billing, GPU quota and zones, the SSH firewall rule,
    OpenSSH, gcloud, labctl's key and the clock; exit 1 if any check fails."""
    app = use(ctx, fmt=fmt, verbose=verbose, quiet=quiet, project=project, zone=zone, config=config)
    failed = run(app, class_file=class_file)
    if failed:
        raise typer.Exit(1)


def run(app: AppContext, *, class_file: Path | None = None) -> bool:
    """Run every check, print them, end with a summary; True if any failed."""
    from labctl import doctor
    from labctl.config import config_dir
    from labctl.ssh.keys import default_key_path

    vms = doctor.roster_size(class_file) if class_file else 1
    checker = doctor.Doctor(
        settings=app.settings,
        compute_factory=lambda: app.compute,
        storage_factory=lambda: app.storage,
        key_path=default_key_path(config_dir()),
        vms=vms,
        project_flag=app.project,
    )
    with app.out.spinner("Checking..."):
        checks = checker.run()
    records = [
        views.doctor_record(c, doctor_fix(c.problem, dict(c.facts), c.error))
        if c.status is not doctor.Status.OK
        else views.doctor_record(c, None)
        for c in checks
    ]
    views.emit_doctor(app.out, records)
    counts = doctor.summary(checks)
    scope = f" for {vms} VMs ({class_file})" if class_file else ""
    app.out.info(", ".join(f"{n} {status.value}" for status, n in counts.items() if n) + scope)
    if counts[doctor.Status.FAIL] == 0:
        app.out.next_step("labctl vm create NAME")
    return counts[doctor.Status.FAIL] > 0
