"""`labctl --help` and commands that need no cloud must not import google.cloud (over a second)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, sys
sys.argv = ["labctl", *json.loads(sys.argv[1])]
from labctl.cli import main
try:
    main()
except SystemExit:
    pass
heavy = sorted(
    m for m in sys.modules if m.startswith(("google.cloud", "google.api_core", "grpc", "paramiko"))
)
sys.stderr.write("\\nHEAVY=" + json.dumps(heavy) + "\\n")
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["vm", "--help"],
        ["vm", "create", "--help"],
        ["vm", "create", "Bad_Name"],
        ["vm", "create", "ok", "--spot", "--standard"],
        ["emulator", "--help"],
        ["tunnel", "--help"],
        ["ssh-key", "--help"],
        ["vm", "ssh", "--help"],
        ["bucket", "--help"],
        ["bucket", "create", "Bad_Name"],
        ["bucket", "ls", "nope"],
        ["cleanup", "--help"],
        ["cleanup", "--older-than", "soon"],
        ["cost", "--help"],
    ],
)
def test_no_cloud_library_is_imported(args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
    )
    marker = [line for line in proc.stderr.splitlines() if line.startswith("HEAVY=")]
    assert marker, proc.stderr
    assert json.loads(marker[-1][len("HEAVY=") :]) == []
