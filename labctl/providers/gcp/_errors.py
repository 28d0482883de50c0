"""Compute Engine errors (REST error bodies, Operation.error, transport exceptions) as labctl
errors, classified in one place."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labctl.errors import (
    AlreadyExists,
    ApiDisabled,
    CredentialsError,
    InvalidInput,
    LabctlError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    QuotaExceeded,
    RateLimited,
    Stockout,
    TransientError,
)

STOCKOUT_CODES = frozenset(
    {
        "ZONE_RESOURCE_POOL_EXHAUSTED",
        "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
        "insufficientCapacity",
        "UNSUPPORTED_OPERATION",
    }
)
RATE_CODES = frozenset(
    {
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "RESOURCE_OPERATION_RATE_EXCEEDED",
        "CONCURRENT_OPERATIONS_QUOTA_EXCEEDED",
    }
)
QUOTA_CODES = frozenset({"quotaExceeded", "QUOTA_EXCEEDED"})
NOT_FOUND_CODES = frozenset({"notFound", "RESOURCE_NOT_FOUND"})
EXISTS_CODES = frozenset({"alreadyExists", "RESOURCE_ALREADY_EXISTS"})
TRANSIENT_CODES = frozenset({"RESOURCE_NOT_READY", "backendError", "internalError"})
API_DISABLED_CODES = frozenset({"accessNotConfigured", "SERVICE_DISABLED"})

# "Quota 'NVIDIA_P100_GPUS' exceeded. Limit: 0.0 in region us-central1."
# "Quota 'GPUS_ALL_REGIONS' exceeded. Limit: 0.0 globally."
_QUOTA_RE = re.compile(
    r"Quota '(?P<metric>[A-Za-z0-9_]+)' exceeded\.\s*Limit:\s*(?P<limit>[0-9.]+)"
    r"(?:\s+in region (?P<region>[a-z0-9-]+)|\s+(?P<globally>globally))?"
)
_ZONE_IN_MESSAGE_RE = re.compile(r"zones/([a-z0-9-]+)")
_SPACES_RE = re.compile(r"\s+")


@dataclass
class Problem:
    """An error in one shape, whatever way it arrived.

    `codes` holds reasons (`rateLimitExceeded`) and operation codes (`QUOTA_EXCEEDED`);
    `details` holds JSON-shaped detail objects (`{"errorInfo": {...}}`, `{"quotaInfo": {...}}`,
    or google.rpc `{"@type": ".../google.rpc.ErrorInfo", "metadata": {...}}`).
    """

    status: int | None
    message: str
    codes: list[str] = field(default_factory=list)
    details: list[Mapping[str, Any]] = field(default_factory=list)


def one_line(text: str, limit: int = 300) -> str:
    text = _SPACES_RE.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Entry points, one per way an error arrives.


def from_rest_response(
    status: int, body: bytes | str | Mapping[str, Any] | None, *, zone: str | None = None
) -> LabctlError:
    """A non-2xx response of the REST API: `{"error": {"code", "message", "errors", "details"}}`."""
    payload: Any = body
    if isinstance(body, bytes | str):
        try:
            payload = json.loads(body or "{}")
        except ValueError:
            payload = {}
    if isinstance(payload, list):  # some proxies wrap the body in a list
        payload = next((p for p in payload if isinstance(p, dict)), {})
    error = payload.get("error", {}) if isinstance(payload, Mapping) else {}
    if not isinstance(error, Mapping):
        error = {"message": str(error)}
    errors = [e for e in error.get("errors", ()) if isinstance(e, Mapping)]
    message = str(error.get("message") or (errors[0].get("message") if errors else "") or "")
    problem = Problem(
        status=status,
        message=message or f"HTTP {status}",
        codes=[str(e.get("reason")) for e in errors if e.get("reason")],
        details=[d for d in error.get("details", ()) if isinstance(d, Mapping)],
    )
    return classify(problem, zone=zone)


def from_operation(operation: Mapping[str, Any], *, zone: str | None = None) -> LabctlError | None:
    """A finished Operation in JSON form (camelCase); None if it succeeded."""
    errors = [e for e in (operation.get("error") or {}).get("errors", ()) if isinstance(e, Mapping)]
    if not errors:
        return None
    status = operation.get("httpErrorStatusCode")
    details: list[Mapping[str, Any]] = []
    for err in errors:
        details.extend(d for d in err.get("errorDetails", ()) if isinstance(d, Mapping))
    problem = Problem(
        status=int(status) if status else None,
        message=str(errors[0].get("message") or operation.get("httpErrorMessage") or ""),
        codes=[str(e["code"]) for e in errors if e.get("code")],
        details=details,
    )
    return classify(problem, zone=zone or _last_segment(operation.get("zone")))


def from_exception(exc: BaseException, *, zone: str | None = None) -> LabctlError | None:
    """google.auth / requests exceptions; None for anything else (a real bug)."""
    if isinstance(exc, LabctlError):
        return exc
    module = type(exc).__module__
    if module.startswith("google.auth"):
        return _from_auth_exception(exc)
    if module.startswith("requests") or isinstance(exc, ConnectionError | TimeoutError):
        return TransientError(f"could not reach Compute Engine: {one_line(str(exc), 160)}")
    return None


def _from_auth_exception(exc: BaseException) -> LabctlError:
    name = type(exc).__name__
    if name == "TransportError":
        return TransientError(
            f"could not reach the Google token service: {one_line(str(exc), 160)}"
        )
    if name == "DefaultCredentialsError":
        return CredentialsError("no Google Cloud credentials found")
    return CredentialsError(f"Google credentials are not usable: {one_line(str(exc), 160)}")


def strip_request_prefix(message: str) -> str:
    # api_core formats REST errors as "POST https://...: <message>".
    match = re.match(r"^(?:GET|POST|PUT|PATCH|DELETE) \S+: (.*)$", message, re.S)
    return match.group(1) if match else message


# ---------------------------------------------------------------------------------------------
# One classifier for every shape.


def _disabled_service(problem: Problem) -> str | None:
    """The API named by a SERVICE_DISABLED ErrorInfo ("cloudbilling.googleapis.com"), if any."""
    for detail in problem.details:
        info = detail.get("errorInfo", detail)
        if isinstance(info, Mapping) and info.get("reason") == "SERVICE_DISABLED":
            metadata = info.get("metadata") or info.get("metadatas") or {}
            service = metadata.get("service") if isinstance(metadata, Mapping) else None
            return str(service) if service else None
    return None


def classify(problem: Problem, *, zone: str | None = None) -> LabctlError:
    codes = set(problem.codes)
    status = problem.status
    message = one_line(problem.message) or (f"HTTP {status}" if status else "unknown error")

    if codes & STOCKOUT_CODES:
        return _stockout(problem, zone=zone)
    if codes & RATE_CODES or status == 429:
        return RateLimited(f"Compute Engine rate limit reached: {message}")
    if codes & QUOTA_CODES or _QUOTA_RE.search(problem.message):
        return _quota(problem)
    if codes & NOT_FOUND_CODES or status == 404:
        return NotFound(message)
    if codes & EXISTS_CODES or status == 409:
        return AlreadyExists(message)
    if status == 412 or "conditionNotMet" in codes:
        return PreconditionFailed(message)
    if status == 401:
        return CredentialsError(f"Google rejected the credentials: {message}")
    if codes & API_DISABLED_CODES or _disabled_service(problem):
        return ApiDisabled(message, api=_disabled_service(problem) or "compute.googleapis.com")
    if status == 403:
        return PermissionDenied(f"permission denied: {message}")
    if status == 400:
        return InvalidInput(message)
    if codes & TRANSIENT_CODES or (status is not None and status >= 500):
        return TransientError(f"Compute Engine is temporarily unavailable: {message}")
    if status is not None and 400 <= status < 500:
        return InvalidInput(message)
    return LabctlError(message)


def _error_infos(details: Sequence[Mapping[str, Any]]) -> list[Mapping[str, str]]:
    """The metadata maps of every ErrorInfo (Compute's `metadatas`, google.rpc's `metadata`)."""
    found: list[Mapping[str, str]] = []
    for detail in details:
        info = detail.get("errorInfo")
        if info is None and str(detail.get("@type", "")).endswith("google.rpc.ErrorInfo"):
            info = detail
        if isinstance(info, Mapping):
            meta = info.get("metadatas") or info.get("metadata") or {}
            if isinstance(meta, Mapping):
                found.append(meta)
    return found


def _stockout(problem: Problem, *, zone: str | None) -> Stockout:
    infos = _error_infos(problem.details)
    meta_zone = next((m["zone"] for m in infos if m.get("zone")), None)
    match = _ZONE_IN_MESSAGE_RE.search(problem.message)
    where = meta_zone or zone or (match.group(1) if match else "") or "unknown"
    available_text = next((m["zonesAvailable"] for m in infos if m.get("zonesAvailable")), "")
    available = tuple(z.strip() for z in str(available_text).split(",") if z.strip())
    code = next((c for c in problem.codes if c in STOCKOUT_CODES), "stockout")
    return Stockout(
        f"zone {where} has no capacity for this VM right now ({code})",
        zone=where,
        zones_available=available,
    )


def _quota(problem: Problem) -> QuotaExceeded:
    metric: str | None = None
    region: str | None = None
    limit: float | None = None
    is_global = False
    match = _QUOTA_RE.search(problem.message)
    if match:
        metric = match.group("metric")
        limit = float(match.group("limit"))
        region = match.group("region")
        is_global = bool(match.group("globally"))
    for detail in problem.details:
        info = detail.get("quotaInfo")
        if not isinstance(info, Mapping):
            continue
        if metric is None and info.get("metricName"):
            metric = str(info["metricName"]).rsplit("/", 1)[-1].upper()
        if limit is None and info.get("limit") is not None:
            limit = float(info["limit"])
        dims = info.get("dimensions") or {}
        if region is None and isinstance(dims, Mapping) and dims.get("region"):
            region = str(dims["region"])
    metric = metric or "UNKNOWN"
    if metric == "GPUS_ALL_REGIONS" or is_global:
        region = None
    where = f"in region {region}" if region else "globally"
    shown_limit = f" (limit {limit:g})" if limit is not None else ""
    return QuotaExceeded(
        f"quota {metric} exceeded {where}{shown_limit}", metric=metric, region=region, limit=limit
    )


def _last_segment(url: Any) -> str | None:
    return str(url).rsplit("/", 1)[-1] if url else None
