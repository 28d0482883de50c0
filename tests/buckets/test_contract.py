"""The same checks on FakeStorage and on GcpStorage over gcp-storage-emulator."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from labctl import buckets, transfers
from labctl.errors import AlreadyExists, LabctlError, NotFound, PreconditionFailed
from labctl.models import BucketSpec
from labctl.providers.base import StorageProvider

LABELS = {"labctl-managed": "true", "labctl-course": "cs-101", "labctl-owner": "ana"}


@pytest.fixture(params=["fake", "gcp"])
def storage(request: pytest.FixtureRequest) -> Iterator[StorageProvider]:
    if request.param == "fake":
        yield request.getfixturevalue("fake_storage")
    else:
        yield request.getfixturevalue("gcp_storage")


def spec(name: str, **labels: str) -> BucketSpec:
    return BucketSpec(
        name=name, location="US-CENTRAL1", storage_class="NEARLINE", labels=labels or LABELS
    )


def test_create_then_get_keeps_labels_and_class(storage: StorageProvider) -> None:
    created = storage.create_bucket(spec("cs-101-ana-0a1b2c"))
    got = storage.get_bucket("cs-101-ana-0a1b2c")
    for bucket in (created, got):
        assert bucket.name == "cs-101-ana-0a1b2c"
        assert dict(bucket.labels) == LABELS
        assert bucket.storage_class == "NEARLINE"
        assert bucket.location and bucket.location == bucket.location.upper()
        assert bucket.created is not None


def test_creating_an_own_name_again_says_it_is_in_your_project(storage: StorageProvider) -> None:
    storage.create_bucket(spec("dup-bucket"))
    with pytest.raises(AlreadyExists, match="already exists in your project"):
        storage.create_bucket(spec("dup-bucket"))


def test_missing_bucket_is_not_found(storage: StorageProvider) -> None:
    for call in (
        lambda: storage.get_bucket("no-such-bucket"),
        lambda: storage.list_blobs("no-such-bucket"),
        lambda: storage.delete_bucket("no-such-bucket"),
        lambda: storage.bucket_members("no-such-bucket"),
    ):
        with pytest.raises(NotFound, match="not found"):
            call()


def test_list_filters_on_labels_and_counts_sizes(storage: StorageProvider, tmp_path: Path) -> None:
    storage.create_bucket(spec("mine-1"))
    storage.create_bucket(spec("other-1", team="x"))
    f = tmp_path / "f.bin"
    f.write_bytes(b"x" * 1000)
    storage.upload_file("mine-1", f, "a/f.bin")
    storage.upload_file("mine-1", f, "b.bin")

    assert [b.name for b in storage.list_buckets()] == ["mine-1", "other-1"]
    [mine] = storage.list_buckets(labels={"labctl-managed": "true"}, sizes=True)
    assert (mine.name, mine.object_count, mine.total_bytes) == ("mine-1", 2, 2000)
    assert storage.list_buckets(labels={"labctl-managed": "true"})[0].object_count is None


def test_upload_download_round_trip_with_checksums_and_progress(
    storage: StorageProvider, tmp_path: Path
) -> None:
    storage.create_bucket(spec("data-1"))
    data = os.urandom(300_000)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    moved: list[int] = []
    up = storage.upload_file("data-1", src, "dir/in.bin", moved.append)
    assert sum(moved) == len(data) and up.size == len(data)
    assert up.crc32c or up.md5

    [listed] = storage.list_blobs("data-1", "dir/")
    assert (listed.name, listed.size, listed.crc32c) == ("dir/in.bin", len(data), up.crc32c)
    assert storage.list_blobs("data-1", "nope/") == []

    moved.clear()
    dst = tmp_path / "out.bin"
    down = storage.download_file("data-1", "dir/in.bin", dst, moved.append)
    assert dst.read_bytes() == data and sum(moved) == len(data)
    assert down.crc32c == up.crc32c


def test_download_of_missing_object_leaves_no_file(
    storage: StorageProvider, tmp_path: Path
) -> None:
    storage.create_bucket(spec("data-2"))
    with pytest.raises(NotFound):
        storage.download_file("data-2", "nope.txt", tmp_path / "nope.txt")
    assert list(tmp_path.iterdir()) == []


class Interrupted(Exception):
    pass


def test_interrupted_download_leaves_neither_file_nor_part(
    storage: StorageProvider, tmp_path: Path
) -> None:
    storage.create_bucket(spec("data-3"))
    src = tmp_path / "src" / "big.bin"
    src.parent.mkdir()
    src.write_bytes(os.urandom(200_000))
    storage.upload_file("data-3", src, "big.bin")
    seen: list[int] = []

    def progress(n: int) -> None:
        seen.append(n)
        if sum(seen) > 50_000:
            raise Interrupted

    dest = tmp_path / "dl" / "big.bin"
    item = transfers.Transfer(dest, "data-3", "big.bin", 200_000)
    with pytest.raises(Interrupted):
        transfers.download_one(storage, item, progress)
    assert list(dest.parent.iterdir()) == []


def test_delete_needs_force_when_not_empty(storage: StorageProvider, tmp_path: Path) -> None:
    storage.create_bucket(spec("full-1"))
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    for i in range(3):
        storage.upload_file("full-1", f, f"o{i}")
    with pytest.raises(PreconditionFailed, match="not empty") as err:
        storage.delete_bucket("full-1")
    assert err.value.hint == "labctl bucket delete full-1 --force"
    assert storage.get_bucket("full-1").name == "full-1"
    storage.delete_bucket("full-1", force=True)
    with pytest.raises(NotFound):
        storage.get_bucket("full-1")


def test_empty_bucket_deletes_without_force(storage: StorageProvider) -> None:
    storage.create_bucket(spec("empty-1"))
    storage.delete_bucket("empty-1")
    assert storage.list_buckets() == []


def test_grant_and_revoke_are_idempotent(storage: StorageProvider) -> None:
    storage.create_bucket(spec("iam-1"))
    role, member = "roles/storage.objectViewer", "user:ana@uni.edu"
    assert storage.add_bucket_member("iam-1", role, member) is True
    assert storage.add_bucket_member("iam-1", role, member) is False
    assert storage.add_bucket_member("iam-1", role, "user:bo@uni.edu") is True
    assert storage.bucket_members("iam-1") == {role: ["user:ana@uni.edu", "user:bo@uni.edu"]}
    assert storage.remove_bucket_member("iam-1", role, member) is True
    assert storage.remove_bucket_member("iam-1", role, member) is False
    assert storage.bucket_members("iam-1") == {role: ["user:bo@uni.edu"]}


def test_derived_name_is_retried_when_taken(storage: StorageProvider) -> None:
    storage.create_bucket(spec("cs-101-ana-aaaaaa"))
    suffixes = iter(["bbbbbb"])
    first = buckets.build_spec(
        name="cs-101-ana-aaaaaa",
        location="us-central1",
        storage_class="standard",
        labels=buckets.bucket_labels(course="cs-101", owner="ana", now=datetime.now(UTC)),
        project="demo",
    )
    result = buckets.create_bucket(
        storage, first, derived_from="cs-101-ana", suffix=lambda: next(suffixes)
    )
    assert result.attempts == ("cs-101-ana-aaaaaa", "cs-101-ana-bbbbbb")
    assert result.bucket.name == "cs-101-ana-bbbbbb"


def test_explicit_name_that_is_taken_is_not_retried(storage: StorageProvider) -> None:
    storage.create_bucket(spec("taken-1"))
    with pytest.raises(AlreadyExists):
        buckets.create_bucket(storage, spec("taken-1"))
    assert len(storage.list_buckets()) == 1


def test_transfers_of_a_folder_round_trip(storage: StorageProvider, tmp_path: Path) -> None:
    storage.create_bucket(spec("tree-1"))
    root = tmp_path / "up" / "lab1"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.txt").write_text("bb")
    plan = transfers.plan_upload([root], transfers.parse_gs_url("gs://tree-1/course/"))
    done = transfers.run_transfers(plan, lambda t: transfers.upload_one(storage, t))
    assert sorted(b.name for b in done) == ["course/lab1/a.txt", "course/lab1/sub/b.txt"]

    down = tmp_path / "down"
    plan = transfers.plan_download(
        storage, [transfers.parse_gs_url("gs://tree-1/course/lab1")], down
    )
    transfers.run_transfers(plan, lambda t: transfers.download_one(storage, t))
    assert (down / "lab1" / "a.txt").read_text() == "a"
    assert (down / "lab1" / "sub" / "b.txt").read_text() == "bb"
    assert not list(down.rglob("*.labctl-part"))


def test_errors_are_labctl_errors(storage: StorageProvider, tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x")
    with pytest.raises(LabctlError):
        storage.upload_file("no-bucket-here", f, "x")


def test_both_providers_satisfy_the_protocol_for_mypy() -> None:
    from typing import TYPE_CHECKING

    from labctl.providers.fake.storage import FakeStorage

    fake: StorageProvider = FakeStorage()
    assert fake.project == "demo"
    if TYPE_CHECKING:  # checked by mypy, which is the point
        from labctl.providers.gcp.storage import GcpStorage

        real: StorageProvider = GcpStorage("demo")
        assert real
