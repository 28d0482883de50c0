"""Provider-neutral records: what labctl asks for (specs) and what it gets back (Vm, Bucket)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class VmState(StrEnum):
    PENDING = "pending"  # PROVISIONING, STAGING
    RUNNING = "running"
    STOPPING = "stopping"  # STOPPING, SUSPENDING
    STOPPED = "stopped"  # TERMINATED (Compute's word for a stopped VM), SUSPENDED
    REPAIRING = "repairing"
    UNKNOWN = "unknown"


# Compute Engine instance.status -> labctl state.
STATE_FROM_GCE: dict[str, VmState] = {
    "PROVISIONING": VmState.PENDING,
    "STAGING": VmState.PENDING,
    "RUNNING": VmState.RUNNING,
    "STOPPING": VmState.STOPPING,
    "SUSPENDING": VmState.STOPPING,
    "SUSPENDED": VmState.STOPPED,
    "TERMINATED": VmState.STOPPED,
    "REPAIRING": VmState.REPAIRING,
}


class Provisioning(StrEnum):
    STANDARD = "standard"
    SPOT = "spot"
    PREEMPTIBLE = "preemptible"  # legacy, 24 h limit; spot is the recommended successor


@dataclass(frozen=True)
class Gpu:
    type: str  # accelerator type short name, e.g. "nvidia-tesla-p100"
    count: int


@dataclass(frozen=True)
class VmSpec:
    """Everything needed to create one course VM in one zone."""

    name: str
    zone: str
    machine_type: str  # short name, e.g. "n1-standard-8"
    image_project: str  # e.g. "deeplearning-platform-release"
    image_family: str  # e.g. "common-cu129-ubuntu-2204-nvidia-580"
    disk_size_gb: int
    provisioning: Provisioning = Provisioning.SPOT
    gpu: Gpu | None = None
    startup_script: str | None = None  # the script's text, not a path
    metadata: Mapping[str, str] = field(default_factory=dict)  # extra instance metadata
    labels: Mapping[str, str] = field(default_factory=dict)
    external_ip: bool = True
    termination_action: str = "STOP"  # spot only: STOP keeps the disk, DELETE removes the VM
    max_run_hours: int | None = None  # Compute stops the VM after this long running

    @property
    def region(self) -> str:
        return region_of(self.zone)


@dataclass(frozen=True)
class Vm:
    name: str
    zone: str
    id: str  # decimal string, as Compute returns it
    state: VmState
    status: str  # the provider's raw status, e.g. "TERMINATED"
    machine_type: str  # short name
    provisioning: Provisioning = Provisioning.STANDARD
    gpu: Gpu | None = None
    external_ip: str | None = None
    internal_ip: str | None = None
    created: datetime | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def region(self) -> str:
        return region_of(self.zone)


@dataclass(frozen=True)
class MachineType:
    name: str
    zone: str
    cpus: int
    memory_mb: int


@dataclass(frozen=True)
class Disk:
    name: str
    zone: str
    size_gb: int
    users: tuple[str, ...]  # instance names using it; empty = orphaned
    labels: Mapping[str, str] = field(default_factory=dict)
    created: datetime | None = None


@dataclass(frozen=True)
class BucketSpec:
    name: str
    location: str = "US-CENTRAL1"
    storage_class: str = "STANDARD"
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Bucket:
    name: str
    location: str
    storage_class: str
    labels: Mapping[str, str] = field(default_factory=dict)
    created: datetime | None = None
    object_count: int | None = None  # filled only when sizes are asked for
    total_bytes: int | None = None


@dataclass(frozen=True)
class BlobInfo:
    name: str
    size: int
    md5: str | None = None
    crc32c: str | None = None
    updated: datetime | None = None


def region_of(zone: str) -> str:
    """'us-central1-c' -> 'us-central1'."""
    return zone.rsplit("-", 1)[0]
