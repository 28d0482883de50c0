"""`labctl class` with the real GCP providers over HTTP against labctl's emulators (Compute and
Cloud Storage): a class of 60, lost insert answers then a resume, a stockout, teardown."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from labctl.cli import app
from labctl.cli._app import AppContext
from labctl.emulator import Emulator
from labctl.emulator.storage import StorageEmulator
from labctl.models import VmSpec
from labctl.providers.gcp import make_compute
from labctl.providers.gcp.compute import GcpCompute
from labctl.providers.gcp.storage import make_storage
from labctl.providers.registry import Providers
from labctl.retry import RetryPolicy
from tests.cli.conftest import Invoke
from tests.cli.test_class import students, write_class

pytestmark = pytest.mark.slow
FAST = RetryPolicy(attempts=5, initial=0.01, maximum=0.01, deadline=30, sleep=lambda s: None)
ADMIN = "roles/compute.instanceAdmin.v1"
OBJECTS = "roles/storage.objectAdmin"


def provider() -> GcpCompute:
    compute = make_compute(project="labctl-demo", retry=FAST)
    compute._poll_interval = 0.05
    return compute


@pytest.fixture
def on_emulator(
    emulator: Emulator, storage_emulator: StorageEmulator, monkeypatch: pytest.MonkeyPatch
) -> Invoke:
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", emulator.compute_url)
    providers = Providers("gcp", lambda _: provider(), lambda _: make_storage("labctl-demo"))

    def invoke(*args: str, input: str | None = None) -> object:
        obj = AppContext(providers=providers)
        return CliRunner().invoke(app, list(args), input=input, obj=obj)

    return invoke  # type: ignore[return-value]


def inserts(emu: Emulator) -> list[dict[str, object]]:
    return [
        r for r in emu.requests if r["method"] == "POST" and str(r["path"]).endswith("/instances")
    ]


def test_a_class_of_60_on_the_emulator(
    on_emulator: Invoke, emulator: Emulator, tmp_path: Path
) -> None:
    path = write_class(tmp_path, students(60), schedule=True)
    result = on_emulator("class", "setup", str(path), "--yes", "--format", "json")
    assert result.exit_code == 0, result.stderr
    record = json.loads(result.stdout)
    assert record["ok"] and record["phases"]["vms"]["changed"] == 60
    compute, storage = provider(), make_storage("labctl-demo")
    vms = compute.list_vms(labels={"labctl-course": "cc-2026"})
    assert len(vms) == 60 and len({vm.name for vm in vms}) == 60
    assert Counter(vm.zone for vm in vms) == {
        "us-central1-c": 20,
        "us-central1-f": 20,
        "us-east1-c": 20,
    }
    # IAM: exactly one student per VM and per bucket, each on their own only.
    owners: Counter[str] = Counter()
    for vm in vms:
        policy = compute.get_vm_iam(vm.name, vm.zone)
        (member,) = policy.bindings[ADMIN]
        assert dict(policy.bindings).keys() == {ADMIN}
        assert member == f"user:{vm.labels['labctl-owner']}@uni.edu"
        owners[member] += 1
        assert len(vm.resource_policies) == 1  # the region's schedule
    buckets = storage.list_buckets(labels={"labctl-course": "cc-2026"})
    assert len(buckets) == 60
    for bucket in buckets:
        members = storage.bucket_members(bucket.name)
        assert members == {OBJECTS: [f"user:{bucket.labels['labctl-owner']}@uni.edu"]}
        owners[members[OBJECTS][0]] += 1
    assert set(owners.values()) == {2}  # each student: one VM and one bucket
    schedules = compute.list_schedules()
    assert sorted(s.region for s in schedules) == ["us-central1", "us-east1"]

    emulator.clear_requests()
    again = on_emulator("class", "setup", str(path), "--yes")
    assert again.exit_code == 0, again.stderr
    assert "nothing to do" in again.stderr
    assert inserts(emulator) == []
    assert [r for r in emulator.requests if r["method"] != "GET"] == []

    status = json.loads(on_emulator("class", "status", str(path), "--format", "json").stdout)
    assert len(status) == 60 and {row["state"] for row in status} == {"running"}


def test_lost_insert_answers_then_a_resume_never_makes_a_second_vm(
    on_emulator: Invoke, emulator: Emulator, tmp_path: Path
) -> None:
    """Every insert is applied but every answer is a 503 until the retries run out: the
    students' VMs may exist, setup says so and exits 1; the same command then finds them by
    their labels and inserts nothing."""
    n = 6
    path = write_class(tmp_path, students(n))
    emulator.set_faults(
        {"server_errors": {"count": 5 * n, "methods": ["POST"], "after_commit": True}}
    )
    first = on_emulator("class", "setup", str(path), "--yes")
    assert first.exit_code == 1
    assert first.stderr.count("may have been created") == n
    assert "it resumes: labctl class setup" in first.stderr
    assert len(make_storage("labctl-demo").list_buckets()) == n  # buckets went ahead anyway
    emulator.set_faults({})
    emulator.clear_requests()
    resumed = on_emulator("class", "setup", str(path), "--yes")
    assert resumed.exit_code == 0, resumed.stderr
    assert inserts(emulator) == []
    vms = provider().list_vms()
    assert sorted(vm.name for vm in vms) == sorted(f"cc-2026-student{i:02d}" for i in range(n))
    assert all(provider().get_vm_iam(vm.name, vm.zone).bindings for vm in vms)


def test_refused_inserts_then_a_resume_creates_each_missing_vm_once(
    on_emulator: Invoke, emulator: Emulator, tmp_path: Path
) -> None:
    n = 6
    path = write_class(tmp_path, students(n), buckets=False)
    emulator.set_faults({"server_errors": {"count": 5 * n, "methods": ["POST"]}})
    assert on_emulator("class", "setup", str(path), "--yes").exit_code == 1
    assert provider().list_vms() == []
    emulator.set_faults({})
    assert on_emulator("class", "setup", str(path), "--yes").exit_code == 0
    assert len(inserts(emulator)) == 5 * n + n
    assert len(provider().list_vms()) == n


def test_a_stockout_for_part_of_the_class_fails_over_on_the_emulator(
    on_emulator: Invoke, emulator: Emulator, tmp_path: Path
) -> None:
    path = write_class(tmp_path, students(6), buckets=False)
    emulator.set_faults(
        {"stockouts": [{"zone": "us-central1-c", "accelerator": "nvidia-tesla-p100", "count": 1}]}
    )
    result = on_emulator("class", "setup", str(path), "--yes")
    assert result.exit_code == 0, result.stderr
    zones = Counter(vm.zone for vm in provider().list_vms())
    assert zones == {"us-central1-c": 1, "us-central1-f": 3, "us-east1-c": 2}


def test_quota_on_the_emulator_is_checked_before_anything_is_created(
    on_emulator: Invoke, emulator: Emulator, tmp_path: Path
) -> None:
    path = write_class(tmp_path, students(6))
    emulator.set_faults({"quotas": {"GPUS_ALL_REGIONS": 4}})
    emulator.clear_requests()
    result = on_emulator("class", "setup", str(path), "--yes")
    assert result.exit_code == 1
    assert "request GPUS_ALL_REGIONS in global to 6 (now 4)" in result.stderr
    assert [r for r in emulator.requests if r["method"] != "GET"] == []


def test_teardown_on_the_emulator_leaves_other_courses_alone(
    on_emulator: Invoke, emulator: Emulator, tmp_path: Path
) -> None:
    path = write_class(tmp_path, students(3), schedule=True)
    assert on_emulator("class", "setup", str(path), "--yes").exit_code == 0
    compute = provider()
    other = VmSpec(
        "ml-2026-ana",
        "us-central1-c",
        "n1-standard-8",
        "deeplearning-platform-release",
        "common-cu129-ubuntu-2204-nvidia-580",
        50,
        labels={"labctl-managed": "true", "labctl-course": "ml-2026"},
    )
    compute.wait(compute.insert_vm(other, request_id="0b0b0b0b-0000-4000-8000-000000000001"))
    bare = VmSpec(
        "cc-2026-unlabelled", "us-central1-c", "e2-small", "debian-cloud", "debian-12", 10
    )
    compute.wait(compute.insert_vm(bare, request_id="0b0b0b0b-0000-4000-8000-000000000002"))
    gone = on_emulator("class", "teardown", str(path), "--yes")
    assert gone.exit_code == 0, gone.stderr
    assert sorted(vm.name for vm in compute.list_vms()) == ["cc-2026-unlabelled", "ml-2026-ana"]
    assert make_storage("labctl-demo").list_buckets() == []
    assert compute.list_schedules() == []
