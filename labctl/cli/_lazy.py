"""The root command group: each noun's module is imported only when that noun is used.

Building every sub-app's commands costs about as much as the rest of `labctl --help`; with this
group, `labctl --help` imports none of them and `labctl vm list` only the `vm` ones.
"""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import typer
from typer.core import TyperGroup

# noun -> (modules that define and extend its `app`, short help shown by `labctl --help`).
# tests/cli/test_nouns.py checks that each short help matches its sub-app's own help.
NOUNS: dict[str, tuple[tuple[str, ...], str]] = {
    "vm": (
        ("labctl.cli.vm", "labctl.cli.vm_ssh"),
        "Create, list, stop, start and delete course VMs.",
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
    "emulator": (
        ("labctl.cli.emulator",),
        "Run a local Compute Engine + Cloud Storage emulator.",
    ),
}


def load_noun(name: str) -> Any:
    """The click group for one noun, built from its Typer sub-app."""
    modules = [importlib.import_module(module) for module in NOUNS[name][0]]
    group = typer.main.get_command(modules[0].app)
    group.name = name
    return group


class LazyGroup(TyperGroup):
    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in NOUNS if n not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in NOUNS and cmd_name not in self.commands:
            self.commands[cmd_name] = load_noun(cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, short_help) for name, (_, short_help) in NOUNS.items()])

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
