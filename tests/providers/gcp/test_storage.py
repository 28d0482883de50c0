"""GcpStorage with the real client library against gcp-storage-emulator.

Where the emulator falls short (it drops labels, location, class and IAM configuration at create,
enforces no IAM, sends empty error bodies, has one project), the test checks the HTTP request
labctl sent instead of skipping the behaviour.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from labctl.emulator.storage import StorageEmulator
from labctl.errors import (
    AlreadyExists,
    EndpointUnreachable,
    LabctlError,
    LocalError,
    NotEmpty,
    NotFound,
    TransientError,
)
from labctl.models import BucketSpec
from labctl.providers.gcp.storage import DELETE_BATCH, GcpStorage, make_storage
from tests._storage_fixtures import RequestLog, request_log

MIB = 1024 * 1024
LABELS = {"labctl-managed": "true", "labctl-course": "cs-101"}


def make(storage: GcpStorage, name: str = "cs-101-ana-abc123") -> None:
    storage.create_bucket(
        BucketSpec(name, location="EUROPE-WEST1", storage_class="COLDLINE", labels=LABELS)
    )


def test_create_sends_location_class_labels_uniform_access_and_pap(
    gcp_storage: GcpStorage, http_log: RequestLog
) -> None:
    make(gcp_storage)
    [insert] = http_log.find("POST", "/storage/v1/b")
    assert insert.query["project"] == ["labctl-demo"]
    assert insert.body["name"] == "cs-101-ana-abc123"
    assert insert.body["location"] == "EUROPE-WEST1"
    assert insert.body["storageClass"] == "COLDLINE"
    assert insert.body["labels"] == LABELS
    iam = insert.body["iamConfiguration"]
    assert iam["uniformBucketLevelAccess"]["enabled"] is True
    assert iam["publicAccessPrevention"] == "enforced"
    assert "authorization" not in insert.headers  # anonymous: nothing to leak to an emulator


def test_create_is_one_request_and_patches_nothing(
    gcp_storage: GcpStorage, http_log: RequestLog
) -> None:
    """Everything goes in the insert; nothing is patched afterwards (a server that dropped
    settings is the server's bug, not something labctl papers over in production)."""
    make(gcp_storage)
    assert [(r.method, r.path) for r in http_log.requests] == [("POST", "/storage/v1/b")]


def test_409_then_get_forbidden_says_another_project(gcp_storage: GcpStorage, mocker: Any) -> None:
    from google.api_core.exceptions import Forbidden

    make(gcp_storage)
    get = mocker.patch.object(
        gcp_storage.client, "get_bucket", side_effect=Forbidden("no access to this bucket")
    )
    with pytest.raises(AlreadyExists, match="already exists in another project") as err:
        make(gcp_storage)
    assert get.call_args.args[0] == "cs-101-ana-abc123"
    assert (err.value.kind, err.value.name, err.value.owned) == (
        "bucket",
        "cs-101-ana-abc123",
        False,
    )
    assert err.value.hint is None  # the CLI's table gives the advice


def test_409_visible_but_not_listed_in_our_project_says_another_project(
    gcp_storage: GcpStorage, mocker: Any
) -> None:
    make(gcp_storage)
    listing = mocker.patch.object(gcp_storage.client, "list_buckets", return_value=iter([]))
    with pytest.raises(AlreadyExists, match="another project"):
        make(gcp_storage)
    kwargs = listing.call_args.kwargs
    assert kwargs["project"] == "labctl-demo" and kwargs["prefix"] == "cs-101-ana-abc123"


def test_409_in_our_project_does_a_get_then_a_prefixed_list(
    gcp_storage: GcpStorage, http_log: RequestLog
) -> None:
    make(gcp_storage)
    with pytest.raises(AlreadyExists, match="in your project") as err:
        make(gcp_storage)
    assert err.value.owned is True
    methods = [(r.method, r.path.rsplit("/", 1)[-1]) for r in http_log.requests]
    assert methods[-3:] == [("POST", "b"), ("GET", "cs-101-ana-abc123"), ("GET", "b")]
    assert http_log.requests[-1].query["prefix"] == ["cs-101-ana-abc123"]


def test_empty_error_bodies_still_give_a_clear_message(gcp_storage: GcpStorage) -> None:
    with pytest.raises(NotFound) as err:
        gcp_storage.get_bucket("nope-1")
    assert err.value.message == "bucket 'nope-1': not found"
    assert (err.value.kind, err.value.name) == ("bucket", "nope-1")


def test_large_file_goes_up_resumable_in_chunks(
    storage_emulator: StorageEmulator, tmp_path: Path, mocker: Any
) -> None:
    storage = GcpStorage(
        "labctl-demo", client=make_storage("labctl-demo").client, chunk_size=4 * MIB
    )
    log = request_log(storage, mocker)
    make(storage)
    data = os.urandom(9 * MIB)  # above RESUMABLE_THRESHOLD
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    moved: list[int] = []
    info = storage.upload_file("cs-101-ana-abc123", src, "big.bin", moved.append)

    [start] = [r for r in log.requests if r.method == "POST" and "uploadType" in r.query]
    assert start.query["uploadType"] == ["resumable"]
    chunks = [r for r in log.requests if r.method == "PUT" and "content-range" in r.headers]
    assert [c.headers["content-range"] for c in chunks] == [
        f"bytes 0-{4 * MIB - 1}/{9 * MIB}",
        f"bytes {4 * MIB}-{8 * MIB - 1}/{9 * MIB}",
        f"bytes {8 * MIB}-{9 * MIB - 1}/{9 * MIB}",
    ]
    assert moved == [4 * MIB, 4 * MIB, MIB]
    assert info.size == len(data) and info.crc32c
    out = tmp_path / "out.bin"
    storage.download_file("cs-101-ana-abc123", "big.bin", out)
    assert out.read_bytes() == data


def test_small_file_goes_up_in_one_request_with_its_crc32c(
    gcp_storage: GcpStorage, http_log: RequestLog, tmp_path: Path
) -> None:
    make(gcp_storage)
    src = tmp_path / "notes.txt"
    src.write_text("hello")
    info = gcp_storage.upload_file("cs-101-ana-abc123", src, "notes.txt")
    [upload] = [r for r in http_log.requests if r.query.get("uploadType") == ["multipart"]]
    assert b'"crc32c": "mnG7TA=="' in upload.body  # crc32c("hello"), checked by the server
    assert info.crc32c == "mnG7TA=="
    assert gcp_storage.client.bucket("cs-101-ana-abc123").get_blob("notes.txt").content_type == (
        "text/plain"
    )


def test_damaged_download_is_detected_and_removed(
    gcp_storage: GcpStorage, storage_emulator: StorageEmulator, tmp_path: Path
) -> None:
    make(gcp_storage)
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(50_000))
    gcp_storage.upload_file("cs-101-ana-abc123", src, "f.bin")
    storage_emulator.objects("cs-101-ana-abc123")["f.bin"]["crc32c"] = "AAAAAA=="
    out = tmp_path / "out.bin"
    with pytest.raises(LabctlError, match="crc32c mismatch"):
        gcp_storage.download_file("cs-101-ana-abc123", "f.bin", out)
    assert not out.exists()


def test_upload_checksum_mismatch_deletes_the_object(
    gcp_storage: GcpStorage, tmp_path: Path, mocker: Any
) -> None:
    from labctl.providers.gcp import _checksums

    make(gcp_storage)
    src = tmp_path / "f.bin"
    src.write_bytes(b"payload")
    mocker.patch.object(_checksums.HashingReader, "crc32c_b64", return_value="AAAAAA==")
    with pytest.raises(LabctlError, match="checksum mismatch after upload"):
        gcp_storage.upload_file("cs-101-ana-abc123", src, "f.bin")
    assert gcp_storage.list_blobs("cs-101-ana-abc123") == []


def test_force_delete_removes_objects_in_batches(
    gcp_storage: GcpStorage, http_log: RequestLog
) -> None:
    make(gcp_storage)
    bucket = gcp_storage.client.bucket("cs-101-ana-abc123")
    for i in range(DELETE_BATCH + 20):
        bucket.blob(f"o/{i:04d}").upload_from_string(b"x")
    with pytest.raises(NotEmpty) as err:
        gcp_storage.delete_bucket("cs-101-ana-abc123")
    assert (err.value.kind, err.value.name) == ("bucket", "cs-101-ana-abc123")
    gcp_storage.delete_bucket("cs-101-ana-abc123", force=True)
    assert [r.path for r in http_log.requests if r.path.endswith("/batch/storage/v1")] != []
    assert len([r for r in http_log.requests if r.method == "DELETE"]) <= 2  # batches + bucket
    assert gcp_storage.list_buckets() == []


def test_list_blobs_sends_the_prefix(gcp_storage: GcpStorage, http_log: RequestLog) -> None:
    make(gcp_storage)
    gcp_storage.list_blobs("cs-101-ana-abc123", "lab1/")
    [listing] = http_log.find("GET", "/b/cs-101-ana-abc123/o")
    assert listing.query["prefix"] == ["lab1/"]


def test_grant_writes_the_binding_with_the_policy_etag(
    gcp_storage: GcpStorage, http_log: RequestLog
) -> None:
    # The emulator stores policies but enforces nothing: check what was written.
    make(gcp_storage)
    gcp_storage.add_bucket_member(
        "cs-101-ana-abc123", "roles/storage.objectAdmin", "user:ana@uni.edu"
    )
    [put] = http_log.find("PUT", "/b/cs-101-ana-abc123/iam")
    assert put.body["bindings"] == [
        {"role": "roles/storage.objectAdmin", "members": ["user:ana@uni.edu"]}
    ]
    assert put.body["etag"]
    [get] = http_log.find("GET", "/b/cs-101-ana-abc123/iam")
    assert get.query["optionsRequestedPolicyVersion"] == ["3"]
    gcp_storage.add_bucket_member(
        "cs-101-ana-abc123", "roles/storage.objectAdmin", "user:ana@uni.edu"
    )
    assert len(http_log.find("PUT", "/b/cs-101-ana-abc123/iam")) == 1  # nothing to change


def test_grant_retries_when_the_policy_changed_meanwhile(
    gcp_storage: GcpStorage, mocker: Any
) -> None:
    from google.api_core.exceptions import PreconditionFailed as Gone412
    from google.cloud.storage import Bucket as GBucket

    make(gcp_storage)
    real = GBucket.set_iam_policy
    calls: list[int] = []

    def flaky(self: Any, policy: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise Gone412("etag mismatch")
        return real(self, policy, **kwargs)

    mocker.patch.object(GBucket, "set_iam_policy", flaky)
    assert gcp_storage.add_bucket_member(
        "cs-101-ana-abc123", "roles/storage.objectViewer", "user:bo@uni.edu"
    )
    assert len(calls) == 2
    assert gcp_storage.bucket_members("cs-101-ana-abc123") == {
        "roles/storage.objectViewer": ["user:bo@uni.edu"]
    }


def test_server_errors_map_to_labctl_errors() -> None:
    from google.api_core import exceptions as g

    from labctl.cli._errors import render
    from labctl.errors import CredentialsError, InvalidInput, RateLimited
    from labctl.providers.gcp._storage_errors import translate

    cases = [
        (g.ServiceUnavailable("down"), TransientError),
        (g.TooManyRequests("slow"), RateLimited),
        (g.Forbidden("x", errors=[{"reason": "rateLimitExceeded"}]), RateLimited),
        (g.Unauthorized("who"), CredentialsError),
        (g.BadRequest("bad"), InvalidInput),
        (g.Conflict("taken"), AlreadyExists),
    ]
    for exc, kind in cases:
        assert type(translate(exc, "bucket 'b'")) is kind
    denied = translate(g.Forbidden("caller does not have storage.buckets.get"), "bucket 'b'")
    assert denied is not None and "permission denied" in denied.message
    assert "roles/storage.admin" in str(render(denied)[1])
    disabled = translate(g.Forbidden("x", errors=[{"reason": "accessNotConfigured"}]), "b")
    assert disabled is not None and "services enable" in str(render(disabled)[1])


def test_retries_that_ran_out_say_what_the_last_error_was() -> None:
    import requests
    from google.api_core import exceptions as g

    from labctl.providers.gcp._storage_errors import translate

    cut = g.RetryError("Timeout of 120.0s exceeded", cause=requests.ConnectionError("reset"))
    mapped = translate(cut, "buckets of project 'p'")
    assert isinstance(mapped, TransientError)
    assert mapped.message == (
        "buckets of project 'p': Cloud Storage did not answer before the deadline: "
        "buckets of project 'p': could not reach Cloud Storage (ConnectionError)"
    )
    gone = translate(g.RetryError("x", cause=g.NotFound("no")), "bucket 'b'", kind="bucket")
    assert isinstance(gone, NotFound) and gone.kind == "bucket"
    silent = translate(g.RetryError("Timeout of 120.0s exceeded", cause=None), "bucket 'b'")
    assert isinstance(silent, TransientError) and "deadline" in silent.message
    unreachable = EndpointUnreachable("nothing answers at x", url="x")
    assert translate(g.RetryError("x", cause=unreachable), "b") is unreachable


def test_an_emulator_that_is_not_running_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    storage = make_storage("demo-project")
    started = time.monotonic()
    for call in (
        storage.list_buckets,
        lambda: storage.get_bucket("b-1"),
        lambda: storage.list_blobs("b-1"),
        lambda: storage.bucket_members("b-1"),
    ):
        with pytest.raises(EndpointUnreachable) as err:
            call()
        assert err.value.url == f"http://127.0.0.1:{port}"
    assert time.monotonic() - started < 5


def test_a_file_rewritten_in_place_during_upload_is_refused_and_deleted(
    gcp_storage: GcpStorage, tmp_path: Path
) -> None:
    make(gcp_storage)
    src = tmp_path / "f.bin"
    src.write_bytes(b"A" * 50_000)
    os.utime(src, (1_600_000_000, 1_600_000_000))
    gcp_storage.upload_file("cs-101-ana-abc123", src, "f.bin")  # an earlier, good version
    src.write_bytes(b"A" * 50_000)
    os.utime(src, (1_600_000_000, 1_600_000_000))

    def rewrite(moved: int) -> None:
        with open(src, "r+b") as fh:  # same size, in place, while labctl reads it
            fh.write(b"B" * 50_000)

    with pytest.raises(LocalError, match="changed while it was uploaded"):
        gcp_storage.upload_file("cs-101-ana-abc123", src, "f.bin", rewrite)
    assert gcp_storage.list_blobs("cs-101-ana-abc123") == []


def test_without_the_emulator_variable_credentials_are_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from labctl.errors import CredentialsError

    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    with pytest.raises(CredentialsError):
        make_storage("labctl-demo")


def test_project_is_resolved_without_compute(
    storage_emulator: StorageEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert make_storage(None, config_project="from-config").project == "from-config"
    monkeypatch.setenv("LABCTL_PROJECT", "from-env")
    assert make_storage(None, config_project="from-config").project == "from-env"
    assert make_storage("flag").project == "flag"
