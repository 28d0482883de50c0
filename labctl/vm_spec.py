"""From what a user asked for (flags, a class file) to a checked VmSpec: nothing is sent yet."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from labctl import access
from labctl.config import DISK_GB, GPU_COUNTS, MAX_RUN_HOURS, Settings
from labctl.errors import InvalidInput, LocalError
from labctl.labels import (
    check_user_labels,
    default_owner,
    managed_labels,
    owner_slug,
    parse_duration,
    parse_expiry,
)
from labctl.models import Gpu, Provisioning, VmSpec
from labctl.naming import check_instance_name, parse_labels
from labctl.resources import data_path

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
