"""labctl's error types: providers translate cloud errors into these; the CLI prints one line."""

from __future__ import annotations


class LabctlError(Exception):
    """Base error: a one-line message, an optional hint (the next thing to try) and an exit code."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class InvalidInput(LabctlError):
    """Bad input caught before (or by) the cloud: a name, a flag, a value. Exit code 2."""

    exit_code = 2


class ConfigError(InvalidInput):
    """A configuration value or file is invalid; the message names the field."""


class CredentialsError(LabctlError):
    """No usable Google credentials."""


class NotFound(LabctlError):
    """The named resource does not exist."""


class AlreadyExists(LabctlError):
    """A resource with that name already exists."""


class PreconditionFailed(LabctlError):
    """A fingerprint or generation did not match: someone else changed the resource."""


class Stockout(LabctlError):
    """The zone has no capacity for the request right now (ZONE_RESOURCE_POOL_EXHAUSTED*)."""

    def __init__(
        self,
        message: str,
        *,
        zone: str,
        zones_available: tuple[str, ...] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.zone = zone
        self.zones_available = zones_available


class QuotaExceeded(LabctlError):
    """A quota is exhausted. `region` is None for global quotas such as GPUS_ALL_REGIONS."""

    def __init__(
        self,
        message: str,
        *,
        metric: str,
        region: str | None = None,
        limit: float | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.metric = metric
        self.region = region
        self.limit = limit

    @property
    def is_global(self) -> bool:
        return self.region is None


class RateLimited(LabctlError):
    """The API asked us to slow down (403 rateLimitExceeded / 429). Retryable."""


class TransientError(LabctlError):
    """A 5xx or a dropped connection. Retryable."""


class OperationTimeout(LabctlError):
    """An operation did not finish before its deadline."""


class PartialFailure(LabctlError):
    """A batch where some items failed; `failures` maps item name to its error."""

    def __init__(self, message: str, failures: dict[str, LabctlError], *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.failures = failures
