"""Options every command accepts after its name (as gcloud does), added by one decorator."""

from __future__ import annotations

import functools
import inspect
import logging
import os
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from labctl.cli import _context
from labctl.cli._output import Format
from labctl.errors import LabctlError

F = TypeVar("F", bound=Callable[..., Any])

ProjectOpt = Annotated[
    str | None, typer.Option("--project", help="Google Cloud project id.", show_default=False)
]
ZoneOpt = Annotated[
    str | None, typer.Option("--zone", help="Compute Engine zone.", show_default=False)
]
FormatOpt = Annotated[Format, typer.Option("--format", help="Output format.")]
VerboseOpt = Annotated[int, typer.Option("--verbose", "-v", count=True, help="More detail.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only data and errors.")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="A labctl.toml to use.", show_default=False, dir_okay=False),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Show what would be done; change nothing.")
]

_COMMON: list[tuple[str, Any, Any]] = [
    ("project", ProjectOpt, None),
    ("zone", ZoneOpt, None),
    ("output_format", FormatOpt, Format.table),
    ("verbose", VerboseOpt, 0),
    ("quiet", QuietOpt, False),
    ("config", ConfigOpt, None),
]


def command_options(fn: F) -> F:
    """Add the common options to a Typer command and make it the error boundary for labctl errors.

    The command body reads them through `_context.current()`; a LabctlError becomes one line on
    stderr (plus a hint) and its exit code, never a traceback.
    """
    # Resolve the command's annotations in its own module (they are strings under
    # `from __future__ import annotations`); Typer would otherwise evaluate them here.
    hints = typing.get_type_hints(fn, include_extras=True)
    signature = inspect.signature(fn)
    own = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
    ]
    names = [name for name, _, _ in _COMMON]
    extra = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=ann)
        for name, ann, default in _COMMON
    ]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        common = {name: kwargs.pop(name) for name in names}
        verbosity = -1 if common["quiet"] else common["verbose"]
        opts = _context.GlobalOptions(
            project=common["project"],
            zone=common["zone"],
            fmt=common["output_format"],
            verbosity=verbosity,
            config=common["config"],
        )
        _configure_logging(verbosity)
        ctx = _context.Context(opts)
        _context.set_current(ctx)
        try:
            return fn(*args, **kwargs)
        except LabctlError as exc:
            ctx.out.error(exc.message, exc.hint)
            if os.environ.get("LABCTL_DEBUG"):
                raise
            raise typer.Exit(exc.exit_code) from None
        finally:
            _context.set_current(None)

    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*own, *extra], return_annotation=None
    )
    wrapper.__annotations__ = {**hints, **{n: a for n, a, _ in _COMMON}}
    return wrapper  # type: ignore[return-value]


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    # The libraries' own warnings (google-auth's metadata-server retries, urllib3's connection
    # retries) repeat what labctl's one-line error says; -vv shows them. Set every time, so a
    # process that runs several commands (tests, embedding) does not keep an earlier level.
    noisy_level = (
        logging.ERROR if verbosity <= 0 else logging.WARNING if verbosity == 1 else logging.NOTSET
    )
    for noisy in ("google", "urllib3", "paramiko"):
        logging.getLogger(noisy).setLevel(noisy_level)
