"""The provider surface the domain and the CLI code against; implementations raise labctl.errors."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from labctl.models import (
        Address,
        Billing,
        BlobInfo,
        Bucket,
        BucketSpec,
        Disk,
        Firewall,
        IamPolicy,
        MachineType,
        Quota,
        Schedule,
        Snapshot,
        Vm,
        VmSpec,
    )

# A metadata update: receives the current items, returns the new items (read-modify-write with
# the instance's fingerprint, retried by the provider if someone else changed it meanwhile).
MetadataUpdate = Callable[[dict[str, str]], dict[str, str]]

# An IAM update: receives role -> members, returns the wanted role -> members (read-modify-write
# with the policy's etag, redone by the provider if someone else changed it meanwhile).
IamUpdate = Callable[[dict[str, set[str]]], dict[str, set[str]]]

# A labels update, as for metadata (with the resource's labelFingerprint).
LabelsUpdate = Callable[[dict[str, str]], dict[str, str]]

# Transfer progress: called with the number of bytes moved since the last call.
Progress = Callable[[int], None]


class MemberEdit:
    """An IamUpdate that grants (add) or revokes one member's role; `changed` says whether its
    last call changed anything (add/remove_bucket_member's answer)."""

    def __init__(self, role: str, member: str, *, add: bool) -> None:
        self.role, self.member, self.add = role, member, add
        self.changed = False

    def __call__(self, bindings: dict[str, set[str]]) -> dict[str, set[str]]:
        members = bindings.get(self.role, set())
        self.changed = (self.member in members) != self.add
        edited = members | {self.member} if self.add else members - {self.member}
        return {**bindings, self.role: edited}


def file_version(fd: int) -> tuple[int, int, int]:
    """(size, mtime, ctime) of an open file: a write in place changes mtime and ctime even when
    the size stays the same."""
    info = os.fstat(fd)
    return info.st_size, info.st_mtime_ns, info.st_ctime_ns


@dataclass(frozen=True)
class Operation:
    """A request Compute accepted and is carrying out.

    `scope` is where it lives: "zones/us-central1-c", "regions/us-central1" or "global".
    `target` is the resource it acts on, as a short path ("instances/ana-gpu").
    """

    name: str
    scope: str
    target: str = ""

    @property
    def zone(self) -> str | None:
        return self.scope.removeprefix("zones/") if self.scope.startswith("zones/") else None


class ComputeProvider(Protocol):
    """Compute Engine as labctl needs it. Zones are short names ("us-central1-c").

    Mutations send one request and return its `Operation` at once; `wait` waits for it and
    raises what it ended with (Stockout, QuotaExceeded, ...). Callers send many requests first
    and then wait on them together (labctl.runner).
    """

    project: str

    def list_zones(self) -> list[str]:
        """All zone names of the project, sorted."""
        ...

    def get_machine_type(self, zone: str, name: str) -> MachineType:
        """Raises NotFound if the zone does not offer it (or the zone does not exist)."""
        ...

    def check_image_family(self, project: str, family: str) -> None:
        """Raises NotFound (kind "image") if `project` has no image in `family`."""
        ...

    def accelerator_zones(self, gpu_type: str) -> dict[str, int]:
        """zone -> maximum cards per VM for each zone offering `gpu_type` (one aggregated call)."""
        ...

    def list_vms(
        self, *, name: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[Vm]:
        """VMs in every zone (one aggregated call), optionally filtered by exact name and labels."""
        ...

    def get_vm(self, name: str, zone: str) -> Vm: ...

    def insert_request(self, spec: VmSpec) -> dict[str, Any]:
        """The request body `insert_vm` would send, for --dry-run (no call is made)."""
        ...

    def insert_vm(self, spec: VmSpec, *, request_id: str) -> Operation:
        """Send the insert of one VM in spec.zone. The same request_id never creates a second VM.

        Raises Stockout / QuotaExceeded / AlreadyExists / InvalidInput when Compute refuses at
        once; the same errors can also come from `wait`.
        """
        ...

    def stop_vm(self, name: str, zone: str) -> Operation:
        """Raises NotFound if there is no such VM."""
        ...

    def start_vm(self, name: str, zone: str) -> Operation: ...

    def delete_vm(self, name: str, zone: str) -> Operation:
        """Raises NotFound if the VM is already gone."""
        ...

    def wait(self, operation: Operation, *, timeout: float | None = None) -> None:
        """Wait until the operation is done; raise its error, or OperationTimeout."""
        ...

    def update_metadata(self, name: str, zone: str, update: MetadataUpdate) -> None: ...

    def get_guest_attributes(self, name: str, zone: str, query_path: str) -> dict[str, str]:
        """Guest attributes under `query_path` ("hostkeys/"), as {"namespace/key": value}."""
        ...

    def list_disks(self, *, labels: Mapping[str, str] | None = None) -> list[Disk]: ...

    # -- what cleanup looks at and removes (each list is one aggregated or global call) -------

    def list_addresses(self) -> list[Address]: ...

    def list_snapshots(self) -> list[Snapshot]: ...

    def list_firewalls(self) -> list[Firewall]: ...

    def create_snapshot(
        self, disk: str, zone: str, *, name: str, labels: Mapping[str, str]
    ) -> Operation:
        """Snapshot `disk`; the snapshot exists (READY) once the operation is done."""
        ...

    def delete_disk(self, name: str, zone: str) -> Operation: ...

    def delete_snapshot(self, name: str) -> Operation: ...

    def release_address(self, name: str, region: str) -> Operation: ...

    def delete_firewall(self, name: str) -> Operation: ...

    def start_label_update(self, name: str, zone: str, update: LabelsUpdate) -> Operation | None:
        """Read-modify-write of a VM's labels with its labelFingerprint; the setLabels
        operation, not waited for (a batch sends every change first), or None when the labels
        are already as wanted."""
        ...

    # -- what a class needs: access per VM, schedules, quotas -------------------------------

    def update_vm_iam(self, name: str, zone: str, update: IamUpdate) -> IamPolicy:
        """Change the VM's own IAM policy (etag compare-and-set); the policy as written."""
        ...

    def get_vm_iam(self, name: str, zone: str) -> IamPolicy:
        """The VM's own IAM policy (instances.getIamPolicy). Raises NotFound."""
        ...

    def list_schedules(self) -> list[Schedule]: ...

    def create_schedule(self, schedule: Schedule) -> Operation: ...

    def delete_schedule(self, name: str, region: str) -> Operation: ...

    def attach_schedule(self, vm: str, zone: str, schedule: str) -> Operation:
        """Attach the region's schedule `schedule` to the VM (addResourcePolicies)."""
        ...

    def detach_schedule(self, vm: str, zone: str, schedule: str) -> Operation:
        """Detach the region's schedule `schedule` from the VM (removeResourcePolicies)."""
        ...

    def region_quotas(self, region: str) -> list[Quota]: ...

    def project_quotas(self) -> list[Quota]: ...

    # -- what `labctl doctor` asks ----------------------------------------------------------

    def whoami(self) -> str:
        """Whose credentials these are, in words ("ana@uni.edu (gcloud application-default
        login)", "anonymous (local emulator)")."""
        ...

    def billing(self) -> Billing:
        """The project's Cloud Billing link (cloudbilling v1 projects.getBillingInfo)."""
        ...

    def server_time(self) -> datetime | None:
        """The time in the Compute API's `Date` response header (to compare clocks)."""
        ...

    def preemptions(self, name: str, zone: str) -> list[datetime]:
        """When Compute preempted the VM `name` (its `compute.instances.preempted`
        operations), oldest first."""
        ...


class StorageProvider(Protocol):
    """Cloud Storage as labctl needs it. Bucket names are validated by the caller (labctl.buckets).

    Object names are full names inside the bucket ("data/train.csv"). Members are IAM principals
    ("user:ana@uni.edu"), roles full role names ("roles/storage.objectViewer").
    """

    project: str

    def create_bucket(self, spec: BucketSpec) -> Bucket:
        """Create with spec's location, class and labels, uniform bucket-level access and public
        access prevention enforced.

        Raises AlreadyExists with `owned` True (in this project) or False (another project's): a
        409 says neither, so the provider finds out, as gcloud does.
        """
        ...

    def get_bucket(self, name: str) -> Bucket:
        """Raises NotFound."""
        ...

    def list_buckets(
        self, *, labels: Mapping[str, str] | None = None, sizes: bool = False
    ) -> list[Bucket]:
        """Buckets of the project carrying every given label, sorted by name; with sizes=True
        object_count and total_bytes are filled."""
        ...

    def delete_bucket(self, name: str, *, force: bool = False) -> None:
        """Raises NotFound; NotEmpty if the bucket has objects and force is False.
        With force, every object is deleted first."""
        ...

    def list_blobs(self, bucket: str, prefix: str = "") -> list[BlobInfo]:
        """Every object whose name starts with prefix (recursive), sorted. Raises NotFound."""
        ...

    def upload_file(
        self, bucket: str, local_path: Path, object_name: str, progress: Progress | None = None
    ) -> BlobInfo:
        """Upload (resumable, in chunks, above a size threshold) and compare the stored object's
        checksum with the file's; on a mismatch the object is deleted and LabctlError raised.
        A file that changed while it was read (size, mtime or ctime) is LocalError, and its
        object is deleted too. OSError for a file that cannot be opened."""
        ...

    def download_file(
        self, bucket: str, object_name: str, local_path: Path, progress: Progress | None = None
    ) -> BlobInfo:
        """Write the object to local_path and verify its crc32c (or md5). On any error
        local_path is removed. Callers write to a temporary file and rename it
        (transfers.download_one)."""
        ...

    def bucket_members(self, bucket: str) -> dict[str, list[str]]:
        """The bucket's IAM bindings: role -> sorted members. Raises NotFound."""
        ...

    def add_bucket_member(self, bucket: str, role: str, member: str) -> bool:
        """Grant role to member on the bucket; False if it was already granted."""
        ...

    def remove_bucket_member(self, bucket: str, role: str, member: str) -> bool:
        """Revoke role from member on the bucket; False if it was not granted."""
        ...

    def update_bucket_iam(self, bucket: str, update: IamUpdate) -> dict[str, list[str]]:
        """Read-modify-write of the bucket's unconditional bindings (etag compare-and-set, redone
        on a concurrent change); nothing is written when `update` changes nothing. Returns
        role -> sorted members as written. Raises NotFound."""
        ...

    def update_bucket_labels(self, bucket: str, update: LabelsUpdate) -> None:
        """Read-modify-write of the bucket's labels (a patch). Raises NotFound."""
        ...
