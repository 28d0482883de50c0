"""Quota per region and placement: no region over its quota, the shortfall as a request."""

from __future__ import annotations

from collections import Counter

from labctl.classroom.placement import GLOBAL, Demand, Need, check_and_place, metrics_per_vm
from labctl.models import Quota

SPOT_P100 = Need(cpus=8, gpu_type="nvidia-tesla-p100", gpus=1, spot=True, disk_gb=100)
ZONES = ["us-central1-c", "us-central1-f", "us-east1-c"]


def region(name: str, **limits: float) -> list[Quota]:
    base = {
        "CPUS": 10_000.0,
        "PREEMPTIBLE_CPUS": 10_000.0,
        "NVIDIA_P100_GPUS": 10_000.0,
        "PREEMPTIBLE_NVIDIA_P100_GPUS": 10_000.0,
        "IN_USE_ADDRESSES": 10_000.0,
    }
    base.update(limits)
    return [Quota(metric, limit, 0.0, name) for metric, limit in base.items()]


def project(gpus: float = 10_000.0, used: float = 0.0) -> list[Quota]:
    return [Quota("GPUS_ALL_REGIONS", gpus, used)]


def demand(n: int, **kw: object) -> Demand:
    values: dict[str, object] = {
        "need": SPOT_P100,
        "new": [f"cc-s{i:02d}" for i in range(n)],
        "existing_zones": Counter(),
        "stopped_regions": Counter(),
    }
    values.update(kw)
    return Demand(**values)  # type: ignore[arg-type]


def test_spot_counts_against_preemptible_quota_unless_it_is_zero() -> None:
    quotas = {q.metric: q for q in region("us-central1")}
    assert metrics_per_vm(SPOT_P100, quotas) == {
        "PREEMPTIBLE_CPUS": 8,
        "PREEMPTIBLE_NVIDIA_P100_GPUS": 1,
        "IN_USE_ADDRESSES": 1,
    }
    zero = {q.metric: q for q in region("us-central1", PREEMPTIBLE_NVIDIA_P100_GPUS=0)}
    assert metrics_per_vm(SPOT_P100, zero)["NVIDIA_P100_GPUS"] == 1


def test_new_vms_are_spread_over_zones_within_each_region_quota() -> None:
    regional = {
        "us-central1": region("us-central1", PREEMPTIBLE_NVIDIA_P100_GPUS=6),
        "us-east1": region("us-east1", PREEMPTIBLE_NVIDIA_P100_GPUS=4),
    }
    check = check_and_place(demand(10), ZONES, regional, project())
    assert check.fits and check.requests == ()
    per_zone = Counter(check.zones.values())
    assert per_zone == {"us-central1-c": 3, "us-central1-f": 3, "us-east1-c": 4}
    assert check.capacity == {"us-central1": 6, "us-east1": 4, GLOBAL: 10_000}
    assert all(line.ok for line in check.lines)


def test_a_class_that_does_not_fit_names_the_quota_to_request() -> None:
    regional = {
        "us-central1": region("us-central1", PREEMPTIBLE_NVIDIA_P100_GPUS=4, PREEMPTIBLE_CPUS=24),
        "us-east1": region("us-east1", PREEMPTIBLE_NVIDIA_P100_GPUS=2),
    }
    check = check_and_place(demand(10), ZONES, regional, project())
    assert not check.fits and len(check.unplaced) == 5  # central: 3 (24 vCPUs), east: 2
    assert [(r.region, r.metric, r.current, r.limit) for r in check.requests] == [
        ("us-central1", "PREEMPTIBLE_CPUS", 24, 64),
        ("us-central1", "PREEMPTIBLE_NVIDIA_P100_GPUS", 4, 8),
    ]
    # the table shows the whole class against the preferred region's quota
    bad = [(ln.region, ln.metric, ln.needed, ln.free) for ln in check.lines if not ln.ok]
    assert bad == [
        ("us-central1", "PREEMPTIBLE_CPUS", 64, 24),
        ("us-central1", "PREEMPTIBLE_NVIDIA_P100_GPUS", 8, 4),
    ]


def test_the_global_gpu_quota_and_stopped_vms_of_the_class_count() -> None:
    regional = {"us-central1": region("us-central1"), "us-east1": region("us-east1")}
    stopped = Counter({"us-central1": 3})
    check = check_and_place(
        demand(4, stopped_regions=stopped, existing_zones=Counter({"us-central1-c": 3})),
        ZONES,
        regional,
        project(gpus=8, used=2),
    )
    # 8 - 2 in use - 3 stopped ones that will start = 3 more VMs
    assert check.capacity[GLOBAL] == 3 and len(check.unplaced) == 1
    assert [(r.region, r.metric, r.limit) for r in check.requests] == [
        (GLOBAL, "GPUS_ALL_REGIONS", 9)
    ]
    # the zone that already holds 3 gets the new ones last
    assert "us-central1-c" not in set(check.zones.values())
