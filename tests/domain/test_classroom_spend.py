"""Spend from labels and Compute's timestamps: it survives stop and start."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from labctl.classroom.spend import budget_level, record_run, run_seconds, spend
from labctl.models import Gpu, Provisioning, Vm, VmState
from labctl.pricing import load_prices

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def vm(**kw: object) -> Vm:
    values: dict[str, object] = {
        "name": "cc-ana",
        "zone": "us-central1-c",
        "id": "1",
        "state": VmState.RUNNING,
        "status": "RUNNING",
        "machine_type": "n1-standard-8",
        "provisioning": Provisioning.SPOT,
        "gpu": Gpu("nvidia-tesla-p100", 1),
        "created": T0,
        "last_started": T0,
    }
    values.update(kw)
    return Vm(**values)  # type: ignore[arg-type]


def test_runs_add_up_across_stop_and_start() -> None:
    running = vm()
    assert run_seconds(running, T0 + timedelta(hours=2)) == 7200
    stopped = replace(running, state=VmState.STOPPED, last_stopped=T0 + timedelta(hours=3))
    assert run_seconds(stopped, T0 + timedelta(days=1)) == 3 * 3600  # not yet in the labels
    labels = record_run(stopped)
    assert labels == {"labctl-run-seconds": "10800", "labctl-run-counted": "20261102-090000"}
    recorded = replace(stopped, labels=labels)
    assert record_run(recorded) is None  # counted once
    assert run_seconds(recorded, T0 + timedelta(days=1)) == 10800
    restarted = replace(
        recorded, state=VmState.RUNNING, last_started=T0 + timedelta(days=7), last_stopped=None
    )
    assert run_seconds(restarted, T0 + timedelta(days=7, hours=1)) == 4 * 3600


def test_spend_prices_the_run_and_the_disk() -> None:
    now = T0 + timedelta(hours=10)
    spent = spend(vm(), load_prices(), now, disk_gb=100)
    assert spent.hours == 10
    assert spent.compute_usd == pytest.approx(10 * 0.80786, abs=0.01)
    assert spent.disk_usd == pytest.approx(100 * 0.04 * 10 / 730, abs=0.01)
    assert not spent.approximate
    assert spend(vm(zone="us-east1-c"), load_prices(), now, disk_gb=100).approximate


def test_budget_levels() -> None:
    assert budget_level(10, 50) is None
    assert budget_level(25, 50) == 0.5
    assert budget_level(46, 50) == 0.9
    assert budget_level(60, 50) == 1.0
    assert budget_level(60, None) is None
