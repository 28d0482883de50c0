"""The application context of one command: its output, settings and providers, on `ctx.obj`.

The root callback puts an `AppContext` on `ctx.obj` (tests hand one in with their own fake
providers). A command wrapped in `shared_options` takes the options every command shares and
receives the AppContext `use` builds from them; what it reads from the result is built on
first use, so a command that needs no cloud never resolves credentials or imports a client
library.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from labctl.cli import _options as opt
from labctl.cli._output import Format, Output

if TYPE_CHECKING:
    from labctl.config import Settings
    from labctl.providers.base import ComputeProvider, StorageProvider
    from labctl.providers.registry import Providers, Target

# Libraries whose own log lines repeat labctl's one-line errors (paramiko logs a traceback
# for every failed SSH attempt): silent below -vv.
THIRD_PARTY_LOGGERS = ("google", "urllib3", "paramiko", "requests")


@dataclass
class AppContext:
    """What commands share. `providers` decides gcp or fake; the rest comes from `use`."""

    providers: Providers | None = None
    out: Output = field(default_factory=Output)
    project: str | None = None  # --project
    zone: str | None = None  # --zone
    config_file: Path | None = None  # --config
    # Long-running commands (tunnels) end when this is set, as on Ctrl-C; whoever embeds the
    # CLI (a test) sets it from another thread.
    stop: threading.Event = field(default_factory=threading.Event)

    @cached_property
    def settings(self) -> Settings:
        from labctl.config import load_settings

        return load_settings(config_file=self.config_file, project=self.project, zone=self.zone)

    @cached_property
    def compute(self) -> ComputeProvider:
        return self._registry().compute(self._target())

    @cached_property
    def storage(self) -> StorageProvider:
        return self._registry().storage(self._target())

    def _registry(self) -> Providers:
        if self.providers is None:
            from labctl.providers import registry

            self.providers = registry.from_environment()
        return self.providers

    def _target(self) -> Target:
        from labctl.providers.registry import Target

        # A bad configuration is reported before any cloud call.
        return Target(project=self.project, config_project=self.settings.gcp.project or None)


def use(
    ctx: typer.Context,
    *,
    fmt: Format = Format.table,
    verbose: int = 0,
    quiet: bool = False,
    project: str | None = None,
    zone: str | None = None,
    config: Path | None = None,
) -> AppContext:
    """The command's AppContext, set up with the options it declared."""
    app = ctx.find_object(AppContext)
    if app is None:  # a sub-app invoked on its own (its tests) has no root callback
        app = ctx.ensure_object(AppContext)
    verbosity = -1 if quiet else verbose
    app.out = Output(fmt=fmt, verbosity=verbosity)
    app.project, app.zone, app.config_file = project, zone, config
    configure_logging(verbosity)
    return app


# The shared options as (parameter, option, default, needed when), in the order --help lists
# them after a command's own.
_SHARED_OPTIONS = (
    ("project", opt.ProjectOpt, None, "cloud"),
    ("zone", opt.ZoneOpt, None, "zone"),
    ("config", opt.ConfigOpt, None, "cloud"),
    ("fmt", opt.FormatOpt, Format.table, "fmt"),
    ("verbose", opt.VerboseOpt, 0, "always"),
    ("quiet", opt.QuietOpt, False, "always"),
)


def shared_options(
    *, cloud: bool = True, zone: bool = False, fmt: bool = True
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the options it shares with the others and call it with their AppContext.

    The command is written as `def name(app: AppContext, <its own parameters>)`; Typer sees
    `ctx`, its own parameters, then --project [--zone] --config (cloud commands), --format,
    --verbose and --quiet, which go to `use`.
    """
    wanted = {"cloud": cloud, "zone": cloud and zone, "fmt": fmt, "always": True}
    shared = [(name, a, default) for name, a, default, when in _SHARED_OPTIONS if wanted[when]]
    names = [name for name, _, _ in shared]

    def decorate(func: Callable[..., None]) -> Callable[..., None]:

        @functools.wraps(func)
        def command(ctx: typer.Context, **params: Any) -> None:
            app = use(ctx, **{name: params.pop(name) for name in names})
            func(app, **params)

        # Typer reads the parameters from the signature: resolved annotations, not strings.
        hints = typing.get_type_hints(func, localns={"AppContext": AppContext}, include_extras=True)
        own = list(inspect.signature(func).parameters.values())[1:]  # without `app`
        keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
        parameters = [
            inspect.Parameter("ctx", keyword, annotation=typer.Context),
            *(p.replace(annotation=hints[p.name]) for p in own),
            *(inspect.Parameter(n, keyword, annotation=a, default=d) for n, a, d in shared),
        ]
        command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        command.shared_options = tuple(names)  # type: ignore[attr-defined]
        return command

    return decorate


class _LibraryGate(logging.Filter):
    """Drops records of third-party loggers (paramiko ...) unless -vv opened the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.open = False

    def filter(self, record: logging.LogRecord) -> bool:
        return self.open or not _is_library(record.name)


def _is_library(name: str) -> bool:
    return any(name == lib or name.startswith(lib + ".") for lib in THIRD_PARTY_LOGGERS)


def library_loggers() -> list[logging.Logger]:
    """The third-party loggers that exist now, with their descendants (paramiko.transport)."""
    names = [n for n in logging.Logger.manager.loggerDict if _is_library(n)]
    return [logging.getLogger(n) for n in sorted({*names, *THIRD_PARTY_LOGGERS})]


# One instance, so adding it again on the next command is a no-op. It stays in place after a
# command: paramiko's transport threads may still log while they wind down.
_GATE = _LibraryGate()


def configure_logging(verbosity: int) -> None:
    """Log at the level -v/-q asked for; libraries silent below -vv.

    Logger levels alone did not keep paramiko quiet: a level set on a child logger, or a
    handler paramiko attached itself (`paramiko.util.log_to_file`), let its transport
    threads print a traceback per failed attempt. So the gate also sits on every handler and
    on every library logger itself, where a record is dropped before any handler sees it.
    """
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    # Set every time, so a process that runs several commands (tests) keeps no earlier level.
    quiet_level = logging.NOTSET if verbosity >= 2 else logging.CRITICAL + 1
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(quiet_level)
    _GATE.open = verbosity >= 2
    libraries = library_loggers()
    for logger in libraries:
        logger.addFilter(_GATE)
    # basicConfig(force=True) just replaced the root handler: the new one needs the gate too.
    for logger in [logging.getLogger(), *libraries]:
        for handler in logger.handlers:
            handler.addFilter(_GATE)
