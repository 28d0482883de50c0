"""An in-memory StorageProvider for tests and demos; raises the same labctl errors as GcpStorage."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from labctl.errors import AlreadyExists, LabctlError, LocalError, NotEmpty, NotFound
from labctl.models import BlobInfo, Bucket, BucketSpec
from labctl.providers.base import IamUpdate, LabelsUpdate, MemberEdit, Progress, file_version

CHUNK = 1024 * 1024  # progress is reported per chunk, as the real provider does


def crc32c_b64(data: bytes) -> str:
    """Castagnoli CRC-32 as Cloud Storage reports it (base64 of 4 big-endian bytes)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return base64.b64encode((crc ^ 0xFFFFFFFF).to_bytes(4, "big")).decode()


def _table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _table()


@dataclass
class FakeObject:
    data: bytes
    updated: datetime
    # What the "server" reports; tests may corrupt it to check verification.
    crc32c: str | None = None
    md5: str | None = None

    def info(self, name: str) -> BlobInfo:
        return BlobInfo(name, len(self.data), self.md5, self.crc32c, self.updated)


@dataclass
class FakeBucket:
    bucket: Bucket
    objects: dict[str, FakeObject] = field(default_factory=dict)
    iam: dict[str, set[str]] = field(default_factory=dict)
    uniform_access: bool = True
    public_access_prevention: str = "enforced"


@dataclass
class FakeStorageFaults:
    """Names owned by other projects, errors to raise, transfers to cut short."""

    foreign_buckets: set[str] = field(default_factory=set)
    # method ("create_bucket", or "*") -> errors its next calls raise, in order
    errors: dict[str, list[LabctlError]] = field(default_factory=dict)
    # download/upload stops with this error after this many bytes
    interrupt_after_bytes: int | None = None
    interrupt_error: BaseException = field(
        default_factory=lambda: LabctlError("connection reset while transferring")
    )


class FakeStorage:
    def __init__(self, project: str = "labctl-demo") -> None:
        self.project = project
        self.buckets: dict[str, FakeBucket] = {}
        self.faults = FakeStorageFaults()
        self.calls: list[str] = []
        self.chunk_size = CHUNK
        self._lock = threading.RLock()

    def _call(self, method: str) -> None:
        with self._lock:
            self.calls.append(method)
            for key in (method, "*"):
                queue = self.faults.errors.get(key)
                if queue:
                    raise queue.pop(0)

    def _get(self, name: str) -> FakeBucket:
        found = self.buckets.get(name)
        if found is None:
            raise NotFound(f"bucket {name!r}: not found", kind="bucket", name=name)
        return found

    # -- buckets -------------------------------------------------------------------------------

    def create_bucket(self, spec: BucketSpec) -> Bucket:
        self._call("create_bucket")
        with self._lock:
            if spec.name in self.faults.foreign_buckets:
                raise AlreadyExists(
                    f"bucket {spec.name!r} already exists in another project (bucket names are "
                    "global)",
                    kind="bucket",
                    name=spec.name,
                    owned=False,
                )
            if spec.name in self.buckets:
                raise AlreadyExists(
                    f"bucket {spec.name!r} already exists in your project",
                    kind="bucket",
                    name=spec.name,
                    owned=True,
                )
            bucket = Bucket(
                name=spec.name,
                location=spec.location.upper(),
                storage_class=spec.storage_class,
                labels=dict(spec.labels),
                created=datetime.now(UTC),
            )
            self.buckets[spec.name] = FakeBucket(bucket)
            return bucket

    def get_bucket(self, name: str) -> Bucket:
        self._call("get_bucket")
        with self._lock:
            return self._get(name).bucket

    def list_buckets(
        self, *, labels: Mapping[str, str] | None = None, sizes: bool = False
    ) -> list[Bucket]:
        self._call("list_buckets")
        with self._lock:
            found = []
            for name in sorted(self.buckets):
                entry = self.buckets[name]
                if any(entry.bucket.labels.get(k) != v for k, v in (labels or {}).items()):
                    continue
                bucket = entry.bucket
                if sizes:
                    bucket = replace(
                        bucket,
                        object_count=len(entry.objects),
                        total_bytes=sum(len(o.data) for o in entry.objects.values()),
                    )
                found.append(bucket)
            return found

    def delete_bucket(self, name: str, *, force: bool = False) -> None:
        self._call("delete_bucket")
        with self._lock:
            entry = self._get(name)
            if entry.objects and not force:
                raise NotEmpty(f"bucket {name!r} is not empty", kind="bucket", name=name)
            del self.buckets[name]

    # -- objects -------------------------------------------------------------------------------

    def list_blobs(self, bucket: str, prefix: str = "") -> list[BlobInfo]:
        self._call("list_blobs")
        with self._lock:
            objects = self._get(bucket).objects
            return [objects[n].info(n) for n in sorted(objects) if n.startswith(prefix)]

    def put_object(self, bucket: str, name: str, data: bytes) -> BlobInfo:
        """Store bytes directly (test set-up)."""
        with self._lock:
            obj = FakeObject(data, datetime.now(UTC), crc32c_b64(data), _md5_b64(data))
            self._get(bucket).objects[name] = obj
            return obj.info(name)

    def upload_file(
        self, bucket: str, local_path: Path, object_name: str, progress: Progress | None = None
    ) -> BlobInfo:
        self._call("upload_file")
        with self._lock:
            self._get(bucket)
        data = bytearray()
        with open(local_path, "rb") as fh:
            before = file_version(fh.fileno())
            while chunk := fh.read(self.chunk_size):
                self._maybe_interrupt(len(data) + len(chunk))
                data += chunk
                if progress is not None:
                    progress(len(chunk))
            changed = file_version(fh.fileno()) != before or len(data) != before[0]
        info = self.put_object(bucket, object_name, bytes(data))
        if changed:  # as Cloud Storage: the object was stored, then deleted
            with self._lock:
                self._get(bucket).objects.pop(object_name, None)
            url = f"gs://{bucket}/{object_name}"
            raise LocalError(
                f"{local_path} changed while it was uploaded; {url} was deleted, try again",
                field="PATH",
            )
        return info

    def download_file(
        self, bucket: str, object_name: str, local_path: Path, progress: Progress | None = None
    ) -> BlobInfo:
        self._call("download_file")
        url = f"gs://{bucket}/{object_name}"
        with self._lock:
            obj = self._get(bucket).objects.get(object_name)
            if obj is None:
                raise NotFound(f"{url}: not found", kind="object", name=url)
            info = obj.info(object_name)
            data = obj.data
        try:
            with open(local_path, "wb") as fh:
                for start in range(0, len(data), self.chunk_size):
                    chunk = data[start : start + self.chunk_size]
                    self._maybe_interrupt(start + len(chunk))
                    fh.write(chunk)
                    if progress is not None:
                        progress(len(chunk))
            if info.crc32c is not None and crc32c_b64(local_path.read_bytes()) != info.crc32c:
                raise LabctlError(f"{url}: crc32c mismatch, the download is damaged; retry")
        except BaseException:
            local_path.unlink(missing_ok=True)
            raise
        return info

    def _maybe_interrupt(self, moved: int) -> None:
        limit = self.faults.interrupt_after_bytes
        if limit is not None and moved > limit:
            raise self.faults.interrupt_error

    # -- IAM -----------------------------------------------------------------------------------

    def bucket_members(self, bucket: str) -> dict[str, list[str]]:
        self._call("bucket_members")
        with self._lock:
            iam = self._get(bucket).iam
            return {role: sorted(m) for role, m in sorted(iam.items()) if m}

    def add_bucket_member(self, bucket: str, role: str, member: str) -> bool:
        self._call("add_bucket_member")
        edit = MemberEdit(role, member, add=True)
        self._update_iam(bucket, edit)
        return edit.changed

    def remove_bucket_member(self, bucket: str, role: str, member: str) -> bool:
        self._call("remove_bucket_member")
        edit = MemberEdit(role, member, add=False)
        self._update_iam(bucket, edit)
        return edit.changed

    def update_bucket_iam(self, bucket: str, update: IamUpdate) -> dict[str, list[str]]:
        self._call("update_bucket_iam")
        return self._update_iam(bucket, update)

    def _update_iam(self, bucket: str, update: IamUpdate) -> dict[str, list[str]]:
        with self._lock:
            found = self._get(bucket)
            current = {r: set(m) for r, m in found.iam.items() if m}
            wanted = {r: set(m) for r, m in update({r: set(m) for r, m in current.items()}).items()}
            found.iam = {r: m for r, m in wanted.items() if m}
            return {role: sorted(m) for role, m in sorted(found.iam.items()) if m}

    def update_bucket_labels(self, bucket: str, update: LabelsUpdate) -> None:
        self._call("update_bucket_labels")
        with self._lock:
            found = self._get(bucket)
            labels = update(dict(found.bucket.labels))
            found.bucket = replace(found.bucket, labels=labels)


def _md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
