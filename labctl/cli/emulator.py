"""`labctl emulator`: a local Compute Engine and Cloud Storage for practice and tests."""

from __future__ import annotations

import shlex
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Run a local Compute Engine + Cloud Storage emulator.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

PortOpt = Annotated[int, typer.Option(help="Compute Engine port on 127.0.0.1.")]
StoragePortOpt = Annotated[int, typer.Option(help="Cloud Storage port on 127.0.0.1.")]
ProjectOpt = Annotated[str, typer.Option(help="Project id the exports name.")]


@app.command()
def start(
    port: PortOpt = 8085,
    storage_port: StoragePortOpt = 9023,
    state: Annotated[Path | None, typer.Option(help="Keep state in this JSON file.")] = None,
    faults: Annotated[
        Path | None, typer.Option(help="Faults file (YAML/JSON), see configs/.", exists=True)
    ] = None,
    project: ProjectOpt = "demo",
) -> None:
    """Serve the emulator on 127.0.0.1 until Ctrl-C (or SIGTERM)."""
    from labctl.emulator import Emulator

    emu = Emulator(
        compute_port=port, storage_port=storage_port, state_file=state, faults_file=faults
    )
    emu.start()
    typer.echo(_exports(emu.env(project=project)))
    typer.echo(
        f"# Compute Engine on {emu.compute_url}, Cloud Storage on {emu.storage_url}", err=True
    )
    typer.echo('# next: eval "$(labctl emulator env)" in another shell; Ctrl-C stops', err=True)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        emu.stop()


@app.command()
def env(
    port: PortOpt = 8085, storage_port: StoragePortOpt = 9023, project: ProjectOpt = "demo"
) -> None:
    """Print the exports that point labctl and gcloud at a running emulator."""
    from labctl.config import config_dir
    from labctl.emulator import DUMMY_TOKEN, emulator_env

    # gcloud insists on a token even for the emulator; any token in a file will do.
    token_file = config_dir() / "emulator" / "access-token"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(DUMMY_TOKEN + "\n", encoding="utf-8")
    compute_url = f"http://127.0.0.1:{port}/compute/v1/"
    storage_url = f"http://127.0.0.1:{storage_port}" if storage_port else None
    typer.echo(_exports(emulator_env(compute_url, storage_url, token_file, project)))


def _exports(env: dict[str, str]) -> str:
    return "\n".join(f"export {key}={shlex.quote(value)}" for key, value in env.items())
