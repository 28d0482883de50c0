"""`labctl class` on the fake providers: plan, setup (and resume), status, stop/start, teardown."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from labctl.classroom.roster import email_digest
from labctl.errors import PermissionDenied, TransientError
from labctl.models import Gpu, Provisioning, VmSpec
from labctl.providers.fake.compute import FakeCompute
from labctl.providers.fake.storage import FakeStorage
from tests.cli.conftest import Invoke

ADMIN = "roles/compute.instanceAdmin.v1"
OBJECTS = "roles/storage.objectAdmin"
ZONES = '["us-central1-c", "us-central1-f", "us-east1-c"]'
MUTATIONS = ("insert", "delete", "stop", "start", "set", "add", "remove", "create", "update")


def students(n: int) -> list[str]:
    return [f"student{i:02d}@uni.edu" for i in range(n)]


def write_class(
    tmp_path: Path,
    emails: list[str],
    *,
    tas: tuple[str, ...] = (),
    course: str = "cc-2026",
    schedule: bool = False,
    buckets: bool = True,
) -> Path:
    rows = ["email,name,role", *(f"{e},,student" for e in emails), *(f"{t},,ta" for t in tas)]
    (tmp_path / "roster.csv").write_text("\n".join(rows) + "\n")
    text = (
        f'[class]\ncourse = "{course}"\nroster = "roster.csv"\nends = 2099-12-20\n'
        f"zones = {ZONES}\n\n[class.vm]\ngpu = true\nidle_shutdown_minutes = 30\n"
        f"\n[class.bucket]\nper_student = {'true' if buckets else 'false'}\n"
        "\n[class.budget]\nper_student_usd = 50\n"
    )
    if schedule:
        text += '\n[class.schedule]\nstart = "0 9 * * 1"\nstop = "0 12 * * 1"\ntimezone = "UTC"\n'
    path = tmp_path / "class.toml"
    path.write_text(text)
    return path


def class_vms(compute: FakeCompute, course: str = "cc-2026") -> list:  # type: ignore[type-arg]
    return compute.list_vms(labels={"labctl-course": course})


def inserts(compute: FakeCompute) -> int:
    return compute.calls.count("instances.insert")


def test_plan_reads_only_and_shows_every_student(
    labctl: Invoke, fake_compute: FakeCompute, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    path = write_class(tmp_path, ["Ana.Lopez@uni.edu", "ana_lopez@other.edu", "bob@uni.edu"])
    result = labctl("class", "plan", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert [(s["slug"], s["vm"]["action"], s["bucket"]["action"]) for s in plan["students"]] == [
        ("ana-lopez", "create", "create"),
        ("ana-lopez-9b06", "create", "create"),
        ("bob", "create", "create"),
    ]
    assert {s["vm"]["zone"] for s in plan["students"]} == set(json.loads(ZONES))
    assert plan["quota"]["fits"] and plan["cost"]["per_hour_usd"] > 2
    assert plan["cost"]["per_month_usd"] > 730 * 2
    metrics = {(q["region"], q["metric"]) for q in plan["quota"]["lines"]}
    # a project without preemptible quota counts spot GPUs in the standard metric
    assert ("us-central1", "NVIDIA_P100_GPUS") in metrics
    assert ("global", "GPUS_ALL_REGIONS") in metrics
    assert not [c for c in fake_compute.calls if c.split(".")[-1].startswith(MUTATIONS)]
    assert [c for c in fake_storage.calls if c.startswith(MUTATIONS)] == []
    table = labctl("class", "plan", str(path))
    assert "ana_lopez@other.edu" in table.stdout and "CPUS" in table.stdout
    assert "/month if left running" in table.stderr


def test_setup_creates_the_class_and_a_second_run_sends_no_insert(
    labctl: Invoke, fake_compute: FakeCompute, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    path = write_class(tmp_path, students(6), tas=("tara@uni.edu",))
    result = labctl("class", "setup", str(path), "--yes")
    assert result.exit_code == 0, result.stderr
    assert "class cc-2026 is set up" in result.stderr
    vms = class_vms(fake_compute)
    assert len(vms) == 6 and inserts(fake_compute) == 6
    vm = next(v for v in vms if v.name == "cc-2026-student00")
    assert vm.gpu == Gpu("nvidia-tesla-p100", 1) and vm.provisioning is Provisioning.SPOT
    assert vm.labels["labctl-owner"] == "student00"
    assert vm.labels["labctl-expires"] == "2099-12-20"
    assert vm.labels["labctl-student"] == email_digest("student00@uni.edu")
    assert vm.metadata["labctl-user"] == "student00"
    assert vm.metadata["labctl-idle-minutes"] == "30"
    assert len(fake_storage.list_buckets(labels={"labctl-course": "cc-2026"})) == 6

    fake_compute.calls.clear()
    again = labctl("class", "setup", str(path), "--yes")
    assert again.exit_code == 0, again.stderr
    assert "already matches roster.csv: nothing to do" in again.stderr
    assert inserts(fake_compute) == 0
    assert "instances.setIamPolicy" not in fake_compute.calls


def test_iam_is_exactly_the_student_and_the_tas_and_drift_is_fixed(
    labctl: Invoke, fake_compute: FakeCompute, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    emails = students(4)
    path = write_class(tmp_path, emails, tas=("tara@uni.edu",))
    assert labctl("class", "setup", str(path), "--yes").exit_code == 0
    for vm in class_vms(fake_compute):
        email = f"{vm.labels['labctl-owner']}@uni.edu"
        bindings = fake_compute.vm_policy(vm.name, vm.zone).bindings
        assert dict(bindings) == {ADMIN: tuple(sorted([f"user:{email}", "user:tara@uni.edu"]))}
    for bucket in fake_storage.list_buckets():
        email = f"{bucket.labels['labctl-owner']}@uni.edu"
        assert fake_storage.bucket_members(bucket.name) == {
            OBJECTS: sorted([f"user:{email}", "user:tara@uni.edu"])
        }
    # Drift: a classmate added to one VM, a label removed from another; the TA leaves.
    first, second = sorted(class_vms(fake_compute), key=lambda v: v.name)[:2]
    fake_compute.update_vm_iam(
        first.name, first.zone, lambda b: {**b, ADMIN: {*b[ADMIN], "user:mallory@uni.edu"}}
    )
    fake_compute.start_label_update(
        second.name,
        second.zone,
        lambda cur: {k: v for k, v in cur.items() if k != "labctl-expires"},
    )
    path = write_class(tmp_path, emails)
    plan = json.loads(labctl("class", "plan", str(path), "--format", "json").stdout)
    changes = {s["slug"]: s["access"] for s in plan["students"]}
    assert changes["student00"][0]["revoke"] == ["user:mallory@uni.edu", "user:tara@uni.edu"]
    assert {s["slug"]: s["vm"]["labels_to_fix"] for s in plan["students"]}["student01"] == {
        "labctl-expires": "2099-12-20"
    }
    fixed = labctl("class", "setup", str(path), "--yes")
    assert fixed.exit_code == 0, fixed.stderr
    for vm in class_vms(fake_compute):
        email = f"{vm.labels['labctl-owner']}@uni.edu"
        assert dict(fake_compute.vm_policy(vm.name, vm.zone).bindings) == {
            ADMIN: (f"user:{email}",)
        }
        assert vm.labels["labctl-expires"] == "2099-12-20"


def test_a_partial_failure_ends_with_a_summary_and_a_rerun_resumes(
    labctl: Invoke, fake_compute: FakeCompute, tmp_path: Path
) -> None:
    """Inserts answered 5xx until their retries run out: each of those students' VMs may or
    may not exist; the same command resumes, and every student ends with exactly one VM."""
    n = 8
    path = write_class(tmp_path, students(n), buckets=False)
    # Each insert gets up to 5 attempts: 4n + 2 errors exhaust at least 2 and at most 6 of them.
    fake_compute.faults.fail("instances.insert", TransientError("backend error (503)"), 4 * n + 2)
    first = labctl("class", "setup", str(path), "--yes")
    assert first.exit_code == 1
    failed = [line for line in first.stderr.splitlines() if "may have been created" in line]
    assert 2 <= len(failed) <= 6
    assert "step(s) failed; the rest is done" in first.stderr
    assert "resumes" in first.stderr  # the hint: run the same command again
    assert 2 <= len(class_vms(fake_compute)) <= 6

    resumed = labctl("class", "setup", str(path), "--yes")
    assert resumed.exit_code == 0, resumed.stderr
    names = [vm.name for vm in fake_compute.list_vms()]
    assert sorted(names) == sorted(f"cc-2026-student{i:02d}" for i in range(n))
    assert (
        Counter(vm.labels["labctl-student"] for vm in fake_compute.list_vms()).most_common(1)[0][1]
        == 1
    )


def test_a_stockout_in_one_zone_moves_that_part_of_the_class(
    labctl: Invoke, fake_compute: FakeCompute, tmp_path: Path
) -> None:
    path = write_class(tmp_path, students(9), buckets=False)
    fake_compute.faults.stockout_zones = {"us-central1-c"}
    result = labctl("class", "setup", str(path), "--yes")
    assert result.exit_code == 0, result.stderr
    zones = Counter(vm.zone for vm in class_vms(fake_compute))
    assert zones == {"us-central1-f": 6, "us-east1-c": 3}  # c's three went to f (same region)


def test_quota_too_small_is_refused_before_anything_is_created(
    labctl: Invoke, fake_compute: FakeCompute, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    path = write_class(tmp_path, students(10))
    fake_compute.faults.quotas = {
        ("us-central1", "PREEMPTIBLE_NVIDIA_P100_GPUS"): 4,
        ("us-east1", "PREEMPTIBLE_NVIDIA_P100_GPUS"): 2,
    }
    result = labctl("class", "setup", str(path), "--yes")
    assert result.exit_code == 1
    assert "4 of 10 new VMs have no room" in result.stderr
    assert "request PREEMPTIBLE_NVIDIA_P100_GPUS in us-central1 to 8 (now 4)" in result.stderr
    assert "https://console.cloud.google.com/iam-admin/quotas" in result.stderr
    assert "PREEMPTIBLE_NVIDIA_P100_GPUS" in result.stdout  # the quota table
    assert inserts(fake_compute) == 0 and fake_compute.list_vms() == []
    assert "create_bucket" not in fake_storage.calls


def test_quota_split_across_regions_is_respected(
    labctl: Invoke, fake_compute: FakeCompute, tmp_path: Path
) -> None:
    path = write_class(tmp_path, students(10), buckets=False)
    fake_compute.faults.quotas = {
        ("us-central1", "PREEMPTIBLE_NVIDIA_P100_GPUS"): 3,
        ("us-east1", "PREEMPTIBLE_NVIDIA_P100_GPUS"): 7,
    }
    result = labctl("class", "setup", str(path), "--yes")
    assert result.exit_code == 0, result.stderr
    regions = Counter(vm.region for vm in class_vms(fake_compute))
    assert regions == {"us-central1": 3, "us-east1": 7}
    assert not [c for c in fake_compute.calls if c == "instances.insert"][10:]  # no failover


def test_a_roster_with_duplicate_and_malformed_emails_sends_nothing(
    labctl: Invoke, fake_compute: FakeCompute, tmp_path: Path
) -> None:
    path = write_class(tmp_path, ["ana@uni.edu", "ANA@uni.edu", "bob-at-uni.edu"])
    result = labctl("class", "setup", str(path), "--yes")
    assert result.exit_code == 2
    assert (
        "roster.csv line 3, email: ana@uni.edu is listed twice (first on line 2)" in result.stderr
    )
    assert "roster.csv line 4, email: 'bob-at-uni.edu' is not an e-mail address" in result.stderr
    assert fake_compute.calls == []


def test_a_removed_student_is_reported_and_deleted_only_with_prune(
    labctl: Invoke, fake_compute: FakeCompute, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    path = write_class(tmp_path, students(3))
    assert labctl("class", "setup", str(path), "--yes").exit_code == 0
    write_class(tmp_path, students(3)[:2])
    plan = json.loads(labctl("class", "plan", str(path), "--format", "json").stdout)
    assert plan["removed"] == [
        {
            "slug": "student02",
            "vms": ["cc-2026-student02"],
            "buckets": [plan["removed"][0]["buckets"][0]],
        }
    ]
    kept = labctl("class", "setup", str(path), "--yes")
    assert kept.exit_code == 0 and "nothing to do" in kept.stderr
    assert len(class_vms(fake_compute)) == 3
    pruned = labctl("class", "setup", str(path), "--yes", "--prune")
    assert pruned.exit_code == 0, pruned.stderr
    assert sorted(vm.name for vm in class_vms(fake_compute)) == [
        "cc-2026-student00",
        "cc-2026-student01",
    ]
    assert len(fake_storage.list_buckets()) == 2


def test_schedule_one_per_region_attached_to_every_vm_and_replaced_when_changed(
    labctl: Invoke, fake_compute: FakeCompute, tmp_path: Path
) -> None:
    path = write_class(tmp_path, students(3), schedule=True, buckets=False)
    assert labctl("class", "setup", str(path), "--yes").exit_code == 0
    schedules = fake_compute.list_schedules()
    assert sorted(s.region for s in schedules) == ["us-central1", "us-east1"]
    [name] = {s.name for s in schedules}
    assert all(vm.resource_policies == (name,) for vm in class_vms(fake_compute))
    path.write_text(path.read_text().replace('stop = "0 12 * * 1"', 'stop = "0 13 * * 1"'))
    changed = labctl("class", "setup", str(path), "--yes")
    assert changed.exit_code == 0, changed.stderr
    [new] = {s.name for s in fake_compute.list_schedules()}
    assert new != name and all(vm.resource_policies == (new,) for vm in class_vms(fake_compute))


def test_status_stop_start_and_spend_that_survives_them(
    labctl: Invoke, fake_compute: FakeCompute, tmp_path: Path
) -> None:
    path = write_class(tmp_path, students(3), buckets=False)
    assert labctl("class", "setup", str(path), "--yes").exit_code == 0
    status = json.loads(labctl("class", "status", str(path), "--format", "json").stdout)
    assert [r["state"] for r in status] == ["running"] * 3
    assert status[0]["budget_usd"] == 50 and status[0]["spend"]["total_usd"] >= 0

    stopped = labctl("class", "stop", str(path), "--student", "student01@uni.edu", "--yes")
    assert stopped.exit_code == 0, stopped.stderr
    states = {vm.name: vm.state.value for vm in class_vms(fake_compute)}
    assert states["cc-2026-student01"] == "stopped" and states["cc-2026-student00"] == "running"
    vm = next(v for v in class_vms(fake_compute) if v.name == "cc-2026-student01")
    assert "labctl-run-seconds" in vm.labels and "labctl-run-counted" in vm.labels

    everyone = labctl("class", "stop", str(path), "--yes", "--format", "json")
    assert everyone.exit_code == 0
    assert len(json.loads(everyone.stdout)) == 2  # student01 was already stopped
    assert "cc-2026-student01: already stopped" in everyone.stderr
    started = labctl("class", "start", str(path), "--yes")
    assert started.exit_code == 0 and {v.state.value for v in class_vms(fake_compute)} == {
        "running"
    }
    unknown = labctl("class", "stop", str(path), "--student", "nobody@uni.edu", "--yes")
    assert unknown.exit_code == 1 and "no VM of class cc-2026 for nobody@uni.edu" in unknown.stderr


def test_teardown_leaves_other_courses_and_unlabelled_resources_alone(
    labctl: Invoke, fake_compute: FakeCompute, fake_storage: FakeStorage, tmp_path: Path
) -> None:
    path = write_class(tmp_path, students(3), schedule=True)
    assert labctl("class", "setup", str(path), "--yes").exit_code == 0
    other = tmp_path / "other"
    other.mkdir()
    other_path = write_class(other, students(2), course="ml-2026")
    assert labctl("class", "setup", str(other_path), "--yes").exit_code == 0
    unlabelled = VmSpec("cc-2026-handmade", "us-central1-a", "e2-small", "p", "f", 10)
    fake_compute.wait(fake_compute.insert_vm(unlabelled, request_id="r-1"))

    dry = labctl("class", "teardown", str(path), "--dry-run")
    assert dry.exit_code == 0 and "cc-2026-student00" in dry.stdout and "schedule" in dry.stdout
    assert len(fake_compute.list_vms()) == 6
    gone = labctl("class", "teardown", str(path), "--yes", "--snapshot", "--format", "json")
    assert gone.exit_code == 0, gone.stderr
    record = json.loads(gone.stdout)
    assert record["deleted"] and len(record["vms"]) == 3 and record["failures"] == {}
    assert sorted(vm.name for vm in fake_compute.list_vms()) == [
        "cc-2026-handmade",
        "ml-2026-student00",
        "ml-2026-student01",
    ]
    assert {b.labels["labctl-course"] for b in fake_storage.list_buckets()} == {"ml-2026"}
    assert fake_compute.list_schedules() == []
    assert len(fake_compute.list_snapshots()) == 3
    refused = labctl("class", "teardown", str(other_path))
    assert refused.exit_code == 1 and "pass --yes" in refused.stderr


def test_a_vm_start_keeps_the_finished_run_in_the_class_spend(
    labctl: Invoke, fake_compute: FakeCompute, tmp_path: Path
) -> None:
    """A start replaces Compute's lastStartTimestamp: `vm start` of a class VM stopped by
    `vm stop` (which records nothing) writes the finished run into its labels first."""
    now = [datetime(2026, 12, 1, 8, 0, tzinfo=UTC)]
    fake_compute.clock = lambda: now[0]
    path = write_class(tmp_path, students(1), buckets=False)
    assert labctl("class", "setup", str(path), "--yes").exit_code == 0
    [vm] = class_vms(fake_compute)
    now[0] += timedelta(hours=2)
    assert labctl("vm", "stop", vm.name).exit_code == 0
    assert "labctl-run-seconds" not in fake_compute.get_vm(vm.name, vm.zone).labels
    now[0] += timedelta(hours=1)
    assert labctl("vm", "start", vm.name).exit_code == 0
    labels = fake_compute.get_vm(vm.name, vm.zone).labels
    assert labels["labctl-run-seconds"] == str(2 * 3600)


def test_teardown_with_snapshots_resumes_after_a_failed_delete(
    labctl: Invoke, fake_compute: FakeCompute, tmp_path: Path
) -> None:
    """The rerun reuses the snapshot the first run took; it does not try to take it again
    (refused as a duplicate name, which would keep the VM forever that day)."""
    path = write_class(tmp_path, students(2))
    assert labctl("class", "setup", str(path), "--yes").exit_code == 0
    fake_compute.faults.fail("instances.delete", PermissionDenied("no delete", kind="vm"))
    first = labctl("class", "teardown", str(path), "--yes", "--snapshot")
    assert first.exit_code == 1 and len(fake_compute.list_vms()) == 1
    assert len(fake_compute.list_snapshots()) == 2
    creates = fake_compute.calls.count("disks.createSnapshot")
    again = labctl("class", "teardown", str(path), "--yes", "--snapshot")
    assert again.exit_code == 0, again.stderr
    assert fake_compute.list_vms() == [] and len(fake_compute.list_snapshots()) == 2
    assert fake_compute.calls.count("disks.createSnapshot") == creates


@pytest.mark.parametrize("command", ["plan", "setup", "status", "stop", "start", "teardown"])
def test_every_command_says_where_the_class_file_is_missing(
    labctl: Invoke, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = labctl("class", command)
    assert result.exit_code == 2
    assert "class file not found: class.toml" in result.stderr


def test_a_vm_that_lost_its_course_label_is_found_again_and_relabelled(
    labctl: Invoke, fake_compute: FakeCompute, tmp_path: Path
) -> None:
    path = write_class(tmp_path, students(2), buckets=False)
    assert labctl("class", "setup", str(path), "--yes").exit_code == 0
    vm = next(v for v in class_vms(fake_compute) if v.name == "cc-2026-student00")
    fake_compute.start_label_update(
        vm.name, vm.zone, lambda cur: {k: v for k, v in cur.items() if k != "labctl-course"}
    )
    fake_compute.calls.clear()
    result = labctl("class", "setup", str(path), "--yes")
    assert result.exit_code == 0, result.stderr
    assert inserts(fake_compute) == 0
    assert len(class_vms(fake_compute)) == 2
