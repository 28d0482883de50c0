"""labctl vs gcloud (and vs another labctl), whole commands: `--help`, and listing VMs.

Run:  python benchmarks/cli_startup.py [--runs 10] [--vms 20] [--baseline PATH [--legacy]]
Needs gcloud on PATH. Starts labctl's emulator on 127.0.0.1 and creates --vms VMs, then runs
each command with every tool in turn, round by round (so load on the machine hits all alike),
and prints medians: labctl's time as a fraction of gcloud's (targets: --help <= 0.10x, list
<= 0.50x), and with --baseline (another installation's `labctl`, e.g. an older checkout's venv)
this labctl's time as a fraction of that one's. `vm list` is timed as a table (the default) and
as JSON. Both labctl trees get their bytecode compiled first: with PYTHONDONTWRITEBYTECODE set,
an editable install would otherwise compile every module on every run.
--legacy: the baseline predates `vm list --all` (it listed every VM without it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import uuid
from pathlib import Path

from _common import LABCTL, PROJECT, emulator_env, median, require, run

from labctl.models import Provisioning, VmSpec

TARGETS = {"help": 0.10, "list table": 0.50, "list json": 0.50}


def commands(labctl: str, legacy: bool) -> dict[str, list[str]]:
    listing = [labctl, "vm", "list"] if legacy else [labctl, "vm", "list", "--all"]
    return {
        "help": [labctl, "--help"],
        "list table": listing,
        "list json": [*listing, "--format", "json"],
    }


GCLOUD = {
    "help": ["gcloud", "--help"],
    "list table": ["gcloud", "compute", "instances", "list"],
    "list json": ["gcloud", "compute", "instances", "list", "--format", "json"],
}


def compile_bytecode(labctl: str) -> None:
    """Compile the labctl package that `labctl` (a console script) runs."""
    interpreter = Path(labctl).read_text().splitlines()[0].removeprefix("#!").strip()
    where = "import labctl, os; print(os.path.dirname(labctl.__file__))"
    package = subprocess.run(
        [interpreter, "-c", where], capture_output=True, text=True, check=True, cwd="/"
    ).stdout.strip()
    subprocess.run([interpreter, "-m", "compileall", "-q", package], check=True)


def populate(env: dict[str, str], count: int) -> None:
    import os

    os.environ.update(env)
    from labctl.providers.gcp import make_compute

    compute = make_compute(project=PROJECT)
    spec = VmSpec("x", "us-central1-c", "n1-standard-8", "debian-cloud", "debian-12", 10)
    operations = [
        compute.insert_vm(
            VmSpec(
                f"bench-{i:03d}",
                spec.zone,
                spec.machine_type,
                spec.image_project,
                spec.image_family,
                10,
                Provisioning.SPOT,
                labels={"labctl-managed": "true"},
            ),
            request_id=str(uuid.uuid4()),
        )
        for i in range(count)
    ]
    for operation in operations:
        compute.wait(operation)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--vms", type=int, default=20)
    parser.add_argument("--labctl", default=LABCTL, help="the labctl executable to time")
    parser.add_argument("--baseline", help="another labctl executable to compare with")
    parser.add_argument("--legacy", action="store_true", help="the baseline predates --all")
    args = parser.parse_args()
    require("gcloud")
    tools = {"labctl": commands(args.labctl, False), "gcloud": GCLOUD}
    if args.baseline:
        tools["baseline"] = commands(args.baseline, args.legacy)
    for name in ("labctl", "baseline"):
        if name in tools:
            compile_bytecode(tools[name]["help"][0])
    times: dict[tuple[str, str], list[float]] = {}
    with emulator_env() as (_emu, env):
        populate(env, args.vms)
        for command in TARGETS:
            for tool in tools.values():  # warm-up: caches
                run(tool[command], env)
            for _ in range(args.runs):
                for name, tool in tools.items():
                    times.setdefault((name, command), []).append(run(tool[command], env).wall)
    print(f"{args.runs} alternating rounds, {args.vms} VMs, medians in seconds")
    print(f"labctl: {args.labctl}" + (f"; baseline: {args.baseline}" if args.baseline else ""))
    header = f"{'command':11} {'labctl':>7} {'gcloud':>7} {'vs gcloud':>9} {'target':>7}"
    print(header + ("  baseline  vs baseline" if args.baseline else ""))
    for command, target in TARGETS.items():
        mine, theirs = median(times[("labctl", command)]), median(times[("gcloud", command)])
        line = f"{command:11} {mine:7.3f} {theirs:7.3f} {mine / theirs:8.2f}x {target:6.2f}x"
        if args.baseline:
            base = median(times[("baseline", command)])
            line += f"  {base:8.3f}  {mine / base:10.2f}x"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
