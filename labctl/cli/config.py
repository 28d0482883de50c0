"""`labctl config show`: the effective settings, and where each one comes from."""

from __future__ import annotations

import typer

from labctl.cli import _doctor_views as doctor_views
from labctl.cli._app import AppContext, shared_options

app = typer.Typer(
    add_completion=False,  # offered once, by the root command
    help="Show the effective settings and where each comes from.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.callback()
def config() -> None:
    # A callback keeps `config` a group (`labctl config show`) while it has one command.
    pass


@app.command()
@shared_options(zone=True)
def show(app: AppContext) -> None:
    """Every setting with its value and source (default, user file, project file, env, flag);
    --project, --zone and --config show what a command given them would use."""
    from labctl.config_report import effective_settings, resolved_project

    settings = effective_settings(config_file=app.config_file, project=app.project, zone=app.zone)
    doctor_views.emit_settings(app.out, settings)
    found = resolved_project(settings)
    if found is None:
        app.out.warn("no project set: commands that reach Google Cloud will ask for one")
        app.out.next_step("labctl init")
        return
    if found.source != "labctl settings":
        app.out.info(f"gcp.project is empty: commands will use {found.value} ({found.origin})")
    app.out.next_step("labctl doctor")
