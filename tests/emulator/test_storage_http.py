"""The storage emulator's HTTP layer: JSON error bodies on the library's routes, gcloud's request
forms (single-quoted multipart boundary, /resumable/upload), and its quiet logs."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any

import pytest

from labctl.emulator.storage import LIBRARY_LOGGERS, StorageEmulator


def call(
    emu: StorageEmulator,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    req = urllib.request.Request(
        f"{emu.url}{path}", data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw, status, got = resp.read(), resp.status, dict(resp.headers)
    except urllib.error.HTTPError as err:
        raw, status, got = err.read(), err.code, dict(err.headers)
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode()
    return status, payload, got


def make_bucket(emu: StorageEmulator, name: str = "lab-bucket") -> None:
    body = json.dumps({"name": name}).encode()
    headers = {"Content-Type": "application/json"}
    assert call(emu, "POST", "/storage/v1/b?project=demo", body, headers)[0] == 200


def test_library_errors_get_json_bodies(storage_emulator: StorageEmulator) -> None:
    make_bucket(storage_emulator)
    status, body, _ = call(storage_emulator, "GET", "/storage/v1/b/lab-bucket/o/nope")
    assert status == 404
    assert body["error"] == {
        "code": 404,
        "message": "No such object: lab-bucket/nope",
        "errors": [
            {"domain": "global", "reason": "notFound", "message": "No such object: lab-bucket/nope"}
        ],
    }
    status, body, _ = call(storage_emulator, "GET", "/storage/v1/b/no-bucket/o")
    assert (status, body["error"]["message"]) == (404, "The specified bucket does not exist.")
    status, body, _ = call(storage_emulator, "POST", "/storage/v1/b/lab-bucket/acl", b"{}")
    assert status == 501 and body["error"]["errors"][0]["reason"] == "notImplemented"
    status, body, _ = call(storage_emulator, "POST", "/storage/v1/b?project=demo", b"{not json")
    assert (status, body["error"]["message"]) == (400, "Parse Error")
    status, body, _ = call(storage_emulator, "GET", "/storage/v1/b")
    assert (status, body["error"]["message"]) == (400, "Required parameter: project")


def test_gcloud_multipart_with_single_quoted_boundary(storage_emulator: StorageEmulator) -> None:
    # What gcloud storage cp sends (apitools quotes the boundary with single quotes).
    make_bucket(storage_emulator)
    body = (
        b"--==b==\nContent-Type: application/json\nMIME-Version: 1.0\n\n"
        b'{"bucket": "lab-bucket", "name": "h.txt"}\n'
        b"--==b==\nContent-Type: text/plain\nMIME-Version: 1.0\n\nhello\n--==b==--\n"
    )
    headers = {"Content-Type": "multipart/related; boundary='==b=='"}
    path = "/upload/storage/v1/b/lab-bucket/o?alt=json&uploadType=multipart"
    status, obj, _ = call(storage_emulator, "POST", path, body, headers)
    assert status == 200 and obj["name"] == "h.txt"
    assert set(storage_emulator.objects("lab-bucket")) == {"h.txt"}


def test_gcloud_resumable_upload_path(storage_emulator: StorageEmulator) -> None:
    make_bucket(storage_emulator)
    path = "/resumable/upload/storage/v1/b/lab-bucket/o?uploadType=resumable"
    meta = json.dumps({"name": "big.bin"}).encode()
    status, _, headers = call(
        storage_emulator, "POST", path, meta, {"Content-Type": "application/json"}
    )
    assert status == 200 and "upload_id=" in headers["Location"]
    session = headers["Location"].split(storage_emulator.url or "", 1)[1]
    status, obj, _ = call(storage_emulator, "PUT", session, b"0123456789")
    assert status == 200 and obj["size"] == "10"


def test_bucket_side_routes_gcloud_asks_for(storage_emulator: StorageEmulator) -> None:
    make_bucket(storage_emulator)
    status, layout, _ = call(storage_emulator, "GET", "/storage/v1/b/lab-bucket/storageLayout")
    assert status == 200 and layout["location"] == "US" and layout["bucket"] == "lab-bucket"
    status, folders, _ = call(storage_emulator, "GET", "/storage/v1/b/lab-bucket/managedFolders")
    assert (status, folders) == (200, {"kind": "storage#managedFolders"})
    assert call(storage_emulator, "GET", "/storage/v1/b/gone/managedFolders")[0] == 404


@pytest.mark.parametrize("verbose", [False, True])
def test_library_logs_only_when_verbose(caplog: pytest.LogCaptureFixture, verbose: bool) -> None:
    caplog.set_level(logging.DEBUG)
    with StorageEmulator(0, verbose=verbose) as emu:
        make_bucket(emu)
        call(emu, "GET", "/")  # the library warns about its text response
        call(emu, "POST", "/storage/v1/b/lab-bucket/acl", b"{}")  # and logs an error
    library = [r for r in caplog.records if r.name.startswith(LIBRARY_LOGGERS)]
    assert bool(library) is verbose
