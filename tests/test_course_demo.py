"""The README's main-job command: the course scenario end to end on the bundled emulator."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_course_demo_runs_end_to_end_and_leaves_nothing_running(tmp_path: Path) -> None:
    if not shutil.which("labctl", path=str(Path(sys.executable).parent)):
        pytest.skip("labctl is not installed in this interpreter's environment")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "course_demo.sh")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "us-central1-c: stockout; trying the next zone" in out
    assert "alice-gpu is RUNNING in us-central1-f" in out
    assert "checksums verified" in out
    assert "demo finished: nothing left running" in out
    assert list(tmp_path.iterdir()) == []  # the demo's work directory is gone
