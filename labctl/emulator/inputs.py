"""Checks of the emulator's inputs (ports, faults file, state file) with one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from labctl.emulator.faults import load_faults_file

MAX_PORT = 65535


def check_port(port: int, what: str = "port") -> int:
    """``port`` if it can be bound (0 = any free port); ValueError otherwise."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= MAX_PORT:
        raise ValueError(f"{what} {port!r} is out of range (0-{MAX_PORT}; 0 picks a free port)")
    return port


def load_faults(path: str | Path) -> dict[str, Any]:
    """Read a faults file; a syntax error is a ValueError naming the file, line and column."""
    path = Path(path)
    try:
        return load_faults_file(path)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a text file ({exc.reason})") from None
    except OSError:
        raise
    except Exception as exc:
        import yaml  # faults.py imported it already to read this file

        if not isinstance(exc, yaml.YAMLError):
            raise
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"{path}{where}: not valid YAML: {problem}") from None


def check_state_file(path: str | Path | None) -> None:
    """Refuse a state file that is not a JSON object, before the emulator loads it.

    A missing or empty file is fine (the emulator starts empty and creates it).
    """
    if path is None:
        return
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: state file is not a text file ({exc.reason})") from None
    if not text.strip():
        return
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}:{exc.lineno}:{exc.colno}: state file is not valid JSON: {exc.msg}"
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("projects", {}), dict):
        raise ValueError(f"{path}: state file is not an emulator state (expected a JSON object)")
