"""The labels labctl puts on everything it creates: the source of truth for list and cleanup."""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta

from labctl.errors import InvalidInput
from labctl.naming import MAX_LABELS, check_labels, label_value, student_slug

PREFIX = "labctl-"
MANAGED = "labctl-managed"
COURSE = "labctl-course"
OWNER = "labctl-owner"
CREATED = "labctl-created"
EXPIRES = "labctl-expires"  # YYYY-MM-DD (UTC): cleanup deletes it after that day
KEEP = "labctl-keep"  # "true": cleanup never acts on it
# What labctl writes itself; a user may set KEEP, never the others.
RESERVED = (MANAGED, COURSE, OWNER, CREATED, EXPIRES)
CREATED_FORMAT = "%Y%m%d-%H%M%S"  # label values allow no ':' or 'T'


def managed_labels(
    *,
    course: str,
    owner: str,
    now: datetime,
    extra: Mapping[str, str] | None = None,
    expires: date | None = None,
) -> dict[str, str]:
    """labctl's labels plus the user's (`extra`, checked by check_user_labels first)."""
    labels = {
        **(extra or {}),
        MANAGED: "true",
        COURSE: label_value(course),
        OWNER: label_value(owner),
        CREATED: now.strftime(CREATED_FORMAT),
    }
    if expires is not None:
        labels[EXPIRES] = expires.isoformat()
    return check_labels(labels)


def check_user_labels(labels: Mapping[str, str], *, field: str = "--label") -> dict[str, str]:
    """Labels a user adds: labctl's own keys are reserved, and labctl's take room."""
    reserved = sorted(k for k in labels if k in RESERVED)
    if reserved:
        raise InvalidInput(
            f"{field} {reserved[0]}: labctl's own label keys are reserved "
            f"({', '.join(RESERVED)}); pick another key",
            field=field,
        )
    room = MAX_LABELS - len(RESERVED)
    if len(labels) > room:
        raise InvalidInput(
            f"too many labels: {len(labels)} given, at most {room} "
            f"(a resource holds {MAX_LABELS}; labctl uses {len(RESERVED)})",
            field=field,
        )
    return check_labels(dict(labels))


def parse_expiry(text: str, *, today: date, field: str = "--expires") -> date:
    """'2026-12-20' -> that date; it must be today or later."""
    try:
        when = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{field} {text!r}: not a date; use YYYY-MM-DD (e.g. 2026-12-20)", field=field
        ) from None
    if when < today:
        raise InvalidInput(f"{field} {text}: the date is in the past", field=field)
    return when


_DURATION_RE = re.compile(r"(\d+)\s*([mhdw])")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_UNITS["w"] = timedelta(weeks=1)


def parse_duration(text: str, *, field: str) -> timedelta:
    """'30m', '12h', '7d', '2w' -> a positive timedelta."""
    match = _DURATION_RE.fullmatch(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise InvalidInput(
            f"{field} {text!r}: use a number and a unit, e.g. 30m, 12h, 7d or 2w", field=field
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def expiry_of(labels: Mapping[str, str]) -> date | None:
    """The labctl-expires date, or None if absent or unreadable."""
    try:
        return date.fromisoformat(labels.get(EXPIRES, ""))
    except ValueError:
        return None


def created_of(labels: Mapping[str, str]) -> datetime | None:
    try:
        return datetime.strptime(labels.get(CREATED, ""), CREATED_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


# Firewall rules carry no labels: labctl marks the rules it creates with a name prefix and a
# description, and finds them by both (a rule someone else named labctl-* is left alone).
FIREWALL_PREFIX = PREFIX
FIREWALL_DESCRIPTION = "Created by labctl"
# Where IAP's TCP forwarding connects from: the source range of the rule SSH through IAP needs
# (https://cloud.google.com/iap/docs/using-tcp-forwarding).
IAP_SOURCE_RANGE = "35.235.240.0/20"


def is_labctl_firewall(name: str, description: str) -> bool:
    return name.startswith(FIREWALL_PREFIX) and description.startswith(FIREWALL_DESCRIPTION)


def firewall_course(description: str) -> str | None:
    """The course named in a labctl rule's description, or None."""
    match = re.match(re.escape(FIREWALL_DESCRIPTION) + r" for course ([a-z0-9_-]+)", description)
    return match.group(1) if match else None


def is_managed(labels: Mapping[str, str]) -> bool:
    return labels.get(MANAGED) == "true"


def is_kept(labels: Mapping[str, str]) -> bool:
    return labels.get(KEEP) == "true"


def selector_labels(*, managed_only: bool, course: str | None, owner: str | None) -> dict[str, str]:
    """The labels a list or batch command selects by: labctl-managed=true when only labctl's
    resources are wanted, the course, and the owner (a label value, already slugged)."""
    wanted = {MANAGED: "true"} if managed_only else {}
    if course:
        wanted[COURSE] = course
    if owner:
        wanted[OWNER] = owner
    return wanted


def owner_slug(text: str) -> str:
    """What --owner, LABCTL_OWNER and a roster e-mail become in the labctl-owner label."""
    return student_slug(text)


def default_owner() -> str:
    """LABCTL_OWNER, else the local user name, as a slug fit for a label value."""
    explicit = os.environ.get("LABCTL_OWNER")
    if explicit:
        return owner_slug(explicit)
    try:
        return owner_slug(getpass.getuser())
    except (KeyError, OSError):
        return "unknown"
