"""What a command works with: its global options, settings, output and providers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from labctl.cli._output import Format, Output

if TYPE_CHECKING:
    from labctl.config import Settings
    from labctl.providers.base import ComputeProvider, StorageProvider


@dataclass(frozen=True)
class GlobalOptions:
    project: str | None = None
    zone: str | None = None
    fmt: Format = Format.table
    verbosity: int = 0
    config: Path | None = None


def _gcp_compute(ctx: Context) -> ComputeProvider:
    from labctl.providers.gcp import make_compute

    return make_compute(project=ctx.opts.project, config_project=ctx.settings.gcp.project or None)


def _gcp_storage(ctx: Context) -> StorageProvider:
    from labctl.providers.gcp.storage import make_storage

    return make_storage(ctx.opts.project, config_project=ctx.settings.gcp.project or None)


# Tests swap these for the in-memory fakes (see tests/conftest.py).
compute_factory: Callable[[Context], ComputeProvider] = _gcp_compute
storage_factory: Callable[[Context], StorageProvider] = _gcp_storage


class Context:
    def __init__(self, opts: GlobalOptions) -> None:
        self.opts = opts
        self.out = Output(fmt=opts.fmt, verbosity=opts.verbosity)

    @cached_property
    def settings(self) -> Settings:
        from labctl.config import load_settings

        return load_settings(
            config_file=self.opts.config,
            flags={"gcp.project": self.opts.project, "course.zone": self.opts.zone},
        )

    @cached_property
    def compute(self) -> ComputeProvider:
        self.settings  # noqa: B018 - a bad configuration is reported before any cloud call
        return compute_factory(self)

    @cached_property
    def storage(self) -> StorageProvider:
        self.settings  # noqa: B018 - as above
        return storage_factory(self)


_current: Context | None = None


def current() -> Context:
    if _current is None:
        raise RuntimeError("no command context: is the command decorated with @command_options?")
    return _current


def set_current(ctx: Context | None) -> None:
    global _current
    _current = ctx
