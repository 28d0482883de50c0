"""Shared by the benchmarks: an isolated environment on the emulator, timed child processes."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from labctl.emulator import Emulator

PROJECT = "labctl-demo"
LABCTL = str(Path(sys.executable).with_name("labctl"))


@dataclass(frozen=True)
class Run:
    """One child process: wall seconds, CPU seconds (user + system) and peak RSS in MB."""

    wall: float
    cpu: float
    peak_mb: float
    returncode: int


def run(argv: Sequence[str], env: dict[str, str], *, timeout: float = 600) -> Run:
    """Run a command; its own CPU time and peak memory come from wait4's rusage."""
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(" ".join(argv))
        time.sleep(0.005)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{' '.join(argv)} exited {code}: {stderr[-500:]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


@contextmanager
def emulator_env(**faults: object) -> Iterator[tuple[Emulator, dict[str, str]]]:
    """An emulator on 127.0.0.1 and the environment that points labctl and gcloud at it,
    with nothing from this machine's Google or labctl setup."""
    work = Path(tempfile.mkdtemp(prefix="labctl-bench-"))
    try:
        with Emulator(compute_port=0) as emu:
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("CLOUDSDK_", "GOOGLE_", "LABCTL_", "STORAGE_EMULATOR"))
            }
            env.update(emu.env(project=PROJECT))
            env.update(
                CLOUDSDK_CONFIG=str(work / "gcloud"),
                LABCTL_CONFIG_DIR=str(work / "labctl"),
                CLOUDSDK_CORE_DISABLE_PROMPTS="1",
                CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1",
                CLOUDSDK_CORE_CHECK_GCE_METADATA="false",
                GCE_METADATA_HOST="127.0.0.1:9",
                GCE_METADATA_IP="127.0.0.1:9",
            )
            if faults:
                emu.set_faults(dict(faults))
            yield emu, env
    finally:
        shutil.rmtree(work, ignore_errors=True)


def require(*tools: str) -> None:
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        raise SystemExit(f"not on PATH: {', '.join(missing)}")
