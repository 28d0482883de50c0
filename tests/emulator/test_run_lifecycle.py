"""The emulator across processes: run file, status, stop by pid; and one-line bad-input errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.emulator import Emulator
from labctl.emulator.lifecycle import (
    EmulatorRunning,
    emulator_status,
    looks_like_emulator,
    pid_alive,
    port_answers,
    read_run_file,
    run_file_path,
    stop_emulator,
)

REPO = Path(__file__).parents[2]
START_SECONDS = 30.0


def run_emulator(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "labctl.emulator", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},  # LABCTL_CONFIG_DIR is the test's
    )


def wait_for_run_file(proc: subprocess.Popen[str]) -> dict[str, object]:
    deadline = time.monotonic() + START_SECONDS
    for _ in range(int(START_SECONDS / 0.05)):
        info = read_run_file()
        if info is not None or proc.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert info is not None, proc.stderr.read() if proc.stderr and proc.poll() is not None else ""
    return info


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[str]]:
    """A live process that is not an emulator."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], text=True)
    yield proc
    proc.kill()
    proc.wait(timeout=10)


def fake_run_file(pid: int, port: int = 9) -> Path:
    path = run_file_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "compute_port": port, "compute_url": "x"}))
    return path


@pytest.mark.slow
def test_started_emulator_is_seen_then_stopped_by_pid(tmp_path: Path) -> None:
    proc = run_emulator("--port", "0", "--storage-port", "0", "--project", "p1")
    try:
        info = wait_for_run_file(proc)
        assert info["pid"] == proc.pid and info["project"] == "p1"
        status = emulator_status()
        assert status is not None and status["running"] and not status["stale"]
        assert status["compute_answers"] and status["storage_answers"]
        assert status["problem"] is None
        env = status["env"]
        storage_url = env["STORAGE_EMULATOR_HOST"]
        assert env["CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE"] == f"{storage_url}/storage/v1/"
        compute_port, storage_port = status["compute_port"], status["storage_port"]
        # Requests that make gcp-storage-emulator log (a text response, an unknown method).
        urllib.request.urlopen(f"{storage_url}/", timeout=10).read()
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{storage_url}/storage/v1/b/x/acl", b"{}", timeout=10)
        with Emulator() as second, pytest.raises(EmulatorRunning, match=str(proc.pid)):
            second.write_run_file()  # one recorded emulator at a time

        assert stop_emulator(timeout=20) is True
        assert proc.wait(timeout=20) == 0  # SIGTERM: a clean stop, not a kill
        assert read_run_file() is None
        assert not port_answers("127.0.0.1", compute_port)
        assert not port_answers("127.0.0.1", storage_port)
        assert emulator_status() is None and stop_emulator() is False
        _, stderr = proc.communicate(timeout=10)
        # The terminal shows the emulator's own lines only, nothing per request.
        assert stderr.splitlines() == [
            f"Compute emulator on {status['compute_url']}; Ctrl-C to stop.",
            "Emulator stopped.",
        ]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_run_file_of_a_dead_process_is_stale_and_cleaned(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True)  # fmt: skip
    path = fake_run_file(int(done.stdout))
    status = emulator_status()
    assert status is not None and status["stale"] and not status["running"]
    assert "not running" in status["problem"]
    assert stop_emulator(timeout=1) is False
    assert not path.exists()


def test_a_pid_that_is_no_emulator_is_never_signalled(
    sleeper: subprocess.Popen[str],
) -> None:
    if not Path(f"/proc/{sleeper.pid}/cmdline").exists():
        pytest.skip("needs /proc to read the command line")
    path = fake_run_file(sleeper.pid)
    status = emulator_status()
    assert status is not None and status["stale"] and "not labctl's emulator" in status["problem"]
    assert stop_emulator(timeout=1) is False
    assert sleeper.poll() is None  # still running: nothing was sent to it
    assert not path.exists()


def test_stop_refuses_to_signal_this_process() -> None:
    fake_run_file(os.getpid())
    with pytest.raises(PermissionError):
        stop_emulator(timeout=1)


def test_emulator_command_lines() -> None:
    assert looks_like_emulator(["/usr/bin/python3", "-m", "labctl.emulator", "--port", "0"])
    assert looks_like_emulator(["/venv/bin/python", "/venv/bin/labctl", "-v", "emulator", "start"])
    assert looks_like_emulator(["python", "-m", "labctl", "emulator", "start"])
    assert not looks_like_emulator(["python", "-m", "pytest", "tests/emulator"])
    assert not looks_like_emulator(["/venv/bin/labctl", "vm", "list"])


def test_pid_alive_and_port_answers() -> None:
    assert pid_alive(os.getpid()) and not pid_alive(0)
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        assert port_answers("127.0.0.1", port, timeout=2)
    assert not port_answers("127.0.0.1", port, timeout=2)
    assert not port_answers("127.0.0.1", None)


def test_in_process_emulator_writes_and_removes_its_run_file() -> None:
    with Emulator(storage_port=0) as emu:
        path = emu.write_run_file("labctl-demo")
        info = read_run_file()
        assert info is not None and path == run_file_path()
        assert info["compute_url"] == emu.compute_url and info["storage_port"] == emu.storage_port
        assert info["env"] == emu.env("labctl-demo")
    assert not path.exists()


# --- bad inputs are one-line errors -------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{"compute_port": 70000}, {"storage_port": -1}])
def test_port_out_of_range(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match=r"port -?\d+ is out of range \(0-65535"):
        Emulator(**kwargs)


def test_faults_file_with_a_yaml_syntax_error(tmp_path: Path) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("latency_ms: 5\nstockouts: [\n  - zone: a\n")
    with pytest.raises(ValueError) as err:
        Emulator(faults_file=faults)
    assert str(err.value).startswith(f"{faults}:3:3: not valid YAML")  # the "-" in [...]
    assert "\n" not in str(err.value)


def test_faults_file_with_bad_json_and_bad_values(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text('{"latency_ms": 5,\n "stockouts": }')
    with pytest.raises(ValueError, match=rf"^{faults}:2:15: not valid JSON"):
        Emulator(faults_file=faults)
    faults.write_text('{"stockouts": 12}')
    with pytest.raises(ValueError, match=rf"^{faults}: "):
        Emulator(faults_file=faults)


def test_state_file_that_is_not_json(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"version": 1,\n"projects": {oops}}')
    with pytest.raises(ValueError, match=rf"^{state}:2:14: state file is not valid JSON"):
        Emulator(state_file=state).start()
    state.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not an emulator state"):
        Emulator(state_file=state).start()


def test_busy_port_names_the_address() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            Emulator(compute_port=port).start()
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            Emulator(storage_port=port).start()


def test_command_exits_2_with_one_line(tmp_path: Path) -> None:
    proc = run_emulator("--port", "70000", "--no-run-file")
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert stderr.splitlines() == [
        "error: compute port 70000 is out of range (0-65535; 0 picks a free port)"
    ]
