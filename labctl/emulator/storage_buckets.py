"""Cloud Storage buckets and bucket IAM policies as the JSON API keeps them (storage emulator)."""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from labctl.emulator.errors import ApiError

# The service's own texts, as clients print them (googleapi "Error 409: <message>, conflict"):
# gitpod-io/gitpod#15578, GoogleCloudPlatform/mlops-with-vertex-ai#26,
# googleapis/python-storage#1071, googleapis/nodejs-storage#1652, ONLYOFFICE/ControlPanel#8.
NOT_FOUND = "The specified bucket does not exist."
OWNED = "Your previous request to create the named bucket succeeded and you already own it."
TAKEN = (
    "The requested bucket name is not available. The bucket namespace is shared by all users of "
    "the system. Please select a different name and try again."
)
NOT_EMPTY = "The bucket you tried to delete is not empty."
PRECONDITION = "At least one of the pre-conditions you specified did not hold."
PUBLIC_BLOCKED = (
    "The member bindings allUsers and allAuthenticatedUsers are not allowed since public access "
    "prevention is enforced."
)

# https://cloud.google.com/storage/docs/naming-buckets
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")
_DOTTED_DECIMAL = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_GOOGLE_LIKE = re.compile(r"g[o0][o0]g[l1][e3]")  # "google" and close misspellings ("g00gle")

STORAGE_CLASSES = frozenset(
    {"STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE", "MULTI_REGIONAL", "REGIONAL"}
    | {"DURABLE_REDUCED_AVAILABILITY"}
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
_MEMBER_PREFIXES = (
    "user:", "serviceAccount:", "group:", "domain:", "principal:", "principalSet:",
    "projectOwner:", "projectEditor:", "projectViewer:", "deleted:",
)  # fmt: skip
_PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
_UBLA_LOCK = timedelta(days=90)  # uniform access can be turned off again for 90 days
_MAX_LABELS = 64


def bucket_name_problem(name: str) -> str | None:
    """Why Cloud Storage refuses this bucket name, or None when it is valid."""
    if not 3 <= len(name) <= (222 if "." in name else 63):
        return "3-63 characters (222 with dots)"
    if not _NAME.fullmatch(name):
        return "only a-z 0-9 . - _, starting and ending with a letter or digit"
    if any(len(part) > 63 for part in name.split(".")):
        return "each dot-separated part at most 63 characters"
    if _DOTTED_DECIMAL.fullmatch(name):
        return "not an IP address"
    if name.startswith("goog") or _GOOGLE_LIKE.search(name):
        return "no 'goog' prefix, no 'google' or close misspellings"
    return None


def metadata_etag(generation: int) -> str:
    """An etag in Cloud Storage's shape for bucket metadata and IAM policies ('CAE=' for 1).

    It is base64 of a protobuf varint field 1: it changes whenever the generation changes.
    """
    out = bytearray(b"\x08")
    while True:
        byte, generation = generation & 0x7F, generation >> 7
        out.append(byte | 0x80 if generation else byte)
        if not generation:
            return base64.b64encode(bytes(out)).decode()


def project_number(project: str) -> str:
    """A stable 12-digit project number for a project id (a number stays itself)."""
    if project.isdigit():
        return project
    digest = hashlib.sha256(project.encode()).digest()
    return str(10**11 + int.from_bytes(digest[:8], "big") % (9 * 10**11))


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


def _invalid(message: str) -> ApiError:
    return ApiError(400, message, "invalid")


class Buckets:
    """Bucket resources and IAM policies, kept in gcp-storage-emulator's ``Storage`` object.

    Buckets live in ``storage.buckets`` (so the library's object routes find them) with a hidden
    ``_project`` key; policies go through ``storage.get/set_bucket_iam_policy`` with a hidden
    ``_seq``. Keys starting with ``_`` are never rendered. Callers serialise access.
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
            raise _invalid(f"Invalid bucket name: '{name}'")
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
        _check(bucket)
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
            raise _invalid("Invalid JSON payload: expected an object")
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
            raise _invalid("Invalid JSON payload: expected an object")
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
        self._bucket(name)
        return _render_policy(name, self._policy(name))

    def set_iam(self, name: str, body: Any) -> dict[str, Any]:
        """Replace the policy; a stale ``etag`` fails with 412 as gsutil's ``iam ch`` expects
        (it retries on 412: gslib/commands/iam.py in the Cloud SDK)."""
        bucket = self._bucket(name)
        if not isinstance(body, dict):
            raise _invalid("Invalid JSON payload: expected a policy object")
        current = self._policy(name)
        if body.get("etag") and body["etag"] != metadata_etag(current["_seq"]):
            raise ApiError(412, PRECONDITION, "conditionNotMet")
        bindings = _check_bindings(body.get("bindings") or [])
        version = _version(body.get("version"))
        if version < 3 and any("condition" in b for b in bindings):
            raise _invalid("IAM policies with conditions must be version 3")
        pap = (bucket.get("iamConfiguration") or {}).get("publicAccessPrevention")
        members = {m for b in bindings for m in b["members"]}
        if pap == "enforced" and members & _PUBLIC_MEMBERS:
            raise ApiError(412, PUBLIC_BLOCKED, "conditionNotMet")
        policy = {"version": version, "bindings": bindings, "_seq": current["_seq"] + 1}
        self.storage.set_bucket_iam_policy(name, policy)
        return _render_policy(name, policy)

    # --- helpers --------------------------------------------------------------------------------
    def _bucket(self, name: str) -> dict[str, Any]:
        bucket = self.storage.buckets.get(name)
        if bucket is None:
            raise ApiError(404, NOT_FOUND, "notFound")
        return bucket

    def _policy(self, name: str) -> dict[str, Any]:
        stored = self.storage.get_bucket_iam_policy(name)
        if not isinstance(stored, dict) or "_seq" not in stored:
            return {"version": 1, "bindings": [], "_seq": 1}
        return stored

    def _commit(
        self, bucket: dict[str, Any], changed: dict[str, Any], base: str, query: dict[str, str]
    ) -> dict[str, Any]:
        changed["storageClass"] = str(changed.get("storageClass") or "STANDARD").upper()
        _check(changed)
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
        raise _invalid(f"Invalid value for publicAccessPrevention: '{pap}'")
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


def _check(bucket: dict[str, Any]) -> None:
    """What the API refuses in a bucket resource (labels, storage class); empty labels vanish."""
    if bucket["storageClass"] not in STORAGE_CLASSES:
        raise _invalid(f"Invalid storage class: '{bucket['storageClass']}'")
    labels = bucket.get("labels")
    if labels is None:
        return
    if not isinstance(labels, dict) or len(labels) > _MAX_LABELS:
        raise _invalid(f"A bucket can have at most {_MAX_LABELS} labels")
    for key, value in labels.items():
        if not _label_ok(key, first=True) or not _label_ok(value, first=False):
            raise _invalid(f"Invalid label: '{key}': '{value}'")
    if not labels:
        del bucket["labels"]  # the API leaves an empty map out


def _label_ok(text: Any, *, first: bool) -> bool:
    """https://cloud.google.com/resource-manager/docs/labels-overview (keys start with a letter)."""
    if not isinstance(text, str) or len(text) > 63 or (first and not text):
        return False
    if first and not text[0].islower():
        return False
    return all(c.islower() or c.isdigit() or c in "_-" for c in text)


def _check_bindings(bindings: Any) -> list[dict[str, Any]]:
    if not isinstance(bindings, list):
        raise _invalid("bindings must be a list")
    out = []
    for binding in bindings:
        if not isinstance(binding, dict) or not isinstance(binding.get("role"), str):
            raise _invalid("Every binding needs a role")
        role, members = binding["role"], binding.get("members") or []
        if not role.startswith(("roles/", "projects/", "organizations/")):
            raise _invalid(f"Role {role} is not valid")
        for member in members:
            if member not in _PUBLIC_MEMBERS and not str(member).startswith(_MEMBER_PREFIXES):
                raise _invalid(f"Invalid member: '{member}'")
        if members:  # a binding without members is dropped, as IAM does
            kept = {"role": role, "members": sorted(set(members))}
            if binding.get("condition"):
                kept["condition"] = copy.deepcopy(binding["condition"])
            out.append(kept)
    return out


def _version(value: Any) -> int:
    try:
        version = int(value or 1)
    except (TypeError, ValueError):
        raise _invalid(f"Invalid policy version: '{value}'") from None
    if version not in (1, 2, 3):
        raise _invalid(f"Invalid policy version: '{value}'")
    return version


def _required(query: dict[str, str], name: str) -> str:
    value = query.get(name)
    if not value:
        raise ApiError(400, f"Required parameter: {name}", "required")
    return value


def _int(query: dict[str, str], name: str, default: int) -> int:
    try:
        return int(query.get(name) or default)
    except ValueError:
        raise _invalid(f"Invalid value for {name}: '{query[name]}'") from None


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
