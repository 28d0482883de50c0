"""Compute operations: from their JSON to labctl's `Operation`, and waiting for them.

Waiting uses `{zone,region,global}Operations.wait` on the provider's own endpoint. The client
library's `ExtendedOperation.result()` would poll the public endpoint whatever endpoint the
client was given (its internal operations client is built without client_options), and
`wait` is best effort (it may return before DONE), so it runs in a loop with a deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from labctl.deadline import Backoff, Deadline, attempts
from labctl.errors import LabctlError, OperationTimeout
from labctl.providers.base import Operation
from labctl.providers.gcp import _errors
from labctl.providers.gcp._parse import last_segment
from labctl.providers.gcp._rest import RestCompute

log = logging.getLogger(__name__)

WAIT_CALL_SECONDS = 120.0  # Compute's own upper bound for one operations.wait call


def operation_of(body: Mapping[str, Any]) -> Operation:
    """An Operation JSON ("zone": ".../zones/us-central1-c" or "region": ... or neither)."""
    if body.get("zone"):
        scope = f"zones/{last_segment(body['zone'])}"
    elif body.get("region"):
        scope = f"regions/{last_segment(body['region'])}"
    else:
        scope = "global"
    target = str(body.get("targetLink") or "")
    short_target = "/".join(target.rstrip("/").split("/")[-2:]) if target else ""
    return Operation(name=str(body["name"]), scope=scope, target=short_target)


def failure_of(body: Mapping[str, Any]) -> LabctlError | None:
    """The error a finished operation ended with, or None."""
    return _errors.from_operation(body, zone=last_segment(body.get("zone")) or None)


def wait_operation(
    rest: RestCompute,
    operation: Operation,
    *,
    timeout: float,
    poll_interval: float = 1.0,
    deadline: Deadline | None = None,
) -> dict[str, Any]:
    """Call `operations.wait` until the operation is DONE or `timeout` seconds pass, then raise
    what it ended with (Stockout, QuotaExceeded, ...) or OperationTimeout; the final JSON."""
    deadline = deadline or Deadline(timeout)
    path = f"{operation.scope}/operations/{operation.name}/wait"
    # `wait` answers at DONE or after its own limit; if it comes back early and not DONE
    # (it is best effort) the loop pauses briefly instead of spinning.
    pauses = Backoff(initial=poll_interval, maximum=poll_interval)
    body: dict[str, Any] = {}
    for _ in attempts(deadline, pauses):
        read_timeout = deadline.cap(WAIT_CALL_SECONDS) + 10.0
        body = rest.post(path, zone=operation.zone, timeout=read_timeout)
        if body.get("status") == "DONE":
            for warning in body.get("warnings") or ():
                log.info("operation %s: %s", operation.name, warning.get("message"))
            error = failure_of(body)
            if error is not None:
                raise error
            return body
    raise OperationTimeout(
        f"operation {operation.name} ({operation.target or operation.scope}) did not finish "
        f"within {timeout:.0f} s; it continues in the background",
        zone=operation.zone,
    )
