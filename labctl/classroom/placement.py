"""Quota needed by a class, and where its new VMs go so that no region goes over its quota.

What a running VM counts against (https://cloud.google.com/compute/resource-usage,
https://cloud.google.com/compute/docs/instances/spot#quotas): its vCPUs in `CPUS` and its GPUs
in `NVIDIA_<MODEL>_GPUS` of its region; a Spot (or preemptible) VM in `PREEMPTIBLE_CPUS` and
`PREEMPTIBLE_NVIDIA_<MODEL>_GPUS` instead, unless that limit is 0 (then the standard ones); an
external IP in `IN_USE_ADDRESSES`; every GPU in `GPUS_ALL_REGIONS` and every vCPU in
`CPUS_ALL_REGIONS`. A VM that exists, running or not, counts in `INSTANCES` and its boot disk
in `DISKS_TOTAL_GB` (a boot disk created without a disk type is pd-standard, per the API's
AttachedDiskInitializeParams.diskType).

The class is planned to run all at once (a schedule starts every VM together), so stopped VMs
of the class count as if running. Only metrics a region reports are checked.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from labctl.catalog import gpu_quota_metric, spot_quota_metric
from labctl.models import Provisioning, Quota, VmSpec, region_of

GLOBAL = "global"
# Metrics used only while a VM runs; the others (INSTANCES, disks) while it exists.
EXIST_METRICS = ("INSTANCES", "DISKS_TOTAL_GB")


@dataclass(frozen=True)
class Need:
    """What one VM of the class uses."""

    cpus: int
    gpu_type: str | None
    gpus: int
    spot: bool
    disk_gb: int
    external_ip: bool = True

    @classmethod
    def of(cls, spec: VmSpec, cpus: int) -> Need:
        return cls(
            cpus=cpus,
            gpu_type=spec.gpu.type if spec.gpu else None,
            gpus=spec.gpu.count if spec.gpu else 0,
            spot=spec.provisioning is not Provisioning.STANDARD,
            disk_gb=spec.disk_size_gb,
            external_ip=spec.external_ip,
        )


@dataclass(frozen=True)
class QuotaLine:
    """One metric of one region (or GLOBAL): what the class needs against what is free."""

    region: str
    metric: str
    per_vm: float
    vms: int  # VMs of the class that this line counts (new, plus stopped ones for run metrics)
    limit: float
    usage: float

    @property
    def needed(self) -> float:
        return self.per_vm * self.vms

    @property
    def free(self) -> float:
        return max(0.0, self.limit - self.usage)

    @property
    def ok(self) -> bool:
        return self.needed <= self.free


@dataclass(frozen=True)
class QuotaRequest:
    """Ask for this: `metric` in `region` (GLOBAL for project-wide) raised to `limit`."""

    region: str
    metric: str
    current: float
    limit: float


@dataclass(frozen=True)
class QuotaCheck:
    lines: tuple[QuotaLine, ...]
    capacity: Mapping[str, int]  # region -> how many more class VMs fit; GLOBAL too
    zones: Mapping[str, str]  # VM name -> zone, for every new VM placed
    unplaced: tuple[str, ...]  # new VMs that fit nowhere
    requests: tuple[QuotaRequest, ...]

    @property
    def fits(self) -> bool:
        return not self.unplaced


def metrics_per_vm(need: Need, quotas: Mapping[str, Quota]) -> dict[str, float]:
    """metric -> amount one VM uses in the region of `quotas` (only metrics it reports)."""
    wanted: dict[str, float] = {}
    preemptible_cpus = need.spot and _limit(quotas, "PREEMPTIBLE_CPUS") > 0
    wanted["PREEMPTIBLE_CPUS" if preemptible_cpus else "CPUS"] = need.cpus
    if need.gpu_type and need.gpus:
        gpus = gpu_quota_metric(need.gpu_type)
        wanted[spot_quota_metric(gpus, need.spot, lambda m: _limit(quotas, m))] = need.gpus
    if need.external_ip:
        wanted["IN_USE_ADDRESSES"] = 1
    wanted["INSTANCES"] = 1
    wanted["DISKS_TOTAL_GB"] = need.disk_gb
    return {m: v for m, v in wanted.items() if m in quotas and v}


def global_metrics(need: Need, quotas: Mapping[str, Quota]) -> dict[str, float]:
    wanted = {"GPUS_ALL_REGIONS": float(need.gpus), "CPUS_ALL_REGIONS": float(need.cpus)}
    return {m: v for m, v in wanted.items() if m in quotas and v}


def _limit(quotas: Mapping[str, Quota], metric: str) -> float:
    quota = quotas.get(metric)
    return quota.limit if quota is not None else 0.0


@dataclass(frozen=True)
class Demand:
    """The class's VMs as quota sees them: new ones (names, to place) and existing ones."""

    need: Need
    new: Sequence[str]  # VM names to create, in placement order
    existing_zones: Counter[str]  # zone -> class VMs there (any state)
    stopped_regions: Counter[str]  # region -> stopped class VMs there


def check_and_place(
    demand: Demand,
    zones: Sequence[str],
    regional: Mapping[str, Sequence[Quota]],
    project: Sequence[Quota],
) -> QuotaCheck:
    """Capacity per region from its quotas, the new VMs spread over `zones` (fewest VMs first,
    ties in the order given) without going over any region's capacity, and what to request
    when they do not all fit."""
    need = demand.need
    regions = list(dict.fromkeys(region_of(z) for z in zones))
    by_region = {r: {q.metric: q for q in regional.get(r, ())} for r in regions}
    per_vm = {r: metrics_per_vm(need, by_region[r]) for r in regions}
    projects = {q.metric: q for q in project}
    global_per_vm = global_metrics(need, projects)
    pending_global = sum(demand.stopped_regions.values())
    capacity = {
        r: _capacity(per_vm[r], by_region[r], demand.stopped_regions.get(r, 0)) for r in regions
    }
    capacity[GLOBAL] = _capacity(global_per_vm, projects, pending_global, run_only=True)
    placed, unplaced = _place(demand, zones, capacity)
    new_per_region = Counter(region_of(z) for z in placed.values())
    if regions:  # what does not fit is asked of the first (preferred) region
        new_per_region[regions[0]] += len(unplaced)
    lines = [
        _line(r, metric, amount, by_region[r][metric], new_per_region[r], demand, r)
        for r in regions
        for metric, amount in per_vm[r].items()
    ]
    lines += [
        _line(GLOBAL, metric, amount, projects[metric], len(demand.new), demand, None)
        for metric, amount in global_per_vm.items()
    ]
    requests = _requests(demand, regions, per_vm, by_region, global_per_vm, projects, placed)
    return QuotaCheck(tuple(lines), capacity, placed, tuple(unplaced), tuple(requests))


def _capacity(
    per_vm: Mapping[str, float],
    quotas: Mapping[str, Quota],
    stopped: int,
    *,
    run_only: bool = False,
) -> int:
    """How many more VMs fit after the stopped ones of the class are started."""
    fits = []
    for metric, amount in per_vm.items():
        quota = quotas[metric]
        pending = 0 if metric in EXIST_METRICS and not run_only else stopped * amount
        fits.append(math.floor((quota.limit - quota.usage - pending) / amount + 1e-9))
    return max(0, min(fits)) if fits else 1_000_000


def _place(
    demand: Demand, zones: Sequence[str], capacity: dict[str, int]
) -> tuple[dict[str, str], list[str]]:
    counts = Counter({z: demand.existing_zones.get(z, 0) for z in zones})
    left = dict(capacity)
    placed: dict[str, str] = {}
    unplaced: list[str] = []
    for name in demand.new:
        open_zones = [z for z in zones if left[region_of(z)] > 0]
        if not open_zones or left[GLOBAL] <= 0:
            unplaced.append(name)
            continue
        zone = min(open_zones, key=lambda z: (counts[z], zones.index(z)))
        placed[name] = zone
        counts[zone] += 1
        left[region_of(zone)] -= 1
        left[GLOBAL] -= 1
    return placed, unplaced


def _line(
    region: str,
    metric: str,
    amount: float,
    quota: Quota,
    new: int,
    demand: Demand,
    stopped_region: str | None,
) -> QuotaLine:
    if metric in EXIST_METRICS:
        vms = new
    elif stopped_region is None:
        vms = new + sum(demand.stopped_regions.values())
    else:
        vms = new + demand.stopped_regions.get(stopped_region, 0)
    return QuotaLine(region, metric, amount, vms, quota.limit, quota.usage)


def _requests(
    demand: Demand,
    regions: list[str],
    per_vm: Mapping[str, Mapping[str, float]],
    by_region: Mapping[str, Mapping[str, Quota]],
    global_per_vm: Mapping[str, float],
    projects: Mapping[str, Quota],
    placed: Mapping[str, str],
) -> list[QuotaRequest]:
    """The limits to ask for so that every new VM fits: the missing VMs in the first region
    (the zones' order is the instructor's preference), and the project-wide metrics."""
    missing = len(demand.new) - len(placed)
    if missing <= 0 or not regions:
        return []
    requests = []
    first = regions[0]
    in_first = sum(1 for z in placed.values() if region_of(z) == first)
    for metric, amount in per_vm[first].items():
        quota = by_region[first][metric]
        stopped = 0 if metric in EXIST_METRICS else demand.stopped_regions.get(first, 0)
        wanted = quota.usage + amount * (in_first + stopped + missing)
        if wanted > quota.limit:
            requests.append(QuotaRequest(first, metric, quota.limit, math.ceil(wanted)))
    total_stopped = sum(demand.stopped_regions.values())
    for metric, amount in global_per_vm.items():
        quota = projects[metric]
        wanted = quota.usage + amount * (len(demand.new) + total_stopped)
        if wanted > quota.limit:
            requests.append(QuotaRequest(GLOBAL, metric, quota.limit, math.ceil(wanted)))
    return requests
