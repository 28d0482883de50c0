"""`labctl emulator`: a local Compute Engine and Cloud Storage for practice and tests.

`start` records the running emulator in a run file (<config dir>/emulator/run.json) that
`status`, `stop` and `env` read, so another shell finds it without knowing its ports.
"""

from __future__ import annotations

import shlex
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from labctl.cli._app import AppContext, shared_options, use
from labctl.cli._options import FormatOpt, opt
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

DEFAULT_PROJECT = "labctl-demo"  # the project the exports name when --project is not given
FAULTS_RELOAD_SECONDS = 1.0
STOP_HINT = "stop it first: labctl emulator stop (or see: labctl emulator status)"
START_HINT = "start one: labctl emulator start (in another terminal)"
PORT_HINT = "another program (or emulator) uses it: pick free ports with --port/--storage-port"


PortOpt = Annotated[
    int, typer.Option(metavar="PORT", help="Compute Engine port on 127.0.0.1, 0 any free.")
]
StoragePortOpt = Annotated[
    int, typer.Option(metavar="PORT", help="Cloud Storage port on 127.0.0.1, 0 any free.")
]
EnvPortOpt = Annotated[
    int | None,
    opt("--port", metavar="PORT", help="An emulator on this port [default: the running one]."),
]
EnvStoragePortOpt = Annotated[
    int | None,
    opt("--storage-port", metavar="PORT", help="Its Cloud Storage port [default: as it runs]."),
]
EmulatorProjectOpt = Annotated[
    str, typer.Option("--project", metavar="PROJECT", help="The project id the exports name.")
]
EnvProjectOpt = Annotated[
    str | None,
    opt(
        "--project",
        metavar="PROJECT",
        help="The project id the exports name [default: as started].",
    ),
]
StateOpt = Annotated[Path | None, opt(metavar="FILE", help="Keep state in this JSON file.")]
FaultsOpt = Annotated[
    Path | None,
    opt(
        metavar="FILE",
        help="Faults (YAML/JSON; configs/emulator-faults.example.yaml), reread on change.",
    ),
]


@app.command()
@shared_options(cloud=False)
def start(
    app: AppContext,
    port: PortOpt = 8085,
    storage_port: StoragePortOpt = 9023,
    state: StateOpt = None,
    faults: FaultsOpt = None,
    project: EmulatorProjectOpt = DEFAULT_PROJECT,
) -> None:
    """Serve the emulator on 127.0.0.1 until Ctrl-C (or SIGTERM); print its exports on stdout."""
    _refuse_a_second_one()
    emu = _start(port, storage_port, state, faults)
    try:
        # Handlers first: once the run file exists, `emulator stop` may signal at once.
        stopped = _stop_on_signals()
        emu.write_run_file(project)
        _print_env(app.out, emu.env(project=project))
        app.out.info(f"# Compute Engine on {emu.compute_url}, Cloud Storage on {emu.storage_url}")
        app.out.info('# next, in another shell: eval "$(labctl emulator env)"; Ctrl-C stops')
        _serve(app.out, emu, stopped)
    finally:
        emu.stop()
    app.out.info("# emulator stopped")


def _refuse_a_second_one() -> None:
    from labctl.emulator.lifecycle import emulator_status

    try:
        status = emulator_status()
    except OSError:
        return
    if status is not None and status.get("running"):
        message = f"an emulator is already running (pid {status['pid']}, {status['compute_url']})"
        raise LabctlError(message, hint=STOP_HINT)


def _start(port: int, storage_port: int, state: Path | None, faults: Path | None) -> Emulator:
    """Check every input first (one line each, exit 2), then bind."""
    from labctl.emulator import Emulator
    from labctl.emulator.inputs import check_port, check_state_file, load_faults

    try:
        check_port(port, "--port")
        check_port(storage_port, "--storage-port")
        if faults is not None:
            load_faults(faults)
        check_state_file(state)
        return Emulator(
            compute_port=port, storage_port=storage_port, state_file=state, faults_file=faults
        ).start()
    except ValueError as exc:  # inputs name the file and line themselves
        raise InvalidInput(str(exc).splitlines()[0]) from None
    except OSError as exc:
        where = str(exc.filename or f"127.0.0.1:{port}")
        if not where.startswith("127.0.0.1:"):
            raise InvalidInput(f"cannot read {where}: {exc.strerror}") from None
        raise InvalidInput(f"cannot listen on {where}: {exc.strerror}", hint=PORT_HINT) from None


def _stop_on_signals() -> threading.Event:
    """An event that SIGINT and SIGTERM set (a clean stop instead of dying mid-write)."""
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    return stopped


def _serve(out: Output, emu: Emulator, stopped: threading.Event) -> None:
    """Until `stopped`; the faults file is reread when it changes."""
    changed = _mtime(emu.faults_file)
    while not stopped.wait(FAULTS_RELOAD_SECONDS):
        now = _mtime(emu.faults_file)
        if now != changed:
            changed = now
            try:
                emu.reload_faults_file()
                out.info("# faults reloaded")
            except (OSError, ValueError) as exc:
                out.warn(f"faults not reloaded: {exc}")


def _mtime(path: Path | None) -> float | None:
    try:
        return path.stat().st_mtime if path else None
    except OSError:
        return None


@app.command()
@shared_options(cloud=False)
def status(app: AppContext) -> None:
    """Whether the emulator started by `labctl emulator start` runs, where, and since when;
    exit 1 when none runs."""
    from labctl.emulator.lifecycle import emulator_status

    info = emulator_status()
    record = _status_record(info)
    if app.out.fmt is Format.json:
        app.out.json(record)
    elif info is not None:
        rows = [(k, _text(v)) for k, v in record.items()]
        app.out.table(("FIELD", "VALUE"), rows)
    if not record["running"]:
        app.out.error(record["problem"] or "no emulator is running", START_HINT)
        raise typer.Exit(1)
    app.out.next_step('eval "$(labctl emulator env)"', "labctl emulator stop")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "-" if value in (None, "") else str(value)


# What `emulator status` shows, in this order.
_STATUS_FIELDS = (
    "running",
    "pid",
    "project",
    "compute_url",
    "storage_url",
    "started_at",
    "uptime_seconds",
    "state_file",
    "faults_file",
    "run_file",
    "problem",
)


def _status_record(info: dict[str, Any] | None) -> dict[str, Any]:
    if info is None:
        return {"running": False, "problem": "no emulator is running (no run file)"}
    return {k: info.get(k) for k in _STATUS_FIELDS}


@app.command()
@shared_options(cloud=False)
def stop(app: AppContext) -> None:
    """Stop the emulator `labctl emulator start` runs (SIGTERM, then SIGKILL after 10 s)."""
    from labctl.emulator.lifecycle import read_run_file, stop_emulator

    try:
        recorded = read_run_file()
        stopped = stop_emulator()
    except ValueError:
        recorded, stopped = None, stop_emulator()  # an unreadable run file is removed
    except PermissionError as exc:
        raise LabctlError(
            str(exc), hint="stop it yourself (kill PID) if it is the emulator"
        ) from None
    pid = recorded.get("pid") if stopped and recorded else None
    if app.out.fmt is Format.json:
        app.out.json({"stopped": stopped, "pid": pid})
    elif stopped:
        app.out.success(f"stopped the emulator (pid {pid})")
    else:
        app.out.info("no emulator was running")


@app.command()
def env(
    ctx: typer.Context,
    port: EnvPortOpt = None,
    storage_port: EnvStoragePortOpt = None,
    project: EnvProjectOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Print the exports that point labctl and gcloud at the running emulator (refused when
    nothing answers there): eval "$(labctl emulator env)"."""
    app = use(ctx, fmt=fmt)
    if port is None:
        exports = _running_env(project)
    else:
        exports = _env_for_ports(port, storage_port, project or DEFAULT_PROJECT)
    _print_env(app.out, exports)


def _running_env(project: str | None) -> dict[str, str]:
    """The exports the run file recorded, after checking the emulator answers."""
    from labctl.emulator import emulator_env
    from labctl.emulator.lifecycle import emulator_status

    try:
        info = emulator_status()
    except OSError:
        info = None
    if info is None or not info.get("running"):
        problem = (info or {}).get("problem") or "no emulator is running (no run file)"
        raise LabctlError(problem, hint=START_HINT)
    exports: dict[str, str] = dict(info.get("env") or {})
    if project and project != info.get("project"):
        token = Path(exports["CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"])
        exports = emulator_env(info["compute_url"], info.get("storage_url"), token, project)
    return exports


def _env_for_ports(port: int, storage_port: int | None, project: str) -> dict[str, str]:
    """Exports for an emulator started some other way, once its ports answer."""
    from labctl.config import config_dir
    from labctl.emulator import DUMMY_TOKEN, emulator_env
    from labctl.emulator.lifecycle import port_answers

    for what, number in (("--port", port), ("--storage-port", storage_port)):
        if number is not None and not port_answers("127.0.0.1", number):
            raise LabctlError(f"nothing answers on 127.0.0.1:{number} ({what})", hint=START_HINT)
    # gcloud insists on a token even for the emulator; any token in a file will do.
    token_file = config_dir() / "emulator" / "access-token"
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(DUMMY_TOKEN + "\n", encoding="utf-8")
    storage_url = f"http://127.0.0.1:{storage_port}" if storage_port else None
    return emulator_env(f"http://127.0.0.1:{port}/compute/v1/", storage_url, token_file, project)


def _print_env(out: Output, exports: dict[str, str]) -> None:
    if out.fmt is Format.json:
        out.json(exports)
    else:
        typer.echo(
            "\n".join(f"export {key}={shlex.quote(value)}" for key, value in exports.items())
        )
