"""Waiting on zonal operations with an endpoint-configured ZoneOperationsClient."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from labctl.errors import OperationTimeout
from labctl.providers.gcp import _errors

if TYPE_CHECKING:
    from google.cloud import compute_v1

log = logging.getLogger(__name__)

WAIT_CALL_SECONDS = 120.0  # Compute's own upper bound for one zoneOperations.wait


def operation_json(operation: compute_v1.Operation) -> dict[str, Any]:
    """The Operation in REST form (camelCase keys, enums as names)."""
    from google.cloud import compute_v1

    as_dict: dict[str, Any] = compute_v1.Operation.to_dict(
        operation, preserving_proto_field_name=False, use_integers_for_enums=False
    )
    return as_dict


def is_done(operation: compute_v1.Operation) -> bool:
    from google.cloud import compute_v1

    return bool(operation.status == compute_v1.Operation.Status.DONE)


def raise_if_failed(operation: compute_v1.Operation, *, zone: str | None) -> None:
    error = _errors.from_operation(operation_json(operation), zone=zone)
    if error is not None:
        raise error


def wait_zone_operation(
    client: compute_v1.ZoneOperationsClient,
    operation: compute_v1.Operation,
    *,
    project: str,
    zone: str,
    timeout: float,
    call: Callable[[Callable[[], compute_v1.Operation]], compute_v1.Operation],
    poll_interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> compute_v1.Operation:
    """Loop zoneOperations.wait until DONE or `timeout` seconds, then raise what the operation
    ended with (Stockout, QuotaExceeded, ...) or OperationTimeout.

    `wait` is best effort and may return early, so a short pause separates quick returns.
    `call` runs each request (retries and error translation).
    Never ExtendedOperation.result(): it polls the public endpoint whatever client_options say.
    """
    deadline = clock() + timeout
    name = operation.name
    while not is_done(operation):
        remaining = deadline - clock()
        if remaining <= 0:
            raise OperationTimeout(
                f"operation {name} in {zone} did not finish within {timeout:.0f}s",
                hint="it continues in the background; check with: labctl vm list",
            )
        started = clock()
        call_timeout = min(remaining, WAIT_CALL_SECONDS) + 10.0
        operation = call(
            partial(client.wait, project=project, zone=zone, operation=name, timeout=call_timeout)
        )
        if not is_done(operation) and clock() - started < poll_interval:
            sleep(min(poll_interval, max(0.0, deadline - clock())))
    if operation.warnings:
        for warning in operation.warnings:
            log.info("operation %s: %s: %s", name, warning.code, warning.message)
    raise_if_failed(operation, zone=zone)
    return operation
