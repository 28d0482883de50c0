"""Cloud Storage client errors (api_core, google.auth, requests) as labctl errors, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
    RateLimited,
    TransientError,
)
from labctl.providers.gcp._errors import strip_request_prefix

RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
DISABLED_REASONS = frozenset({"accessNotConfigured", "SERVICE_DISABLED"})


def _server_message(exc: BaseException) -> str:
    """The server's words, unless it sent none (the emulator's empty bodies: 'unknown error')."""
    message = strip_request_prefix(str(getattr(exc, "message", "") or ""))
    message = message.strip().splitlines()[0] if message.strip() else ""
    return "" if message in ("unknown error", "") else message


def _reasons(exc: BaseException) -> set[str]:
    reasons = {str(getattr(exc, "reason", "") or "")}
    for err in getattr(exc, "errors", None) or []:
        if isinstance(err, dict):
            reasons.add(str(err.get("reason", "")))
    return reasons - {""}


def translate(exc: BaseException, what: str, **facts: Any) -> LabctlError | None:
    """The labctl error for a client-library exception, or None if it is not one we know.

    `what` names the thing acted on ("bucket 'x'", "gs://b/o"); messages read "<what>: ...".
    `facts` (kind, name) are attached to the error for the CLI's advice.
    """
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exc

    if isinstance(exc, gexc.RetryError):
        return _retries_ran_out(exc, what, **facts)
    said = _server_message(exc)
    detail = f" ({said})" if said else ""
    if isinstance(exc, gexc.NotFound):
        return NotFound(f"{what}: not found", **facts)
    if isinstance(exc, gexc.Conflict):
        return AlreadyExists(f"{what}: already exists{detail}", **facts)
    if isinstance(exc, gexc.PreconditionFailed):
        return PreconditionFailed(f"{what}: changed meanwhile{detail}; try again", **facts)
    if isinstance(exc, gexc.TooManyRequests):
        return RateLimited(f"{what}: rate limited{detail}")
    if isinstance(exc, gexc.Unauthorized):
        return CredentialsError(f"{what}: not authenticated{detail}")
    if isinstance(exc, gexc.Forbidden):
        reasons = _reasons(exc)
        if reasons & RATE_REASONS:
            return RateLimited(f"{what}: rate limited{detail}")
        if reasons & DISABLED_REASONS:
            return ApiDisabled(
                f"the Cloud Storage API is not enabled{detail}", api="storage.googleapis.com"
            )
        return PermissionDenied(f"{what}: permission denied{detail}", **facts)
    if isinstance(exc, gexc.BadRequest):
        return InvalidInput(f"{what}: rejected by Cloud Storage{detail}", **facts)
    if isinstance(exc, gexc.ServerError):
        return TransientError(f"{what}: Cloud Storage error {exc.code}{detail}")
    if isinstance(exc, gexc.GoogleAPICallError):
        return LabctlError(f"{what}: Cloud Storage error {exc.code}{detail}")
    if isinstance(exc, auth_exc.RefreshError | auth_exc.DefaultCredentialsError):
        return CredentialsError(f"Google credentials could not be used: {exc}")
    if isinstance(exc, auth_exc.TransportError):
        return TransientError(f"{what}: could not reach Google: {exc}")
    if _is_data_corruption(exc):
        return LabctlError(f"{what}: checksum mismatch, the data was damaged in transit; retry")
    import requests

    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return TransientError(f"{what}: could not reach Cloud Storage ({type(exc).__name__})")
    if isinstance(exc, requests.RequestException):  # a broken response, a cut download
        return TransientError(f"{what}: the connection to Cloud Storage failed ({exc})")
    return None


def _retries_ran_out(exc: Any, what: str, **facts: Any) -> LabctlError:
    """api_core's RetryError: the client library retried until its deadline. Its cause is the
    last error; a LabctlError (EndpointUnreachable) is kept as it is."""
    cause = exc.cause
    if isinstance(cause, LabctlError):
        return cause
    mapped = translate(cause, what, **facts) if cause is not None else None
    if mapped is not None and not isinstance(mapped, TransientError | RateLimited):
        return mapped
    last = f": {mapped.message}" if mapped is not None else ""
    return TransientError(f"{what}: Cloud Storage did not answer before the deadline{last}")


def _is_data_corruption(exc: BaseException) -> bool:
    return type(exc).__name__ == "DataCorruption"


@contextmanager
def storage_errors(what: str, **facts: Any) -> Iterator[None]:
    """Re-raise client-library exceptions raised inside the block as labctl errors."""
    try:
        yield
    except LabctlError:
        raise
    except Exception as exc:
        mapped = translate(exc, what, **facts)
        if mapped is None:
            raise
        raise mapped from exc
