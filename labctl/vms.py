"""Course VMs as use cases: create one (checked, then failed over), find, select and act on many."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from labctl import access
from labctl.config import DISK_GB, GPU_COUNTS, MAX_RUN_HOURS, Settings
from labctl.errors import AlreadyExists, Interrupted, InvalidInput, LocalError, NotFound
from labctl.labels import (
    COURSE,
    MANAGED,
    OWNER,
    check_user_labels,
    default_owner,
    managed_labels,
    owner_slug,
    parse_duration,
    parse_expiry,
)
from labctl.models import Gpu, Provisioning, Vm, VmSpec, VmState
from labctl.naming import check_instance_name, parse_labels
from labctl.providers.base import ComputeProvider, Operation
from labctl.provisioning import Attempt, CreateResult, Provisioner, check_spec
from labctl.resources import data_path
from labctl.runner import Outcome, apply_to_many

MAX_METADATA_VALUE = 256 * 1024  # Compute's limit for one metadata value, e.g. startup-script
# Machine types, image families and projects given as flags: never empty, never a path.
_WORD_RE = re.compile(r"[a-z][a-z0-9.:-]{0,61}[a-z0-9]")


@dataclass(frozen=True)
class VmRequest:
    """`labctl vm create` flags; None means "use the configuration"."""

    name: str
    gpu: bool | None = None
    gpu_type: str | None = None
    gpu_count: int | None = None
    machine_type: str | None = None
    spot: bool = False
    preemptible: bool = False
    standard: bool = False
    image_family: str | None = None
    image_project: str | None = None
    disk_size: int | None = None
    startup_script: Path | None = None
    labels: list[str] = field(default_factory=list)
    owner: str | None = None
    expires: str | None = None  # YYYY-MM-DD
    ttl: str | None = None  # "7d"
    max_run_hours: int | None = None
    metadata: dict[str, str] = field(default_factory=dict)


def build_spec(request: VmRequest, settings: Settings, *, now: datetime) -> VmSpec:
    """Validate the flags against each other and the configuration; nothing is sent yet."""
    course, boot = settings.course, settings.course.boot_disk
    check_instance_name(request.name)
    disk_size = request.disk_size if request.disk_size is not None else course.boot_disk.size_gb
    _check_range("--disk-size", disk_size, DISK_GB, unit=" GB")
    max_run = request.max_run_hours if request.max_run_hours is not None else course.max_run_hours
    if max_run is not None:
        _check_range("--max-run-hours", max_run, MAX_RUN_HOURS)
    labels = managed_labels(
        course=course.name,
        owner=owner_slug(request.owner) if request.owner else default_owner(),
        now=now,
        extra={**course.labels, **check_user_labels(parse_labels(request.labels))},
        expires=_expiry(request, course.ttl_days, now),
    )
    gpu = _gpu(request, settings)
    metadata = {
        "labctl-idle-minutes": str(course.idle_shutdown_minutes),
        "labctl-gpu": "true" if gpu else "false",
        **request.metadata,
    }
    return VmSpec(
        name=request.name,
        zone=course.zone,
        machine_type=_word("--machine-type", request.machine_type, course.machine_type),
        image_project=_word("--image-project", request.image_project, boot.image_project),
        image_family=_word("--image-family", request.image_family, boot.image_family),
        disk_size_gb=disk_size,
        provisioning=_provisioning(request, course.provisioning),
        gpu=gpu,
        startup_script=_startup_script(request.startup_script, course.startup_script),
        metadata=metadata,
        labels=labels,
        termination_action=course.termination_action,
        max_run_hours=max_run,
    )


def with_login(spec: VmSpec, key: access.LoginKey, *, user: str, expire_on: datetime) -> VmSpec:
    """The spec with `user`'s key in its metadata, recorded as the VM's user."""
    metadata = access.with_login(
        spec.metadata, user=user, key=key, expire_on=expire_on, record_user=True
    )
    return replace(spec, metadata=metadata)


def create(
    compute: ComputeProvider,
    spec: VmSpec,
    settings: Settings,
    *,
    wait: bool = True,
    on_attempt: Callable[[Attempt], None] = lambda _: None,
) -> CreateResult:
    """Check the spec with the API (zone, machine type, GPU), refuse a name already used in any
    zone, then create it in its zone or the next one that has capacity."""
    offering = check_spec(compute, spec)
    provisioner = Provisioner.for_spec(
        compute,
        spec,
        allowed_zones=settings.allowed_zones,
        offering=offering,
        wait=wait,
        on_attempt=on_attempt,
    )
    try:
        return provisioner.run()
    except KeyboardInterrupt:
        sent = provisioner.attempts or provisioner.sending
        raise Interrupted(
            f"interrupted while creating {spec.name}",
            action="create",
            kind="vm",
            in_flight={spec.name: "insert"} if sent else {},
        ) from None


def create_many(
    compute: ComputeProvider,
    specs: Sequence[VmSpec],
    settings: Settings,
    *,
    wait: bool = True,
    on_result: Callable[[Outcome[VmSpec]], None] | None = None,
) -> list[Outcome[VmSpec]]:
    """Several VMs at once through the batch engine: every insert first, then every wait
    (with failover), so N VMs take about as long as one. One `list` call checks the names."""
    if not specs:
        return []
    offering = check_spec(compute, specs[0])  # the flags are the same for all: check once
    existing = {vm.name: vm for vm in compute.list_vms()}
    provisioners = {
        spec.name: Provisioner.for_spec(
            compute,
            spec,
            allowed_zones=settings.allowed_zones,
            offering=offering,
            wait=wait,
            check_name=False,
        )
        for spec in specs
    }

    def send(spec: VmSpec) -> Operation | None:
        if spec.name in existing:
            vm = existing[spec.name]
            raise AlreadyExists(
                f"VM {spec.name} already exists in {vm.zone}",
                kind="vm",
                name=spec.name,
                zone=vm.zone,
            )
        return provisioners[spec.name].start()

    return apply_to_many(
        specs,
        key=lambda spec: spec.name,
        send=send,
        wait=lambda spec, op: provisioners[spec.name].finish(op),
        action="create",
        kind="vm",
        on_result=on_result,
    )


def failover_zones(compute: ComputeProvider, spec: VmSpec, settings: Settings) -> list[str]:
    """The zones a create would try, in order (after checking the spec like a create does)."""
    from labctl.provisioning import failover_order

    offering = check_spec(compute, spec)
    return failover_order(spec.zone, settings.allowed_zones, offering) if spec.gpu else [spec.zone]


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
        info["last_active"] = reported.get("labctl/last-active")
    elif vm.state is VmState.STOPPED:
        info["stopped_by"] = stopped_by(compute, vm)
    return info


# The on-VM idle agent writes these guest attributes just before it shuts the VM down:
# labctl/stopped-by = "idle", labctl/stopped-at = the time (RFC 3339, UTC).
STOPPED_BY, STOPPED_AT = "labctl/stopped-by", "labctl/stopped-at"


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
    at = _timestamp(reported.get(STOPPED_AT))
    if reason and at is not None and (since is None or at > since):
        return reason
    return None


def _timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


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
        wanted = {MANAGED: "true"} if self.managed_only else {}
        if self.course:
            wanted[COURSE] = self.course
        if self.owner:
            wanted[OWNER] = owner_slug(self.owner)
        return wanted


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


# -- validation helpers --------------------------------------------------------------------------


def _check_range(flag: str, value: int, bounds: tuple[int, int], *, unit: str = "") -> None:
    low, high = bounds
    if not low <= value <= high:
        raise InvalidInput(f"{flag} must be {low}-{high}{unit}, got {value}", field=flag)


def _word(flag: str, given: str | None, default: str) -> str:
    """A machine type, image family or project from a flag: never empty, never a path."""
    if given is None:
        return default
    if not _WORD_RE.fullmatch(given):
        raise InvalidInput(
            f"{flag} {given!r}: use lowercase letters, digits and '-', starting with a letter",
            field=flag,
        )
    return given


def _expiry(request: VmRequest, ttl_days: int | None, now: datetime) -> date | None:
    today = now.date()
    if request.expires and request.ttl:
        raise InvalidInput("--expires and --ttl conflict: give one", field="--ttl")
    if request.expires:
        return parse_expiry(request.expires, today=today)
    if request.ttl:
        return (now + parse_duration(request.ttl, field="--ttl")).date()
    return today + timedelta(days=ttl_days) if ttl_days else None


def _provisioning(request: VmRequest, default: Provisioning) -> Provisioning:
    chosen = [
        model
        for model, flag in (
            (Provisioning.SPOT, request.spot),
            (Provisioning.PREEMPTIBLE, request.preemptible),
            (Provisioning.STANDARD, request.standard),
        )
        if flag
    ]
    if len(chosen) > 1:
        flags = " and ".join(f"--{m.value}" for m in chosen)
        raise InvalidInput(
            f"{flags} conflict: choose one of --spot, --preemptible, --standard", field="--spot"
        )
    return chosen[0] if chosen else default


def _gpu(request: VmRequest, settings: Settings) -> Gpu | None:
    configured = settings.course.gpu
    enabled = configured.enabled if request.gpu is None else request.gpu
    asked = request.gpu_type is not None or request.gpu_count is not None
    if not enabled:
        if request.gpu is False and asked:
            raise InvalidInput("--gpu-type and --gpu-count conflict with --no-gpu", field="--gpu")
        if not asked:
            return None  # asking for a GPU type or count implies --gpu
    count = configured.count if request.gpu_count is None else request.gpu_count
    if count not in GPU_COUNTS:
        raise InvalidInput(
            f"--gpu-count must be one of {', '.join(map(str, GPU_COUNTS))}, got {count}",
            field="--gpu-count",
        )
    return Gpu(type=_word("--gpu-type", request.gpu_type, configured.type), count=count)


def _startup_script(flag: Path | None, configured: str) -> str:
    path = flag or (Path(configured) if configured else data_path("scripts/startup_script.sh"))
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise LocalError(
            f"startup script {path} is a directory", field="--startup-script"
        ) from None
    except FileNotFoundError:
        raise LocalError(f"startup script not found: {path}", field="--startup-script") from None
    except OSError as exc:
        raise LocalError(
            f"startup script {path}: cannot read it ({exc.strerror})", field="--startup-script"
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise LocalError(
            f"startup script {path} is not UTF-8 text (a binary file, or another encoding)",
            field="--startup-script",
        ) from None
    if "\x00" in text:
        raise LocalError(f"startup script {path} is a binary file", field="--startup-script")
    if len(raw) > MAX_METADATA_VALUE:
        raise LocalError(
            f"startup script {path} is larger than 256 KB",
            field="--startup-script",
            hint="put it in a bucket and fetch it from a short script",
        )
    return text


def _older(vm: Vm, now: datetime, min_age: timedelta) -> bool:
    return vm.created is not None and now - vm.created >= min_age
