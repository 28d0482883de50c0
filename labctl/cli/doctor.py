"""`labctl doctor`: is this machine and this project ready for a course VM? One line a check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from labctl.cli import _doctor_views as doctor_views
from labctl.cli._app import shared_options
from labctl.cli._errors import doctor_fix

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
@shared_options(zone=True)
def doctor(
    app: AppContext,
    class_file: ClassOpt = None,
) -> None:
    """Check credentials, project, APIs, billing, GPU quota and zones, the SSH firewall rule,
    OpenSSH, gcloud, labctl's key and the clock; exit 1 if any check fails."""
    failed = run(app, class_file=class_file)
    if failed:
        raise typer.Exit(1)


def run(app: AppContext, *, class_file: Path | None = None) -> bool:
    """Run every check and print them with a summary; True if any failed."""
    records, failed = check(app, class_file=class_file)
    doctor_views.emit_doctor(app.out, records)
    finish(app, records, class_file)
    return failed


def check(app: AppContext, *, class_file: Path | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Every check as a record (check, status, detail, fix), and whether any failed."""
    from labctl import doctor
    from labctl.config import config_dir
    from labctl.ssh.keys import default_key_path

    checker = doctor.Doctor(
        settings=app.settings,
        compute_factory=lambda: app.compute,
        storage_factory=lambda: app.storage,
        key_path=default_key_path(config_dir()),
        vms=doctor.roster_size(class_file) if class_file else 1,
        project_flag=app.project,
    )
    with app.out.spinner("Checking..."):
        checks = checker.run()
    records = [
        doctor_views.doctor_record(c, None if c.status is doctor.Status.OK else doctor_fix(c))
        for c in checks
    ]
    return records, any(c.status is doctor.Status.FAIL for c in checks)


def finish(app: AppContext, records: list[dict[str, Any]], class_file: Path | None) -> None:
    """The summary line on stderr ("12 OK, 1 FAIL for 30 VMs") and the next command."""
    counts = dict.fromkeys(("OK", "WARN", "FAIL", "SKIP"), 0)
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    scope = f" for {class_file}" if class_file else ""
    app.out.info(", ".join(f"{n} {status}" for status, n in counts.items() if n) + scope)
    if not counts["FAIL"]:
        app.out.next_step("labctl vm create NAME")
