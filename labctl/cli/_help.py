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
- ranges ("0<=x<=65535") are left out: the error for a bad value states them.

`adopt` gives a Typer-built command tree these classes (the root group does it for every noun
it loads), so no noun module has to remember to.
"""

from __future__ import annotations

import re
from typing import Any

from typer.core import TyperCommand, TyperGroup

# "[default: course.gpu.type]": a default that is a setting of the configuration.
SETTING_DEFAULT_RE = re.compile(r"\[default: ((?:course|gcp)\.[a-z_.]+)\]")
# Value names by click type name, for options declared without a metavar.
TYPE_VALUES = {"integer": "N", "float": "N", "integer range": "N", "float range": "N"}


class LabctlCommand(TyperCommand):
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
    if param.metavar:
        return str(param.metavar)
    choices = getattr(param.type, "choices", None)
    if choices:
        return "|".join(str(getattr(c, "value", c)) for c in choices)
    type_name = str(getattr(param.type, "name", ""))
    if type_name in ("path", "file", "filename"):
        return "DIR" if getattr(param.type, "file_okay", True) is False else "FILE"
    if type_name in TYPE_VALUES and not param.name.endswith(("port", "seconds")):
        return TYPE_VALUES[type_name]
    return str(param.name or "value").upper().rsplit("_", 1)[-1]


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
    from labctl.config import load_settings, setting_values
    from labctl.errors import LabctlError

    try:
        return setting_values(load_settings())
    except LabctlError:
        return None
