"""Course VMs as they are: find one, select many (names, course, owner, age), describe one, and
stop/start/delete many through the batch engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from labctl.errors import InvalidInput, NotFound
from labctl.labels import owner_slug, parse_duration, selector_labels
from labctl.models import Provisioning, Vm, VmState
from labctl.naming import check_instance_name
from labctl.providers.base import ComputeProvider, Operation

if TYPE_CHECKING:
    from labctl.runner import Outcome


def find_vm(
    compute: ComputeProvider, name: str, zone: str | None, *, known: list[Vm] | None = None
) -> Vm:
    """The VM called `name`; --zone decides when the name exists in several zones."""
    check_instance_name(name)
    candidates = known if known is not None else compute.list_vms(name=name)
    matches = [vm for vm in candidates if vm.name == name and (zone is None or vm.zone == zone)]
    if not matches:
        where = f" in zone {zone}" if zone else ""
        raise NotFound(f"VM {name!r} not found{where}", kind="vm", name=name, zone=zone)
    if len(matches) > 1:
        zones = ", ".join(vm.zone for vm in matches)
        raise InvalidInput(
            f"VM {name!r} exists in several zones ({zones}); choose one with --zone",
            field="--zone",
        )
    return matches[0]


def details(compute: ComputeProvider, vm: Vm) -> dict[str, object]:
    """What `vm show` adds to the record: the Linux user, idle shutdown, what the on-VM agent
    reports (guest attributes labctl/status and labctl/last-active), and for a stopped spot or
    preemptible VM why it stopped (`stopped_by`: "preempted", "idle" or None if not known)."""
    from labctl import access

    idle = vm.metadata.get("labctl-idle-minutes")
    info: dict[str, object] = {
        "user": vm.metadata.get(access.USER_KEY),
        "idle_shutdown_minutes": int(idle) if idle and idle.isdigit() else None,
        "setup_status": None,
        "last_active": None,
        "stopped_by": None,
    }
    if vm.state is VmState.RUNNING:
        reported = compute.get_guest_attributes(vm.name, vm.zone, "labctl/")
        info["setup_status"] = reported.get("labctl/status")
        info["last_active"] = reported.get(LAST_ACTIVE)
    elif vm.state is VmState.STOPPED:
        info["stopped_by"] = stopped_by(compute, vm)
    return info


# Guest attributes of the on-VM agent: the last activity it saw (RFC 3339, UTC), written at
# every check; and just before an idle shutdown, labctl/stopped-by = "idle" and
# labctl/stopped-at = the time (RFC 3339, UTC).
LAST_ACTIVE = "labctl/last-active"
STOPPED_BY, STOPPED_AT = "labctl/stopped-by", "labctl/stopped-at"


def read_reports(compute: ComputeProvider, vms: Sequence[Vm]) -> list[Outcome[Vm]]:
    """Each VM's labctl/ guest attributes (one read each, concurrently), keyed "zone/name"."""
    from labctl.runner import read_many  # the batch engine: not needed to list

    return read_many(
        vms,
        lambda vm: compute.get_guest_attributes(vm.name, vm.zone, "labctl/"),
        key=lambda vm: f"{vm.zone}/{vm.name}",
    )


def stopped_by(compute: ComputeProvider, vm: Vm) -> str | None:
    """Why a stopped VM stopped, when labctl can tell: "preempted" (Compute recorded a
    compute.instances.preempted operation since it last started) or "idle" (the on-VM agent
    recorded its idle shutdown since then). None: stopped by a person, or not known."""
    since = vm.last_started or vm.created
    if vm.provisioning is not Provisioning.STANDARD:
        preempted = compute.preemptions(vm.name, vm.zone)
        if any(since is None or when > since for when in preempted):
            return "preempted"
    reported = compute.get_guest_attributes(vm.name, vm.zone, "labctl/")
    reason = reported.get(STOPPED_BY)
    at = parse_time(reported.get(STOPPED_AT))
    if reason and at is not None and (since is None or at > since):
        return reason
    return None


def parse_time(text: str | None) -> datetime | None:
    """'2026-12-01T10:00:00Z' -> an aware datetime; None if missing, odd or without a zone."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


@dataclass(frozen=True)
class Selector:
    """Which VMs a list or batch command is about: names, or labels and age."""

    names: Sequence[str] = ()
    zone: str | None = None
    course: str | None = None
    owner: str | None = None
    managed_only: bool = False
    older_than: str | None = None

    @property
    def by_labels(self) -> bool:
        """Chosen by course, owner or age (rather than by name)."""
        return bool(self.course or self.owner or self.older_than)

    def labels(self) -> dict[str, str]:
        owner = owner_slug(self.owner) if self.owner else None
        return selector_labels(managed_only=self.managed_only, course=self.course, owner=owner)


@dataclass
class Selection:
    vms: list[Vm]
    missing: dict[str, NotFound | InvalidInput] = field(default_factory=dict)


def select(compute: ComputeProvider, selector: Selector, *, now: datetime) -> Selection:
    """One aggregated list, then names (each found or reported) or label/age filters."""
    min_age = None
    if selector.older_than:
        min_age = parse_duration(selector.older_than, field="--older-than")
    for name in selector.names:
        check_instance_name(name)
    everything = compute.list_vms(labels=selector.labels() or None)
    if selector.zone:
        everything = [vm for vm in everything if vm.zone == selector.zone]
    if min_age is not None:
        everything = [vm for vm in everything if _older(vm, now, min_age)]
    if not selector.names:
        return Selection(sorted(everything, key=lambda vm: (vm.name, vm.zone)))
    selection = Selection([])
    for name in dict.fromkeys(selector.names):
        try:
            selection.vms.append(find_vm(compute, name, selector.zone, known=everything))
        except (NotFound, InvalidInput) as exc:
            selection.missing[name] = exc
    return selection


ACTIONS: dict[str, Callable[[ComputeProvider, Vm], Operation]] = {
    "stop": lambda c, vm: c.stop_vm(vm.name, vm.zone),
    "start": lambda c, vm: c.start_vm(vm.name, vm.zone),
    "delete": lambda c, vm: c.delete_vm(vm.name, vm.zone),
}


def act_on_many(
    compute: ComputeProvider,
    vms: Sequence[Vm],
    action: str,
    *,
    wait: bool = True,
    on_result: Callable[[Outcome[Vm]], None] | None = None,
) -> list[Outcome[Vm]]:
    """stop/start/delete every VM: all requests first, then all operations waited on together.
    A delete of a VM already gone counts as done."""
    from labctl.runner import apply_to_many  # the batch engine: not needed to list

    if action == "start":
        # A start replaces lastStartTimestamp: a class VM's finished run goes into its labels
        # first, or the class's spend would lose it, whichever command starts the VM.
        from labctl.classroom.spend import record_runs

        record_runs(compute, vms)
    send = ACTIONS[action]

    def send_one(vm: Vm) -> Operation | None:
        try:
            return send(compute, vm)
        except NotFound:
            if action == "delete":
                return None  # already gone: what was asked for
            raise

    def wait_one(vm: Vm, operation: Operation | None) -> None:
        if wait and operation is not None:
            compute.wait(operation)

    return apply_to_many(
        vms,
        key=lambda vm: vm.name,
        send=send_one,
        wait=wait_one,
        action=action,
        kind="vm",
        on_result=on_result,
    )


def _older(vm: Vm, now: datetime, min_age: timedelta) -> bool:
    return vm.created is not None and now - vm.created >= min_age
