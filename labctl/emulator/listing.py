"""list and aggregatedList responses: filter, orderBy, maxResults and pageToken."""

from __future__ import annotations

import base64
from typing import Any

from labctl import catalog
from labctl.emulator.api import Ctx
from labctl.emulator.errors import ApiError, invalid_field
from labctl.emulator.filters import parse_filter

MAX_RESULTS = 500


def _page_bounds(query: dict[str, str], total: int) -> tuple[int, int]:
    raw = query.get("maxResults") or str(MAX_RESULTS)
    if not raw.isdigit():
        raise invalid_field("maxResults", raw, "Must be an integer.")
    size = int(raw)
    if size > MAX_RESULTS:
        raise invalid_field("maxResults", raw, f"Must be less than or equal to {MAX_RESULTS}")
    size = size or MAX_RESULTS
    token = query.get("pageToken") or ""
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(400, "Invalid value for field 'pageToken'", "invalid") from exc
    return start, min(total, start + size)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _select(items: list[dict[str, Any]], query: dict[str, str]) -> list[dict[str, Any]]:
    pred = parse_filter(query.get("filter"))
    chosen = [item for item in items if pred(item)]
    order = (query.get("orderBy") or "").strip()
    if order in ("creationTimestamp desc", "creationTimestamp"):
        chosen.sort(
            key=lambda i: str(i.get("creationTimestamp", "")), reverse=order.endswith("desc")
        )
    elif order and order != "name":
        raise ApiError(400, f"Invalid value for field 'orderBy': '{order}'.", "invalid")
    return chosen


def list_response(
    kind: str, self_path: str, items: list[dict[str, Any]], query: dict[str, str], base: str
) -> dict[str, Any]:
    """A ``compute#xxxList`` page. ``items`` are rendered resources, already sorted by name."""
    chosen = _select(items, query)
    start, end = _page_bounds(query, len(chosen))
    out: dict[str, Any] = {"kind": kind, "id": self_path, "selfLink": base + self_path}
    if chosen[start:end]:
        out["items"] = chosen[start:end]
    if end < len(chosen):
        out["nextPageToken"] = _token(end)
    return out


def aggregated_response(
    kind: str,
    self_path: str,
    key: str,
    scopes: dict[str, list[dict[str, Any]]],
    query: dict[str, str],
    base: str,
) -> dict[str, Any]:
    """A ``compute#xxxAggregatedList`` page: ``items`` maps ``zones/Z`` to ``{key: [...]}``.

    Scopes with nothing on this page carry a NO_RESULTS_ON_PAGE warning, as Compute's do.
    """
    flat = [(scope, item) for scope in sorted(scopes) for item in _select(scopes[scope], query)]
    start, end = _page_bounds(query, len(flat))
    page: dict[str, list[dict[str, Any]]] = {}
    for scope, item in flat[start:end]:
        page.setdefault(scope, []).append(item)
    items: dict[str, Any] = {}
    for scope in sorted(scopes):
        if scope in page:
            items[scope] = {key: page[scope]}
        else:
            items[scope] = {
                "warning": {
                    "code": "NO_RESULTS_ON_PAGE",
                    "message": f"There are no results for scope '{scope}' on this page.",
                    "data": [{"key": "scope", "value": scope}],
                }
            }
    out: dict[str, Any] = {
        "kind": kind,
        "id": self_path,
        "items": items,
        "selfLink": base + self_path,
    }
    if end < len(flat):
        out["nextPageToken"] = _token(end)
    return out


def zonal_scopes(ctx: Ctx, collection: str) -> dict[str, list[dict[str, Any]]]:
    """Rendered items of a ``"zone/name"``-keyed collection, by ``zones/Z`` scope."""
    scopes: dict[str, list[dict[str, Any]]] = {f"zones/{z}": [] for z in catalog.ZONES}
    for key, item in ctx.proj[collection].items():
        scopes[f"zones/{key.split('/', 1)[0]}"].append(item)
    return {scope: ctx.render(items) for scope, items in scopes.items()}


def regional_scopes(ctx: Ctx, collection: str) -> dict[str, list[dict[str, Any]]]:
    """Rendered items of a ``"region/name"``-keyed collection, by ``regions/R`` scope."""
    scopes: dict[str, list[dict[str, Any]]] = {f"regions/{r}": [] for r in catalog.REGIONS}
    for key, item in ctx.proj[collection].items():
        scopes[f"regions/{key.split('/', 1)[0]}"].append(item)
    return {scope: ctx.render(items) for scope, items in scopes.items()}
