"""labctl.buckets without any cloud: names, gs:// paths, transfer plans, delete plans, IAM input."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl import buckets, transfers
from labctl.errors import AlreadyExists, InvalidInput, NotFound
from labctl.models import BucketSpec
from labctl.providers.fake.storage import FakeStorage, crc32c_b64


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("gs://b-1", "b-1", ""),
        ("gs://b-1/", "b-1", ""),
        ("gs://b-1/a/b.txt", "b-1", "a/b.txt"),
        ("gs://b-1/dir/", "b-1", "dir/"),
        ("gs://my.dotted.bucket/x", "my.dotted.bucket", "x"),
    ],
)
def test_parse_gs_url(url: str, bucket: str, prefix: str) -> None:
    assert transfers.parse_gs_url(url) == transfers.GsPath(bucket, prefix)


@pytest.mark.parametrize(
    "url", ["b-1/x", "gs:/b-1", "gs://", "gs:///x", "gs://B-1/x", "gs://b-1/../x", "gs://a/x"]
)
def test_bad_gs_urls(url: str) -> None:
    with pytest.raises(InvalidInput):
        transfers.parse_gs_url(url)


def test_locations_and_classes_are_normalised_or_refused() -> None:
    assert buckets.check_location("us-central1") == "US-CENTRAL1"
    assert buckets.check_location("eu") == "EU"
    assert buckets.check_location("nam4") == "NAM4"
    assert buckets.check_storage_class("nearline") == "NEARLINE"
    with pytest.raises(InvalidInput, match="unknown bucket location"):
        buckets.check_location("us-central1-a")  # a zone, not a location
    with pytest.raises(InvalidInput, match="unknown storage class"):
        buckets.check_storage_class("MULTI_REGIONAL_PLUS")


def test_names_keep_e_mails_and_the_project_id_out() -> None:
    with pytest.raises(InvalidInput, match="e-mail"):
        buckets.check_prefix("ana@uni.edu", project=None)
    with pytest.raises(InvalidInput, match="project id"):
        buckets.check_public_name("x-my-project-42-y", project="my-project-42")
    with pytest.raises(InvalidInput, match="project id"):
        buckets.check_prefix("My_Project_42 data", project="my-project-42")
    # Placeholders shorter than any real project id (6+) do not match ordinary words.
    assert buckets.check_public_name("lab-demo-1", project="demo") == "lab-demo-1"


def test_build_spec_checks_every_rule_before_any_call() -> None:
    with pytest.raises(InvalidInput, match="must not start with 'goog'"):
        buckets.build_spec(
            name="googly-1", location="us", storage_class="standard", labels={}, project=None
        )
    spec = buckets.build_spec(
        name="ok-1", location="eu", storage_class="coldline", labels={"a": "b"}, project=None
    )
    assert spec == BucketSpec("ok-1", "EU", "COLDLINE", {"a": "b"})


def test_derived_names_give_up_after_a_bounded_number_of_tries() -> None:
    fake = FakeStorage()
    suffixes = iter(f"{i:06x}" for i in range(10))
    fake.faults.foreign_buckets = {f"lab-{i:06x}" for i in range(10)}
    with pytest.raises(AlreadyExists, match="3 derived bucket names were all taken") as err:
        buckets.create_bucket(
            fake,
            BucketSpec(f"lab-{next(suffixes)}"),
            derived_from="lab",
            attempts=3,
            suffix=lambda: next(suffixes),
        )
    assert err.value.hint and "--prefix" in err.value.hint
    assert fake.calls == ["create_bucket"] * 3


def _tree(root: Path) -> Path:
    (root / "lab1" / "sub").mkdir(parents=True)
    (root / "lab1" / "a.txt").write_text("a")
    (root / "lab1" / "sub" / "b.txt").write_text("bb")
    (root / "lab1" / "left.labctl-part").write_text("half")
    (root / "one.txt").write_text("1")
    return root


def test_plan_upload_maps_files_and_folders(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    dest = transfers.GsPath("b-1", "course")
    plan = transfers.plan_upload([root / "lab1", root / "one.txt"], dest)
    assert [(t.object_name, t.size) for t in plan] == [
        ("course/lab1/a.txt", 1),
        ("course/lab1/sub/b.txt", 2),
        ("course/one.txt", 1),
    ]
    [single] = transfers.plan_upload([root / "one.txt"], transfers.GsPath("b-1", "renamed.txt"))
    assert single.object_name == "renamed.txt"
    [into] = transfers.plan_upload([root / "one.txt"], transfers.GsPath("b-1", "dir/"))
    assert into.object_name == "dir/one.txt"
    with pytest.raises(InvalidInput, match="no such file or folder"):
        transfers.plan_upload([root / "missing"], dest)
    with pytest.raises(InvalidInput, match="same object"):
        transfers.plan_upload([root / "one.txt", root / "one.txt"], dest)


def test_plan_download_single_object_folder_and_whole_bucket(tmp_path: Path) -> None:
    fake = FakeStorage()
    fake.create_bucket(BucketSpec("b-1"))
    for name in ("dir/a.txt", "dir/sub/b.txt", "dir/", "top.txt", "dirx/c.txt"):
        fake.put_object("b-1", name, b"x")
    [one] = transfers.plan_download(fake, [transfers.GsPath("b-1", "top.txt")], tmp_path / "t.txt")
    assert one.local == tmp_path / "t.txt"
    folder = transfers.plan_download(fake, [transfers.GsPath("b-1", "dir")], tmp_path)
    assert [t.local.relative_to(tmp_path).as_posix() for t in folder] == [
        "dir/a.txt",
        "dir/sub/b.txt",
    ]
    whole = transfers.plan_download(fake, [transfers.GsPath("b-1", "")], tmp_path)
    assert len(whole) == 4
    with pytest.raises(NotFound, match="no such object or folder"):
        transfers.plan_download(fake, [transfers.GsPath("b-1", "nothing")], tmp_path)


def test_object_names_cannot_escape_the_destination(tmp_path: Path) -> None:
    fake = FakeStorage()
    fake.create_bucket(BucketSpec("b-1"))
    fake.put_object("b-1", "d/../../etc/passwd", b"x")
    with pytest.raises(InvalidInput, match="cannot be saved safely"):
        transfers.plan_download(fake, [transfers.GsPath("b-1", "d/")], tmp_path / "out")


def test_delete_plan_counts_objects_and_bytes() -> None:
    fake = FakeStorage()
    fake.create_bucket(BucketSpec("b-1"))
    fake.create_bucket(BucketSpec("b-2"))
    fake.put_object("b-1", "a", b"x" * 10)
    fake.put_object("b-1", "b", b"x" * 5)
    plans = buckets.plan_delete(fake, ["b-1", "b-2", "b-1"])
    assert plans == [buckets.DeletePlan("b-1", 2, 15), buckets.DeletePlan("b-2", 0, 0)]
    with pytest.raises(NotFound):
        buckets.plan_delete(fake, ["nope"])


def test_members_and_roles() -> None:
    assert buckets.check_member("ana@uni.edu") == "user:ana@uni.edu"
    assert buckets.check_member("group:tas@uni.edu") == "group:tas@uni.edu"
    assert buckets.check_member("domain:uni.edu") == "domain:uni.edu"
    for bad in ("ana", "user:ana", "allUsers", "robot:x@y.z"):
        with pytest.raises(InvalidInput):
            buckets.check_member(bad)
    assert buckets.check_role("viewer") == "roles/storage.objectViewer"
    assert buckets.check_role("editor") == "roles/storage.objectAdmin"


def test_small_helpers() -> None:
    assert buckets.human_bytes(0) == "0 B"
    assert buckets.human_bytes(2048) == "2.0 KiB"
    assert buckets.human_bytes(3 * 1024**3) == "3.0 GiB"
    assert transfers.part_path(Path("/x/y.bin")) == Path("/x/y.bin.labctl-part")
    assert crc32c_b64(b"hello") == "mnG7TA=="  # the value Cloud Storage reports
