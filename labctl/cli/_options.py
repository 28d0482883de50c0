"""The options commands share, as Annotated aliases; each command declares the ones it uses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labctl.cli._output import Format


def opt(*decls: str, metavar: str | None = None, help: str) -> typer.models.OptionInfo:
    """An option whose help says its default itself (or that has none to show)."""
    return typer.Option(*decls, metavar=metavar, help=help, show_default=False)


# -- where: cloud commands ---------------------------------------------------------------------
ProjectOpt = Annotated[
    str | None,
    typer.Option(
        "--project",
        metavar="PROJECT",
        help="Google Cloud project id (default: from the config, gcloud or the credentials).",
        show_default=False,
    ),
]
ZoneOpt = Annotated[
    str | None,
    typer.Option(
        "--zone",
        metavar="ZONE",
        help="Compute Engine zone [default: course.zone].",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="A labctl.toml to use instead of ./labctl.toml.",
        show_default=False,
        dir_okay=False,
    ),
]

# -- output: every command -----------------------------------------------------------------------
FormatOpt = Annotated[
    Format, typer.Option("--format", help="Output format: a table, or JSON for scripts.")
]
VerboseOpt = Annotated[
    int,
    typer.Option(
        "--verbose", "-v", count=True, show_default=False, help="More detail (-vv: libraries too)."
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", show_default=False, help="Only data and errors.")
]

# -- acting ------------------------------------------------------------------------------------
YesOpt = Annotated[
    bool, typer.Option("--yes", "-y", show_default=False, help="Do not ask for confirmation.")
]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", show_default=False, help="Show what would be done; change nothing."),
]
NoWaitOpt = Annotated[
    bool,
    typer.Option(
        "--no-wait", show_default=False, help="Return once Compute accepted the requests."
    ),
]

# -- selecting what a list or batch command acts on --------------------------------------------
CourseOpt = Annotated[
    str | None,
    typer.Option("--course", metavar="COURSE", help="Only this course's.", show_default=False),
]
OwnerOpt = Annotated[
    str | None,
    typer.Option(
        "--owner",
        metavar="OWNER",
        help="Only this owner's (a name or an e-mail, slugged as labctl labels it).",
        show_default=False,
    ),
]
AllOpt = Annotated[
    bool,
    typer.Option(
        "--all/--managed",
        show_default=False,
        help="Also what labctl did not create, or only labctl's [default: --managed].",
    ),
]
OlderThanOpt = Annotated[
    str | None,
    typer.Option(
        "--older-than",
        metavar="AGE",
        help="Only what was created longer ago than AGE (30m, 12h, 7d).",
        show_default=False,
    ),
]
