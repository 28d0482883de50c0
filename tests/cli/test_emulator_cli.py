"""`labctl emulator start|status|env|stop`: a real `labctl emulator start` process found by
the others through its run file; bad inputs are one line and exit 2; env refuses when nothing
answers; the compute server keeps a client that hangs up out of the terminal."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labctl.cli import app
from labctl.emulator.lifecycle import read_run_file, run_file_path

LABCTL = Path(sys.executable).with_name("labctl")  # the console script of this environment
POLLS = 200  # x 0.05 s: how long a started emulator may take to write its run file


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def started() -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """`labctl emulator start` on free ports, in its own process; its run file's record."""
    if not LABCTL.exists():
        pytest.skip("the labctl console script is not installed in this environment")
    proc = subprocess.Popen(
        [str(LABCTL), "emulator", "start", "--port", "0", "--storage-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        for _ in range(POLLS):
            info = read_run_file()
            if (info is not None and info["pid"] == proc.pid) or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert info is not None and info["pid"] == proc.pid, proc.poll()
        yield proc, info
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=30)


def test_start_status_env_stop(started: tuple[subprocess.Popen[str], dict[str, Any]]) -> None:
    proc, info = started
    runner = CliRunner()
    status = runner.invoke(app, ["emulator", "status", "--format", "json"])
    assert status.exit_code == 0, status.output
    record = json.loads(status.stdout)
    assert record["running"] is True and record["pid"] == proc.pid
    assert record["compute_url"] == info["compute_url"]

    env = runner.invoke(app, ["emulator", "env"])
    assert env.exit_code == 0, env.output
    assert f"export CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE={info['compute_url']}" in env.stdout
    storage = f"export CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE={info['storage_url']}/storage/v1/"
    assert storage in env.stdout
    assert f"export STORAGE_EMULATOR_HOST={info['storage_url']}" in env.stdout

    again = runner.invoke(app, ["emulator", "start", "--port", "0", "--storage-port", "0"])
    assert again.exit_code == 1
    assert f"an emulator is already running (pid {proc.pid}" in again.stderr
    assert "labctl emulator stop" in again.stderr

    stop = runner.invoke(app, ["emulator", "stop", "--format", "json"])
    assert stop.exit_code == 0, stop.output
    assert json.loads(stop.stdout) == {"stopped": True, "pid": proc.pid}
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "Traceback" not in err
    assert not run_file_path().exists()

    gone = runner.invoke(app, ["emulator", "status"])
    assert gone.exit_code == 1
    assert "no emulator is running" in gone.stderr


def test_env_and_status_refuse_when_nothing_runs() -> None:
    runner = CliRunner()
    env = runner.invoke(app, ["emulator", "env"])
    assert env.exit_code == 1
    assert env.stdout == ""
    assert "no emulator is running" in env.stderr
    assert "labctl emulator start" in env.stderr
    port = _closed_port()
    by_port = runner.invoke(app, ["emulator", "env", "--port", str(port)])
    assert by_port.exit_code == 1
    assert f"nothing answers on 127.0.0.1:{port} (--port)" in by_port.stderr
    stop = runner.invoke(app, ["emulator", "stop"])
    assert stop.exit_code == 0
    assert "no emulator was running" in stop.stderr


def test_env_for_an_emulator_on_given_ports(emulator: Any, storage_emulator: Any) -> None:
    result = CliRunner().invoke(
        app,
        [
            "emulator",
            "env",
            "--port",
            str(emulator.compute_port),
            "--storage-port",
            str(storage_emulator.port),
            "--project",
            "p1",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE"] == emulator.compute_url
    assert data["CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE"] == f"{storage_emulator.url}/storage/v1/"
    assert data["LABCTL_PROJECT"] == "p1"
    assert Path(data["CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"]).read_text().strip()  # gcloud needs one


def test_start_on_a_busy_port_is_one_line_exit_2(runner: CliRunner) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(
            app, ["emulator", "start", "--port", str(port), "--storage-port", "0"]
        )
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot listen on 127.0.0.1:{port}: ")
    assert "--port/--storage-port" in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("name", "text", "option", "says"),
    [
        (
            "faults.yaml",
            "quotas:\n  us-central1: [1\n",
            "--faults",
            "faults.yaml:3:1: not valid YAML",
        ),
        ("faults.yaml", "stockouts: 12\n", "--faults", "stockouts must be a list"),
        (
            "state.json",
            '{"projects": \n',
            "--state",
            "state.json:2:1: state file is not valid JSON",
        ),
    ],
)
def test_a_bad_faults_or_state_file_is_one_line_exit_2(
    runner: CliRunner, tmp_path: Path, name: str, text: str, option: str, says: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = runner.invoke(app, ["emulator", "start", "--port", "0", option, str(path)])
    assert result.exit_code == 2, result.output
    assert says in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not run_file_path().exists()


def test_the_compute_server_is_quiet_when_a_client_hangs_up(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from labctl.emulator.faults import Faults
    from labctl.emulator.server import ComputeService, make_server
    from labctl.emulator.state import State

    server = make_server(ComputeService(State(None), Faults({})), 0)
    try:
        for error in (BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset")):
            try:
                raise error
            except OSError:
                server.handle_error(None, ("127.0.0.1", 5555))
        assert capsys.readouterr().err == ""
        assert not [r for r in caplog.records if r.levelname != "DEBUG"]
        try:
            raise RuntimeError("a real bug")
        except RuntimeError:
            server.handle_error(None, ("127.0.0.1", 5555))
        assert "emulator error serving" in caplog.text
    finally:
        server.server_close()
