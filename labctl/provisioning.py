"""Creating one course VM the first time right: checks before the insert, then zone failover.

Failover rules (GCP_FACTS 3.2): a stockout moves to the next zone offering the accelerator, same
region first; a regional quota skips the rest of that region; GPUS_ALL_REGIONS stops at once.
Each zone gets its own requestId; a retried insert in one zone reuses it, so at most one VM exists.
"""

from __future__ import annotations

import difflib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from labctl.errors import (
    InvalidInput,
    LabctlError,
    NotFound,
    QuotaExceeded,
    RateLimited,
    Stockout,
    TransientError,
)
from labctl.models import VmSpec, region_of
from labctl.providers.base import ComputeProvider

log = logging.getLogger(__name__)

QUOTA_HINT = (
    "request more quota at https://console.cloud.google.com/iam-admin/quotas "
    "(new projects start with GPUS_ALL_REGIONS = 0)"
)


@dataclass(frozen=True)
class Attempt:
    zone: str
    outcome: str  # "created", "stockout", "quota METRIC"


@dataclass(frozen=True)
class CreateResult:
    zone: str
    attempts: tuple[Attempt, ...]


def check_spec(compute: ComputeProvider, spec: VmSpec) -> dict[str, int]:
    """Check the zone, machine type and accelerator before any insert.

    Returns the zones offering the spec's accelerator ({} without one) for failover.
    """
    zones = compute.list_zones()
    if spec.zone not in zones:
        close = difflib.get_close_matches(spec.zone, zones, n=3)
        raise InvalidInput(
            f"unknown zone {spec.zone!r}",
            hint=f"did you mean: {', '.join(close)}"
            if close
            else "list them: gcloud compute zones list",
        )
    try:
        compute.get_machine_type(spec.zone, spec.machine_type)
    except NotFound:
        raise InvalidInput(
            f"machine type {spec.machine_type!r} is not offered in zone {spec.zone}",
            hint="for the course VM use n1-standard-8 (P100s attach only to N1 machine types)",
        ) from None
    if spec.gpu is None:
        return {}
    offering = compute.accelerator_zones(spec.gpu.type)
    if not offering:
        raise InvalidInput(
            f"unknown GPU type {spec.gpu.type!r}",
            hint="the course uses nvidia-tesla-p100 (see: gcloud compute accelerator-types list)",
        )
    if spec.zone not in offering:
        raise InvalidInput(
            f"zone {spec.zone} does not offer {spec.gpu.type}; zones that do: "
            + ", ".join(sorted(offering)),
            hint="pass one of them with --zone",
        )
    if spec.gpu.count > offering[spec.zone]:
        raise InvalidInput(
            f"--gpu-count {spec.gpu.count}: {spec.zone} allows at most "
            f"{offering[spec.zone]} {spec.gpu.type} per VM"
        )
    return offering


def failover_order(first: str, allowed: list[str], offering: dict[str, int]) -> list[str]:
    """The first zone, then allowed zones offering the GPU: same region first, then config order."""
    candidates = [z for z in dict.fromkeys([first, *allowed]) if not offering or z in offering]
    same_region = [z for z in candidates if region_of(z) == region_of(first)]
    return same_region + [z for z in candidates if z not in same_region]


def create_with_failover(
    compute: ComputeProvider,
    spec: VmSpec,
    *,
    allowed_zones: list[str],
    wait: bool = True,
    on_attempt: Callable[[Attempt], None] = lambda _: None,
) -> CreateResult:
    """Create `spec` in its zone or, on stockout/regional quota, in the next allowed zone.

    Raises the last Stockout (with every zone tried in its message) when no zone had capacity,
    and QuotaExceeded at once for a global quota.
    """
    offering = check_spec(compute, spec)
    order = failover_order(spec.zone, allowed_zones, offering) if spec.gpu else [spec.zone]
    attempts: list[Attempt] = []
    blocked_regions: set[str] = set()
    last_error: LabctlError | None = None
    for zone in order:
        if region_of(zone) in blocked_regions:
            continue
        candidate = replace(spec, zone=zone)
        if zone != spec.zone and not _offers_machine_type(compute, zone, spec.machine_type):
            continue
        try:
            compute.create_vm(candidate, request_id=str(uuid.uuid4()), wait=wait)
        except (TransientError, RateLimited) as exc:
            # Retries ran out: the insert may still have been applied. Say so, try no other zone.
            exc.hint = f"{spec.name} may have been created in {zone}; check: labctl vm list"
            raise
        except Stockout as exc:
            last_error = exc
            attempts.append(Attempt(zone, "stockout"))
        except QuotaExceeded as exc:
            if exc.is_global:
                exc.hint = exc.hint or QUOTA_HINT
                raise
            last_error = exc
            blocked_regions.add(region_of(zone))
            attempts.append(Attempt(zone, f"quota {exc.metric}"))
        else:
            attempts.append(Attempt(zone, "created"))
            on_attempt(attempts[-1])
            return CreateResult(zone=zone, attempts=tuple(attempts))
        on_attempt(attempts[-1])
        if not wait:
            break  # without waiting only synchronous errors are seen; don't guess further
    tried = ", ".join(f"{a.zone} ({a.outcome})" for a in attempts) or "none"
    if isinstance(last_error, QuotaExceeded):
        raise QuotaExceeded(
            f"no region had quota for {spec.name}: tried {tried}",
            metric=last_error.metric,
            region=last_error.region,
            limit=last_error.limit,
            hint=QUOTA_HINT,
        )
    raise Stockout(
        f"no capacity for {spec.name} in any allowed zone: tried {tried}",
        zone=spec.zone,
        hint="try again later, or allow more zones in course.fallback_zones",
    )


def _offers_machine_type(compute: ComputeProvider, zone: str, machine_type: str) -> bool:
    try:
        compute.get_machine_type(zone, machine_type)
    except NotFound:
        log.info("skipping %s: it does not offer %s", zone, machine_type)
        return False
    return True
