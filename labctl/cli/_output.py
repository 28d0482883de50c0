"""Where output goes: data (tables, JSON) to stdout; progress, warnings and errors to stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status


def escape(text: str) -> str:
    """Make text safe for rich markup (names and messages may contain '[')."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


class Format(StrEnum):
    table = "table"
    json = "json"


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _table_width(
    columns: Sequence[str],
    cells: Sequence[Sequence[str]],
    shown: Sequence[int],
    *,
    longest_word: bool,
) -> int:
    """Columns of a table of `shown` columns, two spaces apart: unwrapped, or wrapped at
    every space (`longest_word`)."""
    measure = _longest_word if longest_word else len
    widths = [max(measure(t) for t in [columns[i], *(r[i] for r in cells)]) for i in shown]
    return sum(widths) + 2 * max(0, len(widths) - 1)


class Output:
    def __init__(self, *, fmt: Format = Format.table, verbosity: int = 0) -> None:
        self.fmt = fmt
        self.verbosity = verbosity  # -1 quiet, 0 normal, 1+ verbose

    # Consoles are made on first use (rich costs start-up time) and per command, so that tests'
    # captured streams are the ones written to.
    @cached_property
    def stdout(self) -> Console:
        from rich.console import Console

        # Piped into a file or another program, a table keeps its full width instead of the
        # 80 columns rich assumes without a terminal.
        width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 250
        return Console(file=sys.stdout, highlight=False, soft_wrap=True, width=width)

    @cached_property
    def stderr(self) -> Console:
        from rich.console import Console

        return Console(file=sys.stderr, highlight=False, soft_wrap=True)

    # -- data ----------------------------------------------------------------------------------
    def table(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        *,
        title: str = "",
        optional: Sequence[str] = (),
    ) -> None:
        """Rows under a header. A value is never broken inside a word: columns wrap only at
        spaces, and when even that does not fit the terminal, the `optional` columns are
        left out (in that order, said on stderr) before the table grows past its width."""
        from rich.table import Table

        cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
        shown = list(range(len(columns)))
        width = self.stdout.width
        hidden = []
        for name in optional:
            if _table_width(columns, cells, shown, longest_word=False) <= width:
                break
            if name in columns and columns.index(name) in shown:
                shown.remove(columns.index(name))
                hidden.append(name)
        table = Table(title=title or None, box=None, pad_edge=False, header_style="bold")
        for i in shown:
            least = max(_longest_word(text) for text in [columns[i], *(r[i] for r in cells)])
            table.add_column(columns[i], min_width=least, overflow="fold")
        for row in cells:
            table.add_row(*(escape(row[i]) for i in shown))
        needed = _table_width(columns, cells, shown, longest_word=True)
        self.stdout.print(table, width=max(width, needed))
        if hidden:
            self.info(f"hidden at {width} columns: {', '.join(hidden)} (--format json has them)")

    def json(self, data: Any) -> None:
        # Plain write, not rich: JSON must reach jq byte for byte.
        sys.stdout.write(json.dumps(data, indent=2, default=str, sort_keys=False) + "\n")

    def emit(self, data: Any, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """One call for both formats: `data` for --format json, columns/rows for a table."""
        if self.fmt is Format.json:
            self.json(data)
        elif rows:  # an empty table is only a header: say "none found" on stderr instead
            self.table(columns, rows)

    # -- messages (stderr) -----------------------------------------------------------------------
    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            self.stderr.print(escape(message))

    def success(self, message: str) -> None:
        if self.verbosity >= 0:
            self.stderr.print(f"[green]{escape(message)}[/green]")

    def warn(self, message: str) -> None:
        self.stderr.print(f"[yellow]warning:[/yellow] {escape(message)}")

    def error(self, message: str, hint: str | None = None) -> None:
        self.stderr.print(f"[red]error:[/red] {escape(message)}")
        if hint:
            self.stderr.print(f"  {escape(hint)}")

    def next_step(self, *commands: str) -> None:
        """End a command with the next useful one (only when a person is reading the table)."""
        if self.verbosity >= 0 and self.fmt is Format.table and commands:
            self.stderr.print("next: " + "  |  ".join(escape(c) for c in commands), style="dim")

    def confirm(self, question: str, *, yes: bool, declined: str) -> None:
        """Ask on stderr unless --yes; raise Declined (with `declined` as its message) on "no"
        or when no terminal can answer."""
        from labctl.errors import Declined

        if yes:
            return
        if not sys.stdin.isatty():
            raise Declined(f"{declined}: no terminal to confirm on", no_terminal=True)
        import typer

        if not typer.confirm(question, default=False, err=True):
            raise Declined(declined)

    @contextmanager
    def progress(
        self, title: str, total: int, *, in_bytes: bool = False
    ) -> Iterator[Callable[[int], None]]:
        """A bar on stderr (items, or bytes with rate and time left); yields `advance(n)`.
        Nothing is drawn when stderr is not a terminal or with -q."""
        if self.verbosity < 0 or not self.stderr.is_terminal:
            yield lambda n: None
            return
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        counts = (
            (DownloadColumn(binary_units=True), TransferSpeedColumn())
            if in_bytes
            else (MofNCompleteColumn(),)
        )
        columns = (TextColumn("{task.description}"), BarColumn(), *counts, TimeRemainingColumn())
        with Progress(*columns, console=self.stderr, transient=True) as bar:
            task = bar.add_task(escape(title), total=total)
            yield lambda n: bar.advance(task, n)

    @contextmanager
    def spinner(self, message: str) -> Iterator[Spinner]:
        """A spinner on stderr around a slow call; silent when stderr is not a terminal or -q."""
        with Spinner(self, message) as spinner:
            yield spinner


class Spinner:
    """A status line on stderr that can change its text and step aside for a prompt.

    Without a terminal (or with -q) there is no animation; `announce` then prints the message
    once as a line, for waits long enough that a log reader wants to know what happened.
    """

    def __init__(self, out: Output, message: str, *, announce: bool = False) -> None:
        self._status: Status | None = None
        if out.verbosity >= 0 and out.stderr.is_terminal:
            self._status = out.stderr.status(escape(message))
        elif out.verbosity >= 0 and announce:
            out.info(message)

    def __enter__(self) -> Spinner:
        if self._status is not None:
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def update(self, message: str) -> None:
        if self._status is not None:
            self._status.update(escape(message))

    @contextmanager
    def paused(self) -> Iterator[None]:
        if self._status is not None:
            self._status.stop()
        try:
            yield
        finally:
            if self._status is not None:
                self._status.start()
