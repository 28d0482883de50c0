"""labctl vs gcloud, whole commands side by side: `--help`, and listing VMs (table and JSON).

Run:  python benchmarks/cli_startup.py [--runs 10] [--vms 20] [--labctl PATH]
Needs gcloud on PATH. Starts labctl's emulator on 127.0.0.1 and creates --vms VMs, then runs
each pair alternately, round by round (so load on the machine hits both alike), and prints
medians and labctl's time as a fraction of gcloud's (targets: --help <= 0.10x, list <= 0.50x).
--labctl points at another installation's `labctl` (e.g. an older checkout's venv) to compare
versions on the same emulator.
"""

from __future__ import annotations

import argparse
import sys
import uuid

from _common import LABCTL, PROJECT, emulator_env, median, require, run

from labctl.models import Provisioning, VmSpec


def pairs(labctl: str, legacy: bool) -> list[tuple[str, list[str], list[str], float]]:
    gcloud_list = ["gcloud", "compute", "instances", "list"]
    # Every VM of the project, as gcloud lists them (older labctl had no --all: it listed all).
    labctl_list = [labctl, "vm", "list"] if legacy else [labctl, "vm", "list", "--all"]
    return [
        ("help", [labctl, "--help"], ["gcloud", "--help"], 0.10),
        ("list table", labctl_list, gcloud_list, 0.50),
        ("list json", [*labctl_list, "--format", "json"], [*gcloud_list, "--format", "json"], 0.50),
    ]


def populate(env: dict[str, str], count: int) -> None:
    import os

    os.environ.update(env)
    from labctl.providers.gcp import make_compute

    compute = make_compute(project=PROJECT)
    operations = [
        compute.insert_vm(
            VmSpec(
                name=f"bench-{i:03d}",
                zone="us-central1-c",
                machine_type="n1-standard-8",
                image_project="debian-cloud",
                image_family="debian-12",
                disk_size_gb=10,
                provisioning=Provisioning.SPOT,
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
    parser.add_argument("--legacy", action="store_true", help="that labctl predates --all")
    args = parser.parse_args()
    require("gcloud")
    rows = []
    with emulator_env() as (_emu, env):
        populate(env, args.vms)
        for name, labctl_cmd, gcloud_cmd, target in pairs(args.labctl, args.legacy):
            for argv in (labctl_cmd, gcloud_cmd):  # warm-up: caches, .pyc files
                run(argv, env)
            labctl_s, gcloud_s = [], []
            for _ in range(args.runs):
                labctl_s.append(run(labctl_cmd, env).wall)
                gcloud_s.append(run(gcloud_cmd, env).wall)
            ratio = median(labctl_s) / median(gcloud_s)
            rows.append((name, median(labctl_s), median(gcloud_s), ratio, target))
    print(f"labctl: {args.labctl}; {args.runs} alternating rounds; {args.vms} VMs; medians")
    print(f"{'command':11} {'labctl s':>9} {'gcloud s':>9} {'ratio':>7} {'target':>7}")
    for name, labctl_s, gcloud_s, ratio, target in rows:
        verdict = "ok" if ratio <= target else "MISSED"
        print(f"{name:11} {labctl_s:9.3f} {gcloud_s:9.3f} {ratio:6.2f}x {target:6.2f}x {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
