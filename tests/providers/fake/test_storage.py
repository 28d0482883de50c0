"""FakeStorage's own levers (faults, direct set-up, call log); its behaviour is in the contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.errors import AlreadyExists, LabctlError, RateLimited
from labctl.models import BucketSpec
from labctl.providers.fake.storage import FakeStorage, crc32c_b64


def test_crc32c_is_what_cloud_storage_reports() -> None:
    assert crc32c_b64(b"hello") == "mnG7TA=="
    assert crc32c_b64(b"") == "AAAAAA=="


def test_foreign_names_are_taken_by_another_project() -> None:
    fake = FakeStorage()
    fake.faults.foreign_buckets.add("theirs-1")
    with pytest.raises(AlreadyExists, match="another project") as err:
        fake.create_bucket(BucketSpec("theirs-1"))
    assert (err.value.kind, err.value.name, err.value.owned) == ("bucket", "theirs-1", False)


def test_queued_errors_are_raised_in_order_then_calls_succeed() -> None:
    fake = FakeStorage()
    fake.faults.errors["create_bucket"] = [RateLimited("slow down")]
    fake.faults.errors["*"] = [LabctlError("any call")]
    with pytest.raises(RateLimited):
        fake.create_bucket(BucketSpec("b-1"))
    with pytest.raises(LabctlError, match="any call"):
        fake.list_buckets()
    assert fake.create_bucket(BucketSpec("b-1")).name == "b-1"
    assert fake.calls == ["create_bucket", "list_buckets", "create_bucket"]


def test_transfers_report_progress_per_chunk_and_can_be_cut(tmp_path: Path) -> None:
    fake = FakeStorage()
    fake.chunk_size = 100
    fake.create_bucket(BucketSpec("b-1"))
    src = tmp_path / "f"
    src.write_bytes(b"x" * 250)
    moved: list[int] = []
    fake.upload_file("b-1", src, "f", moved.append)
    assert moved == [100, 100, 50]
    fake.faults.interrupt_after_bytes = 150
    with pytest.raises(LabctlError, match="connection reset"):
        fake.download_file("b-1", "f", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_put_object_stores_bytes_with_checksums() -> None:
    fake = FakeStorage()
    fake.create_bucket(BucketSpec("b-1"))
    info = fake.put_object("b-1", "a/b", b"hello")
    assert (info.name, info.size, info.crc32c) == ("a/b", 5, "mnG7TA==")
    assert fake.calls == ["create_bucket"]  # set-up is not a call labctl made
