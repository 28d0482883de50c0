"""The root command group: nouns loaded on first use, and the one error boundary.

Building every sub-app's commands costs about as much as the rest of `labctl --help`; with this
group, `labctl --help` imports none of them and `labctl vm list` only the `vm` ones.

Every command runs inside `RootGroup.invoke`, which turns a labctl error into one line, a hint
and an exit code (through `_errors.render`), Ctrl-C into exit 130 with what may be in flight,
and a closed stdout (`labctl vm list | head -1`) into a quiet exit.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from labctl.errors import LabctlError

DEBUG_ENV = "LABCTL_DEBUG"

# noun -> (modules that define and extend its `app`, short help shown by `labctl --help`).
# tests/cli/test_nouns.py checks that each short help matches its sub-app's own help.
NOUNS: dict[str, tuple[tuple[str, ...], str]] = {
    "vm": (
        ("labctl.cli.vm", "labctl.cli.vm_ssh"),
        "Create, list, show, stop, start and delete course VMs.",
    ),
    "bucket": (
        ("labctl.cli.bucket",),
        "Course buckets: create, list, delete; upload, download and list objects; grant access.",
    ),
    "tunnel": (
        ("labctl.cli.tunnel",),
        "Forward local ports to a VM over SSH: its Jupyter, TensorBoard, anything.",
    ),
    "ssh-key": (("labctl.cli.ssh_key",), "Manage the SSH key labctl logs in to VMs with."),
    "cleanup": (
        ("labctl.cli.cleanup",),
        "Find what labctl made that keeps billing; show the plan, then clean it up.",
    ),
    "cost": (
        ("labctl.cli.cost",),
        "What exists now and what it costs per hour and month, by course, owner or kind.",
    ),
    "class": (
        ("labctl.cli.classroom",),
        "A whole class from a class file and a roster: set up, run and tear down.",
    ),
    "emulator": (
        ("labctl.cli.emulator",),
        "Run a local Compute Engine + Cloud Storage emulator.",
    ),
    "doctor": (("labctl.cli.doctor",), "Check that this machine and the project are ready."),
    "init": (("labctl.cli.init",), "Set up labctl: project, course, zone, idle minutes, SSH key."),
    "config": (
        ("labctl.cli.config",),
        "Show the effective settings and where each comes from.",
    ),
}


def load_noun(name: str) -> Any:
    """The click group for one noun, built from its Typer sub-app, with labctl's help."""
    from labctl.cli._help import adopt

    modules = [importlib.import_module(module) for module in NOUNS[name][0]]
    group = adopt(typer.main.get_command(modules[0].app))
    group.name = name
    return group


class RootGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in NOUNS if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in NOUNS and cmd_name not in self.commands:
            self.commands[cmd_name] = load_noun(cmd_name)
        return super().get_command(ctx, cmd_name)

    def get_help(self, ctx: Any) -> str:
        from labctl.cli._help import get_help

        return get_help(self, ctx)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short_help) for name, (_, short_help) in NOUNS.items()])

    def invoke(self, ctx: Any) -> Any:
        from labctl.errors import LabctlError  # not needed by `labctl --help`

        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # a reader that went away is noticed here, not at exit
            return result
        except LabctlError as exc:
            _report(ctx, exc)
            if os.environ.get(DEBUG_ENV):
                raise
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            _stderr(ctx).error("interrupted")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            # Point stdout at devnull so the interpreter's final flush does not fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(141) from None

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except typer.BadParameter:
            raise
        except Exception as exc:  # click's UsageError: suggest a noun for a typo
            matches = difflib.get_close_matches(args[0], list(NOUNS)) if args else []
            message = getattr(exc, "message", None)
            if matches and message and "Did you mean" not in message:
                exc.message = f"{message.rstrip('.')}. Did you mean {matches[0]!r}?"  # type: ignore[attr-defined]
            raise


def _stderr(ctx: typer.Context) -> Any:
    from labctl.cli._app import AppContext

    app = ctx.find_object(AppContext)
    if app is not None:
        return app.out
    from labctl.cli._output import Output

    return Output()


def _report(ctx: typer.Context, exc: LabctlError) -> None:
    from labctl.cli._errors import render

    message, hint, _code = render(exc)
    _stderr(ctx).error(message, hint)
