"""Help that tells the truth at 80 columns, for every noun.

Typer's own help shows Python types ("<list[str]>", "<int range>"), wraps argument metavars in
"{NAME...}...", cuts command summaries mid-sentence ("Create course VMs (n1-standard-8...")
and shows "[default: course.zone]" as written. Here:

- usage and Arguments show each argument's metavar as written ("NAME...", "gs://BUCKET");
- an option's value is named by its metavar, else by what it is ("FILE", "N", "table|json",
  or the option's own name: --ssh-port PORT), never by a Python type;
- a help text's "[default: course.zone]" becomes "[default: us-central1-c, course.zone]":
  the effective value from the configuration (flags aside), and the setting that changes it;
- a group lists each command's whole first sentence, wrapped, never cut;
- ranges ("0<=x<=65535") are left out: the error for a bad value states them;
- text wraps at spaces only, never inside a value ("cloud-" / "course", click's default).

`adopt` gives a Typer-built command tree these classes (the root group does it for every noun
it loads), so no noun module has to remember to.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from typer.core import TyperCommand, TyperGroup

# "[default: course.gpu.type]": a default that is a setting of the configuration.
SETTING_DEFAULT_RE = re.compile(r"\[default: ((?:course|gcp)\.[a-z_.]+)\]")


class HelpWriter:
    """click's HelpFormatter, as the help methods use it, wrapping only at spaces."""

    def __init__(self, width: int | None = None, max_width: int | None = None) -> None:
        columns = shutil.get_terminal_size().columns
        self.width = width or max(min(columns, max_width or 80) - 2, 50)
        self.current_indent = 0
        self.buffer: list[str] = []

    def write(self, text: str) -> None:
        self.buffer.append(text)

    def getvalue(self) -> str:
        return "".join(self.buffer)

    def indent(self) -> None:
        self.current_indent += 2

    def dedent(self) -> None:
        self.current_indent -= 2

    @contextmanager
    def indentation(self) -> Iterator[None]:
        self.indent()
        try:
            yield
        finally:
            self.dedent()

    @contextmanager
    def section(self, name: str) -> Iterator[None]:
        self.write_paragraph()
        self.write_heading(name)
        with self.indentation():
            yield

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{heading}:\n")

    def write_paragraph(self) -> None:
        if self.buffer:
            self.write("\n")

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        head = f"{prefix if prefix is not None else 'Usage: '}{prog} "
        self.write(wrap(args, self.width, head, " " * len(head)) + "\n")

    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        self.write(wrap(text, self.width, indent, indent) + "\n")

    def write_dl(
        self, rows: Sequence[tuple[str, str]], col_max: int = 30, col_spacing: int = 2
    ) -> None:
        rows = list(rows)
        first = min(max((len(r[0]) for r in rows), default=0), col_max) + col_spacing
        indent = " " * self.current_indent
        text_width = max(self.width - first - self.current_indent, 20)
        for term, text in rows:
            self.write(f"{indent}{term}")
            lines = wrap(text, text_width).splitlines() if text else []
            if not lines:
                self.write("\n")
                continue
            if len(term) + col_spacing <= first:
                self.write(" " * (first - len(term)) + lines[0] + "\n")
            else:
                self.write("\n" + indent + " " * first + lines[0] + "\n")
            for line in lines[1:]:
                self.write(indent + " " * first + line + "\n")


def wrap(text: str, width: int, first: str = "", rest: str = "") -> str:
    """Paragraphs (blank-line separated) filled to `width`, broken at spaces only."""
    # "[default: X]" stays on one line: its space becomes a NUL until the text is filled.
    text = text.replace("[default: ", "[default:\0")
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip())]
    filled = "\n\n".join(
        textwrap.fill(
            p,
            width,
            initial_indent=first,
            subsequent_indent=rest if i == 0 else first,
            break_on_hyphens=False,
            break_long_words=False,
        )
        for i, p in enumerate(paragraphs)
    )
    return filled.replace("\0", " ")


def get_help(command: Any, ctx: Any) -> str:
    """What `--help` prints, through HelpWriter."""
    writer = HelpWriter(width=ctx.terminal_width, max_width=ctx.max_content_width)
    command.format_help(ctx, writer)
    return writer.getvalue().rstrip("\n")


class LabctlCommand(TyperCommand):
    def get_help(self, ctx: Any) -> str:
        return get_help(self, ctx)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [argument_metavar(p) for p in self.get_params(ctx) if is_argument(p)]
        return [self.options_metavar or "", *pieces]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        values = _setting_values()
        arguments, options = [], []
        for param in self.get_params(ctx):
            if getattr(param, "hidden", False):
                continue
            if is_argument(param):
                arguments.append((argument_metavar(param), _help_text(param, values)))
            else:
                options.append((option_names(param), _help_text(param, values)))
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class LabctlGroup(TyperGroup):
    def get_help(self, ctx: Any) -> str:
        return get_help(self, ctx)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, summary(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def adopt(command: Any) -> Any:
    """Give a Typer-built command (and a group's commands) labctl's help classes. Classes a
    module chose itself (subclasses) are kept."""
    if type(command) is TyperCommand:
        command.__class__ = LabctlCommand
    elif type(command) is TyperGroup:
        command.__class__ = LabctlGroup
    for sub in getattr(command, "commands", {}).values():
        adopt(sub)
    return command


def summary(command: Any) -> str:
    """A command's first sentence (its short help if set), whole."""
    if command.short_help:
        return str(command.short_help)
    text = (command.help or "").strip().split("\n\n")[0]
    return " ".join(text.split())


def is_argument(param: Any) -> bool:
    return bool(param.param_type_name == "argument")


def argument_metavar(param: Any) -> str:
    """As written ("[NAME]...", "gs://BUCKET/OBJECT..."), else NAME, NAME... or [NAME]."""
    if param.metavar:
        return str(param.metavar)
    name = str(param.name or "value").upper()
    if param.nargs == -1:
        name += "..."
    return name if param.required else f"[{name}]"


def option_names(param: Any) -> str:
    """ "-v, --verbose", "--gpu / --no-gpu", "--zone ZONE", "--format table|json"."""
    names = ", ".join(sorted(param.opts, key=lambda o: (o.startswith("--"), o)))
    if param.secondary_opts:
        names += " / " + ", ".join(param.secondary_opts)
    if not getattr(param, "is_flag", False) and not getattr(param, "count", False):
        names += f" {option_value(param)}"
    return names


def option_value(param: Any) -> str:
    """The metavar; else the choices ("table|json"); else FILE/DIR for paths, N for numbers;
    else the option's own name (--ssh-port PORT, --user USER)."""
    if param.metavar:
        return str(param.metavar)
    kind = getattr(param, "type_descriptor", None)  # typer >= 0.29 describes types here
    choices = getattr(kind, "choices", None) or getattr(
        getattr(param, "type", None), "choices", None
    )
    if choices:
        return "|".join(str(getattr(c, "value", c)) for c in choices)
    own = str(param.name or "value").upper().rsplit("_", 1)[-1]
    if kind is not None and kind.is_path:
        info = kind.parameter_info
        return "DIR" if info.dir_okay and not info.file_okay else "FILE"
    number = kind is not None and kind.annotation in (int, float)
    return "N" if number and own not in ("PORT", "SECONDS", "MINUTES", "HOURS", "DAYS") else own


def _help_text(param: Any, values: dict[str, Any] | None) -> str:
    text = " ".join(str(param.help or "").split())
    text = SETTING_DEFAULT_RE.sub(lambda m: _setting_default(m.group(1), values), text)
    extras = []
    default = _default_shown(param)
    if default is not None and "[default:" not in text:
        extras.append(f"default: {default}")
    if param.required and not is_argument(param):
        extras.append("required")
    return f"{text}  [{'; '.join(extras)}]".strip() if extras else text


def _default_shown(param: Any) -> str | None:
    if isinstance(param.show_default, str):
        return param.show_default
    if param.show_default is False or is_argument(param) or getattr(param, "count", False):
        return None
    default = param.default
    if default is None or default is False or default == () or default == []:
        return None
    if default is True:  # a flag on by default
        return param.opts[0] if getattr(param, "is_flag", False) else "true"
    return str(getattr(default, "value", default))


def _setting_default(key: str, values: dict[str, Any] | None) -> str:
    if values is None or key not in values:
        return f"[default: {key}]"  # the configuration does not load: name the setting
    value = values[key]
    if isinstance(value, bool):
        shown = "on" if value else "off"
    elif value in (None, "", []):
        shown = "none"
    elif isinstance(value, list):
        shown = ",".join(map(str, value))
    else:
        shown = str(value)
    return f"[default: {shown}, {key}]"


def _setting_values() -> dict[str, Any] | None:
    """The effective settings without flags (./labctl.toml, the user file, LABCTL_*), or
    None when they do not load (help must still show)."""
    from labctl.config import load_settings
    from labctl.config_report import setting_values
    from labctl.errors import LabctlError

    try:
        return setting_values(load_settings())
    except LabctlError:
        return None
