"""`labctl bucket` through CliRunner: on the fake provider, and end to end on the emulator."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from labctl.cli import _context
from labctl.cli import app as APP
from labctl.providers.fake.storage import FakeStorage
from labctl.providers.gcp.storage import GcpStorage


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeStorage:
    storage = FakeStorage(project="demo")
    monkeypatch.setattr(_context, "storage_factory", lambda ctx: storage)
    return storage


def run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(APP, ["bucket", *args], input=input)


def test_create_derives_a_name_from_course_and_owner(fake: FakeStorage) -> None:
    result = run("create", "--format", "json")
    assert result.exit_code == 0, result.stderr
    [created] = json.loads(result.stdout)
    assert created["name"].startswith("cloud-course-tester-")
    assert len(created["name"]) == len("cloud-course-tester-") + 6
    assert created["location"] == "US-CENTRAL1"  # the course zone's region
    assert created["labels"]["labctl-managed"] == "true"
    assert created["labels"]["labctl-owner"] == "tester"
    assert "next: labctl bucket upload PATH gs://" not in result.stderr  # json: no hints


def test_create_retries_a_taken_derived_name(fake: FakeStorage, mocker: Any) -> None:
    suffixes = iter(["aaaaaa", "bbbbbb"])
    mocker.patch("secrets.token_hex", side_effect=lambda n: next(suffixes))
    fake.faults.foreign_buckets.add("lab-x-aaaaaa")
    result = run("create", "--prefix", "lab-x")
    assert result.exit_code == 0, result.stderr
    assert "lab-x-bbbbbb" in result.stdout
    assert "tried: lab-x-aaaaaa" in result.stderr
    assert "next: labctl bucket upload PATH gs://lab-x-bbbbbb/" in result.stderr


def test_explicit_name_taken_elsewhere_is_one_clear_line(fake: FakeStorage) -> None:
    fake.faults.foreign_buckets.add("shared-data")
    result = run("create", "shared-data")
    assert result.exit_code == 1
    assert "already exists in another project" in result.stderr
    assert fake.buckets == {}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "Bad_Name"], "invalid bucket name"),
        (["create", "my-google-data"], "google"),
        (["create", "--prefix", "ana@uni.edu"], "e-mail"),
        (["create", "ok-name", "--location", "moon-1"], "unknown bucket location"),
        (["create", "ok-name", "--storage-class", "hot"], "unknown storage class"),
        (["create", "ok-name", "--label", "Bad=x"], "invalid label"),
        (["create", "demo-project-1", "--project", "demo-project"], "project id"),
        (["ls", "s3://bucket/x"], "not a gs:// URL"),
        (["ls", "gs://"], "no bucket name"),
        (["upload", "/no/such/file", "gs://b-1/"], "no such file"),
        (["grant", "b-1", "--member", "ana", "--role", "viewer"], "invalid member"),
        (["grant", "b-1", "--member", "user:a@b.c", "--role", "owner"], "unknown role"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_created(
    fake: FakeStorage, args: list[str], message: str
) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("error:") and message in first
    assert "Traceback" not in result.stderr
    assert fake.buckets == {}
    assert "create_bucket" not in fake.calls


def test_dry_run_shows_the_spec_and_sends_nothing(fake: FakeStorage) -> None:
    result = run("create", "lab-data-1", "--location", "eu", "--dry-run")
    assert result.exit_code == 0, result.stderr
    spec = json.loads(result.stdout)
    assert spec["location"] == "EU" and spec["public_access_prevention"] == "enforced"
    assert fake.calls == []


def test_list_shows_labctl_buckets_unless_all(fake: FakeStorage, tmp_path: Path) -> None:
    assert run("create", "mine-1").exit_code == 0
    from labctl.models import BucketSpec

    fake.create_bucket(BucketSpec("not-ours-1"))
    fake.put_object("mine-1", "a", b"12345")
    listed = json.loads(run("list", "--format", "json", "--sizes").stdout)
    assert [(b["name"], b["objects"], b["bytes"]) for b in listed] == [("mine-1", 1, 5)]
    everything = json.loads(run("list", "--all", "--format", "json").stdout)
    assert [b["name"] for b in everything] == ["mine-1", "not-ours-1"]
    table = run("list").stdout
    assert table.splitlines()[0].split()[:3] == ["NAME", "LOCATION", "CLASS"]


def test_delete_refuses_non_empty_without_force(fake: FakeStorage) -> None:
    run("create", "full-1")
    fake.put_object("full-1", "a", b"x" * 2048)
    result = run("delete", "full-1", "--yes")
    assert result.exit_code == 1
    assert "not empty: full-1 (1 objects); nothing deleted" in result.stderr
    assert "labctl bucket delete full-1 --force" in result.stderr
    assert "full-1" in fake.buckets


def test_delete_with_force_shows_the_plan_and_asks(fake: FakeStorage) -> None:
    run("create", "full-1")
    fake.put_object("full-1", "a", b"x" * 2048)
    declined = run("delete", "full-1", "--force", input="n\n")
    assert declined.exit_code == 1 and "full-1" in fake.buckets
    assert "Delete 1 bucket(s) and 1 object(s)?" in declined.stderr
    assert "2.0 KiB" in declined.stdout
    accepted = run("delete", "full-1", "--force", input="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert fake.buckets == {}


def test_delete_empty_bucket_with_yes(fake: FakeStorage) -> None:
    run("create", "empty-1")
    result = run("delete", "empty-1", "--yes")
    assert result.exit_code == 0 and "deleted gs://empty-1" in result.stderr
    missing = run("delete", "empty-1", "--yes")
    assert missing.exit_code == 1 and "not found" in missing.stderr


def test_upload_ls_download_a_folder(fake: FakeStorage, tmp_path: Path) -> None:
    run("create", "data-1")
    src = tmp_path / "lab1"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("bb")
    up = run("upload", str(src), "gs://data-1/in/")
    assert up.exit_code == 0, up.stderr
    assert "uploaded 2 file(s), 3 B" in up.stderr and "checksums verified" in up.stderr

    listed = json.loads(run("ls", "gs://data-1/in/", "--format", "json").stdout)
    assert [o["name"] for o in listed] == ["in/lab1/a.txt", "in/lab1/sub/b.txt"]

    dest = tmp_path / "out"
    down = run("download", "gs://data-1/in/lab1", str(dest))
    assert down.exit_code == 0, down.stderr
    assert (dest / "lab1" / "sub" / "b.txt").read_text() == "bb"


def test_interrupted_download_leaves_no_file(fake: FakeStorage, tmp_path: Path) -> None:
    run("create", "data-1")
    fake.put_object("data-1", "big.bin", os.urandom(3000))
    fake.faults.interrupt_after_bytes = 1000
    fake.chunk_size = 512  # several chunks, so the cut falls mid-file
    result = run("download", "gs://data-1/big.bin", str(tmp_path / "big.bin"))
    assert result.exit_code == 1
    assert "connection reset" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_grant_and_revoke(fake: FakeStorage) -> None:
    run("create", "ana-1")
    granted = run("grant", "ana-1", "--member", "ana@uni.edu", "--role", "editor")
    assert granted.exit_code == 0, granted.stderr
    assert "granted roles/storage.objectAdmin on gs://ana-1 to user:ana@uni.edu" in granted.stderr
    assert "roles/storage.objectAdmin" in granted.stdout
    again = run("grant", "ana-1", "--member", "user:ana@uni.edu", "--role", "editor")
    assert "nothing to do" in again.stderr
    revoked = run(
        "revoke", "ana-1", "--member", "user:ana@uni.edu", "--role", "editor", "--format", "json"
    )
    assert revoked.exit_code == 0 and json.loads(revoked.stdout) == {}


def test_end_to_end_on_the_emulator(
    gcp_storage: GcpStorage, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(_context, "storage_factory", lambda ctx: gcp_storage)
    created = run("create", "--prefix", "lab", "--format", "json")
    assert created.exit_code == 0, created.stderr
    name = json.loads(created.stdout)[0]["name"]
    data = os.urandom(100_000)
    (tmp_path / "d.bin").write_bytes(data)
    assert run("upload", str(tmp_path / "d.bin"), f"gs://{name}/x/").exit_code == 0
    listed = json.loads(run("list", "--sizes", "--format", "json").stdout)
    assert [(b["name"], b["objects"], b["bytes"]) for b in listed] == [(name, 1, 100_000)]
    out = tmp_path / "out"
    out.mkdir()
    assert run("download", f"gs://{name}/x/d.bin", str(out)).exit_code == 0
    assert (out / "d.bin").read_bytes() == data
    assert run("grant", name, "--member", "user:a@b.co").exit_code == 0
    assert run("delete", name, "--yes").exit_code == 1  # not empty
    deleted = run("delete", name, "--yes", "--force")
    assert deleted.exit_code == 0, deleted.stderr
    assert json.loads(run("list", "--all", "--format", "json").stdout) == []


def test_upload_to_a_missing_bucket_is_one_error_and_sends_nothing(
    fake: FakeStorage, tmp_path: Path
) -> None:
    (tmp_path / "f").write_text("x")
    result = run("upload", str(tmp_path / "f"), "gs://nope-1/")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "error: bucket 'nope-1': not found"
    assert "upload_file" not in fake.calls
