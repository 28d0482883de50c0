"""StorageProvider on google-cloud-storage; google.cloud is imported only when one is made."""

from __future__ import annotations

import logging
import mimetypes
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labctl.errors import (
    AlreadyExists,
    EndpointUnreachable,
    LabctlError,
    LocalError,
    NotEmpty,
    NotFound,
    PreconditionFailed,
)
from labctl.models import BlobInfo, Bucket, BucketSpec
from labctl.providers.base import IamUpdate, LabelsUpdate, MemberEdit, Progress, file_version
from labctl.providers.gcp._checksums import HashingReader, HashingWriter, file_md5
from labctl.providers.gcp._rest import is_loopback, session_for
from labctl.providers.gcp._storage_errors import storage_errors

if TYPE_CHECKING:
    import requests
    from google.auth.credentials import Credentials
    from google.cloud.storage import Blob, Client

log = logging.getLogger(__name__)

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
# Files above the threshold go up as a resumable upload in chunks (a multiple of 256 KiB); an
# interrupted chunk is re-sent, not the whole file. Below it, one multipart request is faster.
# 8 MiB is also the client library's own multipart limit (it ignores chunk_size below it).
RESUMABLE_THRESHOLD = 8 * 1024 * 1024
CHUNK_SIZE = 16 * 1024 * 1024
TIMEOUT_S = 120.0
DELETE_BATCH = 100  # the JSON API's batch limit
MAX_DELETE_ROUNDS = 10_000  # x 1,000 listed per round: far beyond a course bucket
IAM_ATTEMPTS = 3  # read-modify-write of the policy, retried if its etag changed meanwhile
SIZE_WORKERS = 8


def make_storage(
    project: str | None,
    *,
    config_project: str | None = None,
    credentials: Credentials | None = None,
    client: Client | None = None,
) -> GcpStorage:
    """A GcpStorage for `project` (None: resolved as for Compute, from the environment, the
    config value, the credentials, then gcloud). With STORAGE_EMULATOR_HOST set and no
    credentials file, anonymous credentials are used (nothing probes the metadata server).
    Raises CredentialsError or InvalidInput."""
    auth_project = None
    endpoint = os.environ.get(EMULATOR_ENV) or None
    if client is None and credentials is None:
        from labctl.providers.gcp.auth import resolve_credentials

        credentials, auth_project = resolve_credentials(endpoint_override=endpoint)
    if project is None:
        from labctl.providers.gcp.auth import resolve_project

        project = resolve_project(None, config_project, auth_project=auth_project)
    if client is None and endpoint and is_loopback(endpoint):
        client = _local_client(project, credentials, endpoint)
    return GcpStorage(project, credentials=credentials, client=client)


def _local_client(project: str, credentials: Credentials | None, endpoint: str) -> Client:
    """A client for a local emulator whose HTTP session reports a refused connection at once:
    the library would otherwise retry an emulator that is not running for two minutes."""
    from google.cloud import storage

    session = FailFastSession(session_for(credentials), endpoint)
    return storage.Client(project=project, credentials=credentials, _http=session)


class FailFastSession:
    """A requests session in which a connection that cannot be opened raises
    EndpointUnreachable: no ConnectionError, so the client library does not retry it, and the
    CLI says what to start. A connection cut later is left to the library's retries."""

    def __init__(self, inner: requests.Session, endpoint: str) -> None:
        self._inner = inner
        self.endpoint = endpoint

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        import requests
        from urllib3.exceptions import ConnectTimeoutError

        try:
            return self._inner.request(method, url, *args, **kwargs)
        except requests.ConnectionError as exc:
            reason = getattr(exc.args[0] if exc.args else None, "reason", None)
            if not isinstance(reason, ConnectTimeoutError):  # includes NewConnectionError
                raise
            raise EndpointUnreachable(
                f"nothing answers at {self.endpoint}", url=self.endpoint
            ) from exc

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class GcpStorage:
    def __init__(
        self,
        project: str,
        *,
        credentials: Credentials | None = None,
        client: Client | None = None,
        chunk_size: int = CHUNK_SIZE,
        timeout: float = TIMEOUT_S,
    ) -> None:
        if client is None:
            from google.cloud import storage

            client = storage.Client(project=project, credentials=credentials)
        self.project = project
        self.client = client
        self.chunk_size = chunk_size
        self.timeout = timeout

    # -- buckets -------------------------------------------------------------------------------

    def create_bucket(self, spec: BucketSpec) -> Bucket:
        bucket = self.client.bucket(spec.name)
        bucket.storage_class = spec.storage_class
        bucket.labels = dict(spec.labels)
        bucket.iam_configuration.uniform_bucket_level_access_enabled = True
        bucket.iam_configuration.public_access_prevention = "enforced"
        from google.api_core.exceptions import Conflict

        try:
            with _bucket_errors(spec.name):
                created = self.client.create_bucket(
                    bucket, project=self.project, location=spec.location, timeout=self.timeout
                )
        except AlreadyExists as exc:
            if isinstance(exc.__cause__, Conflict):
                raise self._taken(spec.name) from exc.__cause__
            raise
        return _bucket(created)

    def _taken(self, name: str) -> AlreadyExists:
        """A 409 does not say whose the name is: GET it, then look for it in our project."""
        from google.api_core import exceptions as gexc

        try:
            self.client.get_bucket(name, timeout=self.timeout)
            ours = any(
                b.name == name
                for b in self.client.list_buckets(
                    project=self.project, prefix=name, max_results=1000, timeout=self.timeout
                )
            )
        except (gexc.Forbidden, gexc.NotFound):
            ours = False
        if ours:
            return AlreadyExists(
                f"bucket {name!r} already exists in your project",
                kind="bucket",
                name=name,
                owned=True,
            )
        return AlreadyExists(
            f"bucket {name!r} already exists in another project (bucket names are global)",
            kind="bucket",
            name=name,
            owned=False,
        )

    def get_bucket(self, name: str) -> Bucket:
        with _bucket_errors(name):
            return _bucket(self.client.get_bucket(name, timeout=self.timeout))

    def list_buckets(
        self, *, labels: Mapping[str, str] | None = None, sizes: bool = False
    ) -> list[Bucket]:
        # The JSON API cannot filter on labels: filter here.
        with storage_errors(f"buckets of project {self.project!r}"):
            found = [
                _bucket(b)
                for b in self.client.list_buckets(project=self.project, timeout=self.timeout)
                if all((b.labels or {}).get(k) == v for k, v in (labels or {}).items())
            ]
        found.sort(key=lambda b: b.name)
        if not sizes or not found:
            return found
        with ThreadPoolExecutor(max_workers=min(SIZE_WORKERS, len(found))) as pool:
            return list(pool.map(self._with_size, found))

    def _with_size(self, bucket: Bucket) -> Bucket:
        from dataclasses import replace

        blobs = self.list_blobs(bucket.name)
        return replace(bucket, object_count=len(blobs), total_bytes=sum(b.size for b in blobs))

    def delete_bucket(self, name: str, *, force: bool = False) -> None:
        with _bucket_errors(name):
            bucket = self.client.get_bucket(name, timeout=self.timeout)
        if force:
            self._delete_all_objects(name)
        try:
            with _bucket_errors(name):
                bucket.delete(timeout=self.timeout)
        except AlreadyExists as exc:  # 409 on delete: the bucket still has objects
            raise NotEmpty(f"bucket {name!r} is not empty", kind="bucket", name=name) from exc

    def _delete_all_objects(self, name: str) -> None:
        for _ in range(MAX_DELETE_ROUNDS):
            with _bucket_errors(name):
                blobs = list(self.client.list_blobs(name, max_results=1000, timeout=self.timeout))
            if not blobs:
                return
            for start in range(0, len(blobs), DELETE_BATCH):
                try:
                    with storage_errors(f"objects of {name!r}"), self.client.batch():
                        for blob in blobs[start : start + DELETE_BATCH]:
                            blob.delete(timeout=self.timeout)
                except NotFound:
                    pass  # deleted meanwhile: the next round lists what is left
        raise LabctlError(f"bucket {name!r}: objects kept appearing while deleting them")

    # -- objects -------------------------------------------------------------------------------

    def list_blobs(self, bucket: str, prefix: str = "") -> list[BlobInfo]:
        with _bucket_errors(bucket, f"gs://{bucket}/{prefix}"):
            blobs = [
                _blob(b)
                for b in self.client.list_blobs(bucket, prefix=prefix or None, timeout=self.timeout)
                # The emulator's bucket listing ignores some filters; Cloud Storage applies it.
                if b.name.startswith(prefix)
            ]
        return sorted(blobs, key=lambda b: b.name)

    def upload_file(
        self, bucket: str, local_path: Path, object_name: str, progress: Progress | None = None
    ) -> BlobInfo:
        url = f"gs://{bucket}/{object_name}"
        with open(local_path, "rb") as fh:
            before = file_version(fh.fileno())
            size = before[0]
            chunked = size > RESUMABLE_THRESHOLD
            blob = self.client.bucket(bucket).blob(
                object_name, chunk_size=self.chunk_size if chunked else None
            )
            content_type = mimetypes.guess_type(local_path.name)[0] or "application/octet-stream"
            reader = HashingReader(fh, progress)
            with _bucket_errors(bucket, url):
                blob.upload_from_file(
                    reader,
                    size=size,
                    content_type=content_type,
                    checksum="crc32c",
                    timeout=self.timeout,
                )
            unchanged = reader.complete(size) and file_version(fh.fileno()) == before
        if not unchanged:
            self._delete_quietly(blob)
            raise LocalError(
                f"{local_path} changed while it was uploaded; {url} was deleted, try again",
                field="PATH",
            )
        info = _blob(blob)
        if info.crc32c is not None and info.crc32c != reader.crc32c_b64():
            self._delete_quietly(blob)
            raise LabctlError(f"{url}: checksum mismatch after upload (object deleted); retry")
        if info.crc32c is None and info.md5 is not None and info.md5 != file_md5(local_path):
            self._delete_quietly(blob)
            raise LabctlError(f"{url}: md5 mismatch after upload (object deleted); retry")
        return info

    def _delete_quietly(self, blob: Blob) -> None:
        try:
            blob.delete(timeout=self.timeout)
        except Exception as exc:  # the upload error is the one worth reporting
            log.warning("could not delete %s after a failed upload: %s", blob.name, exc)

    def download_file(
        self, bucket: str, object_name: str, local_path: Path, progress: Progress | None = None
    ) -> BlobInfo:
        url = f"gs://{bucket}/{object_name}"
        with _bucket_errors(bucket, url):
            blob = self.client.bucket(bucket).get_blob(object_name, timeout=self.timeout)
        if blob is None:
            raise NotFound(f"{url}: not found", kind="object", name=url)
        info = _blob(blob)  # pins the generation: the bytes match this metadata
        try:
            with open(local_path, "wb") as fh, _bucket_errors(bucket, url):
                writer = HashingWriter(fh, progress, md5=info.crc32c is None)
                # raw: the stored bytes exactly, so they match the stored checksums.
                blob.download_to_file(
                    writer, raw_download=True, checksum=None, timeout=self.timeout
                )
            if writer.size != info.size:
                raise LabctlError(f"{url}: got {writer.size} of {info.size} bytes; retry")
            if info.crc32c is not None and writer.crc32c_b64() != info.crc32c:
                raise LabctlError(f"{url}: crc32c mismatch, the download is damaged; retry")
            if info.crc32c is None and info.md5 is not None and writer.md5_b64() != info.md5:
                raise LabctlError(f"{url}: md5 mismatch, the download is damaged; retry")
        except BaseException:
            local_path.unlink(missing_ok=True)
            raise
        return info

    # -- IAM -----------------------------------------------------------------------------------

    def bucket_members(self, bucket: str) -> dict[str, list[str]]:
        with _bucket_errors(bucket):
            policy = self.client.bucket(bucket).get_iam_policy(
                requested_policy_version=3, timeout=self.timeout
            )
        members: dict[str, set[str]] = {}
        for binding in policy.bindings:
            members.setdefault(binding["role"], set()).update(binding.get("members", ()))
        return {role: sorted(m) for role, m in sorted(members.items()) if m}

    def add_bucket_member(self, bucket: str, role: str, member: str) -> bool:
        edit = MemberEdit(role, member, add=True)
        self.update_bucket_iam(bucket, edit)
        return edit.changed

    def remove_bucket_member(self, bucket: str, role: str, member: str) -> bool:
        edit = MemberEdit(role, member, add=False)
        self.update_bucket_iam(bucket, edit)
        return edit.changed

    def update_bucket_iam(self, bucket: str, update: IamUpdate) -> dict[str, list[str]]:
        """One read and (only if something changes) one write, with the policy's etag."""
        handle = self.client.bucket(bucket)
        for attempt in range(1, IAM_ATTEMPTS + 1):
            with _bucket_errors(bucket):
                policy = handle.get_iam_policy(requested_policy_version=3, timeout=self.timeout)
            # Only unconditional bindings: a conditional one grants something narrower.
            plain: dict[str, set[str]] = {}
            for binding in policy.bindings:
                if not binding.get("condition"):
                    plain.setdefault(binding["role"], set()).update(binding.get("members", ()))
            current = {r: m for r, m in plain.items() if m}
            wanted = {r: set(m) for r, m in update({r: set(m) for r, m in current.items()}).items()}
            wanted = {r: m for r, m in wanted.items() if m}
            if wanted == current:
                return {r: sorted(m) for r, m in sorted(current.items())}
            kept = [b for b in policy.bindings if b.get("condition")]
            policy.bindings = kept + [
                {"role": r, "members": set(m)} for r, m in sorted(wanted.items())
            ]
            try:
                with _bucket_errors(bucket):
                    handle.set_iam_policy(policy, timeout=self.timeout)
                return {r: sorted(m) for r, m in sorted(wanted.items())}
            except PreconditionFailed:
                if attempt == IAM_ATTEMPTS:
                    raise
                log.info("IAM policy of %s changed meanwhile; retry %d", bucket, attempt)
        raise AssertionError("unreachable")

    def update_bucket_labels(self, bucket: str, update: LabelsUpdate) -> None:
        with _bucket_errors(bucket):
            found = self.client.get_bucket(bucket, timeout=self.timeout)
        current = dict(found.labels or {})
        wanted = update(dict(current))
        if wanted == current:
            return
        found.labels = wanted  # the library sends removed keys as null in the patch
        with _bucket_errors(bucket):
            found.patch(timeout=self.timeout)


def _bucket_errors(bucket: str, what: str | None = None) -> Any:
    """storage_errors for a call on one bucket: a NotFound names it (kind "bucket")."""
    return storage_errors(what or f"bucket {bucket!r}", kind="bucket", name=bucket)


# -- records -----------------------------------------------------------------------------------


def _bucket(b: Any) -> Bucket:
    return Bucket(
        name=b.name,
        location=(b.location or "").upper(),
        storage_class=b.storage_class or "",
        labels=dict(b.labels or {}),
        created=b.time_created,
    )


def _blob(b: Any) -> BlobInfo:
    return BlobInfo(
        name=b.name, size=int(b.size or 0), md5=b.md5_hash, crc32c=b.crc32c, updated=b.updated
    )
