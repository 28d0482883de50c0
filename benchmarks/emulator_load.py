"""Creating many VMs: one `labctl vm create` with N names vs N parallel processes vs one VM.

Run:  python benchmarks/emulator_load.py [--vms 20] [--op-seconds 20] [--latency-ms 150]
On labctl's emulator (127.0.0.1). Times, as whole commands: one VM; the same N VMs named in
one `labctl vm create` (the batch engine: every insert first, then every wait); and N
`labctl vm create` processes started at once (what a shell loop with `&` does). Prints wall
time and summed peak memory of each, and each as a multiple of one VM.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from _common import LABCTL, emulator_env, run


def parallel(names: list[str], env: dict[str, str]) -> tuple[float, float]:
    """N processes at once: wall time and the sum of their peak RSS (MB)."""
    import os

    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [LABCTL, "vm", "create", n, "--no-gpu", "-q"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in names
    ]
    peak = 0.0
    for proc in procs:
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"a parallel create failed ({proc.args})")
        peak += usage.ru_maxrss / 1024
    return time.perf_counter() - start, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--vms", type=int, default=20)
    parser.add_argument("--op-seconds", type=float, default=20.0)
    parser.add_argument("--latency-ms", type=int, default=150)
    args = parser.parse_args()
    faults = {"operation_seconds": args.op_seconds, "latency_ms": args.latency_ms}
    with emulator_env(**faults) as (_emu, env):
        one = run([LABCTL, "vm", "create", "one-vm", "--no-gpu", "-q"], env)
        names = [f"batch-{i:03d}" for i in range(args.vms)]
        batch = run([LABCTL, "vm", "create", *names, "--no-gpu", "-q"], env)
        names = [f"proc-{i:03d}" for i in range(args.vms)]
        procs_wall, procs_mb = parallel(names, env)
    print(f"operations {args.op_seconds:g} s, latency {args.latency_ms} ms, {args.vms} VMs")
    print(f"one VM:                 {one.wall:6.1f} s  {one.peak_mb:6.0f} MB")
    print(
        f"one command, {args.vms} names:  {batch.wall:6.1f} s  {batch.peak_mb:6.0f} MB  "
        f"({batch.wall / one.wall:.2f}x one VM)"
    )
    print(
        f"{args.vms} processes at once: {procs_wall:6.1f} s  {procs_mb:6.0f} MB  "
        f"({procs_wall / one.wall:.2f}x one VM)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
