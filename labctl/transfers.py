"""gs:// paths and file transfers: what to move where, and moving it safely (no cloud code)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from labctl.errors import InvalidInput, LabctlError, NotFound, PartialFailure
from labctl.models import BlobInfo
from labctl.providers.base import Progress, StorageProvider

PART_SUFFIX = ".labctl-part"
MAX_WORKERS = 8

# Existing buckets may have dotted names (up to 222 chars), so gs:// parsing is looser than
# check_bucket_name, which guards the names labctl creates.
_ANY_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")


# -- gs:// paths -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GsPath:
    bucket: str
    prefix: str = ""  # object name or folder prefix; "" = the whole bucket

    def __str__(self) -> str:
        return f"gs://{self.bucket}/{self.prefix}"


def is_gs_url(text: str) -> bool:
    return text.startswith("gs://")


def parse_gs_url(url: str) -> GsPath:
    """'gs://bucket/a/b' -> GsPath('bucket', 'a/b'); 'gs://bucket' -> GsPath('bucket', '')."""
    if not is_gs_url(url):
        raise InvalidInput(f"{url!r} is not a gs:// URL", hint="write it as gs://BUCKET[/PATH]")
    bucket, _, prefix = url[len("gs://") :].partition("/")
    if not bucket:
        raise InvalidInput(f"{url!r} has no bucket name", hint="write it as gs://BUCKET[/PATH]")
    if not _ANY_BUCKET_RE.fullmatch(bucket) or ".." in bucket:
        raise InvalidInput(f"{url!r}: {bucket!r} is not a valid bucket name")
    if "\n" in prefix or "\r" in prefix or len(prefix.encode()) > 1024:
        raise InvalidInput(f"{url!r}: object names are at most 1024 bytes, without newlines")
    if prefix and any(part in (".", "..") for part in prefix.split("/")):
        raise InvalidInput(f"{url!r}: '.' and '..' are not allowed in object paths")
    return GsPath(bucket, prefix)


# -- transfers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    """One file to move. `object_name` is the full name in `bucket`."""

    local: Path
    bucket: str
    object_name: str
    size: int


def plan_upload(sources: Sequence[Path], dest: GsPath) -> list[Transfer]:
    """Files and folders (recursively) to objects under dest.

    `a.txt` -> PREFIX/a.txt, `dir/` -> PREFIX/dir/<relative path>. A single file with a
    destination not ending in '/' is stored under exactly that name (as `gcloud storage cp`).
    """
    if not sources:
        raise InvalidInput("nothing to upload")
    missing = [str(p) for p in sources if not p.exists()]
    if missing:
        raise InvalidInput(f"no such file or folder: {', '.join(missing)}")
    single_file = len(sources) == 1 and sources[0].is_file()
    if single_file and dest.prefix and not dest.prefix.endswith("/"):
        path = sources[0]
        return [Transfer(path, dest.bucket, dest.prefix, path.stat().st_size)]
    base = dest.prefix if not dest.prefix or dest.prefix.endswith("/") else dest.prefix + "/"
    plan: list[Transfer] = []
    for source in sources:
        if source.is_file():
            plan.append(Transfer(source, dest.bucket, base + source.name, source.stat().st_size))
            continue
        root = source.resolve()
        for file in _walk_files(source):
            rel = file.resolve().relative_to(root).as_posix()
            name = f"{base}{root.name}/{rel}"
            plan.append(Transfer(file, dest.bucket, name, file.stat().st_size))
    _check_unique((t.object_name for t in plan), "object")
    return plan


def _walk_files(folder: Path) -> list[Path]:
    """Regular files under folder, sorted; symlinked folders are not followed (no cycles)."""
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for filename in sorted(filenames):
            path = Path(dirpath) / filename
            if path.is_file() and not filename.endswith(PART_SUFFIX):
                files.append(path)
    return files


def plan_download(
    storage: StorageProvider, sources: Sequence[GsPath], dest: Path
) -> list[Transfer]:
    """Objects (or every object under a folder prefix) to local files under dest.

    One object to a path that is not an existing folder is saved as that path; otherwise each
    object goes to dest/<name> and a folder gs://b/dir/ to dest/dir/<relative path>.
    Object names that would escape dest ('..', absolute) are refused.
    """
    if not sources:
        raise InvalidInput("nothing to download")
    if dest.exists() and not dest.is_dir() and len(sources) > 1:
        raise InvalidInput(f"{dest} is a file; several sources need a folder")
    plan: list[Transfer] = []
    for source in sources:
        blobs = storage.list_blobs(source.bucket, source.prefix)
        exact = [b for b in blobs if b.name == source.prefix and source.prefix]
        if exact:
            blob = exact[0]
            single_target = len(sources) == 1 and not dest.is_dir()
            target = dest if single_target else dest / PurePosixPath(blob.name).name
            plan.append(Transfer(target, source.bucket, blob.name, blob.size))
            continue
        folder = source.prefix if not source.prefix or source.prefix.endswith("/") else ""
        if not folder and source.prefix:
            folder = source.prefix + "/"
            blobs = [b for b in blobs if b.name.startswith(folder)]
        if not blobs:
            raise NotFound(f"{source}: no such object or folder")
        top = PurePosixPath(folder.rstrip("/")).name if folder else ""
        for blob in blobs:
            if blob.name.endswith("/"):
                continue  # a folder placeholder made by the console
            rel = blob.name[len(folder) :]
            plan.append(Transfer(_safe_join(dest, top, rel), source.bucket, blob.name, blob.size))
    _check_unique((str(t.local) for t in plan), "local file")
    return plan


def _safe_join(dest: Path, top: str, rel: str) -> Path:
    parts = [p for p in (top, *rel.split("/")) if p]
    if not parts or any(p in (".", "..") or "\\" in p or ":" in p for p in parts):
        raise InvalidInput(f"object name {rel!r} cannot be saved safely under {dest}")
    return dest.joinpath(*parts)


def _check_unique(names: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InvalidInput(f"two sources map to the same {what} {name!r}")
        seen.add(name)


def part_path(path: Path) -> Path:
    """Where a download is written before the atomic rename: 'x.bin' -> 'x.bin.labctl-part'."""
    return path.with_name(path.name + PART_SUFFIX)


def download_one(
    storage: StorageProvider, item: Transfer, progress: Progress | None = None
) -> BlobInfo:
    """Download to NAME.labctl-part, then rename: an interrupted download never leaves NAME."""
    item.local.parent.mkdir(parents=True, exist_ok=True)
    part = part_path(item.local)
    try:
        info = storage.download_file(item.bucket, item.object_name, part, progress)
        os.replace(part, item.local)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return info


def upload_one(
    storage: StorageProvider, item: Transfer, progress: Progress | None = None
) -> BlobInfo:
    return storage.upload_file(item.bucket, item.local, item.object_name, progress)


def run_transfers(
    plan: Sequence[Transfer],
    action: Callable[[Transfer], BlobInfo],
    *,
    workers: int = MAX_WORKERS,
) -> list[BlobInfo]:
    """Run every transfer (a few at a time) and report the failures together."""
    failures: dict[str, LabctlError] = {}
    done: list[BlobInfo] = []

    def run(item: Transfer) -> tuple[Transfer, BlobInfo | LabctlError]:
        try:
            return item, action(item)
        except LabctlError as exc:
            return item, exc

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(plan)))) as pool:
        for item, outcome in pool.map(run, plan):
            if isinstance(outcome, LabctlError):
                failures[item.object_name] = outcome
            else:
                done.append(outcome)
    if failures:
        first = next(iter(failures.values()))
        raise PartialFailure(
            f"{len(failures)} of {len(plan)} transfers failed; first: {first.message}", failures
        )
    return done
