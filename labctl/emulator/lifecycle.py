"""An emulator seen from other processes: its run file, status, stop by pid, and port checks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labctl.emulator.emulator import Emulator

RUN_FILE_VERSION = 1
_POLL_SECONDS = 0.05
_KILL_WAIT_SECONDS = 2.0  # after SIGKILL: the kernel needs a moment to reap


class EmulatorRunning(RuntimeError):
    """Another emulator is already recorded in the run file and alive (`pid`, `compute_url`)."""

    def __init__(self, message: str, *, pid: int | None = None, compute_url: str = "") -> None:
        super().__init__(message)
        self.pid = pid
        self.compute_url = compute_url


def run_file_path() -> Path:
    """``<config dir>/emulator/run.json`` (config dir as ``labctl.config.config_dir``)."""
    from labctl.config import config_dir

    return config_dir() / "emulator" / "run.json"


def port_answers(host: str, port: int | None, timeout: float = 1.0) -> bool:
    """True when something accepts a TCP connection on host:port within ``timeout`` seconds."""
    if not port:
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --- the run file -------------------------------------------------------------------------------
def write_run_file(emu: Emulator, project: str, path: Path | None = None) -> Path:
    """Record a started emulator (atomically: a reader sees the old file or the new one).

    Raises EmulatorRunning when the file names another emulator that is still alive.
    """
    path = path or run_file_path()
    status = emulator_status(path)
    if status is not None and status["pid"] != os.getpid() and not status["stale"]:
        raise EmulatorRunning(
            f"an emulator is already running (pid {status['pid']}, {status['compute_url']})",
            pid=status["pid"],
            compute_url=str(status.get("compute_url") or ""),
        )
    started = time.time()
    info = {
        "version": RUN_FILE_VERSION,
        "pid": os.getpid(),
        "process_start": _process_start(os.getpid()),
        "started": started,
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "project": project,
        "compute_port": emu.compute_port,
        "compute_url": emu.compute_url,
        "storage_port": emu.storage_port,
        "storage_url": emu.storage_url,
        "state_file": str(emu.state_file) if emu.state_file else None,
        "faults_file": str(emu.faults_file) if emu.faults_file else None,
        "env": emu.env(project),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".run-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(info, fh, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_run_file(path: Path | None = None) -> dict[str, Any] | None:
    """The recorded emulator, or None without a run file; ValueError if it is unreadable."""
    path = path or run_file_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        info = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not a valid run file ({exc})") from None
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        raise ValueError(f"{path}: not a valid run file (no pid)")
    return info


def remove_run_file(path: Path | None = None, pid: int | None = None) -> bool:
    """Delete the run file (only if it names ``pid``, when given); True if it was removed."""
    path = path or run_file_path()
    if pid is not None:
        try:
            info = read_run_file(path)
        except ValueError:
            info = None
        if info is None or info.get("pid") != pid:
            return False
    try:
        path.unlink()
        return True
    except FileNotFoundError:
        return False


# --- status and stop ----------------------------------------------------------------------------
def emulator_status(path: Path | None = None, timeout: float = 1.0) -> dict[str, Any] | None:
    """The run file's emulator and whether it runs, or None when there is no run file.

    ``running`` needs the process alive AND the compute port answering; ``stale`` means the
    file names a process that is gone (or is no emulator: its pid was reused); ``problem``
    says what is wrong in words.
    """
    path = path or run_file_path()
    try:
        info = read_run_file(path)
    except ValueError as exc:
        return {
            "pid": None,
            "running": False,
            "stale": True,
            "problem": str(exc),
            "run_file": str(path),
        }
    if info is None:
        return None
    pid = info["pid"]
    alive = pid_alive(pid)
    ours = alive and is_emulator_process(pid, info, timeout) is not False
    compute = port_answers("127.0.0.1", info.get("compute_port"), timeout)
    storage = (
        port_answers("127.0.0.1", info.get("storage_port"), timeout)
        if info.get("storage_port")
        else None
    )
    problem = None
    if not alive:
        problem = f"process {pid} is not running (stale run file)"
    elif not ours:
        problem = f"process {pid} is not labctl's emulator (stale run file)"
    elif not compute:
        problem = f"compute port {info.get('compute_port')} does not answer"
    elif storage is False:
        problem = f"storage port {info.get('storage_port')} does not answer"
    return {
        **info,
        "run_file": str(path),
        "running": ours and compute,
        "stale": not ours,
        "pid_alive": alive,
        "compute_answers": compute,
        "storage_answers": storage,
        "uptime_seconds": round(time.time() - float(info.get("started") or time.time()), 1),
        "problem": problem,
    }


def stop_emulator(timeout: float = 10.0, path: Path | None = None) -> bool:
    """Stop the run file's emulator: SIGTERM, wait up to ``timeout`` s, then SIGKILL.

    True if an emulator was stopped; False if none ran (a stale run file is removed). Never
    signals a process that is not a labctl emulator: PermissionError when that cannot be told.
    """
    path = path or run_file_path()
    try:
        info = read_run_file(path)
    except ValueError:
        remove_run_file(path)
        return False
    if info is None:
        return False
    pid = info["pid"]
    if pid == os.getpid():
        raise PermissionError(f"process {pid} is this process; call Emulator.stop() instead")
    if not pid_alive(pid):
        remove_run_file(path, pid)
        return False
    verdict = is_emulator_process(pid, info)
    if verdict is None:
        raise PermissionError(
            f"could not confirm that process {pid} is labctl's emulator; not signalled"
        )
    if not verdict:  # the pid now belongs to something else: the emulator is long gone
        remove_run_file(path, pid)
        return False
    _signal(pid, signal.SIGTERM)
    if not _wait_gone(pid, timeout):
        _signal(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
        _wait_gone(pid, _KILL_WAIT_SECONDS)
    remove_run_file(path, pid)  # the emulator removes it itself unless it was killed
    return True


# --- processes ----------------------------------------------------------------------------------
def pid_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie (an exited child not yet waited for)."""
    if pid <= 0:
        return False
    state = _proc_stat(pid)
    if state is not None:
        return state[0] not in ("Z", "X")
    if state is None and Path("/proc/self/stat").exists():
        return False  # /proc works here and has no entry for pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def is_emulator_process(pid: int, info: dict[str, Any], timeout: float = 1.0) -> bool | None:
    """Whether ``pid`` is the emulator the run file recorded; None when it cannot be told.

    Checked by the process start time (a reused pid has another), then the command line
    (``-m labctl.emulator`` or ``labctl ... emulator``), else by asking the compute port's
    health endpoint which pid serves it.
    """
    recorded = info.get("process_start")
    if recorded is not None and (now := _process_start(pid)) is not None and now != recorded:
        return False
    args = _cmdline(pid)
    if args is not None:
        return looks_like_emulator(args)
    served_by = _health_pid(info.get("compute_port"), timeout)
    return None if served_by is None else served_by == pid


def looks_like_emulator(args: list[str]) -> bool:
    """True for ``python -m labctl.emulator ...`` and ``labctl [opts] emulator start ...``."""
    if "labctl.emulator" in args or "labctl.emulator.__main__" in args:
        return True
    names = [Path(a).name for a in args]
    return any(n in ("labctl", "labctl.exe") for n in names) and "emulator" in args


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    except OSError:
        pass
    if sys.platform == "win32":
        return None
    try:  # macOS and BSDs: no /proc
        out = subprocess.run(
            ["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.split() if out.returncode == 0 and out.stdout.strip() else None


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (state first), or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # the name may hold spaces and parentheses


def _process_start(pid: int) -> int | None:
    """The process start time in clock ticks since boot (Linux), to detect a reused pid."""
    fields = _proc_stat(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def _health_pid(port: int | None, timeout: float) -> int | None:
    if not port:
        return None
    try:
        url = f"http://127.0.0.1:{port}/_emulator/health"
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            pid = json.loads(resp.read()).get("pid")
    except (OSError, ValueError):
        return None
    return pid if isinstance(pid, int) else None


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / _POLL_SECONDS) + 2):
        if not pid_alive(pid):
            return True
        if time.monotonic() >= deadline:
            break
        time.sleep(_POLL_SECONDS)
    return not pid_alive(pid)
