"""`labctl bucket` through CliRunner: on the fake provider, and end to end on the emulator."""

from __future__ import annotations

import ast
import json
import os
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer.testing
from typer.testing import CliRunner, Result

from labctl.cli import app
from labctl.cli._app import AppContext
from labctl.emulator.storage import StorageEmulator
from labctl.models import BucketSpec
from labctl.providers import registry
from labctl.providers.fake.storage import FakeStorage

Bucket = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_storage() -> FakeStorage:
    return FakeStorage(project="labctl-demo")


@pytest.fixture
def bucket(fake_storage: FakeStorage) -> Bucket:
    """`bucket(*args, input=None)`: one `labctl bucket ...` on the fake, a fresh context each."""

    def invoke(*args: str, input: str | None = None) -> Result:
        obj = AppContext(providers=registry.fake(storage=fake_storage))
        return CliRunner().invoke(app, ["bucket", *args], input=input, obj=obj)

    return invoke


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """CliRunner's stdin claims to be a terminal, so confirmations are asked and answered."""
    monkeypatch.setattr(typer.testing._NamedTextIOWrapper, "isatty", lambda self: True)


def first_error(result: Result) -> str:
    return next(line for line in result.stderr.splitlines() if line.startswith("error:"))


# -- create and list ---------------------------------------------------------------------------


def test_create_derives_a_name_from_course_and_owner(bucket: Bucket) -> None:
    result = bucket("create", "--format", "json")
    assert result.exit_code == 0, result.stderr
    created = json.loads(result.stdout)  # one bucket: one object
    assert created["name"].startswith("cloud-course-tester-")
    assert len(created["name"]) == len("cloud-course-tester-") + 6
    assert created["location"] == "US-CENTRAL1"  # the course zone's region
    assert created["labels"]["labctl-managed"] == "true"
    assert created["owner"] == "tester" and created["course"] == "cloud-course"
    assert "next:" not in result.stderr  # json: no hints


def test_create_retries_a_taken_derived_name(
    bucket: Bucket, fake_storage: FakeStorage, mocker: Any
) -> None:
    suffixes = iter(["aaaaaa", "bbbbbb"])
    mocker.patch("secrets.token_hex", side_effect=lambda n: next(suffixes))
    fake_storage.faults.foreign_buckets.add("lab-x-aaaaaa")
    result = bucket("create", "--prefix", "lab-x")
    assert result.exit_code == 0, result.stderr
    assert "lab-x-bbbbbb" in result.stdout
    assert "tried: lab-x-aaaaaa" in result.stderr
    assert "next: labctl bucket upload PATH gs://lab-x-bbbbbb/" in result.stderr


def test_explicit_name_taken_elsewhere_is_one_line_with_the_table_hint(
    bucket: Bucket, fake_storage: FakeStorage
) -> None:
    fake_storage.faults.foreign_buckets.add("shared-data")
    result = bucket("create", "shared-data")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == (
        "error: bucket 'shared-data' already exists in another project (bucket names are global)"
    )
    assert "pick another one" in lines[1]
    assert fake_storage.buckets == {}


def test_own_name_taken_says_use_it(bucket: Bucket) -> None:
    assert bucket("create", "mine-1").exit_code == 0
    again = bucket("create", "mine-1")
    assert again.exit_code == 1
    assert "use it (labctl bucket ls gs://mine-1)" in again.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "Bad_Name"], "invalid bucket name"),
        (["create", "my-google-data"], "google"),
        (["create", "--prefix", "ana@uni.edu"], "e-mail"),
        (["create", "ok-name", "--location", "moon-1"], "unknown bucket location"),
        (["create", "ok-name", "--storage-class", "hot"], "unknown storage class"),
        (["create", "ok-name", "--label", "Bad=x"], "invalid label"),
        (["create", "ok-name", "--label", "labctl-owner=x"], "reserved"),
        (["create", "demo-project-1", "--project", "demo-project"], "project id"),
        (["list", "--older-than", "soon"], "--older-than"),
        (["delete", "BAD NAME"], "invalid bucket name 'BAD NAME'"),
        (["delete", "x" * 64], "3-63 characters"),
        (["delete", "a..b"], "each dot-separated part"),
        (["delete", "192.168.5.4"], "IP address"),
        (["delete", "ok-1", "--course", "cs"], "not both"),
        (["delete"], "name the buckets to delete"),
        (["grant", "BAD NAME", "--member", "a@b.co"], "invalid bucket name"),
        (["ls", "s3://bucket/x"], "not a gs:// URL"),
        (["ls", "gs://"], "no bucket name"),
        (["ls", "gs://BAD NAME/x"], "invalid bucket name"),
        (["ls", "gs://ok-1/a\nb"], "line breaks"),
        (["ls", "gs://ok-1/" + "x" * 1025], "1-1024 bytes"),
        (["download", "gs://ok-1/.well-known/acme-challenge/x", "out"], "acme-challenge"),
        (["upload", "/no/such/file", "gs://b-1/"], "no such file or folder: /no/such/file"),
        (["upload", "README.md", "gs://Bad/"], "invalid bucket name"),
        (["grant", "b-1", "--member", "ana", "--role", "viewer"], "invalid member"),
        (["grant", "b-1", "--member", "user:a@b.c", "--role", "owner"], "unknown role"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_sent(
    bucket: Bucket, fake_storage: FakeStorage, args: list[str], message: str
) -> None:
    result = bucket(*args)
    assert result.exit_code == 2, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("error:") and message in first, first
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    assert result.stdout == ""
    assert fake_storage.calls == []


def test_dry_run_shows_the_request_and_sends_nothing(
    bucket: Bucket, fake_storage: FakeStorage
) -> None:
    result = bucket("create", "lab-data-1", "--location", "eu", "--dry-run")
    assert result.exit_code == 0, result.stderr
    spec = json.loads(result.stdout)
    assert spec["location"] == "EU" and spec["public_access_prevention"] == "enforced"
    assert fake_storage.calls == []


def test_list_shows_labctl_buckets_unless_all(bucket: Bucket, fake_storage: FakeStorage) -> None:
    assert bucket("create", "mine-1").exit_code == 0
    fake_storage.create_bucket(BucketSpec("not-ours-1"))
    fake_storage.put_object("mine-1", "a", b"12345")
    listed = json.loads(bucket("list", "--format", "json", "--sizes").stdout)
    assert [(b["name"], b["objects"], b["bytes"]) for b in listed] == [("mine-1", 1, 5)]
    everything = json.loads(bucket("list", "--all", "--format", "json").stdout)
    assert [b["name"] for b in everything] == ["mine-1", "not-ours-1"]
    managed = json.loads(bucket("list", "--managed", "--format", "json").stdout)
    assert [b["name"] for b in managed] == ["mine-1"]
    table = bucket("list", "--sizes").stdout
    assert table.splitlines()[0].split() == [
        *("NAME", "LOCATION", "CLASS", "COURSE", "OWNER", "AGE", "OBJECTS", "SIZE")
    ]
    assert "5 B" in table


def test_list_selects_by_course_owner_and_age(bucket: Bucket, fake_storage: FakeStorage) -> None:
    now = datetime.now(UTC)

    def made(name: str, course: str, owner: str, days_ago: int) -> None:
        labels = {"labctl-managed": "true", "labctl-course": course, "labctl-owner": owner}
        fake_storage.create_bucket(BucketSpec(name, labels=labels))
        entry = fake_storage.buckets[name]
        entry.bucket = entry.bucket.__class__(
            **{**entry.bucket.__dict__, "created": now - timedelta(days=days_ago)}
        )

    made("a-1", "cs-101", "ana", 10)
    made("b-1", "cs-101", "bo", 1)
    made("c-1", "ml-200", "ana", 10)

    def names(*args: str) -> list[str]:
        result = bucket("list", "--format", "json", *args)
        assert result.exit_code == 0, result.stderr
        return [b["name"] for b in json.loads(result.stdout)]

    assert names("--course", "cs-101") == ["a-1", "b-1"]
    assert names("--owner", "Ana@Uni.edu") == ["a-1", "c-1"]  # slugged as LABCTL_OWNER is
    assert names("--older-than", "7d") == ["a-1", "c-1"]
    assert names("--course", "cs-101", "--owner", "bo") == ["b-1"]
    empty = bucket("list", "--course", "nope")
    assert empty.stdout == "" and "no buckets created by labctl" in empty.stderr


# -- delete ------------------------------------------------------------------------------------


def test_delete_goes_on_past_a_non_empty_bucket(bucket: Bucket, fake_storage: FakeStorage) -> None:
    for name in ("full-1", "empty-1", "empty-2"):
        bucket("create", name)
    fake_storage.put_object("full-1", "a", b"x" * 2048)
    result = bucket("delete", "full-1", "empty-1", "empty-2", "--yes", "--format", "json")
    assert result.exit_code == 1
    records = json.loads(result.stdout)  # stdout stays parseable: a record per bucket
    assert [(r["name"], r["ok"]) for r in records] == [
        ("full-1", False),
        ("empty-1", True),
        ("empty-2", True),
    ]
    assert (
        records[0]["error"]["hint"] == "delete its objects too: labctl bucket delete full-1 --force"
    )
    assert set(fake_storage.buckets) == {"full-1"}
    assert "error: bucket 'full-1' holds 1 object(s); not deleted" in result.stderr
    assert "error: 1 of 3 not deleted" in result.stderr
    assert "delete_bucket" in fake_storage.calls


def test_delete_one_non_empty_bucket_is_one_error_and_empty_stdout_in_json(
    bucket: Bucket, fake_storage: FakeStorage
) -> None:
    bucket("create", "full-1")
    fake_storage.put_object("full-1", "a", b"x")
    result = bucket("delete", "full-1", "--format", "json")
    assert result.exit_code == 1
    assert result.stdout == ""  # nothing was deleted; nothing to report as data
    assert result.stderr.splitlines() == [
        "error: bucket 'full-1' holds 1 object(s); not deleted",
        "  delete its objects too: labctl bucket delete full-1 --force",
    ]
    assert "full-1" in fake_storage.buckets


def test_delete_with_force_shows_the_plan_and_asks(
    bucket: Bucket, fake_storage: FakeStorage, terminal: None
) -> None:
    bucket("create", "full-1")
    fake_storage.put_object("full-1", "a", b"x" * 2048)
    declined = bucket("delete", "full-1", "--force", input="n\n")
    assert declined.exit_code == 1 and "full-1" in fake_storage.buckets
    assert "gs://full-1: 1 object(s), 2.0 KiB" in declined.stderr
    assert "Delete 1 bucket(s) and 1 object(s)?" in declined.stderr
    assert "error: nothing deleted" in declined.stderr
    assert declined.stdout.strip() in ("", "n")  # CliRunner echoes the typed answer there
    accepted = bucket("delete", "full-1", "--force", input="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert fake_storage.buckets == {}
    assert "deleted gs://full-1" in accepted.stderr


def test_delete_without_a_terminal_and_without_yes_refuses(
    bucket: Bucket, fake_storage: FakeStorage
) -> None:
    bucket("create", "empty-1")
    result = bucket("delete", "empty-1")
    assert result.exit_code == 1
    assert "nothing deleted: no terminal to confirm on" in result.stderr
    assert "pass --yes" in result.stderr
    assert "empty-1" in fake_storage.buckets


def test_delete_missing_bucket_is_not_found(bucket: Bucket) -> None:
    result = bucket("delete", "gone-1", "--yes")
    assert result.exit_code == 1
    assert first_error(result) == "error: bucket 'gone-1': not found"
    assert "see what there is: labctl bucket list" in result.stderr


def test_delete_by_course_only_touches_labctls(bucket: Bucket, fake_storage: FakeStorage) -> None:
    bucket("create", "mine-1")
    fake_storage.create_bucket(BucketSpec("foreign-1", labels={"labctl-course": "cloud-course"}))
    dry = bucket("delete", "--course", "cloud-course", "--dry-run", "--format", "json")
    assert dry.exit_code == 0, dry.stderr
    assert json.loads(dry.stdout) == [{"name": "mine-1", "objects": 0, "bytes": 0}]
    assert bucket("delete", "--course", "cloud-course", "--yes").exit_code == 0
    assert set(fake_storage.buckets) == {"foreign-1"}


# -- objects -----------------------------------------------------------------------------------


def test_upload_ls_download_a_folder(bucket: Bucket, tmp_path: Path) -> None:
    bucket("create", "data-1")
    src = tmp_path / "lab1"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("bb")
    up = bucket("upload", str(src), "gs://data-1/in/")
    assert up.exit_code == 0, up.stderr
    assert "uploaded 2 file(s), 3 B" in up.stderr and "checksums verified" in up.stderr

    listed = json.loads(bucket("ls", "gs://data-1/in/", "--format", "json").stdout)
    assert [o["name"] for o in listed] == ["in/lab1/a.txt", "in/lab1/sub/b.txt"]
    assert [o["size"] for o in listed] == [1, 2]

    dest = tmp_path / "out"
    down = bucket("download", "gs://data-1/in/lab1", str(dest), "--format", "json")
    assert down.exit_code == 0, down.stderr
    assert (dest / "lab1" / "sub" / "b.txt").read_text() == "bb"
    records = json.loads(down.stdout)
    assert {r["url"]: (r["size"], r["ok"]) for r in records} == {
        "gs://data-1/in/lab1/a.txt": (1, True),
        "gs://data-1/in/lab1/sub/b.txt": (2, True),
    }


def test_interrupted_download_leaves_no_file(
    bucket: Bucket, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    bucket("create", "data-1")
    fake_storage.put_object("data-1", "big.bin", os.urandom(3000))
    fake_storage.faults.interrupt_after_bytes = 1000
    fake_storage.chunk_size = 512  # several chunks, so the cut falls mid-file
    result = bucket("download", "gs://data-1/big.bin", str(tmp_path / "big.bin"))
    assert result.exit_code == 1
    assert "connection reset" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_objects_z_and_z_part_both_arrive_intact(
    bucket: Bucket, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    """Temporary files once were NAME.labctl-part: the object `z.labctl-part` then shared a
    file with `z`'s download, and `z` got the other's bytes."""
    bucket("create", "data-1")
    fake_storage.put_object("data-1", "d/z", b"the real z" * 1000)
    fake_storage.put_object("data-1", "d/z.labctl-part", b"not z" * 1000)
    for _ in range(5):
        out = tmp_path / f"out{_}"
        result = bucket("download", "gs://data-1/d/", str(out), "--workers", "2")
        assert result.exit_code == 0, result.stderr
        assert (out / "d" / "z").read_bytes() == b"the real z" * 1000
        assert (out / "d" / "z.labctl-part").read_bytes() == b"not z" * 1000
        assert sorted(p.name for p in (out / "d").iterdir()) == ["z", "z.labctl-part"]


def test_objects_x_and_x_slash_y_save_the_folder_and_fail_the_file(
    bucket: Bucket, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    bucket("create", "data-1")
    fake_storage.put_object("data-1", "x", b"file x")
    fake_storage.put_object("data-1", "x/y", b"file y")
    result = bucket("download", "gs://data-1", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert (tmp_path / "out" / "x" / "y").read_bytes() == b"file y"
    assert "gs://data-1/x cannot be saved as the file" in result.stderr
    assert "error: 1 of 2 not downloaded" in result.stderr
    assert "unexpected" not in result.stderr


def test_object_name_too_long_for_the_file_system_is_one_line(
    bucket: Bucket, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    bucket("create", "data-1")
    fake_storage.put_object("data-1", "d/" + "n" * 300, b"long")
    fake_storage.put_object("data-1", "d/short", b"short")
    result = bucket("download", "gs://data-1/d/", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "longer than this file system allows" in result.stderr
    assert (tmp_path / "out" / "d" / "short").read_bytes() == b"short"
    alone = bucket("download", f"gs://data-1/d/{'n' * 300}", str(tmp_path / "o2") + "/")
    assert alone.exit_code == 2
    assert first_error(alone).endswith("(255 bytes)")
    assert len(alone.stderr.strip().splitlines()) == 1


def test_download_under_a_file_is_one_line_exit_2(
    bucket: Bucket, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    bucket("create", "data-1")
    fake_storage.put_object("data-1", "x.txt", b"x")
    (tmp_path / "afile").write_text("in the way")
    result = bucket("download", "gs://data-1/x.txt", str(tmp_path / "afile" / "sub" / "x.txt"))
    assert result.exit_code == 2
    assert first_error(result).endswith(f"{tmp_path / 'afile'} is a file, not a folder")
    assert (tmp_path / "afile").read_text() == "in the way"


def test_download_where_writing_is_refused_is_one_line_exit_2(
    bucket: Bucket, fake_storage: FakeStorage, tmp_path: Path, mocker: Any
) -> None:
    bucket("create", "data-1")
    fake_storage.put_object("data-1", "x.txt", b"x")
    dest = tmp_path / "ro"
    dest.mkdir()
    if os.geteuid() == 0:  # root writes anywhere: refuse the way the kernel would
        mocker.patch("tempfile.mkstemp", side_effect=PermissionError(13, "Permission denied"))
    else:
        dest.chmod(0o500)
    result = bucket("download", "gs://data-1/x.txt", str(dest) + "/")
    assert result.exit_code == 2
    assert first_error(result) == f"error: cannot create a file in {dest}: permission denied"
    assert list(dest.iterdir()) == []


def test_download_to_a_folder_that_does_not_exist_yet(
    bucket: Bucket, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    """A trailing '/' means a folder: it is created, and the object keeps its name in it."""
    bucket("create", "data-1")
    fake_storage.put_object("data-1", "x.txt", b"x")
    result = bucket("download", "gs://data-1/x.txt", str(tmp_path / "new") + "/")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "new" / "x.txt").read_bytes() == b"x"
    plain = bucket("download", "gs://data-1/x.txt", str(tmp_path / "named"))
    assert plain.exit_code == 0 and (tmp_path / "named").read_bytes() == b"x"


def test_upload_folder_with_links(
    bucket: Bucket, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    bucket("create", "data-1")
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the bucket")
    src = tmp_path / "lab"
    (src / "real").mkdir(parents=True)
    (src / "real" / "data.csv").write_text("1,2")
    (src / "notes.txt").write_text("notes")
    (src / "same-notes.txt").symlink_to(src / "notes.txt")  # inside: its own name
    (src / "alias").symlink_to(src / "real")  # a folder inside: under the link's name
    (src / "real" / "loop").symlink_to(src)  # back up: a loop
    (src / "leak.txt").symlink_to(outside)  # outside: skipped
    (src / "dangling").symlink_to(tmp_path / "nothing")  # broken: skipped
    result = bucket("upload", str(src), "gs://data-1/")
    assert result.exit_code == 0, result.stderr
    assert sorted(fake_storage.buckets["data-1"].objects) == [
        "lab/alias/data.csv",
        "lab/notes.txt",
        "lab/real/data.csv",
        "lab/same-notes.txt",
    ]
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 4  # alias/loop and real/loop, the leak, the dangling link
    assert any("leak.txt: a link to" in w and "outside the folder" in w for w in warnings)
    assert any("dangling: a broken link" in w for w in warnings)
    assert sum("(a loop)" in w for w in warnings) == 2


def test_upload_with_an_unreadable_file_uploads_the_rest(
    bucket: Bucket, fake_storage: FakeStorage, tmp_path: Path, mocker: Any
) -> None:
    bucket("create", "data-1")
    src = tmp_path / "lab"
    src.mkdir()
    (src / "a.txt").write_text("a")
    (src / "b.txt").write_text("b")
    real_open = open

    def guarded(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(path).endswith("a.txt"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    mocker.patch("builtins.open", guarded)
    result = bucket("upload", str(src), "gs://data-1/")
    assert result.exit_code == 1
    assert f"error: {src / 'a.txt'}: permission denied" in result.stderr
    assert list(fake_storage.buckets["data-1"].objects) == ["lab/b.txt"]


def test_file_rewritten_during_upload_is_refused_and_its_object_deleted(
    bucket: Bucket, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    bucket("create", "data-1")
    src = tmp_path / "log.txt"
    src.write_bytes(b"A" * 4000)
    os.utime(src, (1_600_000_000, 1_600_000_000))
    fake_storage.chunk_size = 1000
    real = fake_storage._maybe_interrupt

    def rewrite_midway(moved: int) -> None:
        if moved == 2000:
            with open(src, "r+b") as fh:  # same size, other bytes, in place
                fh.write(b"B" * 4000)
        real(moved)

    fake_storage._maybe_interrupt = rewrite_midway  # type: ignore[method-assign]
    result = bucket("upload", str(src), "gs://data-1/log.txt")
    assert result.exit_code == 2
    assert first_error(result) == (
        f"error: {src} changed while it was uploaded; gs://data-1/log.txt was deleted, try again"
    )
    assert "checksums verified" not in result.stderr
    assert fake_storage.buckets["data-1"].objects == {}


def test_grant_and_revoke_hint_the_same_role(bucket: Bucket) -> None:
    bucket("create", "ana-1")
    granted = bucket("grant", "ana-1", "--member", "ana@uni.edu", "--role", "editor")
    assert granted.exit_code == 0, granted.stderr
    assert "granted roles/storage.objectAdmin on gs://ana-1 to user:ana@uni.edu" in granted.stderr
    assert "next: labctl bucket revoke ana-1 --member user:ana@uni.edu --role editor" in (
        granted.stderr
    )
    assert "roles/storage.objectAdmin" in granted.stdout
    again = bucket("grant", "ana-1", "--member", "user:ana@uni.edu", "--role", "editor")
    assert "nothing to do" in again.stderr
    revoked = bucket(
        "revoke", "ana-1", "--member", "user:ana@uni.edu", "--role", "editor", "--format", "json"
    )
    assert revoked.exit_code == 0
    record = json.loads(revoked.stdout)
    assert record["changed"] is True and record["role"] == "editor" and record["bindings"] == {}
    human = bucket("revoke", "ana-1", "--member", "user:ana@uni.edu", "--role", "editor")
    assert "next: labctl bucket grant ana-1 --member user:ana@uni.edu --role editor" in (
        human.stderr
    )


def test_upload_to_a_missing_bucket_is_one_error_and_sends_nothing(
    bucket: Bucket, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    (tmp_path / "f").write_text("x")
    result = bucket("upload", str(tmp_path / "f"), "gs://nope-1/")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "error: bucket 'nope-1': not found"
    assert "upload_file" not in fake_storage.calls


def test_download_of_a_missing_object_says_where_to_look(bucket: Bucket, tmp_path: Path) -> None:
    bucket("create", "data-1")
    result = bucket("download", "gs://data-1/in/nope.txt", str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "error: gs://data-1/in/nope.txt: no such object or folder",
        "  see what there is: labctl bucket ls gs://data-1/in/",
    ]


# -- against gcp-storage-emulator, and against nothing -------------------------------------------


def gcp(*args: str) -> Result:
    """`labctl bucket ...` on the real provider (STORAGE_EMULATOR_HOST says where)."""
    obj = AppContext(providers=registry.gcp())
    return CliRunner().invoke(app, ["bucket", *args, "--project", "labctl-demo"], obj=obj)


def test_end_to_end_on_the_emulator(storage_emulator: StorageEmulator, tmp_path: Path) -> None:
    created = gcp("create", "--prefix", "lab", "--format", "json")
    assert created.exit_code == 0, created.stderr
    name = json.loads(created.stdout)["name"]
    data = os.urandom(100_000)
    (tmp_path / "d.bin").write_bytes(data)
    assert gcp("upload", str(tmp_path / "d.bin"), f"gs://{name}/x/").exit_code == 0
    listed = json.loads(gcp("list", "--sizes", "--format", "json").stdout)
    assert [(b["name"], b["objects"], b["bytes"]) for b in listed] == [(name, 1, 100_000)]
    out = tmp_path / "out"
    out.mkdir()
    assert gcp("download", f"gs://{name}/x/d.bin", str(out)).exit_code == 0
    assert (out / "d.bin").read_bytes() == data
    assert gcp("grant", name, "--member", "user:a@b.co").exit_code == 0
    refused = gcp("delete", name, "--yes")
    assert refused.exit_code == 1 and "--force" in refused.stderr
    deleted = gcp("delete", name, "--yes", "--force")
    assert deleted.exit_code == 0, deleted.stderr
    assert json.loads(gcp("list", "--all", "--format", "json").stdout) == []


def test_an_emulator_that_is_not_running_is_reported_in_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    result = gcp("list")
    assert time.monotonic() - started < 5
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: nothing answers at http://127.0.0.1:{port}",
        f"  is `labctl emulator start` running? (endpoint http://127.0.0.1:{port})",
    ]


# -- shape of the command modules --------------------------------------------------------------


@pytest.mark.parametrize("module", ["labctl/cli/bucket.py", "labctl/cli/_bucket_run.py"])
def test_no_function_in_the_bucket_commands_is_over_40_lines(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text())
    long = [
        (node.name, node.end_lineno - node.lineno + 1)  # type: ignore[operator]
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 40  # type: ignore[operator]
    ]
    assert long == []


def test_help_shows_metavars_not_python_types() -> None:
    runner = CliRunner()
    for command in ("create", "list", "delete", "upload", "download", "ls", "grant", "revoke"):
        shown = runner.invoke(app, ["bucket", command, "--help"]).stdout
        assert "<str>" not in shown and "<list[str]>" not in shown and "{" not in shown, command
    upload = runner.invoke(app, ["bucket", "upload", "--help"]).stdout
    assert "Usage: labctl bucket upload [OPTIONS] PATH... gs://BUCKET[/PREFIX]" in upload
    assert "--workers N" in upload and "[default: 4" in upload
    grant = runner.invoke(app, ["bucket", "grant", "--help"]).stdout
    assert "--role ROLE" in grant and "[default: viewer]" in grant
    assert "--zone" not in grant
