"""Setting up a class: `labctl class setup` for 100 and 1,000 students against one VM.

Run:  python benchmarks/class_setup.py [--students 100] [--big 1000] [--op-seconds 20]
                                        [--latency-ms 150] [--schedule] [--no-buckets]
Needs gcloud on PATH. On labctl's emulators (Compute with the given latency per request and
operation duration, Cloud Storage without latency), each contender on a freshly reset emulator:

  1. `labctl vm create one-vm --gpu` (the reference: one spot P100 VM);
  2. `gcloud compute instances create` with --students names (same shape, one zone);
  3. `labctl class setup` of --students students: VMs spread over 3 zones in 2 regions, one
     bucket each (unless --no-buckets), instance-level IAM on both; with --schedule, an
     instance schedule per region attached to every VM (one more operation per VM);
  4. the same for --big students (0 skips it).

Prints wall time, CPU and peak RSS of each process, and the ratios the issue sets:
class(--students) / one VM <= 1.5, class(--students) / gcloud <= 1.0,
class(--big) / one VM <= 2.0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from _common import LABCTL, Run, emulator_env, require, run

from labctl.emulator.storage import StorageEmulator

ZONES = '["us-central1-c", "us-central1-f", "us-east1-c"]'
IMAGE = ["--image-family", "common-cu129-ubuntu-2204-nvidia-580"]
IMAGE += ["--image-project", "deeplearning-platform-release"]


def class_file(work: Path, students: int, *, schedule: bool, buckets: bool) -> Path:
    roster = work / f"roster-{students}.csv"
    rows = ["email,name,role", *(f"student{i:04d}@uni.example,,student" for i in range(students))]
    roster.write_text("\n".join(rows) + "\n")
    ends = date.today() + timedelta(days=60)
    text = (
        f'[class]\ncourse = "bench"\nroster = "{roster.name}"\nends = {ends.isoformat()}\n'
        f"zones = {ZONES}\n\n[class.vm]\ngpu = true\nidle_shutdown_minutes = 30\n"
        f"max_run_hours = 6\n\n[class.bucket]\nper_student = {str(buckets).lower()}\n"
    )
    if schedule:
        text += '\n[class.schedule]\nstart = "0 9 * * 1"\nstop = "0 12 * * 1"\ntimezone = "UTC"\n'
    path = work / f"class-{students}.toml"
    path.write_text(text)
    return path


def gcloud_create(names: list[str]) -> list[str]:
    return [
        "gcloud",
        "compute",
        "instances",
        "create",
        *names,
        "--zone=us-central1-c",
        "--machine-type=n1-standard-8",
        "--accelerator=type=nvidia-tesla-p100,count=1",
        "--maintenance-policy=TERMINATE",
        "--provisioning-model=SPOT",
        *IMAGE,
        "--quiet",
    ]


def show(label: str, result: Run, reference: Run | None = None) -> None:
    ratio = f"  {result.wall / reference.wall:5.2f}x one VM" if reference else ""
    print(
        f"{label:<34} {result.wall:6.1f} s  cpu {result.cpu:5.1f} s  "
        f"peak {result.peak_mb:5.0f} MB{ratio}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--big", type=int, default=1000)
    parser.add_argument("--op-seconds", type=float, default=20.0)
    parser.add_argument("--latency-ms", type=int, default=150)
    parser.add_argument("--schedule", action="store_true")
    parser.add_argument("--no-buckets", action="store_true")
    args = parser.parse_args()
    require("gcloud")
    faults = {"operation_seconds": args.op_seconds, "latency_ms": args.latency_ms}
    work = Path(tempfile.mkdtemp(prefix="labctl-class-bench-"))
    options = {"schedule": args.schedule, "buckets": not args.no_buckets}
    storage = StorageEmulator(0).start()
    try:
        with emulator_env(**faults) as (emu, env):
            assert storage.url is not None
            env["STORAGE_EMULATOR_HOST"] = storage.url

            def fresh() -> None:
                emu.reset()
                storage.wipe()

            one = run([LABCTL, "vm", "create", "one-vm", "--gpu", "-q"], env)
            fresh()
            names = [f"gcloud-{i:04d}" for i in range(args.students)]
            gcloud = run(gcloud_create(names), env, timeout=1200)
            fresh()
            path = class_file(work, args.students, **options)
            small = run([LABCTL, "class", "setup", str(path), "--yes", "-q"], env, timeout=1200)
            fresh()
            big = None
            if args.big:
                path = class_file(work, args.big, **options)
                big = run([LABCTL, "class", "setup", str(path), "--yes", "-q"], env, timeout=1800)
    finally:
        storage.stop()
    what = "VMs, buckets, IAM" if not args.no_buckets else "VMs, IAM"
    what += ", schedules" if args.schedule else ""
    print(f"operations {args.op_seconds:g} s, latency {args.latency_ms} ms; class: {what}")
    show("labctl vm create (one VM)", one)
    show(f"gcloud instances create ({args.students})", gcloud, one)
    show(f"labctl class setup ({args.students})", small, one)
    if big is not None:
        show(f"labctl class setup ({args.big})", big, one)
    print(
        f"ratios: class {args.students} / one VM {small.wall / one.wall:.2f} (<= 1.5); "
        f"class {args.students} / gcloud {small.wall / gcloud.wall:.2f} (<= 1.0)"
        + (f"; class {args.big} / one VM {big.wall / one.wall:.2f} (<= 2.0)" if big else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
