"""Cloud Storage buckets and bucket IAM policies as the JSON API keeps them (storage emulator)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from labctl.emulator.errors import ApiError
from labctl.emulator.storage_rules import (
    NOT_EMPTY,
    NOT_FOUND,
    OWNED,
    PRECONDITION,
    PUBLIC_BLOCKED,
    PUBLIC_MEMBERS,
    TAKEN,
    bucket_name_problem,
    check_bindings,
    check_bucket,
    invalid,
    metadata_etag,
    policy_version,
    project_number,
)

_MULTI_REGIONS = frozenset({"US", "EU", "ASIA"})
_DUAL_REGIONS = frozenset({"ASIA1", "EUR4", "EUR5", "EUR7", "EUR8", "NAM4"})
# Fields a client may set at create; all but the create-only ones can be patched later.
_CREATE_ONLY = frozenset({"location", "customPlacementConfig", "hierarchicalNamespace"})
_PATCHABLE = frozenset(
    {"acl", "autoclass", "billing", "cors", "defaultEventBasedHold", "defaultObjectAcl"}
    | {"encryption", "iamConfiguration", "ipFilter", "labels", "lifecycle", "logging"}
    | {"objectRetention", "retentionPolicy", "rpo", "softDeletePolicy", "storageClass"}
    | {"versioning", "website"}
)
_ACL_FIELDS = ("acl", "defaultObjectAcl", "owner")  # only with projection=full
_UBLA_LOCK = timedelta(days=90)  # uniform access can be turned off again for 90 days


def _now() -> datetime:
    return datetime.now(UTC)


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _merge(old: Any, patch: Any) -> Any:
    """JSON API patch semantics: objects merge field by field, null removes, the rest replaces."""
    if not isinstance(patch, dict) or not isinstance(old, dict):
        return copy.deepcopy(patch)
    merged = dict(old)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(old.get(key), value)
    return merged


class Buckets:
    """Bucket resources and IAM policies, kept in gcp-storage-emulator's ``Storage`` object.

    Buckets live in ``storage.buckets`` (so the library's object routes find them) with a hidden
    ``_project`` key and the IAM policy under ``_policy`` (so a wipe that keeps buckets keeps
    policies, and a deleted bucket takes its policy along). Keys starting with ``_`` are never
    rendered. Callers serialise access.
    """

    def __init__(self, storage: Any) -> None:
        self.storage = storage

    # --- buckets --------------------------------------------------------------------------------
    def insert(self, query: dict[str, str], body: Any, base: str) -> dict[str, Any]:
        project = _required(query, "project")
        if not isinstance(body, dict) or not body.get("name"):
            raise ApiError(400, "Required", "required")
        name = str(body["name"])
        if bucket_name_problem(name):
            raise invalid(f"Invalid bucket name: '{name}'")
        existing = self.storage.buckets.get(name)
        if existing is not None:
            raise ApiError(409, OWNED if existing.get("_project") == project else TAKEN, "conflict")
        now = _now()
        fields = _PATCHABLE | _CREATE_ONLY
        bucket = {k: copy.deepcopy(v) for k, v in body.items() if k in fields and v is not None}
        location = str(bucket.pop("location", None) or "US").upper()
        bucket.update(
            {
                "kind": "storage#bucket",
                "id": name,
                "name": name,
                "projectNumber": project_number(project),
                "metageneration": "1",
                "location": location,
                "locationType": _location_type(location, bucket),
                "storageClass": str(bucket.get("storageClass") or "STANDARD").upper(),
                "timeCreated": _rfc3339(now),
                "updated": _rfc3339(now),
                "etag": metadata_etag(1),
                "iamConfiguration": _iam_configuration(bucket.get("iamConfiguration"), None, now),
                "_project": project,
            }
        )
        if bucket["locationType"] != "region":
            bucket.setdefault("rpo", "DEFAULT")
        # New buckets get a 7-day soft delete policy unless the request sets one.
        soft = bucket.setdefault("softDeletePolicy", {"retentionDurationSeconds": "604800"})
        soft["effectiveTime"] = _rfc3339(now)
        check_bucket(bucket)
        self.storage.create_bucket(name, bucket)
        return render_bucket(bucket, base, query.get("projection", "noAcl"))

    def get(self, name: str, query: dict[str, str], base: str) -> dict[str, Any] | None:
        """The bucket, or None for 304 Not Modified (ifMetagenerationNotMatch held)."""
        bucket = self._bucket(name)
        if _preconditions(bucket, query, read=True):
            return None
        return render_bucket(bucket, base, query.get("projection", "noAcl"))

    def list(self, query: dict[str, str], base: str) -> dict[str, Any]:
        project = _required(query, "project")
        prefix = query.get("prefix", "")
        limit = min(max(_int(query, "maxResults", 1000), 1), 1000)
        after = query.get("pageToken", "")  # the last name of the previous page: opaque to clients
        names = sorted(
            name
            for name, bucket in self.storage.buckets.items()
            if project in (bucket.get("_project"), bucket.get("projectNumber"))
            and name.startswith(prefix)
            and name > after
        )
        projection = query.get("projection", "noAcl")
        page: dict[str, Any] = {"kind": "storage#buckets"}
        if names[:limit]:  # the API leaves out an empty list
            page["items"] = [
                render_bucket(self.storage.buckets[n], base, projection) for n in names[:limit]
            ]
        if len(names) > limit:
            page["nextPageToken"] = names[limit - 1]
        return page

    def patch(self, name: str, query: dict[str, str], body: Any, base: str) -> dict[str, Any]:
        bucket = self._bucket(name)
        _preconditions(bucket, query)
        if not isinstance(body, dict):
            raise invalid("Invalid JSON payload: expected an object")
        changed = copy.deepcopy(bucket)
        for key, value in body.items():
            if key in _PATCHABLE and key != "iamConfiguration":
                if value is None:
                    changed.pop(key, None)
                else:
                    changed[key] = _merge(changed.get(key), value)
        if "iamConfiguration" in body:
            requested = body["iamConfiguration"] or {}
            changed["iamConfiguration"] = _iam_configuration(
                requested, bucket.get("iamConfiguration"), _now()
            )
        return self._commit(bucket, changed, base, query)

    def update(self, name: str, query: dict[str, str], body: Any, base: str) -> dict[str, Any]:
        """PUT: every writable field is replaced by the request's (absent ones are cleared)."""
        bucket = self._bucket(name)
        _preconditions(bucket, query)
        if not isinstance(body, dict):
            raise invalid("Invalid JSON payload: expected an object")
        changed = {k: v for k, v in bucket.items() if k not in _PATCHABLE}
        changed.update({k: copy.deepcopy(v) for k, v in body.items() if k in _PATCHABLE and v})
        changed["iamConfiguration"] = _iam_configuration(
            body.get("iamConfiguration") or {}, bucket.get("iamConfiguration"), _now()
        )
        return self._commit(bucket, changed, base, query)

    def delete(self, name: str, query: dict[str, str]) -> None:
        from gcp_storage_emulator import exceptions as lib

        _preconditions(self._bucket(name), query)
        try:
            self.storage.delete_bucket(name)
        except lib.Conflict:  # live objects (or an unfinished resumable upload)
            raise ApiError(409, NOT_EMPTY, "conflict") from None
        except lib.NotFound:
            raise ApiError(404, NOT_FOUND, "notFound") from None

    def storage_layout(self, name: str) -> dict[str, Any]:
        """``GET /b/BUCKET/storageLayout`` (gcloud asks for it before deleting a bucket)."""
        bucket = self._bucket(name)
        layout = {
            "kind": "storage#storageLayout",
            "bucket": name,
            "location": bucket["location"],
            "locationType": bucket["locationType"],
            "hierarchicalNamespace": bucket.get("hierarchicalNamespace") or {"enabled": False},
        }
        if bucket.get("customPlacementConfig"):
            layout["customPlacementConfig"] = copy.deepcopy(bucket["customPlacementConfig"])
        return layout

    def exists(self, name: str) -> bool:
        return name in self.storage.buckets

    # --- IAM ------------------------------------------------------------------------------------
    def get_iam(self, name: str) -> dict[str, Any]:
        return _render_policy(name, _policy(self._bucket(name)))

    def set_iam(self, name: str, body: Any) -> dict[str, Any]:
        """Replace the policy; a stale ``etag`` fails with 412 as gsutil's ``iam ch`` expects
        (it retries on 412: gslib/commands/iam.py in the Cloud SDK)."""
        bucket = self._bucket(name)
        if not isinstance(body, dict):
            raise invalid("Invalid JSON payload: expected a policy object")
        current = _policy(bucket)
        if body.get("etag") and body["etag"] != metadata_etag(current["_seq"]):
            raise ApiError(412, PRECONDITION, "conditionNotMet")
        bindings = check_bindings(body.get("bindings") or [])
        version = policy_version(body.get("version"))
        if version < 3 and any("condition" in b for b in bindings):
            raise invalid("IAM policies with conditions must be version 3")
        pap = (bucket.get("iamConfiguration") or {}).get("publicAccessPrevention")
        members = {m for b in bindings for m in b["members"]}
        if pap == "enforced" and members & PUBLIC_MEMBERS:
            raise ApiError(412, PUBLIC_BLOCKED, "conditionNotMet")
        policy = {"version": version, "bindings": bindings, "_seq": current["_seq"] + 1}
        bucket["_policy"] = policy
        return _render_policy(name, policy)

    # --- helpers --------------------------------------------------------------------------------
    def _bucket(self, name: str) -> dict[str, Any]:
        bucket = self.storage.buckets.get(name)
        if bucket is None:
            raise ApiError(404, NOT_FOUND, "notFound")
        return bucket

    def _commit(
        self, bucket: dict[str, Any], changed: dict[str, Any], base: str, query: dict[str, str]
    ) -> dict[str, Any]:
        changed["storageClass"] = str(changed.get("storageClass") or "STANDARD").upper()
        check_bucket(changed)
        generation = int(bucket["metageneration"]) + 1
        changed.update(
            metageneration=str(generation), etag=metadata_etag(generation), updated=_rfc3339(_now())
        )
        bucket.clear()  # in place: the library holds this same dict
        bucket.update(changed)
        return render_bucket(bucket, base, query.get("projection", "noAcl"))


def render_bucket(bucket: dict[str, Any], base: str, projection: str = "noAcl") -> dict[str, Any]:
    """The bucket as a response: hidden keys dropped, ACLs only for ``projection=full``."""
    hidden = () if projection == "full" else _ACL_FIELDS
    out = {k: copy.deepcopy(v) for k, v in bucket.items() if k[0] != "_" and k not in hidden}
    out["selfLink"] = f"{base}/storage/v1/b/{quote(bucket['name'], safe='')}"
    return out


def _policy(bucket: dict[str, Any]) -> dict[str, Any]:
    """The stored policy, or a new bucket's.

    Cloud Storage gives a new bucket legacy bindings for the project's owners, editors and
    viewers (roles/storage.legacyBucketOwner, legacyBucketReader); the emulator starts with
    none, so a test sees exactly what it granted.
    """
    return bucket.get("_policy") or {"version": 1, "bindings": [], "_seq": 1}


def _render_policy(name: str, policy: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "storage#policy",
        "resourceId": f"projects/_/buckets/{name}",
        "version": policy["version"],
        "etag": metadata_etag(policy["_seq"]),
        "bindings": copy.deepcopy(policy["bindings"]),
    }


def _iam_configuration(requested: Any, old: dict[str, Any] | None, now: datetime) -> dict[str, Any]:
    """Uniform access (both of its names kept equal) and public access prevention."""
    requested = requested if isinstance(requested, dict) else {}
    old = old or {}
    ubla = requested.get("uniformBucketLevelAccess") or requested.get("bucketPolicyOnly")
    was_on = bool((old.get("uniformBucketLevelAccess") or {}).get("enabled"))
    enabled = bool(ubla.get("enabled")) if isinstance(ubla, dict) else was_on
    access: dict[str, Any] = {"enabled": enabled}
    if enabled:
        kept = (old.get("uniformBucketLevelAccess") or {}).get("lockedTime") if was_on else None
        access["lockedTime"] = kept or _rfc3339(now + _UBLA_LOCK)
    pap = str(requested.get("publicAccessPrevention") or old.get("publicAccessPrevention") or "")
    pap = "inherited" if pap in ("", "unspecified") else pap
    if pap not in ("inherited", "enforced"):
        raise invalid(f"Invalid value for publicAccessPrevention: '{pap}'")
    return {
        "bucketPolicyOnly": dict(access),
        "uniformBucketLevelAccess": dict(access),
        "publicAccessPrevention": pap,
    }


def _location_type(location: str, bucket: dict[str, Any]) -> str:
    if location in _MULTI_REGIONS:
        return "multi-region"
    if location in _DUAL_REGIONS or bucket.get("customPlacementConfig"):
        return "dual-region"
    return "region"


def _required(query: dict[str, str], name: str) -> str:
    value = query.get(name)
    if not value:
        raise ApiError(400, f"Required parameter: {name}", "required")
    return value


def _int(query: dict[str, str], name: str, default: int) -> int:
    try:
        return int(query.get(name) or default)
    except ValueError:
        raise invalid(f"Invalid value for {name}: '{query[name]}'") from None


def _preconditions(bucket: dict[str, Any], query: dict[str, str], *, read: bool = False) -> bool:
    """Check ifMetagenerationMatch/NotMatch: 412 when one fails (a read returns True for 304)."""
    generation = int(bucket["metageneration"])
    match = "ifMetagenerationMatch" in query and _int(query, "ifMetagenerationMatch", 0)
    if match is not False and match != generation:
        raise ApiError(412, PRECONDITION, "conditionNotMet")
    if (
        "ifMetagenerationNotMatch" in query
        and _int(query, "ifMetagenerationNotMatch", 0) == generation
    ):
        if read:
            return True
        raise ApiError(412, PRECONDITION, "conditionNotMet")
    return False
