"""The house rules, checked: thin commands, explicit wiring, advice only in the CLI."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "labctl"
CLI = PACKAGE / "cli"
MAX_COMMAND_LINES = 40
# "labctl vm show x" and friends: a command a person would run.
COMMAND_RE = re.compile(
    r"labctl (vm|bucket|tunnel|ssh-key|emulator|cleanup|cost|class|doctor|init|config)\b"
)


def modules(root: Path) -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def docstring_nodes(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def test_no_function_in_the_cli_is_over_40_lines() -> None:
    long = [
        f"{path.relative_to(PACKAGE)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path, tree in modules(CLI)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.end_lineno is not None
        if node.end_lineno - node.lineno + 1 > MAX_COMMAND_LINES
    ]
    assert long == []


def test_the_cli_imports_no_cloud_library_and_no_provider_implementation() -> None:
    forbidden = ("google", "paramiko", "labctl.providers.gcp", "labctl.providers.fake")
    found = []
    for path, tree in modules(CLI):
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if n.startswith(forbidden)]
    assert found == []


def test_no_module_keeps_mutable_state_in_globals() -> None:
    """No `global` statements, and no lower-case module variables holding lists, dicts, sets
    or events (UPPER_CASE tables that are never changed are constants)."""
    problems = []
    for path, tree in modules(PACKAGE):
        for node in ast.walk(tree):
            if isinstance(node, ast.Global):
                problems.append(f"{path.relative_to(PACKAGE)}:{node.lineno} global")
        for node in tree.body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            value = getattr(node, "value", None)
            mutable = isinstance(value, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp)
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute):
                mutable = mutable or value.func.attr in ("Event", "Lock", "local")
            for target in targets:
                name = target.id if isinstance(target, ast.Name) else ""
                constant = name.isupper() or name.startswith("__")
                if name and mutable and not constant:
                    problems.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name}")
    assert problems == []


# Everything below the CLI (the emulator is a tool of its own beside the product).
BELOW_THE_CLI = sorted(
    p.name
    for p in PACKAGE.iterdir()
    if p.is_dir() and p.name not in ("cli", "emulator", "__pycache__")
)


@pytest.mark.parametrize("layer", [*BELOW_THE_CLI, "*.py"], ids=lambda layer: layer.strip("*."))
def test_only_the_cli_names_labctl_commands(layer: str) -> None:
    """Advice with a labctl command comes from cli/_errors.py, computed from an error's facts.
    (The emulator is a tool of its own beside the product; its messages are its own.)"""
    roots = sorted(PACKAGE.glob(layer)) if "*" in layer else [PACKAGE / layer]
    found = []
    for root in roots:
        trees = modules(root) if root.is_dir() else [(root, ast.parse(root.read_text()))]
        for path, tree in trees:
            docstrings = docstring_nodes(tree)
            for node in ast.walk(tree):
                text = node.value if isinstance(node, ast.Constant) else None
                if isinstance(text, str) and id(node) not in docstrings and COMMAND_RE.search(text):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {text}")
                if isinstance(node, ast.JoinedStr):
                    text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                    if COMMAND_RE.search(text):
                        found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {text}")
    assert found == []
