"""Run the real gcloud against an emulator, in an isolated config directory."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from labctl.emulator import Emulator
from tests._emulator_fixtures import gcloud_env

needs_gcloud = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed"),
]


class Gcloud:
    def __init__(self, emu: Emulator, config_dir: Path) -> None:
        self.env = gcloud_env(emu, config_dir)

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["gcloud", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if ok:
            assert proc.returncode == 0, proc.stderr
            # gcloud reports a failed aggregated list as a warning and still exits 0.
            assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--format=json").stdout)
