"""The ``quotas`` lists of ``regions.get``/``regions.list`` and ``projects.get``.

Shaped like Compute's: ``[{"metric": "CPUS", "limit": 24.0, "usage": 8.0}, ...]`` with every
GPU model's standard, PREEMPTIBLE_ and COMMITTED_ metric, plus any metric a fault configures.
"""

from __future__ import annotations

from typing import Any

from labctl import catalog
from labctl.emulator.faults import Faults
from labctl.emulator.quotas import DEFAULT_GLOBAL, limit, usage
from labctl.emulator.state import State

_REGIONAL = [
    "CPUS",
    "DISKS_TOTAL_GB",
    "STATIC_ADDRESSES",
    "IN_USE_ADDRESSES",
    "SSD_TOTAL_GB",
    "INSTANCES",
    "PREEMPTIBLE_CPUS",
    "RESOURCE_POLICIES",
]


def _regional_metrics(faults: Faults, region: str) -> list[str]:
    metrics = list(_REGIONAL)
    for acc in catalog.ACCELERATORS:
        standard = catalog.gpu_quota_metric(acc)
        metrics += [standard, catalog.gpu_quota_metric(acc, True), f"COMMITTED_{standard}"]
    return metrics + [m for m in faults.quota_metrics(region) if m not in metrics]


Quotas = list[dict[str, Any]]


def region_quotas(state: State, faults: Faults, project: str, region: str) -> Quotas:
    return all_region_quotas(state, faults, project, [region])[region]


def all_region_quotas(
    state: State, faults: Faults, project: str, regions: list[str] | None = None
) -> dict[str, Quotas]:
    """Each region's list from one pass over the project (regions.list)."""
    _glob, regional = usage(state, faults, project)
    return {
        region: [
            {"metric": m, "limit": limit(faults, m, region), "usage": float(regional[region][m])}
            for m in _regional_metrics(faults, region)
        ]
        for region in regions or catalog.REGIONS
    }


def project_quotas(state: State, faults: Faults, project: str) -> Quotas:
    glob, _regional = usage(state, faults, project)
    metrics = list(DEFAULT_GLOBAL)
    metrics += [m for m in faults.quota_metrics(None) if m not in metrics]
    return [
        {"metric": m, "limit": limit(faults, m, None), "usage": float(glob[m])} for m in metrics
    ]
