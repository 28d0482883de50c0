"""The root `labctl` app: noun sub-apps, --version, and the application context on ctx.obj."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from labctl import __version__
from labctl.cli._root import DEBUG_ENV, RootGroup

app = typer.Typer(
    name="labctl",
    help="Provision Google Cloud labs: GPU VMs, buckets and Jupyter tunnels for a course.",
    cls=RootGroup,  # nouns (vm, bucket, ...) are imported only when used; the error boundary
    no_args_is_help=True,
    rich_markup_mode=None,
    # Tracebacks with local variables could print tokens and keys: never show them.
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"labctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
) -> None:
    """labctl: course VMs, buckets and tunnels on Google Cloud."""
    from labctl.cli._app import AppContext  # here: `labctl --help` never builds one

    # Tests hand in their own AppContext (with fake providers) through CliRunner's `obj`.
    ctx.ensure_object(AppContext)


def main() -> None:
    """The console script. RootGroup handles labctl's errors; this catches only real bugs."""
    try:
        app()
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        sys.stderr.write(
            f"error: unexpected {type(exc).__name__}: {exc}\n"
            "  a bug in labctl: rerun with LABCTL_DEBUG=1 for the traceback, and report it\n"
        )
        sys.exit(1)
