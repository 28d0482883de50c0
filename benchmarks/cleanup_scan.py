"""The cleanup scan at class scale: `labctl cleanup --dry-run` vs a gcloud shell loop.

Run:  .venv/bin/python benchmarks/cleanup_scan.py [--instances 1000] [--extra-disks 200]
      [--latency-ms 50] [--rounds 3]
Needs gcloud on PATH. On labctl's emulator (127.0.0.1), spread over all 22 zones of its
catalog: --instances VMs (every other one stopped; the running ones report
labctl/last-active, as the on-VM agent does), one boot disk each plus --extra-disks detached
disks (1,200 disks by default), 20 reserved addresses and 30 snapshots; then every request
gets --latency-ms. Populated with bulkInsert (one request per zone) and direct inserts before
the latency is switched on; only the reads are timed.

Contenders, alternating round by round, as whole processes:
  1. `labctl cleanup --dry-run` (instances, disks, addresses, snapshots, firewall rules, and
     one guest-attribute read per running labctl VM for the idle rule);
  2. the same with the idle rule off (LABCTL_CLEANUP__IDLE_MINUTES=0): the lists only;
  3. `gcloud compute instances list; disks list; addresses list; snapshots list` in one
     shell loop (what a person scripts to see the same things).
Prints the median wall time and the emulator's request count of each, and the ratios.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _common import LABCTL, PROJECT, emulator_env, median, require, run

from labctl import catalog
from labctl.emulator import Emulator

LABELS = {"labctl-managed": "true", "labctl-course": "cloud-course", "labctl-owner": "bench"}
GCLOUD_LOOP = (
    "for what in instances disks addresses snapshots; do "
    "gcloud compute $what list >/dev/null || exit 1; done"
)


def post(emu: Emulator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    import json
    import urllib.request

    request = urllib.request.Request(
        emu.compute_url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return dict(json.load(answer))


def instance_properties(zone: str) -> dict[str, Any]:
    props: dict[str, Any] = {
        "machineType": "n1-standard-8",
        "disks": [
            {
                "boot": True,
                "autoDelete": True,
                "initializeParams": {
                    "sourceImage": "projects/deeplearning-platform-release/global/images/"
                    "family/common-cu129-ubuntu-2204-nvidia-580",
                    "diskSizeGb": "100",
                    "labels": LABELS,
                },
            }
        ],
        "networkInterfaces": [{"accessConfigs": [{"name": "external-nat"}]}],
        "labels": LABELS,
        "scheduling": {
            "onHostMaintenance": "TERMINATE",
            "provisioningModel": "SPOT",
            "instanceTerminationAction": "STOP",
            "automaticRestart": False,
        },
    }
    if zone in catalog.P100_ZONES:
        props["guestAccelerators"] = [
            {"acceleratorType": "nvidia-tesla-p100", "acceleratorCount": 1}
        ]
    return props


def populate(emu: Emulator, instances: int, extra_disks: int) -> None:
    """Bulk inserts per zone; then stop every other VM, add disks, addresses and snapshots."""
    base = f"projects/{PROJECT}"
    zones = sorted(catalog.ZONES)
    per_zone = [instances // len(zones) + (i < instances % len(zones)) for i in range(len(zones))]
    names: list[tuple[str, str]] = []
    for zone, count in zip(zones, per_zone, strict=True):
        if not count:
            continue
        body = {
            "count": count,
            "namePattern": f"lab-{zone}-####",
            "instanceProperties": instance_properties(zone),
        }
        post(emu, f"{base}/zones/{zone}/instances/bulkInsert", body)
        names += [(zone, f"lab-{zone}-{n:04d}") for n in range(1, count + 1)]
    stopped, running = names[1::2], names[0::2]
    active = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for zone, name in running:
        emu.set_guest_attribute(PROJECT, zone, name, "labctl/last-active", active)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda zn: post(emu, f"{base}/zones/{zn[0]}/instances/{zn[1]}/stop", {}), stopped
            )
        )
        disks = [(zones[i % len(zones)], f"data-{i:04d}") for i in range(extra_disks)]
        list(
            pool.map(
                lambda zd: post(
                    emu,
                    f"{base}/zones/{zd[0]}/disks",
                    {"name": zd[1], "sizeGb": "50", "labels": LABELS},
                ),
                disks,
            )
        )
    for i in range(20):
        region = sorted(catalog.REGIONS)[i % len(catalog.REGIONS)]
        post(emu, f"{base}/regions/{region}/addresses", {"name": f"ip-{i:02d}", "labels": LABELS})
    for i, (zone, disk) in enumerate(disks[:30]):
        post(
            emu,
            f"{base}/zones/{zone}/disks/{disk}/createSnapshot",
            {"name": f"snap-{i:02d}", "labels": LABELS},
        )


def timed(argv: list[str], env: dict[str, str], emu: Emulator) -> tuple[float, int]:
    emu.clear_requests()
    wall = run(argv, env).wall
    return wall, len(emu.requests)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--extra-disks", type=int, default=200)
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    require("gcloud")
    kinds = [
        a for k in ("instance", "disk", "address", "snapshot", "firewall") for a in ("--kind", k)
    ]
    labctl = [LABCTL, "cleanup", "--dry-run", "-q", *kinds]
    with emulator_env(operation_seconds=0) as (emu, env):
        started = time.perf_counter()
        populate(emu, args.instances, args.extra_disks)
        print(f"populated in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        emu.set_faults({"operation_seconds": 0, "latency_ms": args.latency_ms})
        lists_only = {**env, "LABCTL_CLEANUP__IDLE_MINUTES": "0"}
        contenders = {
            "labctl cleanup --dry-run": (labctl, env),
            "  the same, idle rule off": (labctl, lists_only),
            "gcloud loop (4 lists)": (["bash", "-c", GCLOUD_LOOP], env),
        }
        results: dict[str, list[tuple[float, int]]] = {name: [] for name in contenders}
        for _ in range(args.rounds):
            for name, (argv, environment) in contenders.items():
                results[name].append(timed(argv, environment, emu))
        shown = [a for a in labctl if a != "-q"]
        check = subprocess.run(shown, env=env, capture_output=True, text=True, timeout=600)
    zones = len(catalog.ZONES)
    print(
        f"{args.instances} instances, {args.instances + args.extra_disks} disks, 20 addresses, "
        f"30 snapshots in {zones} zones; {args.latency_ms} ms per request; "
        f"median of {args.rounds} rounds"
    )
    medians = {name: median([w for w, _ in runs]) for name, runs in results.items()}
    for name, runs in results.items():
        print(f"{name:28s} {medians[name]:6.2f} s  {runs[-1][1]:5d} requests")
    gcloud = medians["gcloud loop (4 lists)"]
    print(
        f"labctl / gcloud: {medians['labctl cleanup --dry-run'] / gcloud:.2f}x full scan, "
        f"{medians['  the same, idle rule off'] / gcloud:.2f}x lists only"
    )
    print("labctl's plan: " + "; ".join(check.stderr.strip().splitlines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
