"""The labels labctl puts on everything it creates: the source of truth for list and cleanup."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from datetime import datetime

from labctl.naming import label_value, student_slug

MANAGED = "labctl-managed"
COURSE = "labctl-course"
OWNER = "labctl-owner"
CREATED = "labctl-created"


def managed_labels(
    *, course: str, owner: str, now: datetime, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """labctl's labels plus the user's; labctl's own keys win so listing and cleanup stay right."""
    return {
        **(extra or {}),
        MANAGED: "true",
        COURSE: label_value(course),
        OWNER: label_value(owner),
        CREATED: now.strftime("%Y%m%d-%H%M%S"),  # label values allow no ':' or 'T'
    }


def default_owner() -> str:
    """LABCTL_OWNER, else the local user name, as a slug fit for a label value."""
    explicit = os.environ.get("LABCTL_OWNER")
    if explicit:
        return student_slug(explicit)
    try:
        return student_slug(getpass.getuser())
    except (KeyError, OSError):
        return "unknown"
