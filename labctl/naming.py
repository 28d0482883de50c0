"""Name rules Google enforces, checked before any API call, and the names labctl derives."""

from __future__ import annotations

import hashlib
import ipaddress
import re
import secrets
import unicodedata

from labctl.errors import InvalidInput

# Compute Engine resource names (instances, disks, firewalls): RFC 1035, 1-63 chars.
INSTANCE_NAME_RE = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
# Labels: keys start with a lowercase letter; keys and values use lowercase, digits, '_' and '-'.
# (Google also accepts international lowercase letters; labctl only ever writes ASCII.)
LABEL_KEY_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE_RE = re.compile(r"[a-z0-9_-]{0,63}")
MAX_LABELS = 64
BUCKET_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]")
# Dotted bucket names (https://cloud.google.com/storage/docs/naming-buckets): up to 222
# characters, each dot-separated part at most 63. labctl never creates one, but may be asked to
# read or delete one that exists.
MAX_DOTTED_NAME = 222
MAX_NAME_PART = 63
_DOTTED_RE = re.compile(r"[a-z0-9][a-z0-9._-]*[a-z0-9]")
# "google" and close misspellings ("g00gle", "googl3") are refused anywhere in a bucket name.
_GOOGLE_LIKE = re.compile(r"g[o0]{2}g[l1][e3]")
# Zones ("us-central1-c"): what may go into a URL path.
ZONE_RE = re.compile(r"[a-z]+-[a-z]+[0-9]+-[a-z]")
# Project ids: 6-30 characters, a lowercase letter first, lowercase letters, digits and hyphens,
# no trailing hyphen; older ones may carry a "domain.com:" prefix
# (https://cloud.google.com/resource-manager/docs/creating-managing-projects).
PROJECT_ID_RE = re.compile(r"(?:[a-z0-9][a-z0-9.-]{0,61}[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]")
BUCKET_SUFFIX_HEX = 6  # 24 random bits: a clash with an existing name is rare, and retried
SLUG_MAX = 30  # a student's slug: course (<= 32) + "-" + slug fits a 63-character VM name


def check_instance_name(name: str) -> str:
    if not INSTANCE_NAME_RE.fullmatch(name):
        raise InvalidInput(
            f"invalid VM name {name!r}: use 1-63 characters, lowercase letters, digits and '-', "
            "starting with a letter and not ending with '-'",
            hint=f"for example: {suggest_instance_name(name)}",
        )
    return name


def check_project_id(project: str, *, field: str = "project") -> str:
    """A project id as Google defines it; anything else never reaches a URL."""
    if not PROJECT_ID_RE.fullmatch(project):
        raise InvalidInput(
            f"invalid project id {project!r}: 6-30 characters, lowercase letters, digits and "
            "'-', starting with a letter and not ending with '-'",
            field=field,
        )
    return project


def suggest_instance_name(text: str) -> str:
    slug = slugify(text, max_len=63)
    if not slug or not slug[0].isalpha():
        slug = ("vm-" + slug)[:63].rstrip("-")
    return slug or "vm"


def check_label(key: str, value: str) -> None:
    if not LABEL_KEY_RE.fullmatch(key):
        raise InvalidInput(
            f"invalid label key {key!r}: 1-63 characters, lowercase letters, digits, '_' or '-', "
            "starting with a lowercase letter"
        )
    if not LABEL_VALUE_RE.fullmatch(value):
        raise InvalidInput(
            f"invalid label value {value!r} for key {key!r}: at most 63 characters, "
            "lowercase letters, digits, '_' or '-'"
        )


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise InvalidInput(f"too many labels ({len(labels)}): at most {MAX_LABELS}")
    for key, value in labels.items():
        check_label(key, value)
    return labels


def parse_labels(pairs: list[str]) -> dict[str, str]:
    """['course=cs', 'team=a'] -> {'course': 'cs', 'team': 'a'}, each pair validated."""
    labels: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(f"invalid label {pair!r}: expected KEY=VALUE")
        check_label(key, value)
        labels[key] = value
    return labels


def slugify(text: str, *, max_len: int = 63) -> str:
    """ASCII lowercase, digits and single dashes: 'Ana.María@uni.edu' -> 'ana-maria-uni-edu'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_len].rstrip("-")


def student_slug(email: str, *, max_len: int = SLUG_MAX) -> str:
    """A stable, readable slug for a student, usable in VM names and label values.

    Only the local part of the e-mail is used (names are public in the bucket namespace, so the
    domain is left out). A long local part is cut and given a short hash so two students that
    share a prefix still get different slugs; the same e-mail always gives the same slug.
    """
    local = email.strip().lower().partition("@")[0]
    slug = slugify(local, max_len=max_len)
    if len(slugify(local, max_len=200)) > max_len or not slug:
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:6]
        slug = f"{slug[: max_len - 7].rstrip('-')}-{digest}".lstrip("-")
    if not slug[0].isalpha():
        slug = ("s" + slug)[:max_len].rstrip("-")
    return slug


def label_value(text: str) -> str:
    """Any text made into a valid label value (lowercase, allowed characters, <= 63)."""
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-")[:63]


def check_bucket_name(name: str) -> str:
    """Every rule of Cloud Storage's bucket naming (dotted names are not supported by labctl)."""

    def bad(rule: str) -> InvalidInput:
        return InvalidInput(f"invalid bucket name {name!r}: {rule}")

    if not 3 <= len(name) <= 63:
        raise bad(f"must be 3-63 characters long (it has {len(name)})")
    if "." in name:
        raise bad("labctl does not create dotted names (they need domain verification); use '-'")
    if not re.fullmatch(r"[a-z0-9_-]+", name):
        raise bad("use only lowercase letters, digits, '-' and '_'")
    if not BUCKET_NAME_RE.fullmatch(name):
        raise bad("must start and end with a letter or digit")
    if name.startswith("goog"):
        raise bad("must not start with 'goog'")
    if _GOOGLE_LIKE.search(name):
        raise bad("must not contain 'google' or a look-alike")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        raise bad("must not look like an IP address")
    return name


def check_existing_bucket_name(name: str) -> str:
    """Any name Cloud Storage allows for a bucket, dotted ones included (for buckets that already
    exist); InvalidInput otherwise, so a name that cannot exist never reaches a URL."""
    if "." not in name:
        return check_bucket_name(name)

    def bad(rule: str) -> InvalidInput:
        return InvalidInput(f"invalid bucket name {name!r}: {rule}", field="NAME")

    if not 3 <= len(name) <= MAX_DOTTED_NAME:
        raise bad(f"names with dots must be 3-{MAX_DOTTED_NAME} characters long")
    if not _DOTTED_RE.fullmatch(name):
        raise bad(
            "use lowercase letters, digits, '-', '_' and '.', starting and ending alphanumeric"
        )
    if any(not 1 <= len(part) <= MAX_NAME_PART for part in name.split(".")):
        raise bad(f"each dot-separated part must be 1-{MAX_NAME_PART} characters long")
    if name.startswith("goog") or _GOOGLE_LIKE.search(name):
        raise bad("must not start with 'goog' or contain 'google' or a look-alike")
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name
    raise bad("must not look like an IP address")


def derive_bucket_name(prefix: str, *, suffix: str | None = None) -> str:
    """A readable, globally unique candidate: '<prefix>-<6 hex>'. Retried with a new suffix on 409.

    The prefix is slugified and cut so the whole name fits in 63 characters, and 'google'-like
    text is rewritten so the result always passes check_bucket_name.
    """
    suffix = suffix or secrets.token_hex(BUCKET_SUFFIX_HEX // 2)
    base = _GOOGLE_LIKE.sub("g-le", slugify(prefix, max_len=63 - len(suffix) - 1)) or "lab"
    if base.startswith("goog"):
        base = "b-" + base
    base = base[: 63 - len(suffix) - 1].rstrip("-")
    return check_bucket_name(f"{base}-{suffix}")
