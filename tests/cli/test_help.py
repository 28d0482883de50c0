"""Every command's --help at 80 columns: whole summaries, no Python type names, nothing wider
than the terminal but a single word, and every option shown is used by its command."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from labctl.cli import app
from labctl.cli._help import summary

WIDTH = 80
# What Typer and click print for types: <str>, <int range>, <list[str]>, {NAME...}, TEXT ...
TYPE_NAMES = re.compile(
    r"<(str|int|float|bool|path|file|directory|uuid|datetime|[a-z ]*range|list\[[^]]*\])>"
    r"|\{[A-Za-z_.]+(\.\.\.)?\}"
    r"|\b(TEXT|INTEGER|FLOAT|BOOLEAN|FILENAME|DIRECTORY)\b"
    r"|\d<=x|x<=\d|x>=\d"
)


def _tree(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, click command) for every group and command under the root."""
    yield path, command
    commands = getattr(command, "commands", None)
    if commands is None:
        return
    ctx = command.make_context("labctl", ["--help"], resilient_parsing=True)
    for name in command.list_commands(ctx):
        yield from _tree(command.get_command(ctx, name), (*path, name))


def _all() -> list[tuple[tuple[str, ...], Any]]:
    import typer

    return list(_tree(typer.main.get_command(app)))


COMMANDS = _all()
IDS = [" ".join(path) or "labctl" for path, _ in COMMANDS]


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH)})
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=IDS)
def test_help_at_80_columns_names_values_not_types(path: tuple[str, ...], command: Any) -> None:
    shown = _help(path)
    assert TYPE_NAMES.findall(shown) == [], shown
    assert "[default: 0]" not in shown  # a count (-v) has no default worth showing
    too_wide = [
        line for line in shown.splitlines() if len(line) > WIDTH and " " in line.strip()[:WIDTH]
    ]
    assert too_wide == [], shown


@pytest.mark.parametrize(
    ("path", "command"),
    [(p, c) for p, c in COMMANDS if getattr(c, "commands", None)],
    ids=[i for i, (_, c) in zip(IDS, COMMANDS, strict=True) if getattr(c, "commands", None)],
)
def test_group_help_shows_every_summary_whole(path: tuple[str, ...], command: Any) -> None:
    flat = " ".join(_help(path).split())
    ctx = command.make_context("labctl", ["--help"], resilient_parsing=True)
    for name in command.list_commands(ctx):
        if path:  # the root lists its nouns with their own short help (NOUNS)
            assert " ".join(summary(command.get_command(ctx, name)).split()) in flat, name
        assert not re.search(rf"\b{re.escape(name)} .*\.\.\.$", flat), name


def _names_used(callback: Any) -> set[str]:
    """Names the function body reads; with `locals()` forwarded to a dataclass (vm create
    passes its flags to VmRequest so), that dataclass's fields too; and the options its
    `shared_options` wrapper hands to `use`."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(callback)))
    function = tree.body[0]
    assert isinstance(function, ast.FunctionDef)
    used = {
        node.id
        for statement in function.body
        for node in ast.walk(statement)
        if isinstance(node, ast.Name)
    }
    if "locals" in used:
        imported = {
            alias.asname or alias.name: node.module
            for node in ast.walk(function)
            if isinstance(node, ast.ImportFrom) and node.module
            for alias in node.names
        }
        for node in ast.walk(function):
            if isinstance(node, ast.Attribute) and node.attr == "__dataclass_fields__":
                owner = getattr(node.value, "id", "")
                module = imported.get(owner)
                found = getattr(importlib.import_module(module), owner) if module else None
                found = found or callback.__globals__.get(owner)
                used |= set(getattr(found, "__dataclass_fields__", {}))
    while callback is not None:
        used |= set(getattr(callback, "shared_options", ()))
        callback = getattr(callback, "__wrapped__", None)
    return used


LEAVES = [(p, c) for p, c in COMMANDS if p and not getattr(c, "commands", None)]


@pytest.mark.parametrize(("path", "command"), LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_option_shown_is_used_by_its_command(path: tuple[str, ...], command: Any) -> None:
    used = _names_used(command.callback)
    unused = [
        "/".join(param.opts) or param.name
        for param in command.params
        if not param.hidden and param.callback is None and param.name not in used
    ]
    assert unused == [], f"labctl {' '.join(path)} offers options it never reads"


def test_vm_create_help_shows_the_course_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABCTL_ZONE", "europe-west4-a")
    monkeypatch.setenv("LABCTL_COURSE__BOOT_DISK__SIZE_GB", "200")
    shown = " ".join(_help(("vm", "create")).split())
    assert "Attach the course GPU [default: on, course.gpu.enabled]" in shown
    assert "[default: nvidia-tesla-p100, course.gpu.type]" in shown
    assert "Boot disk, 10-65536 GB [default: 200, course.boot_disk.size_gb]" in shown
    assert "Compute Engine zone [default: europe-west4-a, course.zone]" in shown
    assert "--format table|json" in shown and "Usage: labctl vm create [OPTIONS] NAME..." in shown


def test_a_broken_configuration_still_shows_help_with_the_setting_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LABCTL_COURSE__GPU__COUNT", "3")
    shown = " ".join(_help(("vm", "create")).split())
    assert "GPUs: 1, 2, 4 or 8 [default: course.gpu.count]" in shown


def test_the_checks_catch_what_typer_prints_by_itself() -> None:
    import typer

    demo = typer.Typer()

    @demo.command()
    def cmd(names: list[str], zone: str | None = None, project: str | None = None) -> None:
        print(names, project)

    command = typer.main.get_command(demo)
    used = _names_used(command.callback)
    assert {"names", "project"} <= used and "zone" not in used
    plain = CliRunner().invoke(demo, ["--help"], env={"COLUMNS": "80"}).stdout
    assert TYPE_NAMES.search(plain)  # Typer's own "<list[str]>" / "{NAMES...}..."
