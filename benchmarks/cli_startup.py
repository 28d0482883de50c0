"""labctl vs gcloud, whole commands side by side: `--help`, and listing VMs on one local endpoint.

Run:  python benchmarks/cli_startup.py [--runs 10] [--vms 20]
Needs hyperfine (Debian package) and gcloud on PATH. Starts labctl's emulator on 127.0.0.1,
creates --vms VMs, then lets hyperfine alternate-warm and time each pair; prints medians and
labctl's time as a fraction of gcloud's (targets: --help <= 0.10x, vm list <= 0.50x).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from labctl.emulator import Emulator
from labctl.models import Provisioning, VmSpec

LABCTL = str(Path(sys.executable).with_name("labctl"))
PAIRS = [
    ("help", f"{LABCTL} --help", "gcloud --help", 0.10),
    (
        "list",
        f"{LABCTL} vm list --format json",
        "gcloud compute instances list --format json",
        0.50,
    ),
]


def populate(emu: Emulator, count: int) -> None:
    from labctl.providers.gcp import make_compute

    compute = make_compute(project="demo")
    for i in range(count):
        spec = VmSpec(
            name=f"bench-{i:03d}",
            zone="us-central1-c",
            machine_type="n1-standard-8",
            image_project="debian-cloud",
            image_family="debian-12",
            disk_size_gb=10,
            provisioning=Provisioning.SPOT,
            labels={"labctl-managed": "true"},
        )
        compute.create_vm(spec, request_id=str(uuid.uuid4()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--vms", type=int, default=20)
    args = parser.parse_args()
    for tool in ("hyperfine", "gcloud"):
        if not shutil.which(tool):
            print(f"{tool} not found on PATH", file=sys.stderr)
            return 2
    work = Path(tempfile.mkdtemp(prefix="labctl-bench-"))
    with Emulator(compute_port=0) as emu:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CLOUDSDK_", "GOOGLE_", "LABCTL_", "STORAGE_EMULATOR"))
        }
        env.update(emu.env(project="demo"))
        env.update(
            CLOUDSDK_CONFIG=str(work / "gcloud"),
            LABCTL_CONFIG_DIR=str(work / "labctl"),
            CLOUDSDK_CORE_DISABLE_PROMPTS="1",
            CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1",
            CLOUDSDK_CORE_CHECK_GCE_METADATA="false",
            GCE_METADATA_HOST="127.0.0.1:9",
            GCE_METADATA_IP="127.0.0.1:9",
        )
        os.environ.update(env)
        populate(emu, args.vms)
        rows = []
        for name, labctl_cmd, gcloud_cmd, target in PAIRS:
            out = work / f"{name}.json"
            subprocess.run(
                [
                    "hyperfine",
                    "-N",
                    "--warmup",
                    "2",
                    "--runs",
                    str(args.runs),
                    "--export-json",
                    str(out),
                    labctl_cmd,
                    gcloud_cmd,
                ],
                check=True,
                env=env,
                timeout=600,
                stdout=subprocess.DEVNULL,
            )
            results = json.loads(out.read_text())["results"]
            labctl_s, gcloud_s = (r["median"] for r in results)
            rows.append((name, labctl_s, gcloud_s, labctl_s / gcloud_s, target))
    shutil.rmtree(work, ignore_errors=True)
    print(f"{'command':8} {'labctl s':>9} {'gcloud s':>9} {'ratio':>7} {'target':>7}")
    for name, labctl_s, gcloud_s, ratio, target in rows:
        verdict = "ok" if ratio <= target else "MISSED"
        print(f"{name:8} {labctl_s:9.3f} {gcloud_s:9.3f} {ratio:6.2f}x {target:6.2f}x {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
