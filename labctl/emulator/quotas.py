"""Quota usage and limits, and the synchronous 403 ``quotaExceeded`` that inserts get.

What counts (https://cloud.google.com/compute/quotas,
https://cloud.google.com/compute/docs/instances/preemptible,
https://cloud.google.com/compute/docs/instances/create-use-spot):

- vCPUs and GPUs of VMs that are not TERMINATED (a stopped VM uses none), per region as
  ``CPUS`` / ``NVIDIA_<X>_GPUS``. A Spot or preemptible VM uses ``PREEMPTIBLE_CPUS`` /
  ``PREEMPTIBLE_NVIDIA_<X>_GPUS`` instead once the project has such quota (a limit above 0):
  "After Compute Engine grants you preemptible CPU quota in that region, all preemptible
  instances will count against that quota"; without it they use the standard quotas. Every
  GPU also counts in ``GPUS_ALL_REGIONS`` and every vCPU in ``CPUS_ALL_REGIONS``.
- ``INSTANCES``: VMs that exist, stopped or not. ``IN_USE_ADDRESSES``: external IPs in use
  (ephemeral ones of VMs that are not TERMINATED, and static ones IN_USE).
  ``STATIC_ADDRESSES``: reserved regional addresses. ``DISKS_TOTAL_GB`` (pd-standard) and
  ``SSD_TOTAL_GB`` (pd-balanced, pd-ssd): disk sizes. ``SNAPSHOTS`` (global): snapshots.

Limits come from the ``quotas`` fault. By default the emulated project has no preemptible
quota (``PREEMPTIBLE_*`` limits 0, so Spot VMs use the standard quotas) and generous standard
limits (``DEFAULT_REGIONAL``, ``DEFAULT_GLOBAL``), enough for a class of 1,000 Spot
n1-standard-8 VMs with a P100 each in one region. Grant preemptible quota or change any
limit by setting the metric in the fault, e.g. ``{"*": {"PREEMPTIBLE_NVIDIA_P100_GPUS": 1000}}``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from labctl import catalog
from labctl.emulator.errors import ApiError
from labctl.emulator.faults import Faults
from labctl.emulator.state import State

DEFAULT_GLOBAL: dict[str, float] = {
    "CPUS_ALL_REGIONS": 100_000.0,
    "GPUS_ALL_REGIONS": 10_000.0,
    "SNAPSHOTS": 100_000.0,
    "FIREWALLS": 10_000.0,
    "NETWORKS": 100.0,
    "IMAGES": 10_000.0,
}
DEFAULT_REGIONAL: dict[str, float] = {
    "CPUS": 50_000.0,
    "PREEMPTIBLE_CPUS": 0.0,  # no preemptible quota granted: Spot VMs use CPUS
    "INSTANCES": 100_000.0,
    "IN_USE_ADDRESSES": 10_000.0,
    "STATIC_ADDRESSES": 10_000.0,
    "DISKS_TOTAL_GB": 10_000_000.0,
    "SSD_TOTAL_GB": 10_000_000.0,
    "RESOURCE_POLICIES": 10_000.0,
}
DEFAULT_GPUS = 10_000.0  # NVIDIA_<X>_GPUS
DEFAULT_UNGRANTED = 0.0  # PREEMPTIBLE_NVIDIA_<X>_GPUS, COMMITTED_NVIDIA_<X>_GPUS
_SSD_TYPES = ("pd-ssd", "pd-balanced", "pd-extreme", "hyperdisk-balanced")


@dataclass
class Demand:
    """What one or more VMs of one shape would use."""

    cpus: int
    gpus: dict[str, int] = field(default_factory=dict)  # accelerator name -> cards
    spot: bool = False
    instances: int = 1
    external_ips: int = 0
    disks_gb: dict[str, int] = field(default_factory=dict)  # DISKS_TOTAL_GB / SSD_TOTAL_GB


def is_spot(scheduling: dict[str, Any]) -> bool:
    return bool(scheduling.get("preemptible")) or scheduling.get("provisioningModel") == "SPOT"


def disk_metric(disk_type: str) -> str:
    return "SSD_TOTAL_GB" if disk_type.rsplit("/", 1)[-1] in _SSD_TYPES else "DISKS_TOTAL_GB"


def demand_of(instance: dict[str, Any], new_disks: list[dict[str, Any]] | None = None) -> Demand:
    """The instance's use while it runs; ``new_disks`` adds the disks an insert creates."""
    mt = str(instance.get("machineType", "")).rsplit("/", 1)[-1]
    gpus: Counter[str] = Counter()
    for acc in instance.get("guestAccelerators") or []:
        name = str(acc.get("acceleratorType", "")).rsplit("/", 1)[-1]
        gpus[name] += int(acc.get("acceleratorCount", 0))
    ips = sum(
        1
        for nic in instance.get("networkInterfaces") or []
        for ac in nic.get("accessConfigs") or []
        if not ac.get("_reserved")  # a static address is counted as the address itself
    )
    disks: Counter[str] = Counter()
    for disk in new_disks or []:
        disks[disk_metric(disk["type"])] += int(disk["sizeGb"])
    return Demand(
        cpus=catalog.MACHINE_TYPES.get(mt, (0, 0, False))[0],
        gpus=dict(gpus),
        spot=is_spot(instance.get("scheduling") or {}),
        external_ips=ips,
        disks_gb=dict(disks),
    )


def limit(faults: Faults, metric: str, region: str | None) -> float:
    configured = faults.quota_limit(metric, region)
    if configured is not None:
        return configured
    if region is None:
        return DEFAULT_GLOBAL.get(metric, DEFAULT_GPUS)
    if metric.startswith(("COMMITTED_", "PREEMPTIBLE_")):
        return DEFAULT_REGIONAL.get(metric, DEFAULT_UNGRANTED)
    return DEFAULT_REGIONAL.get(metric, DEFAULT_GPUS)


def _running_metrics(d: Demand, region: str, faults: Faults) -> Counter[str]:
    """Regional metrics of a running VM: Spot uses PREEMPTIBLE_* unless that limit is 0."""
    out: Counter[str] = Counter()
    pre_cpus = d.spot and limit(faults, "PREEMPTIBLE_CPUS", region) > 0
    out["PREEMPTIBLE_CPUS" if pre_cpus else "CPUS"] += d.cpus * d.instances
    for acc, cards in d.gpus.items():
        pre = catalog.gpu_quota_metric(acc, preemptible=True)
        use_pre = d.spot and limit(faults, pre, region) > 0
        out[pre if use_pre else catalog.gpu_quota_metric(acc)] += cards * d.instances
    out["IN_USE_ADDRESSES"] += d.external_ips * d.instances
    return out


def _shape(key: str, inst: dict[str, Any]) -> tuple[Any, ...]:
    """(region, cpus, gpus, spot, external IPs) of a VM, computed once.

    A VM's shape never changes in the emulator; caching it keeps ``usage`` a cheap pass over
    the VMs (a class of 1,000 would otherwise make every insert slow).
    """
    cached = inst.get("_shape")
    if cached.__class__ is not tuple:  # not yet computed, or a list read from a state file
        if cached is None:
            d = demand_of(inst)
            region = catalog.ZONES.get(key.split("/", 1)[0], "")
            gpus = ",".join(f"{name}={cards}" for name, cards in sorted(d.gpus.items()))
            cached = [region, d.cpus, gpus, d.spot, d.external_ips]
        cached = inst["_shape"] = tuple(cached)
    return cached


def usage(
    state: State, faults: Faults, project: str
) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """(global usage, region -> regional usage) of everything the project has now."""
    proj = state.project(project)
    glob: Counter[str] = Counter()
    regional: dict[str, Counter[str]] = {r: Counter() for r in catalog.REGIONS}
    # One cheap pass, counting VMs of one shape together; metrics are derived per shape.
    existing: dict[str, int] = {}
    running: dict[tuple[Any, ...], int] = {}
    for key, inst in proj["_instances"].items():
        shape = _shape(key, inst)
        existing[shape[0]] = existing.get(shape[0], 0) + 1
        if inst["status"] != "TERMINATED":
            running[shape] = running.get(shape, 0) + 1
    for region, count in existing.items():
        if region:
            regional[region]["INSTANCES"] += count
    for (region, cpus, gpus, spot, ips), count in running.items():
        if not region:
            continue
        cards = {n: int(c) for n, c in (g.split("=") for g in gpus.split(",") if g)}
        d = Demand(cpus=cpus, gpus=cards, spot=spot, instances=count, external_ips=ips)
        glob["CPUS_ALL_REGIONS"] += cpus * count
        glob["GPUS_ALL_REGIONS"] += sum(cards.values()) * count
        regional[region].update(_running_metrics(d, region, faults))
    for key, addr in proj["_addresses"].items():
        region = key.split("/", 1)[0]
        regional[region]["STATIC_ADDRESSES"] += 1
        if addr.get("status") == "IN_USE":
            regional[region]["IN_USE_ADDRESSES"] += 1
    disks: dict[tuple[str, str], int] = {}
    for key, disk in proj["_disks"].items():
        where = disk.get("_quota")  # (region, metric): fixed for a disk, so computed once
        if where.__class__ is not tuple:
            region = catalog.ZONES[key.split("/", 1)[0]]
            where = disk["_quota"] = (region, disk_metric(disk["type"]))
        disks[where] = disks.get(where, 0) + int(disk["sizeGb"])
    for (region, metric), gb in disks.items():
        regional[region][metric] += gb
    for key in proj["_resourcePolicies"]:
        regional[key.split("/", 1)[0]]["RESOURCE_POLICIES"] += 1
    glob["SNAPSHOTS"] = len(proj["_snapshots"])
    glob["FIREWALLS"] = len(proj["_firewalls"])
    glob["NETWORKS"] = 1  # the default network
    return glob, regional


def _error(metric: str, lim: float, region: str | None) -> ApiError:
    where = f"in region {region}" if region else "globally"
    return ApiError(
        403,
        f"Quota '{metric}' exceeded. Limit: {lim:.1f} {where}.",
        "quotaExceeded",
        "usageLimits",
    )


def _check(
    faults: Faults,
    wanted: Counter[str],
    used: Counter[str],
    region: str | None,
) -> None:
    # GPUs first: on a GPU VM that is the quota people run out of.
    for metric in sorted(wanted, key=lambda m: (not m.endswith("_GPUS"), m)):
        lim = limit(faults, metric, region)
        if wanted[metric] and used[metric] + wanted[metric] > lim:
            raise _error(metric, lim, region)


def check(
    state: State, faults: Faults, project: str, zone: str, d: Demand, starting: bool = False
) -> None:
    """Raise 403 quotaExceeded if the VMs of ``d`` would go over a limit.

    ``starting``: a stopped VM starts; it exists already, so INSTANCES and disks do not grow.
    """
    region = catalog.ZONES[zone]
    glob, regional = usage(state, faults, project)
    wanted_global: Counter[str] = Counter(
        {
            "GPUS_ALL_REGIONS": sum(d.gpus.values()) * d.instances,
            "CPUS_ALL_REGIONS": d.cpus * d.instances,
        }
    )
    _check(faults, wanted_global, glob, None)
    wanted = _running_metrics(d, region, faults)
    if not starting:
        wanted["INSTANCES"] += d.instances
        for metric, gb in d.disks_gb.items():
            wanted[metric] += gb * d.instances
    _check(faults, wanted, regional[region], region)


def check_one(
    state: State, faults: Faults, project: str, metric: str, region: str | None, amount: int = 1
) -> None:
    """Raise 403 quotaExceeded if ``amount`` more of one metric would go over its limit."""
    glob, regional = usage(state, faults, project)
    used = glob if region is None else regional[region]
    _check(faults, Counter({metric: amount}), used, region)
