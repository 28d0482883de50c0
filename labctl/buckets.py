"""Buckets as labctl sees them: names, specs, creation retries, delete plans, IAM (no cloud code).

gs:// paths and file transfers are in labctl.transfers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from labctl.errors import AlreadyExists, InvalidInput
from labctl.labels import managed_labels
from labctl.models import BlobInfo, Bucket, BucketSpec
from labctl.naming import check_bucket_name, check_labels, derive_bucket_name, slugify
from labctl.providers.base import StorageProvider

log = logging.getLogger(__name__)

# Where a bucket may live (https://cloud.google.com/storage/docs/locations): multi-regions,
# predefined dual-regions and regions. Upper case, as Cloud Storage reports them.
MULTI_REGIONS = ("US", "EU", "ASIA")
DUAL_REGIONS = ("NAM4", "EUR4", "EUR5", "EUR7", "EUR8", "ASIA1")
_REGION_NAMES = (
    "northamerica-northeast1 northamerica-northeast2 northamerica-south1 "
    "us-central1 us-east1 us-east4 us-east5 us-south1 us-west1 us-west2 us-west3 us-west4 "
    "southamerica-east1 southamerica-west1 "
    "europe-central2 europe-north1 europe-north2 europe-southwest1 europe-west1 europe-west2 "
    "europe-west3 europe-west4 europe-west6 europe-west8 europe-west9 europe-west10 "
    "europe-west12 me-central1 me-central2 me-west1 africa-south1 "
    "asia-east1 asia-east2 asia-northeast1 asia-northeast2 asia-northeast3 asia-south1 "
    "asia-south2 asia-southeast1 asia-southeast2 australia-southeast1 australia-southeast2"
)
REGIONS = tuple(r.upper() for r in _REGION_NAMES.split(" "))
LOCATIONS = frozenset(MULTI_REGIONS + DUAL_REGIONS + REGIONS)
STORAGE_CLASSES = ("STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE")

# --role on `bucket grant`: exactly what a student needs on their own bucket.
ROLES = {"viewer": "roles/storage.objectViewer", "editor": "roles/storage.objectAdmin"}
MEMBER_KINDS = ("user", "group", "serviceAccount", "domain")

MIN_PROJECT_ID = 6
NAME_ATTEMPTS = 5  # derived names: a 24-bit suffix clashes rarely; a few tries are plenty

_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


# -- names -------------------------------------------------------------------------------------


def check_location(location: str) -> str:
    """'us-central1' -> 'US-CENTRAL1'; InvalidInput for a place Cloud Storage does not offer."""
    upper = location.strip().upper()
    if upper not in LOCATIONS:
        raise InvalidInput(
            f"unknown bucket location {location!r}",
            hint="use a region such as us-central1, a dual-region such as nam4, or us / eu / asia",
        )
    return upper


def check_storage_class(storage_class: str) -> str:
    upper = storage_class.strip().upper()
    if upper not in STORAGE_CLASSES:
        raise InvalidInput(
            f"unknown storage class {storage_class!r}: use one of {', '.join(STORAGE_CLASSES)}"
        )
    return upper


def check_public_name(name: str, *, project: str | None) -> str:
    """Bucket names are public: refuse e-mail addresses and the project id in them."""
    if "@" in name or _EMAIL_RE.search(name):
        raise InvalidInput(f"bucket name {name!r} must not contain an e-mail address")
    # Real project ids have 6-30 characters; shorter ones are placeholders (an emulator's "demo")
    # that would match ordinary words.
    if project and len(project) >= MIN_PROJECT_ID:
        for form in {project.lower(), slugify(project)}:
            if form and form in name:
                raise InvalidInput(
                    f"bucket name {name!r} must not contain the project id",
                    hint="bucket names are visible to everyone; choose another name or --prefix",
                )
    return name


def default_prefix(course: str, owner: str) -> str:
    """'<course>-<owner>' from the configured course and the owner slug."""
    return f"{course}-{owner}"


def check_prefix(prefix: str, *, project: str | None) -> str:
    if "@" in prefix:
        raise InvalidInput(
            f"prefix {prefix!r} must not contain an e-mail address (bucket names are public)"
        )
    if not slugify(prefix):
        raise InvalidInput(f"prefix {prefix!r} has no letters or digits")
    check_public_name(slugify(prefix), project=project)
    return prefix


def build_spec(
    *,
    name: str,
    location: str,
    storage_class: str,
    labels: Mapping[str, str],
    project: str | None,
) -> BucketSpec:
    """A validated spec: every rule checked here, before any call."""
    check_bucket_name(name)
    check_public_name(name, project=project)
    return BucketSpec(
        name=name,
        location=check_location(location),
        storage_class=check_storage_class(storage_class),
        labels=check_labels(dict(labels)),
    )


def bucket_labels(
    *, course: str, owner: str, now: datetime, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    return check_labels(managed_labels(course=course, owner=owner, now=now, extra=extra))


@dataclass(frozen=True)
class CreateResult:
    bucket: Bucket
    attempts: tuple[str, ...]  # every name tried, the created one last


def create_bucket(
    storage: StorageProvider,
    spec: BucketSpec,
    *,
    derived_from: str | None = None,
    attempts: int = NAME_ATTEMPTS,
    suffix: Callable[[], str | None] = lambda: None,
) -> CreateResult:
    """Create `spec`; with `derived_from` (a prefix), a taken name is retried with a new suffix.

    An explicit name that is taken raises AlreadyExists (the provider's message says whose it is).
    """
    if derived_from is None:
        return CreateResult(storage.create_bucket(spec), (spec.name,))
    tried: list[str] = []
    current = spec
    for attempt in range(1, attempts + 1):
        tried.append(current.name)
        try:
            return CreateResult(storage.create_bucket(current), tuple(tried))
        except AlreadyExists as exc:
            log.info("bucket name %s is taken (%s); attempt %d", current.name, exc, attempt)
        current = BucketSpec(
            name=derive_bucket_name(derived_from, suffix=suffix()),
            location=spec.location,
            storage_class=spec.storage_class,
            labels=spec.labels,
        )
    raise AlreadyExists(
        f"{attempts} derived bucket names were all taken ({', '.join(tried)})",
        hint="choose another --prefix, or give the bucket a NAME",
    )


# -- delete ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeletePlan:
    bucket: str
    objects: int
    bytes: int


def plan_delete(storage: StorageProvider, names: Sequence[str]) -> list[DeletePlan]:
    """What deleting each bucket removes; NotFound for a bucket that does not exist."""
    plans = []
    for name in dict.fromkeys(names):
        blobs = storage.list_blobs(name)
        plans.append(DeletePlan(name, len(blobs), sum(b.size for b in blobs)))
    return plans


# -- IAM ---------------------------------------------------------------------------------------


def check_role(role: str) -> str:
    """'viewer' -> 'roles/storage.objectViewer'."""
    try:
        return ROLES[role]
    except KeyError:
        raise InvalidInput(
            f"unknown role {role!r}: use {' or '.join(ROLES)}",
        ) from None


def check_member(member: str) -> str:
    """'user:ana@uni.edu' as is; a bare e-mail becomes 'user:<email>'."""
    kind, sep, value = member.partition(":")
    if not sep and _EMAIL_RE.fullmatch(member):
        return f"user:{member}"
    if kind not in MEMBER_KINDS or not value:
        raise InvalidInput(
            f"invalid member {member!r}: use user:EMAIL, group:EMAIL, serviceAccount:EMAIL "
            "or domain:DOMAIN"
        )
    if kind != "domain" and not _EMAIL_RE.fullmatch(value):
        raise InvalidInput(f"invalid member {member!r}: {value!r} is not an e-mail address")
    return member


# -- display -----------------------------------------------------------------------------------


def human_bytes(size: int | None) -> str:
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def describe_bucket(bucket: Bucket) -> dict[str, object]:
    return {
        "name": bucket.name,
        "url": f"gs://{bucket.name}",
        "location": bucket.location,
        "storage_class": bucket.storage_class,
        "labels": dict(bucket.labels),
        "created": bucket.created.isoformat() if bucket.created else None,
        "objects": bucket.object_count,
        "bytes": bucket.total_bytes,
    }


def describe_blob(bucket: str, blob: BlobInfo) -> dict[str, object]:
    return {
        "url": f"gs://{bucket}/{blob.name}",
        "name": blob.name,
        "size": blob.size,
        "crc32c": blob.crc32c,
        "md5": blob.md5,
        "updated": blob.updated.isoformat() if blob.updated else None,
    }
