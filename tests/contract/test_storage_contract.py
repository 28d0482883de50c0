"""One set of checks, run on the in-memory FakeStorage and on GcpStorage over the emulator.

If the fake drifts from what google-cloud-storage against a Cloud Storage-shaped server does,
these fail for the fake, and the CLI tests that rely on it stop being trusted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from labctl import buckets, transfers
from labctl.config import load_settings
from labctl.errors import AlreadyExists, LabctlError, LocalError, NotEmpty, NotFound
from labctl.models import Bucket, BucketSpec
from labctl.providers.base import StorageProvider
from labctl.providers.fake.storage import FakeStorage

LABELS = {"labctl-managed": "true", "labctl-course": "cs-101", "labctl-owner": "ana"}


@dataclass
class World:
    """A provider and which one it is."""

    storage: StorageProvider
    kind: str  # "fake" or "gcp"

    def create(self, spec: BucketSpec) -> Bucket:
        return self.storage.create_bucket(spec)


@pytest.fixture(params=["fake", "gcp"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "fake":
        yield World(FakeStorage(project="labctl-demo"), "fake")
    else:
        yield World(request.getfixturevalue("gcp_storage"), "gcp")


@pytest.fixture
def storage(world: World) -> StorageProvider:
    return world.storage


def spec(name: str, **labels: str) -> BucketSpec:
    return BucketSpec(
        name=name, location="EUROPE-WEST1", storage_class="NEARLINE", labels=labels or LABELS
    )


def test_create_then_get_keeps_labels_location_and_class(world: World) -> None:
    created = world.storage.create_bucket(spec("cs-101-ana-0a1b2c"))
    got = world.storage.get_bucket("cs-101-ana-0a1b2c")
    for bucket in (created, got):
        assert bucket.name == "cs-101-ana-0a1b2c"
        assert dict(bucket.labels) == LABELS
        assert (bucket.location, bucket.storage_class) == ("EUROPE-WEST1", "NEARLINE")
        assert bucket.created is not None


def test_create_returns_the_bucket_with_its_creation_time(storage: StorageProvider) -> None:
    created = storage.create_bucket(spec("cs-101-ana-0a1b2c"))
    assert created.name == "cs-101-ana-0a1b2c" and created.created is not None
    assert created.location == created.location.upper()


def test_creating_an_own_name_again_says_it_is_ours(storage: StorageProvider) -> None:
    storage.create_bucket(spec("dup-bucket"))
    with pytest.raises(AlreadyExists, match="already exists in your project") as err:
        storage.create_bucket(spec("dup-bucket"))
    assert (err.value.kind, err.value.name, err.value.owned) == ("bucket", "dup-bucket", True)


def test_missing_bucket_is_not_found_naming_it(storage: StorageProvider) -> None:
    for call in (
        lambda: storage.get_bucket("no-such-bucket"),
        lambda: storage.list_blobs("no-such-bucket"),
        lambda: storage.delete_bucket("no-such-bucket"),
        lambda: storage.bucket_members("no-such-bucket"),
    ):
        with pytest.raises(NotFound, match="not found") as err:
            call()
        assert (err.value.kind, err.value.name) == ("bucket", "no-such-bucket")


def test_list_filters_on_labels_and_counts_sizes(world: World, tmp_path: Path) -> None:
    storage = world.storage
    world.create(spec("mine-1"))
    world.create(spec("other-1", team="x"))
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


def test_a_file_rewritten_during_upload_leaves_no_object(
    storage: StorageProvider, tmp_path: Path
) -> None:
    storage.create_bucket(spec("data-1"))
    src = tmp_path / "f.bin"
    src.write_bytes(b"A" * 20_000)
    os.utime(src, (1_600_000_000, 1_600_000_000))
    storage.upload_file("data-1", src, "f.bin")  # a good earlier version, replaced below

    def rewrite(moved: int) -> None:
        with open(src, "r+b") as fh:
            fh.write(b"B" * 20_000)  # same size, in place

    with pytest.raises(LocalError, match=f"{src} changed while it was uploaded"):
        storage.upload_file("data-1", src, "f.bin", rewrite)
    assert storage.list_blobs("data-1") == []


def test_download_of_missing_object_is_not_found_and_leaves_no_file(
    storage: StorageProvider, tmp_path: Path
) -> None:
    storage.create_bucket(spec("data-2"))
    with pytest.raises(NotFound) as err:
        storage.download_file("data-2", "nope.txt", tmp_path / "nope.txt")
    assert (err.value.kind, err.value.name) == ("object", "gs://data-2/nope.txt")
    assert list(tmp_path.iterdir()) == []


class Cut(Exception):
    pass


def test_interrupted_download_leaves_neither_file_nor_temporary_file(
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
            raise Cut

    dest = tmp_path / "dl" / "big.bin"
    item = transfers.Transfer(dest, "data-3", "big.bin", 200_000)
    with pytest.raises(Cut):
        transfers.download_one(storage, item, progress)
    assert list(dest.parent.iterdir()) == []


def test_delete_needs_force_when_not_empty(storage: StorageProvider, tmp_path: Path) -> None:
    storage.create_bucket(spec("full-1"))
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    for i in range(3):
        storage.upload_file("full-1", f, f"o{i}")
    with pytest.raises(NotEmpty, match="not empty") as err:
        storage.delete_bucket("full-1")
    assert (err.value.kind, err.value.name, err.value.hint) == ("bucket", "full-1", None)
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
    request = buckets.BucketRequest(prefix="cs-101-ana", owner="ana")
    planned = buckets.plan(request, load_settings(), now=datetime.now(UTC))
    planned = buckets.BucketPlan(
        BucketSpec("cs-101-ana-aaaaaa", planned.spec.location, labels=planned.spec.labels),
        planned.derived_from,
    )
    suffixes = iter(["bbbbbb"])
    result = buckets.create(storage, planned, suffix=lambda: next(suffixes))
    assert result.attempts == ("cs-101-ana-aaaaaa", "cs-101-ana-bbbbbb")
    assert result.bucket.name == "cs-101-ana-bbbbbb"


def test_explicit_name_that_is_taken_is_not_retried(storage: StorageProvider) -> None:
    storage.create_bucket(spec("taken-1"))
    with pytest.raises(AlreadyExists):
        buckets.create(storage, buckets.BucketPlan(spec("taken-1")))
    assert len(storage.list_buckets()) == 1


def test_delete_many_deletes_what_it_can(storage: StorageProvider, tmp_path: Path) -> None:
    for name in ("del-1", "del-2", "keep-1"):
        storage.create_bucket(spec(name))
    f = tmp_path / "f"
    f.write_bytes(b"x")
    storage.upload_file("keep-1", f, "x")
    selection = buckets.plan_delete(
        storage, ["del-1", "keep-1", "gone-1", "del-2"], force=False, now=datetime.now(UTC)
    )
    assert sorted(selection.failures) == ["gone-1", "keep-1"]
    outcomes = buckets.delete_many(storage, selection.plans, force=False)
    assert [(o.key, o.ok) for o in outcomes] == [("del-1", True), ("del-2", True)]
    assert [b.name for b in storage.list_buckets()] == ["keep-1"]


def test_transfers_of_a_folder_round_trip(storage: StorageProvider, tmp_path: Path) -> None:
    storage.create_bucket(spec("tree-1"))
    root = tmp_path / "up" / "lab1"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.txt").write_text("bb")
    plan = transfers.plan_upload([root], transfers.parse_gs_url("gs://tree-1/course/"))
    done = transfers.run(plan, lambda t: transfers.upload_one(storage, t), verb="upload")
    assert all(o.ok for o in done)
    assert sorted(o.value.name for o in done) == ["course/lab1/a.txt", "course/lab1/sub/b.txt"]

    down = tmp_path / "down"
    plan = transfers.plan_download(
        storage, [transfers.parse_gs_url("gs://tree-1/course/lab1")], down
    )
    done = transfers.run(plan, lambda t: transfers.download_one(storage, t), verb="download")
    assert all(o.ok for o in done)
    assert (down / "lab1" / "a.txt").read_text() == "a"
    assert (down / "lab1" / "sub" / "b.txt").read_text() == "bb"
    assert sorted(p.name for p in down.rglob("*")) == ["a.txt", "b.txt", "lab1", "sub"]


def test_objects_z_and_z_part_download_side_by_side(
    storage: StorageProvider, tmp_path: Path
) -> None:
    storage.create_bucket(spec("pair-1"))
    for name, byte in (("z", b"Z"), ("z.labctl-part", b"P")):
        f = tmp_path / "src"
        f.write_bytes(byte * 40_000)
        storage.upload_file("pair-1", f, f"d/{name}")
    for attempt in range(3):
        dest = tmp_path / f"out{attempt}"
        plan = transfers.plan_download(storage, [transfers.parse_gs_url("gs://pair-1/d/")], dest)
        done = transfers.run(
            plan, lambda t: transfers.download_one(storage, t), verb="download", workers=2
        )
        assert all(o.ok for o in done)
        assert (dest / "d" / "z").read_bytes() == b"Z" * 40_000
        assert (dest / "d" / "z.labctl-part").read_bytes() == b"P" * 40_000


def test_errors_are_labctl_errors(storage: StorageProvider, tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x")
    with pytest.raises(LabctlError):
        storage.upload_file("no-bucket-here", f, "x")


def test_both_providers_satisfy_the_protocol_for_mypy() -> None:
    from typing import TYPE_CHECKING

    fake: StorageProvider = FakeStorage()
    assert fake.project == "labctl-demo"
    if TYPE_CHECKING:  # checked by mypy, which is the point
        from labctl.providers.gcp.storage import GcpStorage

        real: StorageProvider = GcpStorage("labctl-demo")
        assert real


def test_update_bucket_iam_sets_a_role_exactly_and_keeps_others(storage: StorageProvider) -> None:
    """What `class setup` relies on: one role made exactly {student, TAs}, other roles kept."""
    storage.create_bucket(spec("iam-2"))
    other = "roles/storage.objectViewer"
    storage.add_bucket_member("iam-2", other, "user:viewer@uni.edu")
    role = "roles/storage.objectAdmin"
    storage.add_bucket_member("iam-2", role, "user:someone-else@uni.edu")
    wanted = {"user:ana@uni.edu", "user:ta@uni.edu"}
    written = storage.update_bucket_iam("iam-2", lambda b: {**b, role: set(wanted)})
    expected = {other: ["user:viewer@uni.edu"], role: sorted(wanted)}
    assert written == expected
    assert storage.bucket_members("iam-2") == expected
    again = storage.update_bucket_iam("iam-2", lambda b: {**b, role: set(wanted)})
    assert again == expected
    with pytest.raises(NotFound):
        storage.update_bucket_iam("no-such-bucket-x", lambda b: b)


def test_update_bucket_labels_adds_and_keeps(storage: StorageProvider) -> None:
    storage.create_bucket(spec("labels-1"))
    storage.update_bucket_labels("labels-1", lambda cur: {**cur, "labctl-expires": "2026-12-20"})
    assert storage.get_bucket("labels-1").labels == {**LABELS, "labctl-expires": "2026-12-20"}
    with pytest.raises(NotFound):
        storage.update_bucket_labels("no-such-bucket-x", lambda cur: cur)
