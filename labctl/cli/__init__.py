"""The root `labctl` app: noun sub-apps, --version, and main(), the last-resort error boundary."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from labctl import __version__
from labctl.cli._lazy import LazyGroup

app = typer.Typer(
    name="labctl",
    help="Provision Google Cloud labs: GPU VMs, buckets and Jupyter tunnels for a course.",
    cls=LazyGroup,  # nouns (vm, bucket, ...) are imported only when used
    no_args_is_help=True,
    rich_markup_mode=None,
    # Tracebacks with local variables could print tokens and keys: never show them.
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"labctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = None,
) -> None:
    """labctl: course VMs, buckets and tunnels on Google Cloud."""


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        # The reader went away (`labctl vm list | head -1`): not an error worth a message.
        # Point stdout at devnull so the interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(141)
    except Exception as exc:  # anything the command boundary did not expect
        if os.environ.get("LABCTL_DEBUG"):
            raise
        sys.stderr.write(
            f"error: unexpected {type(exc).__name__}: {exc}\n"
            "  rerun with LABCTL_DEBUG=1 for the traceback, and report it\n"
        )
        sys.exit(1)
