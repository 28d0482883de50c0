"""`labctl emulator`: a local Compute Engine and Cloud Storage for practice and tests."""

from __future__ import annotations

import shlex
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from labctl.cli._context import current
from labctl.cli._options import command_options
from labctl.cli._output import Format
from labctl.errors import InvalidInput, LabctlError

app = typer.Typer(
    add_completion=False,  # offered once, by the root command
    help="Run a local Compute Engine + Cloud Storage emulator.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

PortOpt = Annotated[int, typer.Option(help="Compute Engine port on 127.0.0.1 (0: any free).")]
StoragePortOpt = Annotated[int, typer.Option(help="Cloud Storage port on 127.0.0.1 (0: any free).")]
DEFAULT_PROJECT = "demo"  # the project the exports name when --project is not given


@app.command()
@command_options
def start(
    port: PortOpt = 8085,
    storage_port: StoragePortOpt = 9023,
    state: Annotated[Path | None, typer.Option(help="Keep state in this JSON file.")] = None,
    faults: Annotated[
        Path | None, typer.Option(help="Faults file (YAML/JSON), see configs/.", exists=True)
    ] = None,
) -> None:
    """Serve the emulator on 127.0.0.1 until Ctrl-C (or SIGTERM); print its exports on stdout."""
    from labctl.emulator import Emulator

    ctx = current()
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
    _print_env(emu.env(project=ctx.opts.project or DEFAULT_PROJECT), ctx.out.fmt)
    ctx.out.info(f"# Compute Engine on {emu.compute_url}, Cloud Storage on {emu.storage_url}")
    ctx.out.info('# next: eval "$(labctl emulator env)" in another shell; Ctrl-C stops')
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        emu.stop()


@app.command()
@command_options
def env(port: PortOpt = 8085, storage_port: StoragePortOpt = 9023) -> None:
    """Print the exports that point labctl and gcloud at a running emulator."""
    from labctl.config import config_dir
    from labctl.emulator import DUMMY_TOKEN, emulator_env

    ctx = current()
    # gcloud insists on a token even for the emulator; any token in a file will do.
    token_file = config_dir() / "emulator" / "access-token"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(DUMMY_TOKEN + "\n", encoding="utf-8")
    compute_url = f"http://127.0.0.1:{port}/compute/v1/"
    storage_url = f"http://127.0.0.1:{storage_port}" if storage_port else None
    project = ctx.opts.project or DEFAULT_PROJECT
    _print_env(emulator_env(compute_url, storage_url, token_file, project), ctx.out.fmt)


def _print_env(env: dict[str, str], fmt: Format) -> None:
    if fmt is Format.json:
        current().out.json(env)
    else:
        typer.echo("\n".join(f"export {key}={shlex.quote(value)}" for key, value in env.items()))
