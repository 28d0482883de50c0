"""`labctl emulator`: a local Compute Engine and Cloud Storage for practice and tests."""

from __future__ import annotations

import shlex
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labctl.cli._app import use
from labctl.cli._options import FormatOpt, QuietOpt, VerboseOpt
from labctl.cli._output import Format, Output
from labctl.errors import InvalidInput, LabctlError

if TYPE_CHECKING:
    from labctl.emulator import Emulator

app = typer.Typer(
    add_completion=False,  # offered once, by the root command
    help="Run a local Compute Engine + Cloud Storage emulator.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

PortOpt = Annotated[
    int,
    typer.Option(
        min=0, max=65535, metavar="PORT", help="Compute Engine port on 127.0.0.1 (0: any free)."
    ),
]
StoragePortOpt = Annotated[
    int,
    typer.Option(
        min=0, max=65535, metavar="PORT", help="Cloud Storage port on 127.0.0.1 (0: any free)."
    ),
]
EmulatorProjectOpt = Annotated[
    str,
    typer.Option("--project", metavar="PROJECT", help="The project id the exports name."),
]
DEFAULT_PROJECT = "labctl-demo"  # the project the exports name when --project is not given


StateOpt = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="Keep state in this JSON file.", show_default=False),
]
FaultsOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="Faults file (YAML/JSON), see configs/.",
        exists=True,
        show_default=False,
    ),
]


@app.command()
def start(
    ctx: typer.Context,
    port: PortOpt = 8085,
    storage_port: StoragePortOpt = 9023,
    state: StateOpt = None,
    faults: FaultsOpt = None,
    project: EmulatorProjectOpt = DEFAULT_PROJECT,
    fmt: FormatOpt = Format.table,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Serve the emulator on 127.0.0.1 until Ctrl-C (or SIGTERM); print its exports on stdout."""
    app = use(ctx, fmt=fmt, verbose=verbose, quiet=quiet)
    emu = _start(port, storage_port, state, faults)
    _print_env(app.out, emu.env(project=project))
    app.out.info(f"# Compute Engine on {emu.compute_url}, Cloud Storage on {emu.storage_url}")
    app.out.info('# next: eval "$(labctl emulator env)" in another shell; Ctrl-C stops')
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        emu.stop()


def _start(port: int, storage_port: int, state: Path | None, faults: Path | None) -> Emulator:
    from labctl.emulator import Emulator

    try:
        emu = Emulator(
            compute_port=port, storage_port=storage_port, state_file=state, faults_file=faults
        ).start()
    except ValueError as exc:  # a faults or state file that does not parse
        raise InvalidInput(f"{faults or state}: {exc}") from None
    except OSError as exc:
        raise LabctlError(
            f"cannot listen on 127.0.0.1:{port} or :{storage_port}: {exc.strerror}",
            hint="another emulator may be running; pick other ports with --port/--storage-port",
        ) from None
    return emu


@app.command()
def env(
    ctx: typer.Context,
    port: PortOpt = 8085,
    storage_port: StoragePortOpt = 9023,
    project: EmulatorProjectOpt = DEFAULT_PROJECT,
    fmt: FormatOpt = Format.table,
) -> None:
    """Print the exports that point labctl and gcloud at a running emulator."""
    from labctl.config import config_dir
    from labctl.emulator import DUMMY_TOKEN, emulator_env

    app = use(ctx, fmt=fmt)
    # gcloud insists on a token even for the emulator; any token in a file will do.
    token_file = config_dir() / "emulator" / "access-token"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(DUMMY_TOKEN + "\n", encoding="utf-8")
    compute_url = f"http://127.0.0.1:{port}/compute/v1/"
    storage_url = f"http://127.0.0.1:{storage_port}" if storage_port else None
    _print_env(app.out, emulator_env(compute_url, storage_url, token_file, project))


def _print_env(out: Output, env: dict[str, str]) -> None:
    if out.fmt is Format.json:
        out.json(env)
    else:
        typer.echo("\n".join(f"export {key}={shlex.quote(value)}" for key, value in env.items()))
