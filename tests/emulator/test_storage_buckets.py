"""google-cloud-storage (not labctl's provider) against the storage emulator: bucket metadata,
listing by project and prefix, patch semantics, bucket IAM with etags, and the API's errors."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from labctl.emulator.storage import StorageEmulator
from labctl.emulator.storage_rules import OWNED, PRECONDITION, PUBLIC_BLOCKED, TAKEN

LABELS = {"labctl-managed": "true", "labctl-course": "cs-101"}


def said(exc: gexc.GoogleAPICallError) -> str:
    """The server's message from the JSON error body (exc.message adds the method and URL)."""
    return str(exc.errors[0]["message"])


def raw(
    emu: StorageEmulator, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    """One request with urllib: (status, JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"{emu.url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def client(project: str = "labctl-demo") -> storage.Client:
    return storage.Client(project=project, credentials=AnonymousCredentials())


@pytest.fixture
def gcs(storage_emulator: StorageEmulator) -> Iterator[storage.Client]:
    yield client()


def course_bucket(gcs: storage.Client, name: str = "cs-101-ana") -> storage.Bucket:
    bucket = gcs.bucket(name)
    bucket.storage_class = "COLDLINE"
    bucket.labels = dict(LABELS)
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = "enforced"
    return gcs.create_bucket(bucket, location="europe-west1")


def test_create_keeps_location_class_labels_and_iam_configuration(gcs: storage.Client) -> None:
    created = course_bucket(gcs)
    for got in (created, gcs.get_bucket("cs-101-ana")):
        assert got.location == "EUROPE-WEST1" and got.location_type == "region"
        assert got.storage_class == "COLDLINE"
        assert got.labels == LABELS
        assert got.iam_configuration.uniform_bucket_level_access_enabled is True
        assert got.iam_configuration.bucket_policy_only_enabled is True
        assert got.iam_configuration.uniform_bucket_level_access_locked_time is not None
        assert got.iam_configuration.public_access_prevention == "enforced"
        assert got.metageneration == 1 and got.etag == "CAE="
    plain = gcs.create_bucket("plain-bucket")
    assert (plain.location, plain.location_type, plain.storage_class) == (
        "US",
        "multi-region",
        "STANDARD",
    )
    assert plain.iam_configuration.public_access_prevention == "inherited"
    assert plain.iam_configuration.uniform_bucket_level_access_enabled is False


def test_label_patch_merges_and_null_removes(gcs: storage.Client) -> None:
    bucket = course_bucket(gcs)
    bucket.labels = {"labctl-managed": "true", "owner": "ana"}  # drops labctl-course
    bucket.patch()
    got = gcs.get_bucket("cs-101-ana")
    assert got.labels == {"labctl-managed": "true", "owner": "ana"}
    assert "labctl-course" not in got._properties["labels"]  # removed, not stored as None
    assert got.metageneration == 2 and got.etag == "CAI="
    got.labels = {}
    got.patch()
    assert "labels" not in gcs.get_bucket("cs-101-ana")._properties  # the API omits empty maps
    assert gcs.get_bucket("cs-101-ana").storage_class == "COLDLINE"  # untouched by the patch


def test_bad_labels_and_storage_class_are_refused(gcs: storage.Client) -> None:
    bucket = course_bucket(gcs)
    bucket.labels = {"Upper": "x"}
    with pytest.raises(gexc.BadRequest):
        bucket.patch()
    weird = gcs.bucket("weird-class")
    weird.storage_class = "SUPERCOLD"
    with pytest.raises(gexc.BadRequest):
        gcs.create_bucket(weird)
    assert gcs.get_bucket("cs-101-ana").labels == LABELS
    assert not gcs.bucket("weird-class").exists()


def test_list_honours_project_prefix_and_pages(storage_emulator: StorageEmulator) -> None:
    demo, other = client("labctl-demo"), client("other")
    for name in ("lab-ana", "lab-bo", "lab-cy", "misc-1"):
        demo.create_bucket(name)
    other.create_bucket("lab-theirs")
    assert [b.name for b in demo.list_buckets()] == ["lab-ana", "lab-bo", "lab-cy", "misc-1"]
    assert [b.name for b in other.list_buckets()] == ["lab-theirs"]
    assert [b.name for b in demo.list_buckets(prefix="lab-")] == ["lab-ana", "lab-bo", "lab-cy"]
    pages = demo.list_buckets(prefix="lab-", page_size=2).pages
    assert [[b.name for b in page] for page in pages] == [["lab-ana", "lab-bo"], ["lab-cy"]]
    number = demo.get_bucket("lab-ana").project_number
    assert [b.name for b in demo.list_buckets(project=str(number))][:1] == ["lab-ana"]
    assert list(client("nobody").list_buckets()) == []


def test_create_conflict_says_whose_the_name_is(storage_emulator: StorageEmulator) -> None:
    client("labctl-demo").create_bucket("taken-name")
    with pytest.raises(gexc.Conflict) as mine:
        client("labctl-demo").create_bucket("taken-name")
    assert said(mine.value) == OWNED
    with pytest.raises(gexc.Conflict) as theirs:
        client("other").create_bucket("taken-name")
    assert said(theirs.value) == TAKEN
    assert theirs.value.errors[0]["reason"] == "conflict"


@pytest.mark.parametrize(
    "name",
    [
        "ab",  # too short
        "a" * 64,  # too long without dots
        "Upper-case",
        "under_score_end_",
        "-starts-with-dash",
        "has space",
        "192.168.5.4",  # an IP address
        "goog-prefixed",
        "my-google-bucket",
        "my-g00gle-bucket",  # a close misspelling
        "part." + "a" * 64,  # a dot-separated part over 63
    ],
)
def test_invalid_bucket_names_are_400(storage_emulator: StorageEmulator, name: str) -> None:
    # Raw HTTP: google-cloud-storage checks the first and last character itself.
    status, body = raw(storage_emulator, "POST", "/storage/v1/b?project=demo", {"name": name})
    assert status == 400
    assert body["error"]["message"] == f"Invalid bucket name: '{name}'"
    assert body["error"]["errors"][0]["reason"] == "invalid"


@pytest.mark.parametrize("name", ["abc", "a" * 63, "under_score", "with.dots.example", "1-2-3"])
def test_valid_bucket_names_are_created(gcs: storage.Client, name: str) -> None:
    assert gcs.create_bucket(name).name == name


def test_bucket_iam_round_trips_with_etags(gcs: storage.Client) -> None:
    bucket = course_bucket(gcs)
    policy = bucket.get_iam_policy(requested_policy_version=3)
    assert policy.etag == "CAE=" and policy.bindings == []
    policy.bindings.append({"role": "roles/storage.objectAdmin", "members": {"user:ana@uni.edu"}})
    stored = bucket.set_iam_policy(policy)
    assert stored.etag == "CAI="
    again = bucket.get_iam_policy(requested_policy_version=3)
    assert again.etag == "CAI="
    assert again.bindings == [
        {"role": "roles/storage.objectAdmin", "members": {"user:ana@uni.edu"}}
    ]
    with pytest.raises(gexc.PreconditionFailed) as stale:
        bucket.set_iam_policy(policy)  # still carries the etag it was read with
    assert said(stale.value) == PRECONDITION
    assert stale.value.errors[0]["reason"] == "conditionNotMet"
    other = gcs.create_bucket("other-bucket").get_iam_policy()  # policies are per bucket
    assert other.bindings == [] and other.etag == "CAE="
    bucket.delete()
    reborn = course_bucket(gcs).get_iam_policy()  # a deleted bucket takes its policy along
    assert reborn.bindings == [] and reborn.etag == "CAE="


def test_public_members_are_refused_when_public_access_prevention_is_enforced(
    gcs: storage.Client,
) -> None:
    bucket = course_bucket(gcs)
    policy = bucket.get_iam_policy()
    policy.bindings.append({"role": "roles/storage.objectViewer", "members": {"allUsers"}})
    with pytest.raises(gexc.PreconditionFailed) as err:
        bucket.set_iam_policy(policy)
    assert said(err.value) == PUBLIC_BLOCKED


def test_metageneration_preconditions(gcs: storage.Client) -> None:
    bucket = course_bucket(gcs)
    bucket.labels = {"a": "1"}
    with pytest.raises(gexc.PreconditionFailed):
        bucket.patch(if_metageneration_match=7)
    bucket.patch(if_metageneration_match=1)
    assert gcs.get_bucket("cs-101-ana").labels == {"a": "1"}
    with pytest.raises(gexc.PreconditionFailed):
        gcs.bucket("cs-101-ana").delete(if_metageneration_match=1)


def test_delete_errors_have_the_api_messages(gcs: storage.Client) -> None:
    bucket = course_bucket(gcs)
    bucket.blob("notes.txt").upload_from_string(b"x")
    with pytest.raises(gexc.Conflict) as full:
        bucket.delete()
    assert said(full.value) == "The bucket you tried to delete is not empty."
    bucket.delete(force=True)
    with pytest.raises(gexc.NotFound) as gone:
        gcs.get_bucket("cs-101-ana")
    assert said(gone.value) == "The specified bucket does not exist."


def test_objects_keep_working_through_the_bucket_layer(gcs: storage.Client, tmp_path: Any) -> None:
    import os

    bucket = course_bucket(gcs)
    data = os.urandom(9 * 1024 * 1024 + 5)  # resumable: above the client's 8 MiB multipart limit
    big = bucket.blob("lab1/big.bin", chunk_size=4 * 1024 * 1024)
    big.upload_from_string(data, checksum="crc32c")
    small = bucket.blob("lab1/notes.txt")
    small.upload_from_string(b"hello", content_type="text/plain", checksum="md5")
    bucket.blob("lab2/x").upload_from_string(b"x")
    got = bucket.get_blob("lab1/big.bin")
    assert got is not None and got.size == len(data) and got.crc32c and got.md5_hash
    assert got.download_as_bytes(checksum="crc32c") == data
    notes = bucket.get_blob("lab1/notes.txt")
    assert notes is not None and notes.crc32c == "mnG7TA=="  # crc32c("hello")
    listing = gcs.list_blobs("cs-101-ana", delimiter="/")
    assert [b.name for b in listing] == [] and listing.prefixes == {"lab1/", "lab2/"}
    assert [b.name for b in gcs.list_blobs("cs-101-ana", prefix="lab1/")] == [
        "lab1/big.bin",
        "lab1/notes.txt",
    ]
    with pytest.raises(gexc.NotFound) as err:
        bucket.blob("lab1/missing").reload()
    assert said(err.value) == "No such object: cs-101-ana/lab1/missing"
    with pytest.raises(gexc.NotFound) as err:
        gcs.bucket("no-such-bucket").blob("x").reload()
    assert said(err.value) == "The specified bucket does not exist."


def test_wipe_can_keep_the_buckets(gcs: storage.Client, storage_emulator: StorageEmulator) -> None:
    bucket = course_bucket(gcs)
    bucket.blob("x").upload_from_string(b"x")
    policy = bucket.get_iam_policy()
    policy.bindings.append({"role": "roles/storage.objectViewer", "members": {"user:a@b.c"}})
    bucket.set_iam_policy(policy)
    storage_emulator.wipe(keep_buckets=True)
    assert gcs.get_bucket("cs-101-ana").labels == LABELS
    assert gcs.bucket("cs-101-ana").get_iam_policy().etag == "CAI="
    assert list(gcs.list_blobs("cs-101-ana")) == []
    storage_emulator.wipe()
    assert list(gcs.list_buckets()) == []


def test_changes_cost_the_same_however_many_buckets_exist(
    gcs: storage.Client, storage_emulator: StorageEmulator
) -> None:
    """In memory, the library's copy of every record in ".meta" after each change is skipped
    (nothing reads it): a class of 1,000 buckets would otherwise cost quadratic time."""
    for i in range(3):
        gcs.create_bucket(f"meta-{i}-bucket", location="US-CENTRAL1")
    inner = storage_emulator._storage
    assert inner is not None and not inner._store.exists_file(".meta")
    assert sorted(b.name for b in gcs.list_buckets()) == [f"meta-{i}-bucket" for i in range(3)]
    storage_emulator.wipe(keep_buckets=True)
    assert len(list(gcs.list_buckets())) == 3
