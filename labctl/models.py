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
    last_started: datetime | None = None  # lastStartTimestamp
    last_stopped: datetime | None = None  # lastStopTimestamp
    disks: tuple[str, ...] = ()  # names of attached disks, boot disk first
    disk_gb: int = 0  # their total size (disks[].diskSizeGb)
    tags: tuple[str, ...] = ()  # network tags (firewall rules target these)
    resource_policies: tuple[str, ...] = ()  # short names of attached resource policies

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
    type: str = "pd-standard"  # short disk type name, e.g. "pd-balanced"
    last_detached: datetime | None = None  # lastDetachTimestamp


@dataclass(frozen=True)
class Snapshot:
    name: str
    source_disk: str  # short name of the disk it was taken of
    disk_size_gb: int
    storage_bytes: int
    status: str  # CREATING, READY, FAILED, ...
    labels: Mapping[str, str] = field(default_factory=dict)
    created: datetime | None = None


@dataclass(frozen=True)
class Address:
    """A reserved IP address. `status` is RESERVED (unused, billed) or IN_USE."""

    name: str
    region: str
    address: str
    status: str
    users: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    created: datetime | None = None
    external: bool = True


@dataclass(frozen=True)
class Firewall:
    name: str
    description: str = ""
    target_tags: tuple[str, ...] = ()
    source_ranges: tuple[str, ...] = ()
    allowed: tuple[str, ...] = ()  # "tcp:22", "tcp:8888-8890", "icmp"
    direction: str = "INGRESS"
    disabled: bool = False
    created: datetime | None = None


@dataclass(frozen=True)
class Quota:
    """One quota of a region (or of the project when region is None)."""

    metric: str  # e.g. "NVIDIA_P100_GPUS", "PREEMPTIBLE_CPUS", "GPUS_ALL_REGIONS"
    limit: float
    usage: float
    region: str | None = None

    @property
    def free(self) -> float:
        return max(0.0, self.limit - self.usage)


@dataclass(frozen=True)
class IamPolicy:
    """An IAM policy: role -> members, and the etag that makes a write a compare-and-set."""

    bindings: Mapping[str, tuple[str, ...]]
    etag: str = ""
    version: int = 1


@dataclass(frozen=True)
class Schedule:
    """An instance schedule (a resource policy): cron lines in a time zone, in one region."""

    name: str
    region: str
    start: str | None  # cron, e.g. "0 9 * * 1"
    stop: str | None
    timezone: str
    description: str = ""


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


@dataclass(frozen=True)
class Billing:
    """A project's Cloud Billing link: `account` is "billingAccounts/XXXXXX-XXXXXX-XXXXXX"."""

    enabled: bool
    account: str | None = None
