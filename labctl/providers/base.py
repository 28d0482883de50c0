"""The provider surface the domain and the CLI code against; every implementation raises labctl.errors."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from labctl.models import BlobInfo, Bucket, BucketSpec, Disk, MachineType, Vm, VmSpec

# A metadata update: receives the current items, returns the new items (read-modify-write with
# the instance's fingerprint, retried by the provider if someone else changed it meanwhile).
MetadataUpdate = Callable[[dict[str, str]], dict[str, str]]

# Transfer progress: called with the number of bytes moved since the last call.
Progress = Callable[[int], None]


class ComputeProvider(Protocol):
    """Compute Engine as labctl needs it. Zones are short names ("us-central1-c")."""

    project: str

    def list_zones(self) -> list[str]:
        """All zone names of the project, sorted."""
        ...

    def get_machine_type(self, zone: str, name: str) -> MachineType:
        """Raises NotFound if the zone does not offer it (or the zone does not exist)."""
        ...

    def accelerator_zones(self, gpu_type: str) -> dict[str, int]:
        """zone -> maximum cards per VM, for every zone offering `gpu_type` (one aggregated call)."""
        ...

    def list_vms(
        self, *, name: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[Vm]:
        """VMs in every zone (one aggregated call), optionally filtered by exact name and labels."""
        ...

    def get_vm(self, name: str, zone: str) -> Vm: ...

    def create_vm(self, spec: VmSpec, *, request_id: str, wait: bool = True) -> None:
        """Insert one VM in spec.zone. The same request_id never creates a second VM.

        Raises Stockout / QuotaExceeded / AlreadyExists / InvalidInput; with wait=True also the
        errors the operation ends with.
        """
        ...

    def stop_vm(self, name: str, zone: str, *, wait: bool = True) -> None: ...

    def start_vm(self, name: str, zone: str, *, wait: bool = True) -> None: ...

    def delete_vm(self, name: str, zone: str, *, wait: bool = True) -> None:
        """Raises NotFound if the VM is already gone."""
        ...

    def update_metadata(self, name: str, zone: str, update: MetadataUpdate) -> None: ...

    def get_guest_attributes(self, name: str, zone: str, query_path: str) -> dict[str, str]:
        """Guest attributes under `query_path` ("hostkeys/"), as {"namespace/key": value}."""
        ...

    def list_disks(self, *, labels: Mapping[str, str] | None = None) -> list[Disk]: ...


class StorageProvider(Protocol):
    """Cloud Storage as labctl needs it. Bucket names are validated by the caller."""

    project: str

    def create_bucket(self, spec: BucketSpec) -> Bucket:
        """Raises AlreadyExists (and says whether the name is ours or another project's)."""
        ...

    def get_bucket(self, name: str) -> Bucket: ...

    def list_buckets(
        self, *, labels: Mapping[str, str] | None = None, sizes: bool = False
    ) -> list[Bucket]: ...

    def delete_bucket(self, name: str, *, force: bool = False) -> None: ...

    def list_blobs(self, bucket: str, prefix: str = "") -> list[BlobInfo]: ...

    def upload_file(
        self, bucket: str, local_path: Path, object_name: str, progress: Progress | None = None
    ) -> BlobInfo: ...

    def download_file(
        self, bucket: str, object_name: str, local_path: Path, progress: Progress | None = None
    ) -> BlobInfo: ...
