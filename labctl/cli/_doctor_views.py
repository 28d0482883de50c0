"""doctor's checks and config show's settings as tables and JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from labctl.cli._output import Format, Output

if TYPE_CHECKING:
    pass

# -- doctor and config ---------------------------------------------------------------------------
STATUS_STYLE = {"OK": "green", "WARN": "yellow", "FAIL": "red", "SKIP": "dim"}


def doctor_record(check: Any, fix: str | None) -> dict[str, Any]:
    return {"check": check.check, "status": check.status.value, "detail": check.detail, "fix": fix}


def emit_doctor(out: Output, records: Sequence[dict[str, Any]]) -> None:
    """One entry per check ("OK    credentials  ..."), its fix below it, wrapped at spaces
    under the detail column; or a JSON list."""
    if out.fmt is Format.json:
        out.json(list(records))
        return
    import textwrap

    from labctl.cli._output import escape

    width = max((len(r["check"]) for r in records), default=0)
    indent = " " * (4 + 2 + width + 2)
    room = max(out.stdout.width - len(indent), 30)
    for r in records:
        style = STATUS_STYLE.get(r["status"], "")
        status = f"[{style}]{r['status']:<4}[/{style}]" if style else f"{r['status']:<4}"
        lines = textwrap.wrap(r["detail"], room, break_on_hyphens=False, break_long_words=False)
        if r["fix"]:
            lines += textwrap.wrap(
                "fix: " + r["fix"], room, break_on_hyphens=False, break_long_words=False
            )
        first, *rest = [escape(line) for line in lines] or [""]
        out.stdout.print(f"{status}  {escape(r['check']):<{width}}  {first}")
        for line in rest:
            out.stdout.print(indent + line)


def setting_record(setting: Any) -> dict[str, Any]:
    return {
        "setting": setting.key,
        "value": setting.value,
        "source": setting.source,
        "origin": setting.origin,
    }


def setting_text(value: Any) -> str:
    """How a value reads in a table: lists comma-separated, tables as k=v, none as '-'."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return "-" if value in (None, "") else str(value)


def emit_settings(out: Output, settings: Sequence[Any]) -> None:
    """SETTING/VALUE/SOURCE rows (a file or variable named in SOURCE), or a JSON list."""
    if out.fmt is Format.json:
        out.json([setting_record(s) for s in settings])
        return
    rows = []
    for s in settings:
        origin = s.origin if s.source in ("env", "flag") else None
        source = f"{s.source} {origin}" if origin else s.source
        rows.append((s.key, setting_text(s.value), source))
    out.table(("SETTING", "VALUE", "SOURCE"), rows)
    files = sorted({(s.source, s.origin) for s in settings if s.source.endswith("file")})
    for kind, path in files:
        out.info(f"{kind}: {path}")
