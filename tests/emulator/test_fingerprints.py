"""Fingerprints are bytes: the standard and the URL-safe base64 spelling are both accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from labctl.emulator import Emulator, fingerprints
from tests.emulator._http import Api, vm_body

ZONE = "us-central1-c"
INSTANCES = f"projects/labctl-demo/zones/{ZONE}/instances"
DISKS = f"projects/labctl-demo/zones/{ZONE}/disks"
MAX_ROUNDS = 60  # a fingerprint has '+' or '/' with p ~ 0.3; 0.7**60 is negligible


def url_safe(value: str) -> str:
    return value.replace("+", "-").replace("/", "_").rstrip("=")


def test_decode_accepts_both_alphabets_and_missing_padding() -> None:
    assert fingerprints.same("D3skGqW/xkE=", "D3skGqW_xkE")
    assert fingerprints.same("D3skGqW_xkE=", "D3skGqW/xkE=")
    assert not fingerprints.same("D3skGqW/xkE=", "D3skGqW/xkA=")
    assert not fingerprints.same(None, "D3skGqW/xkE=")
    assert not fingerprints.same("not base64!", "not base64!")


def _until_special(
    read: Callable[[], str], write: Callable[[str], tuple[int, Any]]
) -> tuple[str, tuple[int, Any]]:
    """Change the resource with the standard spelling until its fingerprint has '+' or '/',
    then change it once more with the URL-safe spelling; return that spelling and the answer."""
    for _ in range(MAX_ROUNDS):
        current = read()
        if "+" in current or "/" in current:
            return url_safe(current), write(url_safe(current))
        status, body = write(current)
        assert status == 200, body
    pytest.fail("no fingerprint with '+' or '/' was handed out")


def test_instance_labels_metadata_and_tags(api: Api) -> None:
    api.post(INSTANCES, vm_body())
    vm = f"{INSTANCES}/vm-1"
    rounds = iter(range(1000))

    def inst() -> dict[str, Any]:
        return api.get(vm)[1]

    sent, (status, _) = _until_special(
        lambda: inst()["labelFingerprint"],
        lambda fp: api.post(
            f"{vm}/setLabels", {"labels": {"n": str(next(rounds))}, "labelFingerprint": fp}
        ),
    )
    assert status == 200 and ("-" in sent or "_" in sent)

    _, (status, _) = _until_special(
        lambda: inst()["metadata"]["fingerprint"],
        lambda fp: api.post(
            f"{vm}/setMetadata",
            {"items": [{"key": "n", "value": str(next(rounds))}], "fingerprint": fp},
        ),
    )
    assert status == 200
    _, (status, _) = _until_special(
        lambda: inst()["tags"]["fingerprint"],
        lambda fp: api.post(f"{vm}/setTags", {"items": [f"t{next(rounds)}"], "fingerprint": fp}),
    )
    assert status == 200


def test_stale_fingerprint_still_fails_in_either_spelling(api: Api) -> None:
    api.post(INSTANCES, vm_body())
    vm = f"{INSTANCES}/vm-1"
    old = api.get(vm)[1]["labelFingerprint"]
    assert api.post(f"{vm}/setLabels", {"labels": {"a": "1"}, "labelFingerprint": old})[0] == 200
    for spelling in (old, url_safe(old)):
        status, err = api.post(f"{vm}/setLabels", {"labels": {}, "labelFingerprint": spelling})
        assert status == 412
        assert err["error"]["errors"][0]["reason"] == "conditionNotMet"


def test_disk_labels_and_project_metadata(api: Api, emulator: Emulator) -> None:
    api.post(DISKS, {"name": "data-1", "sizeGb": "10"})
    disk = f"{DISKS}/data-1"
    rounds = iter(range(1000))
    _, (status, _) = _until_special(
        lambda: api.get(disk)[1]["labelFingerprint"],
        lambda fp: api.post(
            f"{disk}/setLabels", {"labels": {"n": str(next(rounds))}, "labelFingerprint": fp}
        ),
    )
    assert status == 200
    _, (status, _) = _until_special(
        lambda: api.get("projects/labctl-demo")[1]["commonInstanceMetadata"]["fingerprint"],
        lambda fp: api.post(
            "projects/labctl-demo/setCommonInstanceMetadata",
            {"items": [{"key": "n", "value": str(next(rounds))}], "fingerprint": fp},
        ),
    )
    assert status == 200
