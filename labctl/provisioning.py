"""Creating course VMs the first time right: checks before the insert, then zone failover.

Failover rules (https://cloud.google.com/compute/docs/troubleshooting/troubleshooting-resource-
availability, and SkyPilot's sky/provision/gcp): a stockout moves to the next zone offering the
accelerator, same region first; a regional quota skips the rest of that region;
GPUS_ALL_REGIONS stops at once. Each zone gets its own requestId; a retried insert in one zone
reuses it, so at most one VM exists.

A `Provisioner` splits one VM's creation into `start` (send the first insert) and `finish`
(wait, failing over if needed), so a batch can send every insert before waiting on any.
"""

from __future__ import annotations

import difflib
import logging
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from labctl.errors import (
    AlreadyExists,
    InvalidInput,
    LabctlError,
    MayExist,
    NotFound,
    QuotaExceeded,
    RateLimited,
    Stockout,
    TransientError,
)
from labctl.models import MachineType, VmSpec, region_of
from labctl.providers.base import ComputeProvider, Operation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    zone: str
    outcome: str  # "created", "accepted", "stockout", "quota METRIC"
    retrying: bool = False  # another zone will be tried


@dataclass(frozen=True)
class CreateResult:
    zone: str
    attempts: tuple[Attempt, ...]


@dataclass(frozen=True)
class SpecCheck:
    """What check_spec read: the machine type in the spec's zone, and the zones offering the
    spec's accelerator with the most cards per VM each ({} without one), for failover."""

    machine_type: MachineType
    offering: dict[str, int]


def check_spec(
    compute: ComputeProvider, spec: VmSpec, *, zones: Sequence[str] | None = None
) -> SpecCheck:
    """Check the zone, image family, machine type and accelerator before any insert.

    The four reads go out together (one round trip's wait instead of four); their answers
    are judged in that order, so the first problem reported is the same as one by one.
    `zones`: the project's zones, when the caller has listed them already (not read again).
    """
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="labctl-check") as pool:
        zones_read = pool.submit(compute.list_zones) if zones is None else None
        image_read = pool.submit(compute.check_image_family, spec.image_project, spec.image_family)
        machine_read = pool.submit(compute.get_machine_type, spec.zone, spec.machine_type)
        gpu_read = pool.submit(compute.accelerator_zones, spec.gpu.type) if spec.gpu else None
    known = zones_read.result() if zones_read is not None else list(zones or ())
    if spec.zone not in known:
        close = difflib.get_close_matches(spec.zone, known, n=3)
        raise InvalidInput(
            f"unknown zone {spec.zone!r}",
            field="zone",
            hint=f"did you mean: {', '.join(close)}" if close else None,
        )
    try:
        image_read.result()
    except NotFound as exc:
        raise InvalidInput(
            exc.message, field="--image-family", kind="image", name=exc.name
        ) from None
    try:
        machine = machine_read.result()
    except NotFound:
        raise InvalidInput(
            f"machine type {spec.machine_type!r} is not offered in zone {spec.zone}",
            field="--machine-type",
            hint="for the course VM use n1-standard-8 (P100s attach only to N1 machine types)",
        ) from None
    if spec.gpu is None or gpu_read is None:
        return SpecCheck(machine, {})
    offering = gpu_read.result()
    if not offering:
        raise InvalidInput(
            f"unknown GPU type {spec.gpu.type!r}",
            field="--gpu-type",
            hint="the course uses nvidia-tesla-p100 (see: gcloud compute accelerator-types list)",
        )
    if spec.zone not in offering:
        raise InvalidInput(
            f"zone {spec.zone} does not offer {spec.gpu.type}; zones that do: "
            + ", ".join(sorted(offering)),
            field="--zone",
        )
    if spec.gpu.count > offering[spec.zone]:
        raise InvalidInput(
            f"--gpu-count {spec.gpu.count}: {spec.zone} allows at most "
            f"{offering[spec.zone]} {spec.gpu.type} per VM",
            field="--gpu-count",
        )
    return SpecCheck(machine, offering)


def failover_order(first: str, allowed: list[str], offering: dict[str, int]) -> list[str]:
    """The first zone, then allowed zones offering the GPU: same region first, then config order."""
    candidates = [z for z in dict.fromkeys([first, *allowed]) if not offering or z in offering]
    same_region = [z for z in candidates if region_of(z) == region_of(first)]
    return same_region + [z for z in candidates if z not in same_region]


def ensure_name_free(compute: ComputeProvider, name: str) -> None:
    """Refuse a name that exists in any zone (one filtered aggregated list): names are unique
    only per zone, so a second create after a failover would otherwise bill a second GPU."""
    existing = compute.list_vms(name=name)
    if existing:
        where = ", ".join(vm.zone for vm in existing)
        raise AlreadyExists(
            f"VM {name} already exists in {where}", kind="vm", name=name, zone=existing[0].zone
        )


@dataclass
class Provisioner:
    """One VM's creation across zones. `start` sends the first insert; `finish` waits for it
    and, on a stockout or a regional quota, inserts in the next zone and waits again.

    `offering` comes from check_spec (once for a whole class). With `check_name`, each insert is
    preceded by a lookup of the name in every zone (see ensure_name_free); a class leaves it
    off because its plan already knows what exists.
    """

    compute: ComputeProvider
    spec: VmSpec
    zones: list[str]
    wait: bool = True
    check_name: bool = True
    on_attempt: Callable[[Attempt], None] = lambda _: None
    attempts: list[Attempt] = field(default_factory=list)
    sending: bool = False  # an insert went out (its outcome may be unknown after Ctrl-C)
    _blocked_regions: set[str] = field(default_factory=set)
    _last_error: LabctlError | None = None
    _next: int = 0

    @classmethod
    def for_spec(
        cls,
        compute: ComputeProvider,
        spec: VmSpec,
        *,
        allowed_zones: list[str],
        offering: dict[str, int],
        **options: object,
    ) -> Provisioner:
        order = failover_order(spec.zone, allowed_zones, offering) if spec.gpu else [spec.zone]
        return cls(compute, spec, order, **options)  # type: ignore[arg-type]

    def start(self) -> Operation | None:
        """Send inserts until one is accepted (its operation) or every zone refused at once."""
        while self._next < len(self.zones):
            zone = self.zones[self._next]
            self._next += 1
            if region_of(zone) in self._blocked_regions:
                continue
            if zone != self.spec.zone and not self._offers_machine_type(zone):
                continue
            try:
                return self._insert(zone)
            except (Stockout, QuotaExceeded) as exc:
                self._failed(zone, exc)
        return None

    def finish(self, operation: Operation | None) -> CreateResult:
        """Wait for `operation` (from start); fail over while zones remain; the zone used."""
        while operation is not None:
            zone = operation.zone or self.spec.zone
            if not self.wait:
                self._record(zone, "accepted")
                return CreateResult(zone, tuple(self.attempts))
            try:
                self.compute.wait(operation)
            except (Stockout, QuotaExceeded) as exc:
                self._failed(zone, exc)
                operation = self.start()
                continue
            self._record(zone, "created")
            return CreateResult(zone, tuple(self.attempts))
        raise self._exhausted()

    def run(self) -> CreateResult:
        return self.finish(self.start())

    # -- internals ------------------------------------------------------------------------------

    def _insert(self, zone: str) -> Operation:
        if self.check_name or zone != self.spec.zone:
            ensure_name_free(self.compute, self.spec.name)
        self.sending = True
        try:
            return self.compute.insert_vm(
                replace(self.spec, zone=zone), request_id=str(uuid.uuid4())
            )
        except (TransientError, RateLimited) as exc:
            # Retries ran out: the insert may still have been applied. Try no other zone.
            raise MayExist(
                f"{self.spec.name}: {exc.message}; the VM may have been created in {zone}",
                action="create",
                kind="vm",
                name=self.spec.name,
                zone=zone,
            ) from exc
        except AlreadyExists as exc:
            exc.kind, exc.name, exc.zone = "vm", self.spec.name, exc.zone or zone
            raise

    def _failed(self, zone: str, exc: Stockout | QuotaExceeded) -> None:
        if isinstance(exc, QuotaExceeded) and exc.is_global:
            raise exc
        if isinstance(exc, QuotaExceeded):
            self._blocked_regions.add(region_of(zone))
        if not self.wait:
            self._next = len(self.zones)  # without waiting, don't guess further
        self._last_error = exc
        outcome = f"quota {exc.metric}" if isinstance(exc, QuotaExceeded) else "stockout"
        self._record(zone, outcome, retrying=self._has_next())

    def _has_next(self) -> bool:
        rest = self.zones[self._next :]
        return any(region_of(z) not in self._blocked_regions for z in rest)

    def _record(self, zone: str, outcome: str, *, retrying: bool = False) -> None:
        self.attempts.append(Attempt(zone, outcome, retrying))
        self.on_attempt(self.attempts[-1])

    def _exhausted(self) -> LabctlError:
        tried = [a.zone for a in self.attempts]
        listing = ", ".join(f"{a.zone} ({a.outcome})" for a in self.attempts) or "none"
        last = self._last_error
        if isinstance(last, QuotaExceeded):
            return QuotaExceeded(
                f"no allowed region had quota for {self.spec.name}: tried {listing}",
                metric=last.metric,
                region=last.region,
                limit=last.limit,
                kind="vm",
                name=self.spec.name,
            )
        if len(tried) == 1 and isinstance(last, Stockout):
            return last
        return Stockout(
            f"no capacity for {self.spec.name} in any allowed zone: tried {listing}",
            zone=self.spec.zone,
            tried=tried,
            kind="vm",
            name=self.spec.name,
        )

    def _offers_machine_type(self, zone: str) -> bool:
        try:
            self.compute.get_machine_type(zone, self.spec.machine_type)
        except NotFound:
            log.info("skipping %s: it does not offer %s", zone, self.spec.machine_type)
            return False
        return True
