"""`labctl init`: project, course, zone and idle minutes into a config file, labctl's SSH key,
then `labctl doctor`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from labctl.cli import _doctor_views as doctor_views
from labctl.cli import doctor as doctor_cli
from labctl.cli._app import shared_options
from labctl.cli._options import opt
from labctl.cli._output import Format
from labctl.errors import InvalidInput

if TYPE_CHECKING:
    from labctl.cli._app import AppContext
    from labctl.config_report import Proposal

app = typer.Typer(
    add_completion=False,  # offered once, by the root command
    help="Set up labctl: project, course, zone, idle minutes, SSH key.",
    rich_markup_mode=None,
)


InitProjectOpt = Annotated[
    str | None, opt("--project", metavar="PROJECT", help="Google Cloud project id to use.")
]
CourseNameOpt = Annotated[
    str | None,
    opt(
        "--course",
        metavar="NAME",
        help="Course name, labelled on everything [default: course.name].",
    ),
]
InitZoneOpt = Annotated[
    str | None, opt("--zone", metavar="ZONE", help="Default zone [default: course.zone].")
]
IdleOpt = Annotated[
    int | None,
    opt(
        "--idle-minutes",
        metavar="MINUTES",
        help="Stop a VM idle this long, 0 never [default: course.idle_shutdown_minutes].",
    ),
]
LocalOpt = Annotated[
    bool,
    typer.Option(
        "--local",
        show_default=False,
        help="Write ./labctl.toml (a course folder's file) instead of your user config.",
    ),
]
InitYesOpt = Annotated[
    bool,
    typer.Option("--yes", "-y", show_default=False, help="Ask nothing: take what is proposed."),
]
QUESTIONS = {
    "project": "Google Cloud project id",
    "course": "Course name",
    "zone": "Default zone",
    "idle_minutes": "Stop idle VMs after (minutes, 0 = never)",
}


@app.command()
@shared_options(cloud=False)
def init(
    app: AppContext,
    project: InitProjectOpt = None,
    course: CourseNameOpt = None,
    zone: InitZoneOpt = None,
    idle_minutes: IdleOpt = None,
    local: LocalOpt = False,
    yes: InitYesOpt = False,
) -> None:
    """Ask for (or take as flags) the project, course name, zone and idle minutes, proposing
    what gcloud and the credentials already say; write them to the config file, create
    labctl's SSH key, then run doctor. --yes takes the proposals without asking."""
    given = {"project": project, "course": course, "zone": zone, "idle_minutes": idle_minutes}
    answers = _answers(app, given, yes=yes)
    setup = _write(app, answers, local=local)
    records, failed = doctor_cli.check(app)
    if app.out.fmt is Format.json:
        app.out.json({**setup, "doctor": records})
    else:
        doctor_views.emit_doctor(app.out, records)
    doctor_cli.finish(app, records, None)
    if failed:
        raise typer.Exit(1)


def _answers(app: AppContext, given: dict[str, Any], *, yes: bool) -> dict[str, Any]:
    """Each value: the flag, else the proposal (--yes), else the user's answer to a prompt."""
    from labctl.config import load_settings
    from labctl.config_report import init_proposals

    proposals = init_proposals(load_settings())
    answers = {}
    for key, question in QUESTIONS.items():
        proposal = proposals[key]
        if given[key] is not None:
            answers[key] = given[key]
        elif yes and proposal is not None:
            answers[key] = proposal.value
            app.out.info(f"{question}: {proposal.value} ({proposal.why})")
        elif yes:
            raise InvalidInput(f"no {question.lower()} found: pass --{key}", field=f"--{key}")
        else:
            answers[key] = _ask(question, proposal, int if key == "idle_minutes" else str)
    return answers


def _ask(question: str, proposal: Proposal | None, kind: type) -> Any:
    """One question on stderr, the answer from stdin (Enter takes the proposal). Not
    typer.prompt: it echoes part of the prompt to stdout, where only data belongs."""
    import sys

    why = f" (from {proposal.why})" if proposal is not None and proposal.why != "current" else ""
    default = f" [{proposal.value}]" if proposal is not None else ""
    sys.stderr.write(f"{question}{why}{default}: ")
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not line:
        raise InvalidInput(f"no answer for {question.lower()}: pass it as a flag, or --yes")
    answer = line.strip() or (str(proposal.value) if proposal is not None else "")
    try:
        return kind(answer) if answer else _missing(question)
    except ValueError:
        raise InvalidInput(f"{question}: {answer!r} is not a whole number") from None


def _missing(question: str) -> Any:
    raise InvalidInput(f"{question.lower()} is needed")


def _write(app: AppContext, answers: dict[str, Any], *, local: bool) -> dict[str, Any]:
    """Write the answers and make labctl's key; what was done, as a record."""
    from pathlib import Path

    from labctl import access
    from labctl.config import PROJECT_FILE, config_dir, user_config_file
    from labctl.config_report import write_config
    from labctl.naming import check_project_id

    path = Path(PROJECT_FILE) if local else user_config_file()
    updates = {
        "gcp.project": check_project_id(str(answers["project"]).strip()),
        "course.name": answers["course"],
        "course.zone": answers["zone"],
        "course.idle_shutdown_minutes": answers["idle_minutes"],
    }
    write_config(path, updates)
    app.out.success(f"wrote {path}")
    key = access.login_key(config_dir(), create=True)
    app.out.success(f"SSH key {key.path} ({key.fingerprint})")
    return {
        "config_file": str(path),
        "settings": updates,
        "ssh_key": {"path": str(key.path), "fingerprint": key.fingerprint},
    }
