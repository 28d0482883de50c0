"""Drive the emulator with realistic latency and operation durations: one VM vs a class of N.

Run:  python benchmarks/emulator_load.py [--vms 100] [--workers 50] [--op-seconds 2]
Creates one VM, then N VMs concurrently through labctl's GCP provider (real google-cloud-compute
over HTTP), against the in-process emulator, and prints the wall times and their ratio: with
concurrent inserts a class costs about one VM's time, not N times it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from labctl.emulator import Emulator
from labctl.models import Provisioning, VmSpec


def spec(name: str) -> VmSpec:
    return VmSpec(
        name=name,
        zone="us-central1-c",
        machine_type="n1-standard-8",
        image_project="debian-cloud",
        image_family="debian-12",
        disk_size_gb=10,
        provisioning=Provisioning.SPOT,
        labels={"labctl-managed": "true"},
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vms", type=int, default=100)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--op-seconds", type=float, default=2.0)
    parser.add_argument("--latency-ms", type=int, default=30)
    args = parser.parse_args()
    os.environ.update(
        GCE_METADATA_HOST="127.0.0.1:9",
        GCE_METADATA_IP="127.0.0.1:9",
        CLOUDSDK_CONFIG=tempfile.mkdtemp(prefix="labctl-bench-gcloud-"),
    )
    os.environ.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    with Emulator(compute_port=0) as emu:
        os.environ.update(emu.env(project="demo"))
        emu.set_faults({"operation_seconds": args.op_seconds, "latency_ms": args.latency_ms})
        from labctl.providers.gcp import make_compute

        compute = make_compute(project="demo")
        compute.create_vm(spec("warm-up"), request_id=str(uuid.uuid4()))  # imports, clients

        start = time.perf_counter()
        compute.create_vm(spec("one-vm"), request_id=str(uuid.uuid4()))
        one = time.perf_counter() - start

        names = [f"student-{i:03d}" for i in range(args.vms)]
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.workers) as pool:
            list(
                pool.map(lambda n: compute.create_vm(spec(n), request_id=str(uuid.uuid4())), names)
            )
        many = time.perf_counter() - start
        created = len(compute.list_vms()) - 2
    print(f"operation {args.op_seconds}s, latency {args.latency_ms}ms, {args.workers} workers")
    print(f"one VM:        {one:6.2f} s")
    print(f"{args.vms} VMs:       {many:6.2f} s  ({created} created)")
    print(f"ratio:         {many / one:6.2f}x one VM (sequential would be {args.vms}x)")
    return 0 if created == args.vms else 1


if __name__ == "__main__":
    raise SystemExit(main())
