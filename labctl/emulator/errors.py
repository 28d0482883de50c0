"""ApiError: an HTTP error rendered in Compute Engine's JSON error shape."""

from __future__ import annotations

from typing import Any

# The reason strings Compute puts in error.errors[].reason, keyed by HTTP status.
_DEFAULT_REASON = {
    400: "invalid",
    403: "forbidden",
    404: "notFound",
    409: "alreadyExists",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    501: "notImplemented",
    503: "backendError",
}


class ApiError(Exception):
    """An error the emulator returns synchronously, as Compute does.

    Body shape: ``{"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}``,
    plus ``status`` and ``details`` where Google's front end adds them (a disabled API).
    """

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        domain: str = "global",
        *,
        status: str | None = None,
        details: list[dict[str, Any]] | None = None,
        extended_help: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason or _DEFAULT_REASON.get(code, "error")
        self.domain = domain
        self.status = status  # the google.rpc code name, e.g. PERMISSION_DENIED
        self.details = details  # google.rpc detail messages (ErrorInfo, Help, ...)
        self.extended_help = extended_help

    def body(self) -> dict[str, Any]:
        entry = {"message": self.message, "domain": self.domain, "reason": self.reason}
        if self.extended_help:
            entry["extendedHelp"] = self.extended_help
        error: dict[str, Any] = {"code": self.code, "message": self.message, "errors": [entry]}
        if self.status:
            error["status"] = self.status
        if self.details:
            error["details"] = self.details
        return {"error": error}


def not_found(path: str) -> ApiError:
    """404 for a resource path like ``projects/p/zones/z/instances/i``."""
    return ApiError(404, f"The resource '{path}' was not found", "notFound")


def already_exists(path: str) -> ApiError:
    return ApiError(409, f"The resource '{path}' already exists", "alreadyExists")


def invalid_field(field: str, value: object, why: str) -> ApiError:
    """400 in Compute's "Invalid value for field" wording."""
    return ApiError(400, f"Invalid value for field '{field}': '{value}'. {why}", "invalid")


def bad_request(message: str) -> ApiError:
    return ApiError(400, message, "badRequest")


def in_use(kind: str, path: str, user: str) -> ApiError:
    """400 for deleting (or attaching) something another resource uses, in Compute's wording.

    ``kind`` is Compute's resource type word: ``disk``, ``address``, ``resource_policy``.
    """
    return ApiError(
        400,
        f"The {kind} resource '{path}' is already being used by '{user}'",
        "resourceInUseByAnotherResource",
    )
