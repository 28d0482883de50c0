"""Applying a plan: kind after kind (instances, disks, addresses, snapshots, firewall rules,
buckets), each kind through the batch engine. Before an instance or disk is deleted its
snapshots are taken and awaited; a snapshot that fails keeps its resource. Something already
gone counts as done, so running the same cleanup again finishes the job without acting twice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from labctl.errors import Interrupted, LabctlError, NotFound
from labctl.hygiene.model import ACTION_PAST, KINDS, Finding, Plan, PlannedSnapshot, Result
from labctl.providers.base import ComputeProvider, Operation, StorageProvider
from labctl.runner import Outcome, apply_to_many

GONE = "already gone"
# cleanup's kind -> the kind labctl's errors use for it
ERROR_KIND = {"instance": "vm"}


def apply(
    compute: ComputeProvider,
    storage: StorageProvider | None,
    plan: Plan,
    *,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Carry out every finding that has an action; one Result each, in plan order."""
    report = on_result or (lambda _: None)
    results: dict[str, Result] = {}
    for kind in KINDS:
        group = [f for f in plan.actions if f.kind == kind]
        if not group:
            continue
        ready, refused = _take_snapshots(compute, group)
        for result in refused:
            results[result.finding.key] = result
            report(result)
        for result in _act(compute, storage, ready, report):
            results[result.finding.key] = result
    return [results[f.key] for f in plan.actions if f.key in results]


def _take_snapshots(
    compute: ComputeProvider, group: Sequence[Finding]
) -> tuple[list[Finding], list[Result]]:
    """Take the group's missing snapshots together; the findings whose snapshots all exist
    now, and a failed Result for each of the others."""
    needed = [s for f in group for s in f.snapshots if not s.exists]
    outcomes = _run(
        needed,
        key=lambda s: s.name,
        send=lambda s: compute.create_snapshot(s.disk, s.zone, name=s.name, labels=s.labels),
        wait=lambda s, op: compute.wait(op),
        action="snapshot",
    )
    failed = {o.key: o.error for o in outcomes if o.error is not None}
    ready, refused = [], []
    for finding in group:
        errors = [(s, failed[s.name]) for s in finding.snapshots if s.name in failed]
        if not errors:
            ready.append(finding)
            continue
        snapshot, error = errors[0]
        refused.append(Result(finding, "failed", _snapshot_failed(finding, snapshot, error)))
    return ready, refused


def _snapshot_failed(finding: Finding, snapshot: PlannedSnapshot, error: Any) -> LabctlError:
    return LabctlError(
        f"snapshot {snapshot.name} of disk {snapshot.disk} failed ({error.message}); "
        f"{finding.kind} {finding.name} was not deleted",
        kind=ERROR_KIND.get(finding.kind, finding.kind),
        name=finding.name,
        zone=finding.zone,
    )


def _act(
    compute: ComputeProvider,
    storage: StorageProvider | None,
    group: Sequence[Finding],
    report: Callable[[Result], None],
) -> list[Result]:
    def send(finding: Finding) -> Operation | str | None:
        try:
            return _request(compute, storage, finding)
        except NotFound:
            return GONE

    def wait(finding: Finding, handle: Operation | str | None) -> str:
        if isinstance(handle, Operation):
            try:
                compute.wait(handle)
            except NotFound:
                return GONE
        return GONE if handle == GONE else ACTION_PAST[finding.action]

    def as_result(outcome: Outcome[Finding]) -> Result:
        return Result(outcome.item, outcome.value if outcome.ok else "failed", outcome.error)

    outcomes = _run(
        group,
        key=lambda f: f.key,
        send=send,
        wait=wait,
        action=group[0].action if len({f.action for f in group}) == 1 else "clean up",
        on_result=lambda o: report(as_result(o)),
    )
    return [as_result(o) for o in outcomes]


def _request(
    compute: ComputeProvider, storage: StorageProvider | None, finding: Finding
) -> Operation | None:
    """Send the finding's one request; its operation (None for a bucket: deleted at once)."""
    kind, name, action = finding.kind, finding.name, finding.action
    if kind == "instance":
        assert finding.zone is not None
        return (compute.stop_vm if action == "stop" else compute.delete_vm)(name, finding.zone)
    if kind == "disk":
        assert finding.zone is not None
        return compute.delete_disk(name, finding.zone)
    if kind == "address":
        assert finding.region is not None
        return compute.release_address(name, finding.region)
    if kind == "snapshot":
        return compute.delete_snapshot(name)
    if kind == "firewall":
        return compute.delete_firewall(name)
    if kind == "bucket" and storage is not None:
        storage.delete_bucket(name, force=True)  # only with --include-buckets, shown in the plan
        return None
    raise LabctlError(f"cannot {action} a {kind}", kind=kind, name=name)


def _run(
    items: Sequence[Any],
    *,
    key: Callable[[Any], str],
    send: Callable[[Any], Any],
    wait: Callable[[Any, Any], Any],
    action: str,
    on_result: Callable[[Outcome[Any]], None] | None = None,
) -> list[Outcome[Any]]:
    if not items:
        return []
    try:
        return apply_to_many(
            items, key=key, send=send, wait=wait, action=action, on_result=on_result
        )
    except Interrupted as exc:
        # Name the findings still in flight by resource name; cleanup's own hint follows.
        names = {k.rsplit("/", 1)[-1]: v for k, v in exc.in_flight.items()}
        raise Interrupted(exc.message, action=action, kind="cleanup", in_flight=names) from None
