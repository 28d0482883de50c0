"""Hourly cost estimates from the dated price table in configs/prices.toml."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any

from labctl.models import Provisioning, Vm, VmSpec, VmState, region_of
from labctl.resources import data_path


@dataclass(frozen=True)
class Estimate:
    usd_per_hour: float
    approximate: bool  # True when a price came from the default region or was missing

    def __str__(self) -> str:
        return f"{'~' if self.approximate else ''}${self.usd_per_hour:.2f}/h"


@dataclass(frozen=True)
class PriceTable:
    date: str
    default_region: str
    regions: dict[str, dict[str, dict[str, float]]]

    def price(self, region: str, item: str, provisioning: Provisioning) -> tuple[float, bool]:
        """(price per hour, approximate?) of one machine type or one GPU."""
        kind = "on_demand" if provisioning is Provisioning.STANDARD else "spot"
        exact = self.regions.get(region, {}).get(item)
        if exact is not None:
            return exact[kind], False
        fallback = self.regions.get(self.default_region, {}).get(item)
        return (fallback[kind], True) if fallback is not None else (0.0, True)

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
        total, approx = self.price(region, machine_type, provisioning)
        if gpu_type and gpu_count:
            gpu, gpu_approx = self.price(region, gpu_type, provisioning)
            total += gpu * gpu_count
            approx = approx or gpu_approx
        return Estimate(round(total, 4), approx)

    def spec_estimate(self, spec: VmSpec) -> Estimate:
        """What a VM would cost per hour while running."""
        return self.estimate(
            zone=spec.zone,
            machine_type=spec.machine_type,
            provisioning=spec.provisioning,
            gpu_type=spec.gpu.type if spec.gpu else None,
            gpu_count=spec.gpu.count if spec.gpu else 0,
        )

    def vm_estimate(self, vm: Vm) -> Estimate:
        """What a VM costs per hour now: nothing for compute and GPU once it is stopped."""
        if vm.state is VmState.STOPPED:
            return Estimate(0.0, False)
        return self.estimate(
            zone=vm.zone,
            machine_type=vm.machine_type,
            provisioning=vm.provisioning,
            gpu_type=vm.gpu.type if vm.gpu else None,
            gpu_count=vm.gpu.count if vm.gpu else 0,
        )


@cache
def load_prices() -> PriceTable:
    with data_path("configs/prices.toml").open("rb") as fh:
        raw: dict[str, Any] = tomllib.load(fh)
    return PriceTable(
        date=str(raw["date"]), default_region=raw["default_region"], regions=raw["regions"]
    )
