"""labctl.transfers on the fake provider: gs:// paths, upload and download plans, moving files."""

from __future__ import annotations

import os
import re
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from labctl import transfers
from labctl.errors import Interrupted, InvalidInput, LocalError, NotFound
from labctl.models import BucketSpec
from labctl.providers.fake.storage import FakeStorage, crc32c_b64
from labctl.transfers import GsPath, Transfer


@pytest.fixture
def fake() -> FakeStorage:
    storage = FakeStorage()
    storage.create_bucket(BucketSpec("b-1"))
    return storage


# -- gs:// paths and object names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "bucket", "prefix"),
    [
        ("gs://b-1", "b-1", ""),
        ("gs://b-1/", "b-1", ""),
        ("gs://b-1/a/b.txt", "b-1", "a/b.txt"),
        ("gs://b-1/dir/", "b-1", "dir/"),
        ("gs://my.dotted.bucket/x", "my.dotted.bucket", "x"),
        ("gs://b-1/naïve file #1.txt", "b-1", "naïve file #1.txt"),
    ],
)
def test_parse_gs_url(url: str, bucket: str, prefix: str) -> None:
    assert transfers.parse_gs_url(url) == GsPath(bucket, prefix)


@pytest.mark.parametrize(
    "url",
    [
        "b-1/x",
        "gs:/b-1",
        "gs://",
        "gs:///x",
        "gs://B-1/x",
        "gs://b-1/../x",
        "gs://a/x",
        "gs://BAD NAME/x",
        "gs://goog-1/x",
        "gs://b-1/a\rb",
        "gs://b-1/.well-known/acme-challenge/token",
        "gs://b-1/" + "é" * 513,  # 1026 bytes
    ],
)
def test_bad_gs_urls_are_refused_before_any_call(url: str) -> None:
    with pytest.raises(InvalidInput) as err:
        transfers.parse_gs_url(url)
    assert "\n" not in err.value.message and "\r" not in err.value.message


def test_object_names() -> None:
    assert transfers.check_object_name("a" * 1024) == "a" * 1024
    for bad in ("", ".", "..", "a\nb", "x" * 1025, ".well-known/acme-challenge/x"):
        with pytest.raises(InvalidInput):
            transfers.check_object_name(bad)


# -- upload plans --------------------------------------------------------------------------------


def _tree(root: Path) -> Path:
    (root / "lab1" / "sub").mkdir(parents=True)
    (root / "lab1" / "a.txt").write_text("a")
    (root / "lab1" / "sub" / "b.txt").write_text("bb")
    (root / "one.txt").write_text("1")
    return root


def names(plan: transfers.TransferPlan) -> list[str]:
    return [t.object_name for t in plan.items]


def test_plan_upload_maps_files_and_folders(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    dest = GsPath("b-1", "course")
    plan = transfers.plan_upload([root / "lab1", root / "one.txt"], dest)
    assert [(t.object_name, t.size) for t in plan.items] == [
        ("course/lab1/a.txt", 1),
        ("course/lab1/sub/b.txt", 2),
        ("course/one.txt", 1),
    ]
    assert plan.failed == [] and plan.skipped == []
    [single] = transfers.plan_upload([root / "one.txt"], GsPath("b-1", "renamed.txt")).items
    assert single.object_name == "renamed.txt"
    [into] = transfers.plan_upload([root / "one.txt"], GsPath("b-1", "dir/")).items
    assert into.object_name == "dir/one.txt"
    assert names(transfers.plan_upload([root / "lab1" / "."], GsPath("b-1"))) == [
        "lab1/a.txt",
        "lab1/sub/b.txt",
    ]


def test_plan_upload_refuses_what_cannot_be_sent(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    dest = GsPath("b-1", "course/")
    with pytest.raises(LocalError, match="no such file or folder"):
        transfers.plan_upload([root / "missing"], dest)
    (root / "broken").symlink_to(root / "gone")
    with pytest.raises(LocalError, match="a broken link"):
        transfers.plan_upload([root / "broken"], dest)
    with pytest.raises(
        InvalidInput, match=re.escape("would both be uploaded as gs://b-1/course/one.txt")
    ):
        (root / "other").mkdir()
        (root / "other" / "one.txt").write_text("2")
        transfers.plan_upload([root / "one.txt", root / "other" / "one.txt"], dest)
    with pytest.raises(InvalidInput, match="given twice"):
        transfers.plan_upload([root / "lab1", root / "lab1" / "a.txt"], GsPath("b-1", "x/"))


def test_links_inside_the_folder_upload_under_their_own_names(tmp_path: Path) -> None:
    src = tmp_path / "lab"
    (src / "real").mkdir(parents=True)
    (src / "real" / "data.csv").write_text("1,2")
    (src / "notes.txt").write_text("n")
    (src / "same.txt").symlink_to("notes.txt")  # relative link to a file inside
    (src / "alias").symlink_to(src / "real")  # a folder inside
    plan = transfers.plan_upload([src], GsPath("b-1"))
    assert names(plan) == [
        "lab/alias/data.csv",
        "lab/notes.txt",
        "lab/real/data.csv",
        "lab/same.txt",
    ]
    assert plan.skipped == [] and plan.failed == []


def test_links_out_of_the_folder_broken_links_loops_and_pipes_are_skipped_with_a_warning(
    tmp_path: Path,
) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "x").write_text("x")
    src = tmp_path / "lab"
    (src / "sub").mkdir(parents=True)
    (src / "keep.txt").write_text("k")
    (src / "out-file").symlink_to(tmp_path / "outside" / "x")
    (src / "out-dir").symlink_to(tmp_path / "outside")
    (src / "broken").symlink_to(src / "nothing")
    (src / "sub" / "up").symlink_to("..")
    os.mkfifo(src / "pipe")
    (src / ".labctl-abcd1234.part").write_text("left over")
    plan = transfers.plan_upload([src], GsPath("b-1"))  # returns: the pipe is never opened
    assert names(plan) == ["lab/keep.txt"]
    assert len(plan.skipped) == 6
    reasons = " | ".join(plan.skipped)
    for expected in (
        "out-file: a link to",
        "out-dir: a link to",
        "broken: a broken link",
        "up: a link to a folder that contains it (a loop)",
        "pipe: not a regular file",
        ".labctl-abcd1234.part: left over from an interrupted download",
    ):
        assert expected in reasons


def test_folder_links_are_followed_to_a_bounded_depth(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfers, "MAX_DEPTH", 3)
    src = tmp_path / "lab"
    deep = src / "a" / "b" / "c" / "d"
    deep.mkdir(parents=True)
    (deep / "f").write_text("f")
    (src / "a" / "top.txt").write_text("t")
    plan = transfers.plan_upload([src], GsPath("b-1"))
    assert names(plan) == ["lab/a/top.txt"]
    assert plan.skipped == [f"{deep}: more than 3 folders deep; skipped"]


def test_files_that_cannot_be_objects_or_read_are_failed_items(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "lab"
    (src / "locked").mkdir(parents=True)
    (src / "ok.txt").write_text("ok")
    (src / "two\nlines").write_text("x")
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    plan = transfers.plan_upload([src], GsPath("b-1"))
    assert names(plan) == ["lab/ok.txt"]
    failed = {o.key: o.error.message for o in plan.failed if o.error}
    assert (
        failed[str(src / "locked")] == f"cannot read the folder {src / 'locked'}: permission denied"
    )
    [newline] = [m for k, m in failed.items() if "lines" in k]
    assert "object names cannot contain line breaks" in newline and "\n" not in newline


# -- download plans ------------------------------------------------------------------------------


def test_plan_download_single_object_folder_and_whole_bucket(
    fake: FakeStorage, tmp_path: Path
) -> None:
    for name in ("dir/a.txt", "dir/sub/b.txt", "dir/", "top.txt", "dirx/c.txt"):
        fake.put_object("b-1", name, b"x")
    [one] = transfers.plan_download(fake, [GsPath("b-1", "top.txt")], tmp_path / "t.txt").items
    assert one.local == tmp_path / "t.txt"
    [into] = transfers.plan_download(
        fake, [GsPath("b-1", "top.txt")], tmp_path / "new", into_folder=True
    ).items
    assert into.local == tmp_path / "new" / "top.txt"
    folder = transfers.plan_download(fake, [GsPath("b-1", "dir")], tmp_path)
    assert [t.local.relative_to(tmp_path).as_posix() for t in folder.items] == [
        "dir/a.txt",
        "dir/sub/b.txt",
    ]
    whole = transfers.plan_download(fake, [GsPath("b-1", "")], tmp_path)
    assert len(whole.items) == 4
    missing = transfers.plan_download(fake, [GsPath("b-1", "nothing")], tmp_path)
    assert len(missing.items) == 0
    [(key, error)] = [(o.key, o.error) for o in missing.failed]
    assert key == "gs://b-1/nothing" and isinstance(error, NotFound)


def test_a_file_destination_cannot_take_several_sources(fake: FakeStorage, tmp_path: Path) -> None:
    fake.put_object("b-1", "a", b"a")
    (tmp_path / "f").write_text("f")
    with pytest.raises(LocalError, match="is a file; a folder is needed"):
        transfers.plan_download(fake, [GsPath("b-1", "a"), GsPath("b-1", "a")], tmp_path / "f")
    with pytest.raises(LocalError, match="is a file"):
        transfers.plan_download(fake, [GsPath("b-1", "a")], tmp_path / "f", into_folder=True)


def test_object_names_that_escape_the_destination_are_failed_items(
    fake: FakeStorage, tmp_path: Path
) -> None:
    fake.put_object("b-1", "d/../../etc/passwd", b"x")
    fake.put_object("b-1", "d/fine.txt", b"x")
    plan = transfers.plan_download(fake, [GsPath("b-1", "d/")], tmp_path / "out")
    assert [t.object_name for t in plan.items] == ["d/fine.txt"]
    [failed] = plan.failed
    assert failed.error is not None and "cannot be saved safely" in failed.error.message


def test_x_and_x_slash_y_fail_the_file_and_keep_the_folder(
    fake: FakeStorage, tmp_path: Path
) -> None:
    fake.put_object("b-1", "x", b"x")
    fake.put_object("b-1", "x/y", b"y")
    plan = transfers.plan_download(fake, [GsPath("b-1")], tmp_path)
    assert [t.object_name for t in plan.items] == ["x/y"]
    [failed] = plan.failed
    assert failed.key == "gs://b-1/x"
    assert failed.error is not None and "need" in failed.error.message


def test_names_too_long_for_the_file_system_are_failed_items(
    fake: FakeStorage, tmp_path: Path
) -> None:
    fake.put_object("b-1", "d/" + "n" * 256, b"x")
    fake.put_object("b-1", "d/" + "n" * 255, b"x")
    plan = transfers.plan_download(fake, [GsPath("b-1", "d/")], tmp_path)
    assert [t.object_name for t in plan.items] == ["d/" + "n" * 255]
    assert [o.key for o in plan.failed] == ["gs://b-1/d/" + "n" * 256]


# -- moving files --------------------------------------------------------------------------------


def test_downloads_use_a_new_temporary_file_beside_the_target(
    fake: FakeStorage, tmp_path: Path, mocker: Any
) -> None:
    fake.put_object("b-1", "z", b"z" * 100)
    (tmp_path / "z.labctl-part").write_bytes(b"someone else's file")
    seen: list[Path] = []
    real = fake.download_file

    def spy(bucket: str, name: str, local: Path, progress: Any = None) -> Any:
        seen.append(local)
        assert local.exists() and local.stat().st_size == 0  # made, empty, before the call
        return real(bucket, name, local, progress)

    mocker.patch.object(fake, "download_file", spy)
    transfers.download_one(fake, Transfer(tmp_path / "z", "b-1", "z", 100))
    [temp] = seen
    assert temp.parent == tmp_path and temp.name.startswith(".labctl-")
    assert temp.name.endswith(".part") and not temp.exists()
    assert (tmp_path / "z").read_bytes() == b"z" * 100
    assert (tmp_path / "z.labctl-part").read_bytes() == b"someone else's file"
    mode = stat.S_IMODE((tmp_path / "z").stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # not mkstemp's private 0600


def test_z_and_z_part_downloaded_together_stay_intact(fake: FakeStorage, tmp_path: Path) -> None:
    fake.chunk_size = 64  # many small writes, so the two downloads interleave
    fake.put_object("b-1", "z", b"Z" * 5000)
    fake.put_object("b-1", "z.labctl-part", b"P" * 7000)
    for attempt in range(5):
        dest = tmp_path / str(attempt)
        plan = transfers.plan_download(fake, [GsPath("b-1")], dest)
        outcomes = transfers.run(
            plan, lambda t: transfers.download_one(fake, t), verb="download", workers=2
        )
        assert all(o.ok for o in outcomes)
        assert (dest / "z").read_bytes() == b"Z" * 5000
        assert (dest / "z.labctl-part").read_bytes() == b"P" * 7000
        assert sorted(p.name for p in dest.iterdir()) == ["z", "z.labctl-part"]


def test_a_failed_download_leaves_no_file_and_keeps_an_existing_one(
    fake: FakeStorage, tmp_path: Path
) -> None:
    fake.put_object("b-1", "f", b"new" * 1000)
    fake.buckets["b-1"].objects["f"].crc32c = crc32c_b64(b"something else")
    (tmp_path / "f").write_bytes(b"old")
    with pytest.raises(Exception, match="crc32c mismatch"):
        transfers.download_one(fake, Transfer(tmp_path / "f", "b-1", "f", 3000))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    assert (tmp_path / "f").read_bytes() == b"old"


def test_a_target_that_is_a_folder_is_a_local_error(fake: FakeStorage, tmp_path: Path) -> None:
    fake.put_object("b-1", "x", b"x")
    (tmp_path / "x").mkdir()
    with pytest.raises(LocalError, match="is a directory"):
        transfers.download_one(fake, Transfer(tmp_path / "x", "b-1", "x", 1))
    assert [p.name for p in tmp_path.iterdir()] == ["x"]


def test_a_file_gone_before_its_upload_is_a_local_error(fake: FakeStorage, tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_text("x")
    item = transfers.plan_upload([src], GsPath("b-1")).items[0]
    src.unlink()
    with pytest.raises(LocalError, match=f"{src}: no such file or directory"):
        transfers.upload_one(fake, item)


def test_ctrl_c_removes_partial_downloads(fake: FakeStorage, tmp_path: Path) -> None:
    fake.chunk_size = 100
    fake.put_object("b-1", "fast", b"f")
    fake.put_object("b-1", "slow", b"s" * 1000)
    started, release = threading.Event(), threading.Event()

    def stall(moved: int) -> None:
        if moved > 100:
            started.set()
            release.wait(5)  # a download still writing when the user presses Ctrl-C

    fake._maybe_interrupt = stall  # type: ignore[method-assign]
    plan = transfers.plan_download(fake, [GsPath("b-1")], tmp_path)
    in_flight = transfers.InFlight()

    def on_result(outcome: Any) -> None:
        started.wait(5)
        raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="interrupted: download stopped"):
        transfers.run(
            plan,
            lambda t: transfers.download_one(fake, t, in_flight=in_flight),
            verb="download",
            on_result=on_result,
            in_flight=in_flight,
        )
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".labctl-")]
    release.set()
    assert leftovers == []
