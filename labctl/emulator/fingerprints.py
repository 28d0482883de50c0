"""Fingerprints and etags: compared as bytes, whichever base64 alphabet the client used.

Compute hands out fingerprints (``labelFingerprint``, ``metadata.fingerprint``,
``tags.fingerprint``, IAM ``etag``) in standard base64 (``+``, ``/``). They are ``bytes`` fields
in the API (``"format": "byte"`` in the discovery document), so a client may decode and
re-encode them: gcloud (apitools) sends them back in the URL-safe alphabet (``-``, ``_``).
Compute compares the bytes, so both spellings of the same fingerprint are accepted.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from labctl.emulator.errors import ApiError

LABELS_CHANGED = "Labels fingerprint either invalid or resource labels have changed"
METADATA_CHANGED = "Supplied fingerprint does not match current metadata fingerprint."
TAGS_CHANGED = "Supplied fingerprint does not match current tags fingerprint."


def decode(value: Any) -> bytes | None:
    """The bytes of a base64 fingerprint in either alphabet, padded or not; None if invalid."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def same(sent: Any, current: Any) -> bool:
    """True if ``sent`` is the fingerprint ``current`` in any base64 spelling."""
    got, want = decode(sent), decode(current)
    return got is not None and got == want


def require(sent: Any, current: Any, message: str) -> None:
    """Raise Compute's 412 conditionNotMet unless ``sent`` matches ``current``."""
    if not same(sent, current):
        raise ApiError(412, message, "conditionNotMet")
