"""Quota usage and limits: what project/region GETs report and what insert/start enforce."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from labctl import catalog
from labctl.emulator.errors import ApiError
from labctl.emulator.faults import Faults
from labctl.emulator.state import State

# Generous defaults so that only configured quotas ever fail (benchmarks create many VMs).
DEFAULT_GLOBAL = {"CPUS_ALL_REGIONS": 100_000.0, "GPUS_ALL_REGIONS": 1_000.0}
DEFAULT_REGIONAL = {"CPUS": 24_000.0, "INSTANCES": 100_000.0, "IN_USE_ADDRESSES": 1_000.0}
DEFAULT_GPUS = 1_000.0


@dataclass
class Demand:
    """What one or more VMs of one shape would use."""

    cpus: int
    gpus: dict[str, int] = field(default_factory=dict)  # accelerator name -> cards
    spot: bool = False
    instances: int = 1


def demand_of(instance: dict[str, Any]) -> Demand:
    mt = str(instance.get("machineType", "")).rsplit("/", 1)[-1]
    cpus = catalog.MACHINE_TYPES.get(mt, (0, 0, False))[0]
    gpus: Counter[str] = Counter()
    for acc in instance.get("guestAccelerators") or []:
        gpus[str(acc.get("acceleratorType", "")).rsplit("/", 1)[-1]] += int(
            acc.get("acceleratorCount", 0)
        )
    return Demand(cpus, dict(gpus), is_spot(instance.get("scheduling") or {}))


def is_spot(scheduling: dict[str, Any]) -> bool:
    return bool(scheduling.get("preemptible")) or scheduling.get("provisioningModel") == "SPOT"


def _limit(faults: Faults, metric: str, region: str | None) -> float:
    configured = faults.quota_limit(metric, region)
    if configured is not None:
        return configured
    if region is None:
        return DEFAULT_GLOBAL.get(metric, DEFAULT_GPUS)
    return DEFAULT_REGIONAL.get(metric, DEFAULT_GPUS)


def _metrics(d: Demand, region: str, faults: Faults) -> Counter[str]:
    """The regional metrics a demand uses (Spot uses PREEMPTIBLE_* only where configured)."""
    out: Counter[str] = Counter()
    use_pre_cpus = d.spot and faults.quota_limit("PREEMPTIBLE_CPUS", region) is not None
    out["PREEMPTIBLE_CPUS" if use_pre_cpus else "CPUS"] += d.cpus * d.instances
    out["INSTANCES"] += d.instances
    for acc, cards in d.gpus.items():
        pre = catalog.gpu_quota_metric(acc, preemptible=True)
        use_pre = d.spot and faults.quota_limit(pre, region) is not None
        out[pre if use_pre else catalog.gpu_quota_metric(acc)] += cards * d.instances
    return out


def usage(
    state: State, faults: Faults, project: str
) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """(global usage, region -> regional usage) of VMs that are not TERMINATED."""
    glob: Counter[str] = Counter()
    regional: dict[str, Counter[str]] = {r: Counter() for r in catalog.REGIONS}
    for key, inst in state.project(project)["_instances"].items():
        if inst.get("status") == "TERMINATED":
            continue
        region = catalog.ZONES.get(key.split("/", 1)[0])
        if region is None:
            continue
        d = demand_of(inst)
        glob["CPUS_ALL_REGIONS"] += d.cpus
        glob["GPUS_ALL_REGIONS"] += sum(d.gpus.values())
        regional[region].update(_metrics(d, region, faults))
    for addr in state.project(project)["_addresses"].values():
        if addr.get("status") == "IN_USE":
            regional[str(addr["region"]).rsplit("/", 1)[-1]]["IN_USE_ADDRESSES"] += 1
    return glob, regional


def _error(metric: str, limit: float, region: str | None) -> ApiError:
    where = f"in region {region}" if region else "globally"
    return ApiError(
        403,
        f"Quota '{metric}' exceeded. Limit: {limit:.1f} {where}.",
        "quotaExceeded",
        "usageLimits",
    )


def check(state: State, faults: Faults, project: str, zone: str, d: Demand) -> None:
    """Raise 403 quotaExceeded if the demand would go over a limit."""
    region = catalog.ZONES[zone]
    glob, regional = usage(state, faults, project)
    wanted_global = {
        "GPUS_ALL_REGIONS": sum(d.gpus.values()) * d.instances,
        "CPUS_ALL_REGIONS": d.cpus * d.instances,
    }
    for metric, amount in wanted_global.items():
        limit = _limit(faults, metric, None)
        if amount and glob[metric] + amount > limit:
            raise _error(metric, limit, None)
    wanted = _metrics(d, region, faults)
    # GPUs first: on a GPU VM that is the quota people run out of.
    for metric in sorted(wanted, key=lambda m: (not m.endswith("_GPUS"), m)):
        limit = _limit(faults, metric, region)
        if wanted[metric] and regional[region][metric] + wanted[metric] > limit:
            raise _error(metric, limit, region)


def region_quotas(state: State, faults: Faults, project: str, region: str) -> list[dict[str, Any]]:
    """``regions.get`` quotas: CPUS, INSTANCES, addresses and every GPU metric."""
    _glob, regional = usage(state, faults, project)
    metrics = [*DEFAULT_REGIONAL, "PREEMPTIBLE_CPUS"]
    for acc in catalog.ACCELERATORS:
        metrics += [catalog.gpu_quota_metric(acc), catalog.gpu_quota_metric(acc, True)]
    return [
        {"metric": m, "limit": _limit(faults, m, region), "usage": float(regional[region][m])}
        for m in metrics
    ]


def project_quotas(state: State, faults: Faults, project: str) -> list[dict[str, Any]]:
    glob, _regional = usage(state, faults, project)
    return [
        {"metric": m, "limit": _limit(faults, m, None), "usage": float(glob[m])}
        for m in DEFAULT_GLOBAL
    ]
