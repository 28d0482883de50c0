"""Course buckets as use cases: check a create request, create it, select, delete many, IAM.

Each use case has a pure first step that checks every input (no provider, no credentials, no
cloud import) and a second that acts through a StorageProvider, so a bad name is reported
before anything else happens. gs:// paths and file transfers are in labctl.transfers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from labctl.errors import AlreadyExists, Interrupted, InvalidInput, LabctlError, NotEmpty
from labctl.labels import (
    check_user_labels,
    created_of,
    default_owner,
    managed_labels,
    owner_slug,
    parse_duration,
    selector_labels,
)
from labctl.models import Bucket, BucketSpec, region_of
from labctl.naming import (
    check_bucket_name,
    check_existing_bucket_name,
    derive_bucket_name,
    parse_labels,
    slugify,
)
from labctl.providers.base import StorageProvider
from labctl.runner import Outcome, apply_to_many

if TYPE_CHECKING:
    from labctl.config import Settings

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


def check_names(names: Sequence[str]) -> list[str]:
    """Every name checked (InvalidInput on the first bad one), repeats dropped, order kept."""
    return [check_existing_bucket_name(n) for n in dict.fromkeys(names)]


def check_location(location: str) -> str:
    """'us-central1' -> 'US-CENTRAL1'; InvalidInput for a place Cloud Storage does not offer."""
    upper = location.strip().upper()
    if upper not in LOCATIONS:
        raise InvalidInput(
            f"unknown bucket location {location!r}",
            hint="use a region such as us-central1, a dual-region such as nam4, or us / eu / asia",
            field="--location",
        )
    return upper


def check_storage_class(storage_class: str) -> str:
    upper = storage_class.strip().upper()
    if upper not in STORAGE_CLASSES:
        raise InvalidInput(
            f"unknown storage class {storage_class!r}: use one of {', '.join(STORAGE_CLASSES)}",
            field="--storage-class",
        )
    return upper


def check_public_name(name: str, *, project: str | None) -> str:
    """Bucket names are public: refuse e-mail addresses and the project id in them."""
    if "@" in name:
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
            f"prefix {prefix!r} must not contain an e-mail address (bucket names are public)",
            field="--prefix",
        )
    if not slugify(prefix):
        raise InvalidInput(f"prefix {prefix!r} has no letters or digits", field="--prefix")
    check_public_name(slugify(prefix), project=project)
    return prefix


# -- create ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketRequest:
    """`labctl bucket create` flags; None means "derive it" or "use the configuration"."""

    name: str | None = None
    prefix: str | None = None
    location: str | None = None  # default: the region of course.zone
    storage_class: str = "STANDARD"
    labels: list[str] = field(default_factory=list)  # KEY=VALUE
    owner: str | None = None  # default: LABCTL_OWNER or the login name


@dataclass(frozen=True)
class BucketPlan:
    """A checked request: the spec to send, and the prefix its name was derived from (if so)."""

    spec: BucketSpec
    derived_from: str | None = None


@dataclass(frozen=True)
class CreateResult:
    bucket: Bucket
    attempts: tuple[str, ...]  # every name tried, the created one last


def plan(
    request: BucketRequest, settings: Settings, *, now: datetime, project: str | None = None
) -> BucketPlan:
    """Every rule checked, nothing sent: the name (given, or derived from a prefix), location,
    class and labels. `project` is the project id when known without a cloud call."""
    course = settings.course
    if request.name is not None and request.prefix is not None:
        raise InvalidInput("give a NAME or --prefix, not both", field="--prefix")
    owner = owner_slug(request.owner) if request.owner else default_owner()
    derived_from = None
    if request.name is None:
        derived_from = check_prefix(
            request.prefix or default_prefix(course.name, owner), project=project
        )
        name = derive_bucket_name(derived_from)
    else:
        name = check_bucket_name(request.name)
    check_public_name(name, project=project)
    extra = {**course.labels, **check_user_labels(parse_labels(request.labels))}
    spec = BucketSpec(
        name=name,
        location=check_location(request.location or region_of(course.zone)),
        storage_class=check_storage_class(request.storage_class),
        labels=managed_labels(course=course.name, owner=owner, now=now, extra=extra),
    )
    return BucketPlan(spec, derived_from)


def create(
    storage: StorageProvider,
    planned: BucketPlan,
    *,
    attempts: int = NAME_ATTEMPTS,
    suffix: Callable[[], str | None] = lambda: None,
) -> CreateResult:
    """Create the planned bucket. A derived name that is taken is retried with a new suffix; a
    given name that is taken raises AlreadyExists (whose `owned` says if it is in our project).
    The name is checked against the project id the provider resolved, before any create."""
    spec, derived_from = planned.spec, planned.derived_from
    check_public_name(spec.name, project=storage.project)
    if derived_from is None:
        return CreateResult(storage.create_bucket(spec), (spec.name,))
    check_prefix(derived_from, project=storage.project)
    tried: list[str] = []
    for attempt in range(1, attempts + 1):
        tried.append(spec.name)
        try:
            return CreateResult(storage.create_bucket(spec), tuple(tried))
        except AlreadyExists as exc:
            log.info("bucket name %s is taken (%s); attempt %d", spec.name, exc, attempt)
        spec = replace(spec, name=derive_bucket_name(derived_from, suffix=suffix()))
    raise AlreadyExists(
        f"{attempts} derived bucket names were all taken ({', '.join(tried)})",
        hint="choose another --prefix, or give the bucket a NAME",
        kind="bucket",
    )


# -- select ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selector:
    """Which buckets a list or delete is about, by labctl's labels and age."""

    course: str | None = None
    owner: str | None = None  # a label value (already slugged)
    managed_only: bool = True
    min_age: timedelta | None = None

    @property
    def by_labels(self) -> bool:
        return bool(self.course or self.owner or self.min_age)

    def labels(self) -> dict[str, str]:
        return selector_labels(managed_only=self.managed_only, course=self.course, owner=self.owner)


def selector(
    *,
    course: str | None = None,
    owner: str | None = None,
    all_: bool = False,
    older_than: str | None = None,
) -> Selector:
    """--course/--owner/--all/--older-than checked: the owner slugged as labctl labels it."""
    return Selector(
        course=course,
        owner=owner_slug(owner) if owner else None,
        managed_only=not all_,
        min_age=parse_duration(older_than, field="--older-than") if older_than else None,
    )


def select(
    storage: StorageProvider, wanted: Selector, *, now: datetime, sizes: bool = False
) -> list[Bucket]:
    """The project's buckets that carry the wanted labels and are old enough, sorted by name
    (as list_buckets returns them)."""
    found = storage.list_buckets(labels=wanted.labels() or None, sizes=sizes)
    if wanted.min_age is not None:
        found = [b for b in found if _older(b, now, wanted.min_age)]
    return found


def _older(bucket: Bucket, now: datetime, min_age: timedelta) -> bool:
    """Created at least min_age ago (by the server's time, else labctl's label)."""
    created = bucket.created or created_of(bucket.labels)
    return created is not None and now - created >= min_age


# -- delete ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeletePlan:
    """One bucket to delete and what goes with it."""

    name: str
    objects: int
    bytes: int


@dataclass
class DeleteSelection:
    """What will be deleted, and the buckets that will not be (NotFound, NotEmpty ...)."""

    plans: list[DeletePlan]
    failures: dict[str, LabctlError] = field(default_factory=dict)


def delete_targets(names: Sequence[str], wanted: Selector) -> list[str]:
    """The names checked (repeats dropped); InvalidInput unless there are names or selectors,
    not both: a delete never picks buckets by labels without being asked to."""
    if names and wanted.by_labels:
        raise InvalidInput("give bucket names or --course/--owner/--older-than, not both")
    if not names and not wanted.by_labels:
        raise InvalidInput(
            "name the buckets to delete, or choose them with --course, --owner or --older-than",
            field="NAME",
        )
    return check_names(names)


def plan_delete(
    storage: StorageProvider,
    names: Sequence[str],
    *,
    wanted: Selector | None = None,
    force: bool,
    now: datetime,
) -> DeleteSelection:
    """Count each bucket's objects (concurrently). A missing bucket, or one that holds objects
    without `force`, becomes a failure; the others are planned. Without names, `wanted` chooses
    among labctl's buckets."""
    if not names and wanted is not None:
        names = [b.name for b in select(storage, wanted, now=now)]

    def count(name: str) -> DeletePlan:
        blobs = storage.list_blobs(name)
        return DeletePlan(name, len(blobs), sum(b.size for b in blobs))

    try:
        outcomes = apply_to_many(list(dict.fromkeys(names)), key=str, send=count, action="count")
    except Interrupted:  # only reads were in flight
        raise Interrupted(
            "interrupted while counting objects; nothing deleted", action="count"
        ) from None
    selection = DeleteSelection([])
    for outcome in outcomes:
        counted: DeletePlan = outcome.value
        if outcome.error is not None:
            selection.failures[outcome.key] = outcome.error
        elif counted.objects and not force:
            selection.failures[outcome.key] = NotEmpty(
                f"bucket {counted.name!r} holds {counted.objects} object(s); not deleted",
                kind="bucket",
                name=counted.name,
            )
        else:
            selection.plans.append(counted)
    return selection


def delete_many(
    storage: StorageProvider,
    plans: Sequence[DeletePlan],
    *,
    force: bool,
    on_result: Callable[[Outcome[DeletePlan]], None] | None = None,
) -> list[Outcome[DeletePlan]]:
    """Delete every planned bucket through the batch engine; one Outcome each, failures kept.
    Ctrl-C raises Interrupted naming the buckets whose delete may still be under way."""
    return apply_to_many(
        plans,
        key=lambda p: p.name,
        send=lambda p: storage.delete_bucket(p.name, force=force),
        action="delete",
        kind="bucket",
        on_result=on_result,
    )


# -- IAM ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessRequest:
    """A checked grant or revoke: `role` is the short name, `full_role` the IAM role."""

    bucket: str
    member: str
    role: str
    full_role: str


@dataclass(frozen=True)
class AccessChange:
    request: AccessRequest
    granted: bool  # True for a grant, False for a revoke
    changed: bool  # False: the member already had (or did not have) the role
    members: Mapping[str, list[str]]  # the bucket's bindings afterwards: role -> members


def access_request(bucket: str, member: str, role: str) -> AccessRequest:
    return AccessRequest(
        check_existing_bucket_name(bucket), check_member(member), role, check_role(role)
    )


def change_access(storage: StorageProvider, request: AccessRequest, *, grant: bool) -> AccessChange:
    r = request
    if grant:
        changed = storage.add_bucket_member(r.bucket, r.full_role, r.member)
    else:
        changed = storage.remove_bucket_member(r.bucket, r.full_role, r.member)
    return AccessChange(request, grant, changed, storage.bucket_members(r.bucket))


def check_role(role: str) -> str:
    """'viewer' -> 'roles/storage.objectViewer'."""
    try:
        return ROLES[role]
    except KeyError:
        raise InvalidInput(
            f"unknown role {role!r}: use {' or '.join(ROLES)}", field="--role"
        ) from None


def check_member(member: str) -> str:
    """'user:ana@uni.edu' as is; a bare e-mail becomes 'user:<email>'."""
    kind, sep, value = member.partition(":")
    if not sep and _EMAIL_RE.fullmatch(member):
        return f"user:{member}"
    if kind not in MEMBER_KINDS or not value:
        raise InvalidInput(
            f"invalid member {member!r}: use user:EMAIL, group:EMAIL, serviceAccount:EMAIL "
            "or domain:DOMAIN",
            field="--member",
        )
    if kind != "domain" and not _EMAIL_RE.fullmatch(value):
        raise InvalidInput(
            f"invalid member {member!r}: {value!r} is not an e-mail address", field="--member"
        )
    return member
