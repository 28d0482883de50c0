"""gs:// paths and file transfers: what to move where, and moving it safely (no cloud code).

Planning checks every name before anything is sent and turns what cannot be moved into one
failed item (or a warning, for links that leave the folder), so the rest of a batch goes on.
Downloads are written to a temporary file with a unique name in the destination folder and
renamed into place only once complete and verified: an interrupted or failed download never
leaves a partial file under the real name, and two objects can never share a temporary file.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath

from labctl.errors import (
    Interrupted,
    InvalidInput,
    LabctlError,
    LocalError,
    NotFound,
)
from labctl.models import BlobInfo
from labctl.naming import check_existing_bucket_name
from labctl.providers.base import Progress, StorageProvider
from labctl.runner import Outcome, apply_to_many

MAX_WORKERS = 8
TEMP_PREFIX = ".labctl-"
TEMP_SUFFIX = ".part"
# A download's temporary file: what tempfile.mkstemp makes with the prefix and suffix above.
_TEMP_RE = re.compile(re.escape(TEMP_PREFIX) + r"[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX))
# Object names (https://cloud.google.com/storage/docs/naming-objects): 1-1024 bytes of UTF-8,
# no carriage return or line feed, not "." or "..", not under .well-known/acme-challenge/.
MAX_OBJECT_NAME_BYTES = 1024
_ACME = ".well-known/acme-challenge/"
# Folders are followed through links up to this depth; deeper is almost surely a loop.
MAX_DEPTH = 64
# The longest file name most file systems allow (NAME_MAX), used when pathconf cannot tell.
DEFAULT_NAME_MAX = 255


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
    """'gs://bucket/a/b' -> GsPath('bucket', 'a/b'); 'gs://bucket' -> GsPath('bucket', '').

    The bucket name and the object path are checked against Cloud Storage's rules: nothing that
    cannot name a bucket or an object ever reaches a URL.
    """
    if not is_gs_url(url):
        raise InvalidInput(f"{url!r} is not a gs:// URL", hint="write it as gs://BUCKET[/PATH]")
    bucket, _, prefix = url[len("gs://") :].partition("/")
    if not bucket:
        raise InvalidInput(f"{url!r} has no bucket name", hint="write it as gs://BUCKET[/PATH]")
    check_existing_bucket_name(bucket)
    if prefix:
        check_object_name(prefix, what=shown(url))
        if any(part in (".", "..") for part in prefix.split("/")):
            raise InvalidInput(f"{url!r}: '.' and '..' are not allowed in object paths")
    return GsPath(bucket, prefix)


def check_object_name(name: str, *, what: str | None = None) -> str:
    """InvalidInput unless Cloud Storage accepts `name` as an object name."""
    label = what or shown(name)

    def bad(rule: str) -> InvalidInput:
        return InvalidInput(f"{label}: object names {rule}", field="OBJECT")

    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:  # a file name that is not valid UTF-8 (surrogate escapes)
        raise bad("must be valid UTF-8 (rename the file)") from None
    if not 1 <= size <= MAX_OBJECT_NAME_BYTES:
        raise bad(f"must be 1-{MAX_OBJECT_NAME_BYTES} bytes long (this one has {size})")
    if "\r" in name or "\n" in name:
        raise bad("cannot contain line breaks")
    if name in (".", "..") or name.startswith(_ACME):
        raise bad(f"cannot be '.' or '..' or start with {_ACME}")
    return name


def shown(text: str) -> str:
    """`text` as it is, or quoted with escapes if it holds line breaks or control characters:
    an error stays one line."""
    return text if text.isprintable() else repr(text)


# -- plans -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Transfer:
    """One file to move. `object_name` is the full name in `bucket`."""

    local: Path
    bucket: str
    object_name: str
    size: int

    @property
    def url(self) -> str:
        return f"gs://{self.bucket}/{self.object_name}"


@dataclass
class TransferPlan:
    """What to move; what cannot be (each a failed item, with its error); warnings."""

    items: list[Transfer] = field(default_factory=list)
    failed: list[Outcome[Transfer]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def fail(self, key: str, item: Transfer, error: LabctlError) -> None:
        self.failed.append(Outcome(key, item, error=error))


def local_key(item: Transfer) -> str:
    """What names a transfer in a batch: its local file (unique in a plan)."""
    return str(item.local)


def plan_upload(sources: Sequence[Path], dest: GsPath) -> TransferPlan:
    """Files and folders (recursively) to objects under dest.

    `a.txt` -> PREFIX/a.txt, `dir/` -> PREFIX/dir/<relative path>. A single file with a
    destination not ending in '/' is stored under exactly that name (as `gcloud storage cp`).
    In folders, a link to a file or folder inside the folder is uploaded under the link's own
    name; links that point outside the folder, broken links, loops and special files are
    skipped with a warning each.
    """
    if not sources:
        raise InvalidInput("nothing to upload", field="PATH")
    for path in sources:
        if not path.exists():
            broken = " (a broken link)" if path.is_symlink() else ""
            raise LocalError(f"no such file or folder: {path}{broken}", field="PATH")
    plan = TransferPlan()
    if len(sources) == 1 and sources[0].is_file() and dest.prefix and not dest.prefix.endswith("/"):
        _add_upload(plan, sources[0], dest.bucket, dest.prefix)
        return plan
    base = dest.prefix if not dest.prefix or dest.prefix.endswith("/") else dest.prefix + "/"
    for source in sources:
        name = source.name if source.name not in ("", ".", "..") else source.resolve().name
        if source.is_dir():
            for path, rel in _walk(source, plan):
                _add_upload(plan, path, dest.bucket, f"{base}{name}/{rel}")
        elif source.is_file():
            _add_upload(plan, source, dest.bucket, base + name)
        else:
            raise LocalError(f"{source} is not a regular file or a folder", field="PATH")
    _refuse_duplicates(plan.items)
    return plan


def _add_upload(plan: TransferPlan, path: Path, bucket: str, object_name: str) -> None:
    item = Transfer(path, bucket, object_name, 0)
    try:
        check_object_name(object_name, what=f"{shown(str(path))} (as an object name)")
        size = path.stat().st_size
    except InvalidInput as exc:
        plan.fail(str(path), item, LocalError(exc.message, field="PATH"))
    except OSError as exc:
        plan.fail(str(path), item, local_error(exc, path))
    else:
        plan.items.append(Transfer(path, bucket, object_name, size))


def _walk(folder: Path, plan: TransferPlan) -> Iterator[tuple[Path, str]]:
    """(file, its path relative to folder, '/'-separated) for every regular file under folder,
    in name order; links inside the folder are followed under their own names."""
    root = folder.resolve()
    yield from _walk_in(folder, "", (root,), root, plan)


def _walk_in(
    here: Path, rel: str, chain: tuple[Path, ...], root: Path, plan: TransferPlan
) -> Iterator[tuple[Path, str]]:
    """`chain` holds the real paths of the folders walked through to `here`: a link back to one
    of them is a loop."""
    try:
        with os.scandir(here) as listing:
            entries = sorted(listing, key=lambda e: e.name)
    except OSError as exc:
        error = local_error(exc, here, doing="read the folder")
        plan.fail(str(here), Transfer(here, "", "", 0), error)
        return
    for entry in entries:
        path = Path(entry.path)
        kind = _kind(entry, root, chain, plan)
        if kind == "file":
            yield path, rel + entry.name
        elif kind == "dir" and len(chain) > MAX_DEPTH:
            plan.skipped.append(f"{path}: more than {MAX_DEPTH} folders deep; skipped")
        elif kind == "dir":
            yield from _walk_in(path, f"{rel}{entry.name}/", (*chain, path.resolve()), root, plan)


def _kind(entry: os.DirEntry[str], root: Path, chain: tuple[Path, ...], plan: TransferPlan) -> str:
    """'file', 'dir' or 'skip' (with a warning in plan.skipped) for one folder entry."""
    path = Path(entry.path)
    if _TEMP_RE.fullmatch(entry.name):
        plan.skipped.append(f"{path}: left over from an interrupted download; skipped")
        return "skip"
    if entry.is_symlink():
        target = path.resolve()
        if not target.exists():
            plan.skipped.append(f"{path}: a broken link; skipped")
            return "skip"
        if not target.is_relative_to(root):
            plan.skipped.append(f"{path}: a link to {target}, outside the folder; skipped")
            return "skip"
        if target.is_dir() and target in chain:
            plan.skipped.append(f"{path}: a link to a folder that contains it (a loop); skipped")
            return "skip"
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        plan.fail(str(path), Transfer(path, "", "", 0), local_error(exc, path))
        return "skip"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    plan.skipped.append(f"{path}: not a regular file (a pipe, socket or device); skipped")
    return "skip"


def _refuse_duplicates(items: Sequence[Transfer]) -> None:
    """Two files for one object, or one file given twice: refused before anything is sent."""
    seen: dict[str, Path] = {}
    given: set[Path] = set()
    for item in items:
        if item.local in given:
            raise InvalidInput(f"{item.local} is given twice (also inside a folder)", field="PATH")
        given.add(item.local)
        if item.object_name in seen:
            raise InvalidInput(
                f"{seen[item.object_name]} and {item.local} would both be uploaded as "
                f"{item.url}; upload them separately",
                field="PATH",
            )
        seen[item.object_name] = item.local


def plan_download(
    storage: StorageProvider, sources: Sequence[GsPath], dest: Path, *, into_folder: bool = False
) -> TransferPlan:
    """Objects (or every object under a folder prefix) to local files under dest.

    One object to a destination that is not a folder (and was not written with a trailing '/',
    `into_folder`) is saved as that path; otherwise each object goes to dest/<name>, and a folder
    gs://b/dir/ to dest/dir/<relative path>. dest is created when missing. A source that does not
    exist, an object name that cannot be a local path (escapes dest, too long for the file
    system) and an object whose path another one needs as a folder (`x` beside `x/y`) are failed
    items; the rest goes on.
    """
    if not sources:
        raise InvalidInput("nothing to download", field="gs://BUCKET/OBJECT")
    if dest.exists() and not dest.is_dir() and (into_folder or len(sources) > 1):
        raise LocalError(f"{dest} is a file; a folder is needed here", field="DEST")
    folder = into_folder or len(sources) > 1 or dest.is_dir()
    plan = TransferPlan()
    for source in sources:
        try:
            _plan_source(storage, source, dest, folder, plan)
        except NotFound as exc:
            plan.fail(str(source), Transfer(dest, source.bucket, source.prefix, 0), exc)
    _refuse_collisions(plan)
    return plan


def _plan_source(
    storage: StorageProvider, source: GsPath, dest: Path, folder: bool, plan: TransferPlan
) -> None:
    blobs = storage.list_blobs(source.bucket, source.prefix)
    exact = [b for b in blobs if source.prefix and b.name == source.prefix]
    if exact:
        blob = exact[0]
        target = dest / PurePosixPath(blob.name).name if folder else dest
        _add_download(plan, target, source.bucket, blob)
        return
    prefix = source.prefix
    if prefix and not prefix.endswith("/"):
        prefix += "/"
        blobs = [b for b in blobs if b.name.startswith(prefix)]
    blobs = [b for b in blobs if not b.name.endswith("/")]  # folder placeholders of the console
    if not blobs:
        raise NotFound(f"{source}: no such object or folder", kind="object", name=str(source))
    top = PurePosixPath(prefix.rstrip("/")).name if prefix else ""
    for blob in blobs:
        try:
            target = _safe_join(dest, top, blob.name[len(prefix) :])
        except LocalError as exc:
            item = Transfer(dest, source.bucket, blob.name, blob.size)
            plan.fail(item.url, item, exc)
        else:
            _add_download(plan, target, source.bucket, blob)


def _add_download(plan: TransferPlan, target: Path, bucket: str, blob: BlobInfo) -> None:
    item = Transfer(target, bucket, blob.name, blob.size)
    try:
        _check_local_name(target)
    except LocalError as exc:
        plan.fail(item.url, item, exc)
    else:
        plan.items.append(item)


def _safe_join(dest: Path, top: str, rel: str) -> Path:
    parts = [p for p in (top, *rel.split("/")) if p]
    unsafe = ("\\", ":") if os.name == "nt" else ()
    if not parts or any(
        p in (".", "..") or "\x00" in p or any(c in p for c in unsafe) for p in parts
    ):
        raise LocalError(f"object name {rel!r} cannot be saved safely under {dest}", field="DEST")
    return dest.joinpath(*parts)


def _check_local_name(path: Path) -> None:
    """LocalError if a part of path is longer than the file system allows."""
    limit = _name_max(path)
    for part in path.parts:
        if len(os.fsencode(part)) > limit:
            raise LocalError(
                f"{path}: a file name longer than this file system allows ({limit} bytes)",
                field="DEST",
            )


def _name_max(path: Path) -> int:
    for parent in (path, *path.parents):
        if parent.exists():
            try:
                return int(os.pathconf(parent, "PC_NAME_MAX"))
            except (OSError, ValueError, AttributeError):
                break
    return DEFAULT_NAME_MAX


def _refuse_collisions(plan: TransferPlan) -> None:
    """Two objects for one local file, or a file where another object needs a folder (objects
    `x` and `x/y`): the later one, or the file, becomes a failed item; the others go on."""
    by_path: dict[Path, Transfer] = {}
    kept: list[Transfer] = []
    for item in plan.items:
        if item.local in by_path:
            plan.fail(
                item.url,
                item,
                LocalError(
                    f"{item.url} and {by_path[item.local].url} would both be saved as {item.local}",
                    field="DEST",
                ),
            )
        else:
            by_path[item.local] = item
            kept.append(item)
    folders = {parent for item in kept for parent in item.local.parents}
    plan.items = []
    for item in kept:
        if item.local in folders:
            plan.fail(
                item.url,
                item,
                LocalError(
                    f"{item.url} cannot be saved as the file {item.local}: other objects need "
                    f"{item.local} as a folder",
                    field="DEST",
                ),
            )
        else:
            plan.items.append(item)


# -- moving one file ---------------------------------------------------------------------------


def upload_one(
    storage: StorageProvider, item: Transfer, progress: Progress | None = None
) -> BlobInfo:
    """Upload one file; a local problem (gone, unreadable) is a LocalError for this file."""
    try:
        return storage.upload_file(item.bucket, item.local, item.object_name, progress)
    except OSError as exc:
        if not is_local(exc):
            raise
        raise local_error(exc, item.local) from exc


def download_one(
    storage: StorageProvider,
    item: Transfer,
    progress: Progress | None = None,
    *,
    in_flight: InFlight | None = None,
) -> BlobInfo:
    """Download to a new temporary file beside the target (a unique name, created exclusively),
    then rename it into place: the target only ever appears complete and verified."""
    folder = item.local.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise local_error(exc, folder, doing="create a file in") from exc
    os.close(fd)
    part = Path(name)
    if in_flight is not None:
        in_flight.add(part)
    try:
        info = storage.download_file(item.bucket, item.object_name, part, progress)
        os.chmod(part, 0o666 & ~_umask())  # mkstemp makes it private; a download is not
        os.replace(part, item.local)
        return info
    except BaseException as exc:
        part.unlink(missing_ok=True)
        if isinstance(exc, OSError) and is_local(exc):
            raise local_error(exc, item.local) from exc
        raise
    finally:
        if in_flight is not None:
            in_flight.discard(part)


class InFlight:
    """Temporary files being written, removed at once on Ctrl-C (workers are daemon threads that
    die with the process, so they cannot clean up themselves)."""

    def __init__(self) -> None:
        self._paths: set[Path] = set()
        self._lock = threading.Lock()

    def add(self, path: Path) -> None:
        with self._lock:
            self._paths.add(path)

    def discard(self, path: Path) -> None:
        with self._lock:
            self._paths.discard(path)

    def remove_all(self) -> None:
        with self._lock:
            paths, self._paths = self._paths, set()
        for path in paths:
            path.unlink(missing_ok=True)


@cache
def _umask() -> int:
    """The process umask, read once (os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def is_local(exc: OSError) -> bool:
    """An error of this machine's files (it has an errno), not of the network: requests'
    exceptions are OSErrors too, without one."""
    import requests

    return exc.errno is not None and not isinstance(exc, requests.RequestException)


def local_error(exc: OSError, path: Path, *, doing: str | None = None) -> LocalError:
    """A one-line LocalError for a file-system error on `path`."""
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return LocalError(f"{path}: {blocker} is a file, not a folder", field="DEST")
    reason = (exc.strerror or type(exc).__name__).lower()
    where = f"cannot {doing} {path}" if doing else str(path)
    return LocalError(f"{where}: {reason}", field=str(path))


# -- many files --------------------------------------------------------------------------------


def run(
    plan: TransferPlan,
    action: Callable[[Transfer], BlobInfo],
    *,
    verb: str,
    workers: int = MAX_WORKERS,
    on_result: Callable[[Outcome[Transfer]], None] | None = None,
    in_flight: InFlight | None = None,
) -> list[Outcome[Transfer]]:
    """Every transfer through the batch engine, `workers` at a time: one Outcome per item, the
    items that failed while planning first. Ctrl-C removes partial downloads and raises
    Interrupted."""
    outcomes = list(plan.failed)
    try:
        outcomes += apply_to_many(
            plan.items,
            key=local_key,
            send=action,
            action=verb,
            on_result=on_result,
            send_workers=workers,
        )
    except Interrupted:
        if in_flight is not None:
            in_flight.remove_all()
        raise Interrupted(
            f"interrupted: {verb} stopped; a file is only written, and an object only created, "
            "once complete",
            action=verb,
        ) from None
    return outcomes
