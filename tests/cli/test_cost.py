"""`labctl cost`: what exists and what it costs, on the fake and on the emulator."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from labctl.cli import app
from labctl.cli._app import AppContext
from labctl.emulator import Emulator
from labctl.emulator.storage import StorageEmulator
from labctl.models import Address, BucketSpec, Disk, Gpu, Snapshot, VmState
from labctl.providers import registry
from labctl.providers.fake.compute import FakeCompute
from labctl.providers.fake.storage import FakeStorage
from tests.cli.conftest import Invoke
from tests.cli.test_cleanup import OURS, ZONE, create, provider, spec, vm

GIB = 2**30


@pytest.fixture
def course(fake_compute: FakeCompute, fake_storage: FakeStorage) -> FakeCompute:
    now = datetime.now(UTC)
    fake_compute.add_vm(vm("ana-gpu"))
    fake_compute.add_disk(Disk("ana-gpu", ZONE, 100, ("ana-gpu",), OURS, now, "pd-balanced"))
    bo = {**OURS, "labctl-owner": "bo"}
    fake_compute.add_vm(vm("bo-gpu", VmState.STOPPED, labels=bo))
    fake_compute.add_disk(Disk("bo-gpu", ZONE, 100, ("bo-gpu",), bo, now, "pd-balanced"))
    fake_compute.add_vm(vm("a100", labels=bo, gpu=Gpu("nvidia-tesla-a100", 1)))
    fake_compute.add_address(Address("ip1", "us-central1", "198.51.100.1", "RESERVED", labels=OURS))
    fake_compute.add_snapshot(Snapshot("s1", "bo-gpu", 100, 10 * GIB, "READY", bo, now))
    fake_compute.add_vm(vm("theirs", labels={}))
    fake_storage.create_bucket(BucketSpec("cc-ana-1", "US-CENTRAL1", labels=OURS))
    fake_storage.put_object("cc-ana-1", "data", b"x" * 2**20)
    return fake_compute


def test_costs_by_owner_with_unknown_never_zero(labctl: Invoke, course: FakeCompute) -> None:
    result = labctl("cost", "--by", "owner", "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    lines = {r["name"]: r for r in report["resources"]}
    assert set(lines) == {"ana-gpu", "bo-gpu", "a100", "ip1", "s1", "cc-ana-1"}  # not "theirs"
    assert lines["ana-gpu"]["cost_per_month_usd"] == pytest.approx(
        (0.10446 + 0.7034 + 0.0025) * 730 + 10.0, abs=0.02
    )  # machine, GPU, spot IP and its 100 GB pd-balanced
    assert lines["bo-gpu"]["state"] == "stopped"
    assert lines["bo-gpu"]["cost_per_month_usd"] == pytest.approx(10.0)  # only its disk
    assert lines["a100"]["cost_per_hour_usd"] is None  # no price for that GPU: unknown, not $0
    assert lines["ip1"]["cost_per_hour_usd"] == 0.01
    assert lines["s1"]["cost_per_month_usd"] == pytest.approx(0.65)
    assert lines["cc-ana-1"]["cost_per_hour_usd"] > 0
    groups = {g["group"]: g for g in report["groups"]}
    assert set(groups) == {"ana", "bo"}
    assert groups["bo"]["cost_per_month_usd"] is None  # it holds the unknown
    assert report["total_per_month_usd"] is None
    assert report["not_counted"] == 1 and report["prices_date"] and report["estimate"] is True
    assert report["sources"]["disks"]["source"].startswith("https://cloud.google.com/")


def test_table_groups_and_what_cleanup_would_save(labctl: Invoke, course: FakeCompute) -> None:
    course.add_disk(
        Disk("orphan", ZONE, 200, (), OURS, datetime.now(UTC) - timedelta(days=9), "pd-standard")
    )
    result = labctl("cost", "--by", "kind", "--course", "cloud-course")
    assert result.exit_code == 0, result.stderr
    assert "unknown" in result.stdout  # the A100 VM, and the totals that include it
    kinds = [line.split()[0] for line in result.stdout.splitlines() if line.split()]
    assert {"address", "bucket", "disk", "instance", "snapshot", "total"} <= set(kinds)
    assert "labctl cleanup would save" in result.stderr
    assert "1 resource(s) without labctl's labels not counted" in result.stderr
    assert "estimate, prices dated" in result.stderr
    everything = json.loads(labctl("cost", "--all", "--format", "json").stdout)
    assert "theirs" in {r["name"] for r in everything["resources"]}
    managed = json.loads(labctl("cost", "--managed", "--format", "json").stdout)
    assert "theirs" not in {r["name"] for r in managed["resources"]}


def test_cost_on_the_emulator(
    emulator: Emulator, storage_emulator: StorageEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labctl.providers.gcp.storage import make_storage

    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", emulator.compute_url)
    emulator.set_faults({"operation_seconds": 0})
    compute = provider()
    create(compute, spec("ana-gpu"), spec("bo-cpu", gpu=None))
    compute.wait(compute.stop_vm("bo-cpu", ZONE))
    storage = make_storage("labctl-demo")
    storage.create_bucket(BucketSpec("cloud-course-ana-bbbbbb", labels=OURS))
    obj = AppContext(providers=registry.gcp())
    result = CliRunner().invoke(
        app, ["cost", "--format", "json", "--project", "labctl-demo"], obj=obj
    )
    assert result.exit_code == 0, result.stderr
    lines = {r["name"]: r for r in json.loads(result.stdout)["resources"]}
    assert lines["ana-gpu"]["state"] == "running"
    assert "1x p100 spot, IP, 100 GB balanced" in lines["ana-gpu"]["detail"]
    assert lines["bo-cpu"]["cost_per_month_usd"] == pytest.approx(10.0)  # a stopped VM's disk
    assert lines["cloud-course-ana-bbbbbb"]["cost_per_hour_usd"] == 0.0  # empty
