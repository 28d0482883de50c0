"""The handler registry, the per-request context and helpers for resource links."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labctl import catalog
from labctl.emulator.errors import invalid_field
from labctl.emulator.faults import Faults
from labctl.emulator.state import LINK, State, render


@dataclass
class Ctx:
    """One Compute request: the method's path parameters, query, body and shared state."""

    state: State
    faults: Faults
    method_id: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    base: str  # e.g. "http://127.0.0.1:8085/compute/v1/", for selfLinks and list filters

    @property
    def project(self) -> str:
        return self.params["project"]

    @property
    def proj(self) -> dict[str, Any]:
        return self.state.project(self.project)

    def zone(self) -> str:
        """The path's zone, which must exist (400 like Compute otherwise)."""
        zone = self.params["zone"]
        if zone not in catalog.ZONES:
            raise invalid_field("zone", zone, "Unknown zone.")
        return zone

    def region(self) -> str:
        region = self.params["region"]
        if region not in catalog.REGIONS:
            raise invalid_field("region", region, "Unknown region.")
        return region

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() == "true"

    def render(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rendered copies, sorted by name, so list filters see what clients see."""
        return sorted((render(i, self.base) for i in items), key=lambda i: str(i.get("name")))


Handler = Callable[[Ctx], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def handler(*method_ids: str) -> Callable[[Handler], Handler]:
    """Register a function as the handler of one or more discovery method ids."""

    def register(fn: Handler) -> Handler:
        for method_id in method_ids:
            HANDLERS[method_id] = fn
        return fn

    return register


_URL_RE = re.compile(r"^(?:https?://[^/]+)?/?(?:compute/(?:v1|beta|alpha)/)?(projects/.*)$")


def to_link(value: str, project: str, field: str) -> str:
    """Normalize a full or partial URL to a stored ``@/projects/...`` link.

    Accepts ``https://host/compute/v1/projects/p/...``, ``projects/p/...`` and project-relative
    forms such as ``zones/z/machineTypes/n1-standard-1`` or ``global/networks/default``.
    """
    if not isinstance(value, str) or not value:
        raise invalid_field(field, value, "Must be a URL or a partial URL.")
    m = _URL_RE.match(value)
    if m:
        return LINK + m.group(1)
    if value.startswith(("zones/", "regions/", "global/")):
        return f"{LINK}projects/{project}/{value}"
    raise invalid_field(field, value, "Must be a URL or a partial URL.")


def last(value: str) -> str:
    return value.rstrip("/").rsplit("/", 1)[-1]
