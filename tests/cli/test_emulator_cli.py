"""`labctl emulator env`, and the errors of `labctl emulator start` (the demo runs it)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from typer.testing import CliRunner

from labctl.cli import app


def test_env_prints_exports_for_gcloud_and_labctl(runner: CliRunner) -> None:
    result = runner.invoke(app, ["emulator", "env", "--port", "8111", "--project", "p1"])
    assert result.exit_code == 0, result.stderr
    assert "export CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE=http://127.0.0.1:8111/compute/v1/" in (
        result.stdout
    )
    data = json.loads(
        runner.invoke(app, ["emulator", "env", "--port", "8111", "--format", "json"]).stdout
    )
    assert data["LABCTL_PROJECT"] == "labctl-demo"
    assert data["STORAGE_EMULATOR_HOST"] == "http://127.0.0.1:9023"
    assert Path(data["CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"]).read_text().strip()  # gcloud needs one


def test_start_on_a_busy_port_is_one_line_exit_1(runner: CliRunner) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = runner.invoke(
            app, ["emulator", "start", "--port", str(port), "--storage-port", "0"]
        )
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.output


def test_start_with_a_bad_faults_file_is_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("stockouts: 12\n")
    result = runner.invoke(app, ["emulator", "start", "--port", "0", "--faults", str(faults)])
    assert result.exit_code == 2, result.output
    assert str(faults) in result.stderr
