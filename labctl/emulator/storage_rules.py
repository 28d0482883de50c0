"""Cloud Storage's rules and texts for buckets, labels and IAM bindings (storage emulator)."""

from __future__ import annotations

import base64
import copy
import hashlib
import re
from typing import Any

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
_MEMBER_PREFIXES = (
    "user:", "serviceAccount:", "group:", "domain:", "principal:", "principalSet:",
    "projectOwner:", "projectEditor:", "projectViewer:", "deleted:",
)  # fmt: skip
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
MAX_LABELS = 64


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


def check_bucket(bucket: dict[str, Any]) -> None:
    """What the API refuses in a bucket resource (labels, storage class); empty labels vanish."""
    if bucket["storageClass"] not in STORAGE_CLASSES:
        raise invalid(f"Invalid storage class: '{bucket['storageClass']}'")
    labels = bucket.get("labels")
    if labels is None:
        return
    if not isinstance(labels, dict) or len(labels) > MAX_LABELS:
        raise invalid(f"A bucket can have at most {MAX_LABELS} labels")
    for key, value in labels.items():
        if not _label_ok(key, first=True) or not _label_ok(value, first=False):
            raise invalid(f"Invalid label: '{key}': '{value}'")
    if not labels:
        del bucket["labels"]  # the API leaves an empty map out


def _label_ok(text: Any, *, first: bool) -> bool:
    """https://cloud.google.com/resource-manager/docs/labels-overview (keys start with a letter)."""
    if not isinstance(text, str) or len(text) > 63 or (first and not text):
        return False
    if first and not text[0].islower():
        return False
    return all(c.islower() or c.isdigit() or c in "_-" for c in text)


def check_bindings(bindings: Any) -> list[dict[str, Any]]:
    """The request's bindings checked, members sorted, those without members dropped."""
    if not isinstance(bindings, list):
        raise invalid("bindings must be a list")
    out = []
    for binding in bindings:
        if not isinstance(binding, dict) or not isinstance(binding.get("role"), str):
            raise invalid("Every binding needs a role")
        role, members = binding["role"], binding.get("members") or []
        if not role.startswith(("roles/", "projects/", "organizations/")):
            raise invalid(f"Role {role} is not valid")
        for member in members:
            if member not in PUBLIC_MEMBERS and not str(member).startswith(_MEMBER_PREFIXES):
                raise invalid(f"Invalid member: '{member}'")
        if members:  # a binding without members is dropped, as IAM does
            kept = {"role": role, "members": sorted(set(members))}
            if binding.get("condition"):
                kept["condition"] = copy.deepcopy(binding["condition"])
            out.append(kept)
    return out


def policy_version(value: Any) -> int:
    """The policy version a request sets (1, 2 or 3; 1 when absent)."""
    try:
        version = int(value or 1)
    except (TypeError, ValueError):
        raise invalid(f"Invalid policy version: '{value}'") from None
    if version not in (1, 2, 3):
        raise invalid(f"Invalid policy version: '{value}'")
    return version


def invalid(message: str) -> ApiError:
    return ApiError(400, message, "invalid")
