"""Operations: creation, a time-driven PENDING -> RUNNING -> DONE lifecycle, and ``wait``."""

from __future__ import annotations

import time
from typing import Any

from labctl import catalog
from labctl.emulator.api import Ctx, handler
from labctl.emulator.errors import not_found
from labctl.emulator.listing import aggregated_response, list_response
from labctl.emulator.state import State, new_id, operation_name, render, timestamp

OPERATION_USER = "labctl-emulator@example.com"
# An operation is PENDING for a tenth of its duration, at most this long, then RUNNING.
_MAX_PENDING_SECONDS = 0.1


def scope_path(project: str, scope: str) -> str:
    """``projects/P/zones/Z``, ``projects/P/regions/R`` or ``projects/P/global``."""
    return f"projects/{project}/{scope}"


def new_operation(
    state: State,
    project: str,
    scope: str,
    operation_type: str,
    target: str,
    target_id: str | None,
    seconds: float,
    error: dict[str, Any] | None = None,
    group_id: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Record an operation on ``target`` (a stored ``@/projects/...`` link) and return it.

    ``scope`` is ``zones/Z``, ``regions/R`` or ``global``. ``error`` holds the fields a failed
    operation shows once DONE: ``error``, ``httpErrorStatusCode``, ``httpErrorMessage``.
    """
    now = time.time() if now is None else now
    name = operation_name()
    op: dict[str, Any] = {
        "kind": "compute#operation",
        "id": new_id(),
        "name": name,
        "operationType": operation_type,
        "targetLink": target,
        "user": OPERATION_USER,
        "insertTime": timestamp(now),
        "selfLink": f"@/{scope_path(project, scope)}/operations/{name}",
        "_start": now,
        "_done": now + max(0.0, seconds),
        "_scope": scope,
    }
    if target_id:
        op["targetId"] = target_id
    if scope.startswith("zones/"):
        op["zone"] = f"@/projects/{project}/{scope}"
    elif scope.startswith("regions/"):
        op["region"] = f"@/projects/{project}/{scope}"
    if group_id:
        op["operationGroupId"] = group_id
    if error:
        op["_error"] = error
    state.add_operation(project, op)
    return op


def view(op: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """The operation as it looks at ``now``: status, progress and times follow the clock."""
    now = time.time() if now is None else now
    out = dict(op)
    start, done = op["_start"], op["_done"]
    running_at = start + min((done - start) * 0.1, _MAX_PENDING_SECONDS)
    if now >= done:
        out.update(status="DONE", progress=100)
        out["startTime"] = timestamp(running_at)
        out["endTime"] = timestamp(done)
        out.update(op.get("_error") or {})
    elif now >= running_at:
        out.update(status="RUNNING", progress=int(100 * (now - start) / (done - start)) // 2)
        out["startTime"] = timestamp(running_at)
    else:
        out.update(status="PENDING", progress=0)
    return out


def find(state: State, project: str, scope: str, name: str) -> dict[str, Any]:
    op = state.project(project)["_operations"].get(name)
    if op is None or op["_scope"] != scope:
        raise not_found(f"{scope_path(project, scope)}/operations/{name}")
    return op


def wait(state: State, project: str, scope: str, name: str, max_seconds: float) -> dict[str, Any]:
    """Block until the operation is DONE or ``max_seconds`` pass; return its current view.

    Compute documents ``wait`` as best effort: it may return before DONE, and callers loop.
    The lock is released while waiting, so concurrent waits each take their own time.
    """
    deadline = time.time() + max(0.0, max_seconds)
    with state.lock:
        for _ in range(10_000):  # bounded; each pass sleeps until the next due time
            state.tick()
            op = find(state, project, scope, name)
            now = time.time()
            if now >= op["_done"] or now >= deadline:
                return view(op, now)
            state.changed.wait(timeout=max(0.001, min(deadline, op["_done"]) - now))
        return view(find(state, project, scope, name))


# --- handlers ------------------------------------------------------------------------------
def _scope(ctx: Ctx) -> str:
    if "zone" in ctx.params:
        return f"zones/{ctx.zone()}"
    if "region" in ctx.params:
        return f"regions/{ctx.region()}"
    return "global"


@handler(
    "compute.zoneOperations.get", "compute.regionOperations.get", "compute.globalOperations.get"
)
def get_operation(ctx: Ctx) -> dict[str, Any]:
    return view(find(ctx.state, ctx.project, _scope(ctx), ctx.params["operation"]))


@handler(
    "compute.zoneOperations.wait", "compute.regionOperations.wait", "compute.globalOperations.wait"
)
def wait_operation(ctx: Ctx) -> dict[str, Any]:
    return wait(
        ctx.state, ctx.project, _scope(ctx), ctx.params["operation"], ctx.faults.wait_max_seconds
    )


@handler(
    "compute.zoneOperations.delete",
    "compute.regionOperations.delete",
    "compute.globalOperations.delete",
)
def delete_operation(ctx: Ctx) -> dict[str, Any]:
    op = find(ctx.state, ctx.project, _scope(ctx), ctx.params["operation"])
    del ctx.proj["_operations"][op["name"]]
    return {}


@handler("compute.globalOperations.aggregatedList")
def aggregated_operations(ctx: Ctx) -> dict[str, Any]:
    """Every operation of the project in one call: ``filter=status != DONE`` polls a class.

    Each scope keeps its operations in creation order, as ``list`` does.
    """
    now = time.time()
    scopes: dict[str, list[dict[str, Any]]] = {f"zones/{z}": [] for z in catalog.ZONES}
    scopes.update({f"regions/{r}": [] for r in catalog.REGIONS})
    scopes["global"] = []
    for op in ctx.proj["_operations"].values():
        scopes[op["_scope"]].append(render(view(op, now), ctx.base))
    return aggregated_response(
        "compute#operationAggregatedList",
        f"projects/{ctx.project}/aggregated/operations",
        "operations",
        scopes,
        ctx.query,
        ctx.base,
    )


@handler(
    "compute.zoneOperations.list", "compute.regionOperations.list", "compute.globalOperations.list"
)
def list_operations(ctx: Ctx) -> dict[str, Any]:
    scope = _scope(ctx)
    now = time.time()
    ops = [view(op, now) for op in ctx.proj["_operations"].values() if op["_scope"] == scope]
    items = [render(op, ctx.base) for op in ops]  # operations keep creation order
    return list_response(
        "compute#operationList",
        f"{scope_path(ctx.project, scope)}/operations",
        items,
        ctx.query,
        ctx.base,
    )


def scoped_op(ctx: Ctx, scope: str, kind: str, target: str, target_id: str) -> dict[str, Any]:
    """An operation of this request's project, lasting the configured operation time."""
    return new_operation(
        ctx.state, ctx.project, scope, kind, target, target_id, ctx.faults.operation_seconds
    )
