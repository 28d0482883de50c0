"""labctl's error types: structured facts raised by the domain and the providers.

Errors carry what happened (a one-line `message`) and the facts it is about (`kind`, `name`,
`zone`, `region`, `metric` ...). Turning them into advice for a person, with the next labctl
command to run and an exit code, happens in one place: `labctl.cli._errors`. So nothing below
the CLI names a command; `hint` here is only for advice that is not a command ("use 1-63
characters") or a command of another tool the user runs (gcloud, ssh-keygen).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class LabctlError(Exception):
    """Base error: a one-line message, optional non-command advice, and the facts involved."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        kind: str | None = None,
        name: str | None = None,
        zone: str | None = None,
        region: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind  # "vm", "bucket", "disk", "snapshot", "address", "firewall", ...
        self.name = name
        self.zone = zone
        self.region = region


class InvalidInput(LabctlError):
    """Bad input caught before (or by) the cloud: a name, a flag, a value. Exit code 2.

    `field` names what was wrong ("--disk-size", "course.zone", "roster.csv line 4").
    """

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None, **facts: Any) -> None:
        super().__init__(message, **facts)
        self.field = field


class ConfigError(InvalidInput):
    """A configuration value or file is invalid; the message names the field."""


class LocalError(InvalidInput):
    """A problem with a local file or directory (unreadable, not writable, not UTF-8 ...)."""


class CredentialsError(LabctlError):
    """No usable Google credentials."""


class PermissionDenied(LabctlError):
    """The credentials work but may not do this (HTTP 403 that is not a quota or rate limit)."""


class ApiDisabled(LabctlError):
    """A Google API is not enabled in the project. `api` is e.g. "compute.googleapis.com"."""

    def __init__(self, message: str, *, api: str, **facts: Any) -> None:
        super().__init__(message, **facts)
        self.api = api


class NotFound(LabctlError):
    """The named resource does not exist."""


class AlreadyExists(LabctlError):
    """A resource with that name already exists. `owned`: ours (True), someone else's (False)
    or unknown (None); `zone` is where it is, when known."""

    def __init__(self, message: str, *, owned: bool | None = None, **facts: Any) -> None:
        super().__init__(message, **facts)
        self.owned = owned


class NotEmpty(LabctlError):
    """A bucket still holds objects and --force was not given."""


class PreconditionFailed(LabctlError):
    """A fingerprint or generation did not match: someone else changed the resource."""


class WrongState(LabctlError):
    """The resource is not in a state that allows this (a stopped VM cannot be tunnelled to).

    `state` is labctl's state name ("stopped", "pending").
    """

    def __init__(self, message: str, *, state: str, **facts: Any) -> None:
        super().__init__(message, **facts)
        self.state = state


class Stockout(LabctlError):
    """The zone has no capacity for the request right now (ZONE_RESOURCE_POOL_EXHAUSTED*).

    `tried` lists every zone tried when failover ran out of zones.
    """

    def __init__(
        self,
        message: str,
        *,
        zone: str,
        zones_available: Sequence[str] = (),
        tried: Sequence[str] = (),
        **facts: Any,
    ) -> None:
        super().__init__(message, zone=zone, **facts)
        self.zones_available = tuple(zones_available)
        self.tried = tuple(tried)


class QuotaExceeded(LabctlError):
    """A quota is exhausted. `region` is None for global quotas such as GPUS_ALL_REGIONS."""

    def __init__(
        self,
        message: str,
        *,
        metric: str,
        region: str | None = None,
        limit: float | None = None,
        needed: float | None = None,
        **facts: Any,
    ) -> None:
        super().__init__(message, region=region, **facts)
        self.metric = metric
        self.limit = limit
        self.needed = needed

    @property
    def is_global(self) -> bool:
        return self.region is None


class RateLimited(LabctlError):
    """The API asked us to slow down (403 rateLimitExceeded / 429). Retryable."""


class TransientError(LabctlError):
    """A 5xx or a dropped connection. Retryable."""


class EndpointUnreachable(LabctlError):
    """Nothing answers at a local endpoint override (an emulator that is not running).

    Not retried: a refused connection on this machine will not fix itself in seconds.
    """

    def __init__(self, message: str, *, url: str, **facts: Any) -> None:
        super().__init__(message, **facts)
        self.url = url


class OperationTimeout(LabctlError):
    """An operation did not finish before its deadline; it may still finish later."""


class MayExist(LabctlError):
    """A create or change was sent but its outcome is unknown (retries ran out, Ctrl-C).

    `action` is the verb ("create", "stop", "delete") applied to `kind` `name`.
    """

    def __init__(self, message: str, *, action: str, **facts: Any) -> None:
        super().__init__(message, **facts)
        self.action = action


class Interrupted(LabctlError):
    """Ctrl-C while requests were in flight. `in_flight` maps item name -> what was pending."""

    exit_code = 130

    def __init__(
        self,
        message: str,
        *,
        action: str,
        in_flight: Mapping[str, str] | None = None,
        **facts: Any,
    ) -> None:
        super().__init__(message, **facts)
        self.action = action
        self.in_flight = dict(in_flight or {})


class Declined(LabctlError):
    """The user answered no, or there was no terminal to ask and --yes was not given."""

    def __init__(self, message: str, *, no_terminal: bool = False, **facts: Any) -> None:
        super().__init__(message, **facts)
        self.no_terminal = no_terminal


class PartialFailure(LabctlError):
    """A batch where some items failed; `failures` maps item name to its error."""

    def __init__(self, message: str, failures: Mapping[str, LabctlError], **facts: Any):
        super().__init__(message, **facts)
        self.failures = dict(failures)
