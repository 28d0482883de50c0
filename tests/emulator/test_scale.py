"""A class of 1,000 Spot P100 VMs: every insert first, then every wait at once, then one poll."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from labctl.emulator import Emulator
from tests.emulator._http import Api, vm_body

pytestmark = pytest.mark.slow

CLASS = 1000
ZONE = "us-central1-c"
OPS = f"projects/labctl-demo/zones/{ZONE}/operations"
MAX_WAITS = 30  # each wait returns at the latest after the server's cap


def test_a_class_of_1000_with_concurrent_waits(api: Api, emulator: Emulator) -> None:
    # Long enough that every operation is still running when its wait arrives.
    emulator.set_faults({"operation_seconds": 5.0, "wait_max_seconds": 5.0})

    def insert(i: int) -> dict[str, Any]:
        status, op = api.post(f"projects/labctl-demo/zones/{ZONE}/instances", vm_body(f"s{i:04d}"))
        assert status == 200, op  # the default quotas fit the class
        return op

    with ThreadPoolExecutor(8) as pool:
        ops = list(pool.map(insert, range(CLASS)))

    _, pending = api.get("projects/labctl-demo/aggregated/operations", filter="status != DONE")
    in_flight = pending["items"][f"zones/{ZONE}"].get("operations", [])
    assert 0 < len(in_flight) <= CLASS

    def wait(op: dict[str, Any]) -> str:
        for _ in range(MAX_WAITS):
            status, current = api.post(f"{OPS}/{op['name']}/wait")
            assert status == 200, current
            if current["status"] == "DONE":
                return str(current.get("error", "ok"))
        return "not done"

    with ThreadPoolExecutor(CLASS) as pool:  # one long poll per VM, all at once
        results = list(pool.map(wait, ops))
    assert results == ["ok"] * CLASS

    _, pending = api.get("projects/labctl-demo/aggregated/operations", filter="status != DONE")
    assert all("operations" not in scope for scope in pending["items"].values())
    _, region = api.get("projects/labctl-demo/regions/us-central1")
    usage = {q["metric"]: q["usage"] for q in region["quotas"]}
    # No preemptible quota granted (the default): the Spot class uses the standard quotas.
    assert usage["NVIDIA_P100_GPUS"] == CLASS
    assert usage["CPUS"] == 8 * CLASS
