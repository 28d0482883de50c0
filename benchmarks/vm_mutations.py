"""What a VM mutation costs: one `vm create` (CPU, peak memory), and deleting 20 VMs vs gcloud.

Run:  python benchmarks/vm_mutations.py [--runs 3] [--vms 20] [--labctl PATH] [--legacy]
Needs gcloud on PATH. On labctl's emulator (127.0.0.1) with 150 ms latency per request:
  1. `labctl vm create` of a CPU VM with 0.5 s operations, --runs times: median wall, CPU
     (user+system) and peak RSS of the process (targets: <= 1.0 s CPU, <= 100 MB);
  2. with 20 s operations, --vms VMs deleted by `labctl vm delete N1 N2 ... --yes` and by
     `gcloud compute instances delete N1 N2 ... --quiet`, alternating round by round (each
     round recreates the VMs first); medians and labctl's time as a fraction of gcloud's
     (target <= 1.0x).
--labctl/--legacy time another installation (e.g. an older checkout's venv) the same way.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid

from _common import LABCTL, PROJECT, emulator_env, median, require, run

from labctl.models import Provisioning, VmSpec

ZONE = "us-central1-c"


def create_quietly(env: dict[str, str], names: list[str]) -> None:
    """The VMs a delete round needs, made through the provider (not timed)."""
    os.environ.update(env)
    from labctl.providers.gcp import make_compute

    compute = make_compute(project=PROJECT)
    operations = [
        compute.insert_vm(
            VmSpec(n, ZONE, "n1-standard-8", "debian-cloud", "debian-12", 10, Provisioning.SPOT),
            request_id=str(uuid.uuid4()),
        )
        for n in names
    ]
    for operation in operations:
        compute.wait(operation)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--vms", type=int, default=20)
    parser.add_argument("--labctl", default=LABCTL)
    parser.add_argument("--legacy", action="store_true", help="that labctl uses project demo")
    args = parser.parse_args()
    require("gcloud")
    with emulator_env(latency_ms=150, operation_seconds=0.5) as (emu, env):
        creates = []
        for i in range(args.runs + 1):  # the first one warms caches and is not counted
            name = f"create-{i}"
            creates.append(run([args.labctl, "vm", "create", name, "--no-gpu", "-q"], env))
        creates = creates[1:]
        emu.set_faults({"latency_ms": 150, "operation_seconds": 20})
        labctl_s, gcloud_s = [], []
        for r in range(args.runs):
            names = [f"del-{r}-{i:02d}" for i in range(args.vms)]
            create_quietly(env, names)
            labctl_s.append(run([args.labctl, "vm", "delete", *names, "--yes", "-q"], env).wall)
            names = [f"gdel-{r}-{i:02d}" for i in range(args.vms)]
            create_quietly(env, names)
            gcloud = ["gcloud", "compute", "instances", "delete", *names, f"--zone={ZONE}"]
            gcloud_s.append(run([*gcloud, "--quiet"], env).wall)
    print(f"labctl: {args.labctl}; 150 ms latency; medians of {args.runs}")
    print(
        f"vm create: {median([c.wall for c in creates]):.2f} s wall, "
        f"{median([c.cpu for c in creates]):.2f} s CPU, "
        f"{median([c.peak_mb for c in creates]):.0f} MB peak (targets 1.0 s CPU, 100 MB)"
    )
    ratio = median(labctl_s) / median(gcloud_s)
    print(
        f"delete {args.vms} VMs (20 s operations): labctl {median(labctl_s):.1f} s, "
        f"gcloud {median(gcloud_s):.1f} s, ratio {ratio:.2f}x (target <= 1.0x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
