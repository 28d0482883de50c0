"""Cost estimates from the dated price table in configs/prices.toml.

An `Estimate` is per hour (and per month, at the table's hours per month). It is approximate
(`~`) when a price came from the default region, and unknown when something had no price at
all: an unknown part is never counted as $0, and a sum with an unknown part is unknown too.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from labctl.models import Bucket, Disk, Provisioning, Vm, VmSpec, VmState, region_of
from labctl.resources import data_path

GIB = 2**30
HOURS_PER_MONTH = 730.0  # the table's value wins; this is what Google's pages use


@dataclass(frozen=True)
class Estimate:
    """A cost per hour. `usd_per_hour` is None when a part had no price (`missing` names it)."""

    usd_per_hour: float | None
    approximate: bool = False
    missing: tuple[str, ...] = ()
    hours_per_month: float = HOURS_PER_MONTH

    @property
    def usd_per_month(self) -> float | None:
        if self.usd_per_hour is None:
            return None
        return round(self.usd_per_hour * self.hours_per_month, 2)

    def __add__(self, other: Estimate) -> Estimate:
        mine, theirs = self.usd_per_hour, other.usd_per_hour
        total = None if mine is None or theirs is None else round(mine + theirs, 9)
        missing = tuple(dict.fromkeys((*self.missing, *other.missing)))
        return Estimate(total, self.approximate or other.approximate, missing, self.hours_per_month)

    def __str__(self) -> str:
        if self.usd_per_hour is None:
            return f"unknown (no price for {', '.join(self.missing) or 'it'})"
        return f"{'~' if self.approximate else ''}${self.usd_per_hour:.2f}/h"

    def monthly(self) -> str:
        """'$58.40/mo', '~$1.20/mo' or 'unknown'."""
        if self.usd_per_month is None:
            return "unknown"
        return f"{'~' if self.approximate else ''}${self.usd_per_month:,.2f}/mo"


def total(estimates: Iterable[Estimate]) -> Estimate:
    """The sum; unknown if any part is unknown."""
    result = Estimate(0.0)
    for estimate in estimates:
        result = result + estimate
    return result


@dataclass(frozen=True)
class Section:
    """One kind of price: region (or location) -> item -> price, and where it came from."""

    prices: Mapping[str, Mapping[str, Any]]
    source: str = ""
    date: str = ""


@dataclass(frozen=True)
class PriceTable:
    date: str
    default_region: str
    machines: Section
    disks: Section = Section({})
    snapshots: Mapping[str, float] | None = None
    addresses: Mapping[str, float] | None = None
    buckets: Section = Section({})
    hours_per_month: float = HOURS_PER_MONTH

    @property
    def sources(self) -> dict[str, dict[str, str]]:
        """kind -> {source, date}: what each estimate rests on (for JSON output and docs)."""
        sections = {"machines": self.machines, "disks": self.disks, "buckets": self.buckets}
        found = {k: {"source": s.source, "date": s.date} for k, s in sections.items()}
        for kind, table in (("snapshots", self.snapshots), ("addresses", self.addresses)):
            table = table or {}
            found[kind] = {
                "source": str(table.get("source", "")),
                "date": str(table.get("date", "")),
            }
        return found

    def _lookup(self, section: Section, region: str, item: str) -> tuple[Any, bool]:
        """(price or None, approximate?): the region's price, else the default region's."""
        exact = section.prices.get(region, {}).get(item)
        if exact is not None:
            return exact, False
        fallback = section.prices.get(self.default_region, {}).get(item)
        return fallback, fallback is not None

    def _hourly(self, usd: float | None, approximate: bool, item: str) -> Estimate:
        if usd is None:
            return Estimate(None, approximate, (item,), self.hours_per_month)
        return Estimate(round(usd, 9), approximate, (), self.hours_per_month)

    def price(
        self, region: str, item: str, provisioning: Provisioning
    ) -> tuple[float | None, bool]:
        """(price per hour or None, approximate?) of one machine type or one GPU."""
        kind = "on_demand" if provisioning is Provisioning.STANDARD else "spot"
        found, approximate = self._lookup(self.machines, region, item)
        return (found[kind] if found is not None else None), approximate

    def estimate(
        self,
        *,
        zone: str,
        machine_type: str,
        provisioning: Provisioning,
        gpu_type: str | None = None,
        gpu_count: int = 0,
    ) -> Estimate:
        region = region_of(zone)
        machine, approx = self.price(region, machine_type, provisioning)
        result = self._hourly(machine, approx, machine_type)
        if gpu_type and gpu_count:
            gpu, gpu_approx = self.price(region, gpu_type, provisioning)
            per_card = self._hourly(gpu, gpu_approx, gpu_type)
            result = result + total([per_card] * gpu_count)
        return result

    def running_estimate(self, vm: Vm | VmSpec) -> Estimate:
        """What a VM (or one to be created) costs per hour while it runs: machine and GPU."""
        return self.estimate(
            zone=vm.zone,
            machine_type=vm.machine_type,
            provisioning=vm.provisioning,
            gpu_type=vm.gpu.type if vm.gpu else None,
            gpu_count=vm.gpu.count if vm.gpu else 0,
        )

    def vm_estimate(self, vm: Vm, disks: Sequence[Disk] = ()) -> Estimate:
        """What a VM costs per hour now: machine and GPU while it runs, nothing for them once
        it is stopped; with `disks` (its disks), their storage too, running or stopped."""
        storage = total(self.disk_estimate(d) for d in disks)
        if vm.state is VmState.STOPPED:
            return storage
        return self.running_estimate(vm) + storage

    def disk_estimate(self, disk: Disk) -> Estimate:
        """Provisioned size x the disk type's price per GB-month, per hour."""
        per_gb, approx = self._lookup(self.disks, region_of(disk.zone), disk.type)
        return self.per_month(
            per_gb * disk.size_gb if per_gb is not None else None, approx, disk.type
        )

    def snapshot_estimate(self, stored_bytes: int) -> Estimate:
        """A snapshot's stored bytes (`storageBytes`: only the blocks written) x the
        multi-regional snapshot price, per hour."""
        per_gb = (self.snapshots or {}).get("multi_regional")
        usd = per_gb * stored_bytes / GIB if per_gb is not None else None
        return self.per_month(usd, False, "snapshot storage")

    def address_estimate(self, *, in_use: bool, spot: bool = False) -> Estimate:
        """An external IPv4 address per hour: in use by a (spot) VM, or reserved and unused."""
        key = "unused" if not in_use else "in_use_spot" if spot else "in_use_standard"
        return self._hourly((self.addresses or {}).get(key), False, f"external IP ({key})")

    def vm_address_estimate(self, vm: Vm) -> Estimate:
        """The running VM's external IP (nothing when it is stopped or has none)."""
        if vm.state is VmState.STOPPED or not vm.external_ip:
            return Estimate(0.0, hours_per_month=self.hours_per_month)
        return self.address_estimate(in_use=True, spot=vm.provisioning is not Provisioning.STANDARD)

    def bucket_estimate(self, bucket: Bucket) -> Estimate:
        """Stored bytes x the class price at the bucket's location; unknown without sizes."""
        if bucket.total_bytes is None:
            return Estimate(None, False, ("bucket size",), self.hours_per_month)
        per_gb, approx = self._lookup(self.buckets, bucket.location.lower(), bucket.storage_class)
        usd = per_gb * bucket.total_bytes / GIB if per_gb is not None else None
        return self.per_month(usd, approx, f"{bucket.storage_class} storage in {bucket.location}")

    def per_month(self, usd_per_month: float | None, approximate: bool, item: str) -> Estimate:
        """An Estimate from a monthly price."""
        if usd_per_month is None:
            return self._hourly(None, approximate, item)
        return self._hourly(usd_per_month / self.hours_per_month, approximate, item)


def _section(raw: Mapping[str, Any]) -> Section:
    prices = {k: v for k, v in raw.items() if isinstance(v, Mapping)}
    return Section(prices, str(raw.get("source", "")), str(raw.get("date", "")))


@cache
def load_prices() -> PriceTable:
    with data_path("configs/prices.toml").open("rb") as fh:
        raw: dict[str, Any] = tomllib.load(fh)
    return PriceTable(
        date=str(raw["date"]),
        default_region=raw["default_region"],
        machines=_section(raw.get("machines", {})),
        disks=_section(raw.get("disks", {})),
        snapshots=raw.get("snapshots"),
        addresses=raw.get("addresses"),
        buckets=_section(raw.get("buckets", {})),
        hours_per_month=float(raw.get("hours_per_month", HOURS_PER_MONTH)),
    )
