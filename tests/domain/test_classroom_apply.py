"""Setup below the CLI: a name taken by someone else, Ctrl-C naming the VMs still in flight."""

from __future__ import annotations

import _thread
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from labctl.classroom.apply import Setup
from labctl.classroom.classfile import class_settings, load_class
from labctl.classroom.plan import ClassPlan, build_plan
from labctl.classroom.roster import load_roster
from labctl.config import load_settings
from labctl.errors import AlreadyExists, Interrupted
from labctl.models import VmSpec
from labctl.pricing import load_prices
from labctl.providers.base import Operation
from labctl.providers.fake.compute import FakeCompute
from labctl.providers.fake.storage import FakeStorage
from tests.cli.test_class import students, write_class

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def plan_for(tmp_path: Path, compute: FakeCompute, storage: FakeStorage, n: int) -> ClassPlan:
    cf = load_class(write_class(tmp_path, students(n)))
    settings = class_settings(cf, load_settings())
    return build_plan(
        cf, load_roster(cf.roster), settings, compute, storage, load_prices(), now=NOW
    )


def test_a_name_taken_by_another_course_fails_that_student_only(tmp_path: Path) -> None:
    compute, storage = FakeCompute(), FakeStorage()
    taken = VmSpec("cc-2026-student01", "us-central1-a", "e2-small", "p", "f", 10)
    compute.wait(compute.insert_vm(taken, request_id="r-1"))
    plan = plan_for(tmp_path, compute, storage, 3)
    seat = next(s for s in plan.seats if s.slug == "student01")
    assert seat.vm_action == "conflict" and "already exists in us-central1-a" in (
        seat.conflict or ""
    )
    report = Setup(plan, compute, storage).students()
    assert list(report.failures) == ["student01: vms"]
    assert isinstance(report.failures["student01: vms"], AlreadyExists)
    assert report.counts["vms"].changed == 2 and report.counts["buckets"].changed == 3
    assert len(compute.list_vms()) == 3  # the two new ones and the stranger's, untouched


def test_ctrl_c_names_the_vms_whose_creation_may_still_be_under_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compute, storage = FakeCompute(), FakeStorage()
    plan = plan_for(tmp_path, compute, storage, 2)
    release = threading.Event()

    def slow_wait(operation: Operation, *, timeout: float | None = None) -> None:
        _thread.interrupt_main()  # Ctrl-C while the operations run
        release.wait(30)

    monkeypatch.setattr(compute, "wait", slow_wait)
    with pytest.raises(Interrupted) as exc:
        Setup(plan, compute, storage).students()
    release.set()
    assert exc.value.action == "create" and exc.value.kind == "vm"
    assert set(exc.value.in_flight) <= {"cc-2026-student00", "cc-2026-student01"}
    assert exc.value.in_flight


def test_a_bucket_whose_create_answer_was_lost_is_adopted_not_doubled(tmp_path: Path) -> None:
    """The library retried a create that had landed and got 409: the bucket is this student's
    (by its labels), so it is used; a name that is someone else's gets a new suffix."""
    compute, storage = FakeCompute(), FakeStorage()
    plan = plan_for(tmp_path, compute, storage, 2)
    first, second = plan.seats
    assert first.bucket_plan is not None and second.bucket_plan is not None
    storage.create_bucket(first.bucket_plan.spec)  # landed, answer lost
    storage.faults.foreign_buckets.add(second.bucket_plan.spec.name)  # another project's
    report = Setup(plan, compute, storage).students()
    assert report.failures == {}
    names = sorted(b.name for b in storage.list_buckets())
    assert first.bucket_plan.spec.name in names and len(names) == 2
    assert second.bucket_plan.spec.name not in names
    assert report.seats["student01"].bucket in names
