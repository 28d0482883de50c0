"""Ctrl-C and closed pipes on a real `labctl` process against the emulator."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from labctl.emulator import Emulator

pytestmark = pytest.mark.slow

LABCTL = [sys.executable, "-c", "from labctl.cli import main; main()"]


@pytest.fixture
def env(emulator: Emulator) -> Iterator[dict[str, str]]:
    environment = {**os.environ, **emulator.env(project="labctl-demo")}
    environment.pop("CLOUDSDK_AUTH_ACCESS_TOKEN_FILE", None)
    yield environment


def labctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LABCTL, *args], env=env, capture_output=True, text=True, timeout=120)


def wait_for(emu: Emulator, method: str, suffix: str, count: int = 1, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = [r for r in emu.requests if r["method"] == method and r["path"].endswith(suffix)]
        if len(seen) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {method} ...{suffix} within {timeout} s")


def interrupt(proc: subprocess.Popen[str]) -> tuple[int, str, float]:
    """SIGINT, then how it ended and how long it took to."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        _, stderr = proc.communicate(timeout=10)
    finally:
        proc.kill()
    return proc.returncode, stderr, time.monotonic() - sent


def test_ctrl_c_during_a_create_says_the_vm_may_still_be_created(
    emulator: Emulator, env: dict[str, str]
) -> None:
    emulator.set_faults({"operation_seconds": 30})
    proc = subprocess.Popen(
        [*LABCTL, "vm", "create", "int1", "--no-gpu"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(emulator, "POST", "/instances")
    code, stderr, took = interrupt(proc)
    assert code == 130, stderr
    assert took < 3
    assert "int1 may still be created: labctl vm show int1" in stderr
    assert "Traceback" not in stderr and len(stderr.strip().splitlines()) <= 3


def test_ctrl_c_during_a_batch_stop_exits_at_once_naming_what_is_in_flight(
    emulator: Emulator, env: dict[str, str]
) -> None:
    assert labctl(env, "vm", "create", "a", "b", "--no-gpu").returncode == 0
    emulator.set_faults({"operation_seconds": 30})
    proc = subprocess.Popen(
        [*LABCTL, "vm", "stop", "a", "b"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(emulator, "POST", "/stop", count=2)
    code, stderr, took = interrupt(proc)
    assert code == 130, stderr
    assert took < 3
    assert "a, b may still be stopped: labctl vm list" in stderr


def test_a_reader_that_goes_away_is_not_an_error(emulator: Emulator, env: dict[str, str]) -> None:
    names = [f"p{i}" for i in range(120)]
    assert labctl(env, "vm", "create", *names, "--no-gpu", "-q").returncode == 0
    command = " ".join(LABCTL[:2]) + f" '{LABCTL[2]}' vm list --format json | true"
    done = subprocess.run(
        ["bash", "-c", command + "; exit ${PIPESTATUS[0]}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 141), done.stderr
    assert done.stderr == ""
