"""The price table: every price has a source and a date; unknown is never $0."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from labctl.models import Bucket, Disk, Gpu, Provisioning, Vm, VmState
from labctl.pricing import Estimate, load_prices, total

PRICES = load_prices()


def vm(state: VmState = VmState.RUNNING, **kw: object) -> Vm:
    values: dict[str, object] = {
        "name": "a",
        "zone": "us-central1-c",
        "id": "1",
        "state": state,
        "status": "RUNNING" if state is VmState.RUNNING else "TERMINATED",
        "machine_type": "n1-standard-8",
        "provisioning": Provisioning.SPOT,
        "gpu": Gpu("nvidia-tesla-p100", 1),
        "external_ip": "203.0.113.5",
        "created": datetime(2026, 1, 1, tzinfo=UTC),
    }
    values.update(kw)
    return Vm(**values)  # type: ignore[arg-type]


def test_every_section_names_its_public_source_and_date() -> None:
    for kind, source in PRICES.sources.items():
        assert source["source"] and source["date"], kind
        assert source["date"] <= PRICES.date
    assert PRICES.sources["disks"]["source"].startswith("https://cloud.google.com/")


def test_running_spot_gpu_vm_as_before() -> None:
    estimate = PRICES.vm_estimate(vm())
    assert estimate.usd_per_hour == pytest.approx(0.10446 + 0.7034)
    assert not estimate.approximate and str(estimate) == "$0.81/h"
    assert estimate.usd_per_month == pytest.approx(0.80786 * 730, abs=0.01)


def test_a_gpu_without_a_price_is_unknown_never_zero() -> None:
    estimate = PRICES.vm_estimate(vm(gpu=Gpu("nvidia-tesla-a100", 1)))
    assert estimate.usd_per_hour is None and estimate.usd_per_month is None
    assert str(estimate) == "unknown (no price for nvidia-tesla-a100)"
    assert estimate.monthly() == "unknown"
    # a sum with an unknown part is unknown too
    assert (estimate + Estimate(1.0)).usd_per_hour is None
    assert total([Estimate(1.0), estimate]).missing == ("nvidia-tesla-a100",)


def test_a_region_without_prices_uses_the_default_region_marked_approximate() -> None:
    estimate = PRICES.vm_estimate(vm(zone="asia-east1-a"))
    assert estimate.approximate and str(estimate).startswith("~$0.81")


def test_a_stopped_vm_costs_its_disks() -> None:
    disk = Disk("a", "us-central1-c", 100, ("a",), type="pd-balanced")
    assert PRICES.vm_estimate(vm(VmState.STOPPED)).usd_per_hour == 0.0
    stopped = PRICES.vm_estimate(vm(VmState.STOPPED), [disk])
    assert stopped.usd_per_month == pytest.approx(10.0)  # 100 GB x $0.10 per GB-month
    running = PRICES.vm_estimate(vm(), [disk])
    assert running.usd_per_month == pytest.approx(0.80786 * 730 + 10.0, abs=0.01)


@pytest.mark.parametrize(
    ("disk_type", "monthly"), [("pd-standard", 8.0), ("pd-balanced", 20.0), ("pd-ssd", 34.0)]
)
def test_disks_per_gb_month_by_type(disk_type: str, monthly: float) -> None:
    disk = Disk("d", "us-central1-a", 200, (), type=disk_type)
    assert PRICES.disk_estimate(disk).usd_per_month == pytest.approx(monthly)


def test_an_unknown_disk_type_is_unknown() -> None:
    disk = Disk("d", "us-central1-a", 200, (), type="hyperdisk-extreme")
    assert PRICES.disk_estimate(disk).usd_per_hour is None


def test_snapshots_by_stored_bytes_and_addresses_by_use() -> None:
    assert PRICES.snapshot_estimate(10 * 2**30).usd_per_month == pytest.approx(0.65)
    assert PRICES.address_estimate(in_use=False).usd_per_hour == 0.01
    assert PRICES.address_estimate(in_use=True, spot=True).usd_per_hour == 0.0025
    assert PRICES.address_estimate(in_use=True).usd_per_hour == 0.005
    assert PRICES.vm_address_estimate(vm(VmState.STOPPED)).usd_per_hour == 0.0
    assert PRICES.vm_address_estimate(vm(external_ip=None)).usd_per_hour == 0.0


def test_buckets_by_class_and_location() -> None:
    gib = 2**30
    standard = Bucket("b", "US-CENTRAL1", "STANDARD", total_bytes=100 * gib, object_count=1)
    assert PRICES.bucket_estimate(standard).usd_per_month == pytest.approx(2.0)
    multi = Bucket("b", "US", "NEARLINE", total_bytes=100 * gib, object_count=1)
    assert PRICES.bucket_estimate(multi).usd_per_month == pytest.approx(1.5)
    elsewhere = Bucket("b", "ASIA-EAST1", "STANDARD", total_bytes=100 * gib, object_count=1)
    assert PRICES.bucket_estimate(elsewhere).approximate
    assert PRICES.bucket_estimate(Bucket("b", "US", "STANDARD")).usd_per_hour is None
