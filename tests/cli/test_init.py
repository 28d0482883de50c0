"""`labctl init` on the emulator: answers from flags, proposals or prompts; a config file that
keeps what it had; labctl's key; doctor at the end."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from labctl.cli import app
from labctl.cli._app import AppContext
from labctl.config import config_dir, user_config_file
from labctl.emulator import Emulator
from labctl.emulator.storage import StorageEmulator
from labctl.providers import registry
from labctl.ssh.keys import default_key_path


@pytest.fixture
def on_emulator(
    emulator: Emulator, storage_emulator: StorageEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    """The emulator's exports, except the project: init is what sets it."""
    for key, value in emulator.env().items():
        if "PROJECT" not in key:
            monkeypatch.setenv(key, value)
    yield emulator


def init(runner: CliRunner, *args: str, input: str | None = None) -> Result:
    return runner.invoke(
        app, ["init", *args], input=input, obj=AppContext(providers=registry.gcp())
    )


def test_flags_and_yes_write_the_user_config_make_the_key_and_run_doctor(
    on_emulator: Emulator, runner: CliRunner
) -> None:
    flags = ["--project", "labctl-demo", "--course", "cs-442", "--zone", "us-east1-c"]
    result = init(runner, *flags, "--idle-minutes", "45", "--yes", "--format", "json")
    assert result.exit_code == 0, result.output
    written = tomllib.loads(user_config_file().read_text())
    assert written == {
        "gcp": {"project": "labctl-demo"},
        "course": {"name": "cs-442", "zone": "us-east1-c", "idle_shutdown_minutes": 45},
    }
    assert default_key_path(config_dir()).stat().st_mode & 0o777 == 0o600
    data = json.loads(result.stdout)
    assert data["config_file"] == str(user_config_file())
    assert data["ssh_key"]["fingerprint"].startswith("SHA256:")
    checks = {r["check"]: r for r in data["doctor"]}
    assert checks["project"]["detail"] == "labctl-demo (from labctl settings)"
    # A project without preemptible quota counts spot GPUs in the standard one.
    assert checks["gpu-region-quota"]["detail"].startswith("NVIDIA_P100_GPUS in us-east1")
    assert checks["ssh-key"]["status"] == "OK"


def test_prompts_propose_what_gcloud_says_and_enter_takes_it(
    on_emulator: Emulator, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDSDK_CORE_PROJECT", "labctl-demo")
    monkeypatch.setenv("CLOUDSDK_COMPUTE_ZONE", "us-west1-b")
    result = init(runner, input="\nml-101\n\n0\n")
    assert result.exit_code == 0, result.output
    assert "Google Cloud project id (from CLOUDSDK_CORE_PROJECT) [labctl-demo]: " in result.stderr
    assert "Default zone (from gcloud config) [us-west1-b]: " in result.stderr
    written = tomllib.loads(user_config_file().read_text())
    assert written["course"] == {"name": "ml-101", "zone": "us-west1-b", "idle_shutdown_minutes": 0}
    assert result.stdout.splitlines()[0].startswith("OK    credentials")  # data only on stdout


def test_local_writes_the_course_folder_file_and_keeps_its_other_settings(
    on_emulator: Emulator, runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "labctl.toml").write_text('[course]\nmachine_type = "n1-standard-4"\n')
    result = init(runner, "--project", "labctl-demo", "--local", "--yes")
    assert result.exit_code == 0, result.output
    written = tomllib.loads((tmp_path / "labctl.toml").read_text())
    assert written["course"]["machine_type"] == "n1-standard-4"
    assert written["gcp"]["project"] == "labctl-demo"
    assert not user_config_file().exists()


def test_a_bad_zone_is_exit_2_and_writes_nothing(on_emulator: Emulator, runner: CliRunner) -> None:
    result = init(runner, "--project", "labctl-demo", "--zone", "moon-1", "--yes")
    assert result.exit_code == 2
    assert "course.zone: does not look like a zone" in result.stderr
    assert not user_config_file().exists()


def test_yes_without_a_project_anywhere_asks_for_the_flag(
    on_emulator: Emulator, runner: CliRunner
) -> None:
    result = init(runner, "--yes")
    assert result.exit_code == 2
    assert "pass --project" in result.stderr


def test_no_answer_on_stdin_is_one_line(on_emulator: Emulator, runner: CliRunner) -> None:
    result = init(runner, input="")
    assert result.exit_code == 2
    assert "no answer for google cloud project id" in result.stderr
