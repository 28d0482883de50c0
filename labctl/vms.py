"""From what the user typed to a VmSpec, and from a Vm back to rows a person can read."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from labctl.config import Settings
from labctl.errors import InvalidInput, NotFound
from labctl.labels import default_owner, managed_labels
from labctl.models import Gpu, Provisioning, Vm, VmSpec
from labctl.naming import check_instance_name, check_labels, parse_labels
from labctl.pricing import PriceTable
from labctl.providers.base import ComputeProvider
from labctl.resources import data_path

MAX_METADATA_VALUE = 256 * 1024  # Compute's limit for one metadata value, e.g. startup-script


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
    metadata: dict[str, str] = field(default_factory=dict)


def build_spec(request: VmRequest, settings: Settings, *, now: datetime) -> VmSpec:
    """Validate the flags against each other and the configuration; nothing is sent yet."""
    course = settings.course
    check_instance_name(request.name)
    gpu = _gpu(request, settings)
    disk_size = request.disk_size if request.disk_size is not None else course.boot_disk.size_gb
    if disk_size < 10:
        raise InvalidInput(f"--disk-size must be at least 10 GB, got {disk_size}")
    user_labels = parse_labels(request.labels)
    labels = check_labels(
        managed_labels(
            course=course.name,
            owner=request.owner or default_owner(),
            now=now,
            extra={**course.labels, **user_labels},
        )
    )
    metadata = {
        "labctl-idle-minutes": str(course.idle_shutdown_minutes),
        "labctl-gpu": "true" if gpu else "false",
        **request.metadata,
    }
    return VmSpec(
        name=request.name,
        zone=course.zone,
        machine_type=request.machine_type or course.machine_type,
        image_project=request.image_project or course.boot_disk.image_project,
        image_family=request.image_family or course.boot_disk.image_family,
        disk_size_gb=disk_size,
        provisioning=_provisioning(request, course.provisioning),
        gpu=gpu,
        startup_script=_startup_script(request.startup_script, course.startup_script),
        metadata=metadata,
        labels=labels,
        termination_action=course.termination_action,
    )


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
        raise InvalidInput(f"{flags} conflict: choose one of --spot, --preemptible, --standard")
    return chosen[0] if chosen else default


def _gpu(request: VmRequest, settings: Settings) -> Gpu | None:
    configured = settings.course.gpu
    enabled = configured.enabled if request.gpu is None else request.gpu
    if not enabled:
        if request.gpu is False and (request.gpu_type or request.gpu_count):
            raise InvalidInput("--gpu-type and --gpu-count conflict with --no-gpu")
        if request.gpu is None and (request.gpu_type or request.gpu_count):
            enabled = True  # asking for a GPU type or count implies --gpu
        else:
            return None
    count = configured.count if request.gpu_count is None else request.gpu_count
    if count < 1:
        raise InvalidInput(f"--gpu-count must be >= 1 with --gpu, got {count}")
    return Gpu(type=request.gpu_type or configured.type, count=count)


def _startup_script(flag: Path | None, configured: str) -> str:
    path = flag or (Path(configured) if configured else data_path("scripts/startup_script.sh"))
    if not path.is_file():
        raise InvalidInput(f"startup script not found: {path}")
    text = path.read_text(encoding="utf-8")
    if len(text.encode()) > MAX_METADATA_VALUE:
        raise InvalidInput(
            f"startup script {path} is larger than 256 KB",
            hint="put it in a bucket and fetch it from a short script",
        )
    return text


def find_vm(
    compute: ComputeProvider, name: str, zone: str | None, *, known: list[Vm] | None = None
) -> Vm:
    """The VM called `name`; --zone decides when the name exists in several zones."""
    check_instance_name(name)
    candidates = known if known is not None else compute.list_vms(name=name)
    matches = [vm for vm in candidates if vm.name == name and (zone is None or vm.zone == zone)]
    if not matches:
        where = f" in zone {zone}" if zone else ""
        raise NotFound(f"VM {name!r} not found{where}", hint="see your VMs: labctl vm list")
    if len(matches) > 1:
        zones = ", ".join(vm.zone for vm in matches)
        raise InvalidInput(
            f"VM {name!r} exists in several zones ({zones})", hint="choose one with --zone"
        )
    return matches[0]


def gpu_text(vm: Vm) -> str | None:
    """'1x nvidia-tesla-p100', or None without a GPU."""
    return f"{vm.gpu.count}x {vm.gpu.type}" if vm.gpu else None


def describe_vm(vm: Vm) -> dict[str, Any]:
    return {
        "name": vm.name,
        "zone": vm.zone,
        "id": vm.id,
        "status": vm.status,
        "state": vm.state.value,
        "machine_type": vm.machine_type,
        "gpu": gpu_text(vm),
        "provisioning": vm.provisioning.value,
        "external_ip": vm.external_ip,
        "internal_ip": vm.internal_ip,
        "created": vm.created.isoformat() if vm.created else None,
        "labels": dict(vm.labels),
    }


def vm_row(vm: Vm, prices: PriceTable, now: datetime) -> tuple[str, ...]:
    return (
        vm.name,
        vm.zone,
        vm.status,
        vm.machine_type,
        gpu_text(vm) or "-",
        vm.provisioning.value,
        vm.external_ip or "-",
        _age(vm.created, now),
        str(prices.vm_estimate(vm)),
    )


def _age(created: datetime | None, now: datetime) -> str:
    if created is None:
        return "-"
    seconds = max(0, int((now - created).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
