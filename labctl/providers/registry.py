"""Which implementation labctl talks to: `gcp` (Google Cloud, the default) or `fake` (in memory).

`LABCTL_PROVIDER=fake` runs any command against empty in-memory providers (a dry rehearsal with
no cloud and no emulator); tests build a `Providers` around their own fakes and hand it to the
CLI instead of patching anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labctl.errors import InvalidInput

if TYPE_CHECKING:
    from labctl.providers.base import ComputeProvider, StorageProvider
    from labctl.providers.fake.compute import FakeCompute
    from labctl.providers.fake.storage import FakeStorage

PROVIDER_ENV = "LABCTL_PROVIDER"


@dataclass(frozen=True)
class Target:
    """What a provider is made for: the --project flag (or None) and the configured project."""

    project: str | None = None
    config_project: str | None = None


@dataclass(frozen=True)
class Providers:
    """Factories for the providers one command may use (each built only if used)."""

    name: str
    compute: Callable[[Target], ComputeProvider]
    storage: Callable[[Target], StorageProvider]


def gcp() -> Providers:
    def compute(target: Target) -> ComputeProvider:
        from labctl.providers.gcp import make_compute

        return make_compute(project=target.project, config_project=target.config_project)

    def storage(target: Target) -> StorageProvider:
        from labctl.providers.gcp.storage import make_storage

        return make_storage(target.project, config_project=target.config_project)

    return Providers("gcp", compute, storage)


def fake(compute: FakeCompute | None = None, storage: FakeStorage | None = None) -> Providers:
    """In-memory providers; pass your own fakes to inspect them afterwards."""
    from labctl.providers.fake.compute import FakeCompute
    from labctl.providers.fake.storage import FakeStorage

    made_compute = compute or FakeCompute()
    made_storage = storage or FakeStorage()
    return Providers("fake", lambda _: made_compute, lambda _: made_storage)


REGISTRY: dict[str, Callable[[], Providers]] = {"gcp": gcp, "fake": fake}


def from_environment() -> Providers:
    """The providers LABCTL_PROVIDER names (default gcp)."""
    name = os.environ.get(PROVIDER_ENV, "gcp").strip() or "gcp"
    if name not in REGISTRY:
        raise InvalidInput(
            f"{PROVIDER_ENV}={name!r}: use one of {', '.join(REGISTRY)}", field=PROVIDER_ENV
        )
    return REGISTRY[name]()
