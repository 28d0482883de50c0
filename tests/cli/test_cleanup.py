"""`labctl cleanup` through CliRunner: on the fake provider, and end to end on the emulator."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import typer.testing
from typer.testing import CliRunner, Result

from labctl import hygiene
from labctl.cli import app
from labctl.cli._app import AppContext
from labctl.emulator import Emulator
from labctl.emulator.storage import StorageEmulator
from labctl.errors import PermissionDenied
from labctl.models import (
    Address,
    BucketSpec,
    Disk,
    Firewall,
    Gpu,
    Provisioning,
    Vm,
    VmSpec,
    VmState,
)
from labctl.pricing import load_prices
from labctl.providers import registry
from labctl.providers.fake.compute import FakeCompute
from labctl.providers.fake.storage import FakeStorage
from tests.cli.conftest import Invoke
from tests.emulator._http import Api

ZONE = "us-central1-c"
OURS = {"labctl-managed": "true", "labctl-course": "cloud-course", "labctl-owner": "ana"}
MUTATIONS = re.compile(r"\.(stop|delete|createSnapshot|insert|start|set\w+)$")


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """CliRunner's stdin claims to be a terminal, so confirmations are asked and answered."""
    monkeypatch.setattr(typer.testing._NamedTextIOWrapper, "isatty", lambda self: True)


@pytest.fixture
def class_left_on(fake_compute: FakeCompute) -> FakeCompute:
    """What a course leaves behind: an idle VM, a VM stopped 9 days, an orphaned disk, an unused
    address, a rule for a tag nobody has; and someone else's stopped VM."""
    now = datetime.now(UTC)
    fake_compute.add_vm(vm("ana-gpu", created=now - timedelta(hours=3)))
    fake_compute.add_disk(Disk("ana-gpu", ZONE, 100, ("ana-gpu",), OURS, now, "pd-balanced"))
    active = (now - timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fake_compute.set_guest_attributes("ana-gpu", ZONE, {"labctl/last-active": active})
    stopped = now - timedelta(days=9)
    fake_compute.add_vm(vm("bo-gpu", VmState.STOPPED, last_stopped=stopped))
    fake_compute.add_disk(Disk("bo-gpu", ZONE, 100, ("bo-gpu",), OURS, stopped, "pd-balanced"))
    fake_compute.add_vm(vm("theirs", VmState.STOPPED, labels={}, last_stopped=stopped))
    fake_compute.add_disk(Disk("scratch", ZONE, 200, (), OURS, stopped, "pd-standard", stopped))
    fake_compute.add_address(
        Address("ip1", "us-central1", "198.51.100.1", "RESERVED", labels=OURS, created=stopped)
    )
    fake_compute.add_firewall(
        Firewall("labctl-cc-iap", "Created by labctl for course cloud-course: IAP", ("lab",))
    )
    return fake_compute


def vm(name: str, state: VmState = VmState.RUNNING, **kw: Any) -> Vm:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "name": name,
        "zone": ZONE,
        "id": str(abs(hash(name))),
        "state": state,
        "status": "RUNNING" if state is VmState.RUNNING else "TERMINATED",
        "machine_type": "n1-standard-8",
        "provisioning": Provisioning.SPOT,
        "gpu": Gpu("nvidia-tesla-p100", 1),
        "external_ip": "203.0.113.3" if state is VmState.RUNNING else None,
        "created": now - timedelta(days=10),
        "labels": dict(OURS),
        "last_started": now - timedelta(hours=3),
        "disks": (name,),
    }
    values.update(kw)
    return Vm(**values)


def mutations(fake: FakeCompute) -> list[str]:
    return [c for c in fake.calls if MUTATIONS.search(c)]


def test_dry_run_prints_the_plan_and_changes_nothing(
    labctl: Invoke, class_left_on: FakeCompute
) -> None:
    class_left_on.calls.clear()
    result = labctl("cleanup", "--dry-run")
    assert result.exit_code == 0, result.stderr
    rows = [line.split()[:2] for line in result.stdout.splitlines()[1:]]
    assert rows == [
        ["ana-gpu", "instance"],
        ["bo-gpu", "instance"],
        ["scratch", "disk"],
        ["ip1", "address"],
        ["labctl-cc-iap", "firewall"],
    ]
    assert "idle 90 min" in result.stdout and "stopped 9 days" in result.stdout
    assert "5 action(s); saves $" in result.stderr
    assert "before deleting, 2 snapshot(s) are taken" in result.stderr
    assert "resource(s) left alone (1 without labctl's labels)" in result.stderr
    assert "dry run: nothing changed" in result.stderr
    assert mutations(class_left_on) == []


def test_without_a_terminal_and_without_yes_nothing_changes_and_exit_0(
    labctl: Invoke, class_left_on: FakeCompute
) -> None:
    class_left_on.calls.clear()
    result = labctl("cleanup")
    assert result.exit_code == 0
    assert "no terminal to confirm on: nothing changed; pass --yes" in result.stderr
    assert mutations(class_left_on) == []


def test_on_a_terminal_no_means_no(
    labctl: Invoke, class_left_on: FakeCompute, terminal: None
) -> None:
    class_left_on.calls.clear()
    result = labctl("cleanup", input="n\n")
    assert result.exit_code == 0
    assert "Apply these 5 action(s) (saves $" in result.stderr
    assert "nothing changed" in result.stderr and mutations(class_left_on) == []
    applied = labctl("cleanup", input="y\n")
    assert applied.exit_code == 0, applied.stderr
    assert "instance bo-gpu (us-central1-c): deleted" in applied.stderr


def test_yes_applies_in_order_and_json_is_one_document(
    labctl: Invoke, class_left_on: FakeCompute
) -> None:
    result = labctl("cleanup", "--yes", "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    records = [(r["kind"], r["name"], r["action"], r["result"]) for r in document["findings"]]
    assert records == [
        ("instance", "ana-gpu", "stop", "stopped"),
        ("instance", "bo-gpu", "delete", "deleted"),
        ("disk", "scratch", "delete", "deleted"),
        ("address", "ip1", "release", "released"),
        ("firewall", "labctl-cc-iap", "delete", "deleted"),
    ]
    first = document["findings"][0]
    assert first["zone"] == ZONE and first["owner"] == "ana" and first["reason"] == "idle 90 min"
    assert first["monthly_cost_usd"] > first["monthly_saving_usd"] > 500  # its disk stays
    assert document["findings"][3]["region"] == "us-central1"
    assert document["applied"] is True and document["left_alone"]["unmanaged"] == 1
    assert document["monthly_saving_usd"] > 0 and document["prices_date"]
    assert class_left_on.get_vm("ana-gpu", ZONE).state is VmState.STOPPED
    assert [v.name for v in class_left_on.list_vms()] == ["ana-gpu", "theirs"]
    # a second run finds nothing, and changes nothing
    class_left_on.calls.clear()
    again = labctl("cleanup", "--yes")
    assert again.exit_code == 0 and "nothing to clean up" in again.stderr
    assert mutations(class_left_on) == []


def test_exit_code_3_for_cron_when_there_are_findings(
    labctl: Invoke, class_left_on: FakeCompute
) -> None:
    assert labctl("cleanup", "--dry-run", "--exit-code").exit_code == 3
    assert labctl("cleanup", "--yes", "--exit-code", "--kind", "address").exit_code == 3
    assert labctl("cleanup", "--dry-run", "--exit-code", "--kind", "address").exit_code == 0


def test_a_failure_is_reported_the_rest_goes_on_and_a_rerun_finishes(
    labctl: Invoke, class_left_on: FakeCompute
) -> None:
    class_left_on.faults.fail("disks.delete", PermissionDenied("permission denied: disks.delete"))
    result = labctl("cleanup", "--yes")
    assert result.exit_code == 1
    assert "error: disk scratch: permission denied: disks.delete" in result.stderr
    assert "address ip1 (us-central1): released" in result.stderr
    assert "1 of 5 cleanup action(s) failed" in result.stderr
    class_left_on.calls.clear()
    rerun = labctl("cleanup", "--yes", "--format", "json")
    assert rerun.exit_code == 0, rerun.stderr
    [record] = json.loads(rerun.stdout)["findings"]
    assert (record["name"], record["result"]) == ("scratch", "deleted")
    assert record["snapshots"][0]["exists"] is True  # taken by the first run, not again
    assert mutations(class_left_on) == ["disks.delete"]


def test_filters_and_all(labctl: Invoke, class_left_on: FakeCompute) -> None:
    only = labctl("cleanup", "--dry-run", "--kind", "disk", "--kind", "address")
    assert [line.split()[0] for line in only.stdout.splitlines()[1:]] == ["scratch", "ip1"]
    nobody = labctl("cleanup", "--dry-run", "--owner", "Bo@Uni.edu")
    assert nobody.stdout == "" and "nothing to clean up" in nobody.stderr
    listed = labctl("cleanup", "--dry-run", "--all")
    assert "Left alone (never changed)" in listed.stdout
    assert re.search(
        r"theirs\s+instance\s+us-central1-c\s+no labctl labels\s+stopped 9", listed.stdout
    )
    bad = labctl("cleanup", "--older-than", "soon")
    assert bad.exit_code == 2 and "--older-than 'soon'" in bad.stderr


def test_delete_and_no_snapshot(labctl: Invoke, class_left_on: FakeCompute) -> None:
    result = labctl("cleanup", "--yes", "--delete", "--no-snapshot", "--kind", "instance")
    assert result.exit_code == 0, result.stderr
    assert "instance ana-gpu (us-central1-c): deleted" in result.stderr
    assert "disks.createSnapshot" not in class_left_on.calls


def test_a_non_empty_bucket_is_kept_without_the_flag(
    labctl: Invoke, fake_compute: FakeCompute, fake_storage: FakeStorage
) -> None:
    labels = {**OURS, "labctl-expires": "2020-01-31"}
    fake_storage.create_bucket(BucketSpec("cc-ana-123456", labels=labels))
    fake_storage.put_object("cc-ana-123456", "a.bin", b"x" * 2048)
    kept = labctl("cleanup", "--yes", "--kind", "bucket")
    assert kept.exit_code == 0, kept.stderr
    assert "expired 2020-01-31 (1 objects, 2.0 KiB)" in kept.stdout
    assert "1 bucket finding(s) kept: --include-buckets deletes them" in kept.stderr
    assert [b.name for b in fake_storage.list_buckets()] == ["cc-ana-123456"]
    gone = labctl("cleanup", "--yes", "--kind", "bucket", "--include-buckets")
    assert gone.exit_code == 0, gone.stderr
    assert fake_storage.list_buckets() == []


def test_help_names_values_not_python_types() -> None:
    shown = CliRunner().invoke(app, ["cleanup", "--help"]).stdout
    assert "--kind KIND" in shown and "--older-than AGE" in shown
    assert "instance, disk, address, snapshot, firewall, bucket" in " ".join(shown.split())
    assert not re.search(r"<(str|int|list)", shown)
    assert CliRunner().invoke(app, ["--help"]).stdout.count("cleanup") == 1


# -- on the emulator: the GCP provider over real HTTP ----------------------------------------------


@pytest.fixture
def emu(
    emulator: Emulator, storage_emulator: StorageEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", emulator.compute_url)
    emulator.set_faults({"operation_seconds": 0})
    yield emulator


def gcp(*args: str) -> Result:
    obj = AppContext(providers=registry.gcp())
    return CliRunner().invoke(app, [*args, "--project", "labctl-demo"], obj=obj)


def provider() -> Any:
    from labctl.providers.gcp import make_compute

    compute = make_compute(project="labctl-demo")
    compute._poll_interval = 0.05
    return compute


def spec(name: str, **kw: Any) -> VmSpec:
    values: dict[str, Any] = {
        "name": name,
        "zone": ZONE,
        "machine_type": "n1-standard-8",
        "image_project": "deeplearning-platform-release",
        "image_family": "common-cu129-ubuntu-2204-nvidia-580",
        "disk_size_gb": 100,
        "gpu": Gpu("nvidia-tesla-p100", 1),
        "labels": OURS,
    }
    values.update(kw)
    return VmSpec(**values)


def create(compute: Any, *specs: VmSpec) -> None:
    for s in specs:
        compute.wait(compute.insert_vm(s, request_id=str(uuid.uuid4())))


def rest_setup(emu: Emulator) -> Api:
    """Disks, addresses and rules labctl has no command for yet, made through the REST API."""
    api = Api(emu)
    base = "projects/labctl-demo"
    api.post(f"{base}/zones/{ZONE}/disks", {"name": "scratch", "sizeGb": "200", "labels": OURS})
    api.post(f"{base}/zones/{ZONE}/disks", {"name": "theirs", "sizeGb": "10"})
    api.post(f"{base}/regions/us-central1/addresses", {"name": "ip1", "labels": OURS})
    rule = {
        "name": "labctl-cloud-course-iap",
        "description": "Created by labctl for course cloud-course: IAP SSH",
        "targetTags": ["labctl-lab"],
        "sourceRanges": ["35.235.240.0/20"],
        "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
    }
    api.post(f"{base}/global/firewalls", rule)
    return api


NO_BUCKETS = ("--kind", "instance", "--kind", "disk", "--kind", "address", "--kind", "firewall")
POLICY = hygiene.Policy(course_ends={"cloud-course": datetime(2026, 11, 30, tzinfo=UTC).date()})
EDGES = {"below": -timedelta(minutes=1), "at": timedelta(0), "above": timedelta(minutes=1)}


def scanned(compute: Any, storage: Any = None) -> hygiene.Inventory:
    """One scan of the emulator, with every running VM's activity read."""
    from labctl.hygiene.scan import count_objects, read_activity

    inventory = hygiene.scan(compute, storage, hygiene.KINDS if storage else hygiene.KINDS[:-1])
    read_activity(compute, inventory, [v for v in inventory.vms if v.state is VmState.RUNNING])
    if storage is not None:
        count_objects(storage, inventory, [b.name for b in inventory.buckets])
    return inventory


def found_at(inventory: hygiene.Inventory, now: datetime, **options: Any) -> set[tuple[str, ...]]:
    plan = hygiene.plan(
        inventory, POLICY, hygiene.Options(**options), now=now, prices=load_prices()
    )
    return {(f.kind, f.name, f.rule) for f in plan.findings}


def edges(
    inventory: hygiene.Inventory, since: datetime | None, threshold: timedelta
) -> dict[str, set[tuple[str, ...]]]:
    """The findings a minute below, at, and a minute above `since + threshold`."""
    assert since is not None
    return {edge: found_at(inventory, since + threshold + d) for edge, d in EDGES.items()}


def test_instance_thresholds_on_the_emulator(emu: Emulator) -> None:
    compute = provider()
    expires = {**OURS, "labctl-expires": "2026-12-20"}
    create(
        compute, spec("idle"), spec("busy"), spec("off"), spec("dated", gpu=None, labels=expires)
    )
    emu.set_guest_attribute(
        "labctl-demo", ZONE, "idle", "labctl/last-active", "2026-12-01T10:00:00Z"
    )
    compute.wait(compute.stop_vm("off", ZONE))
    inventory = scanned(compute)
    vms = {v.name: v for v in inventory.vms}
    idle_at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    # idle: only "idle" has activity to judge; the others started just now
    assert {
        e: {f for f in fs if f[1] == "idle"}
        for e, fs in edges(inventory, idle_at, timedelta(minutes=60)).items()
    } == {
        "below": set(),
        "at": {("instance", "idle", "idle")},
        "above": {("instance", "idle", "idle")},
    }
    running = edges(inventory, vms["busy"].last_started, timedelta(hours=12))
    assert ("instance", "busy", "running") not in running["below"]
    assert ("instance", "busy", "running") in running["at"] and (
        "instance",
        "busy",
        "running",
    ) in running["above"]
    stopped = edges(inventory, vms["off"].last_stopped, timedelta(days=7))
    assert ("instance", "off", "stopped") not in stopped["below"]
    assert ("instance", "off", "stopped") in stopped["at"] and (
        "instance",
        "off",
        "stopped",
    ) in stopped["above"]
    day = datetime(2026, 12, 20, 12, tzinfo=UTC)
    on_expiry = {
        e: ("instance", "dated", "expired") in found_at(inventory, day + timedelta(days=d))
        for e, d in (("before", -1), ("on the day", 0), ("after", 1))
    }
    assert on_expiry == {"before": False, "on the day": False, "after": True}


def test_disk_address_snapshot_thresholds_on_the_emulator(emu: Emulator) -> None:
    compute = provider()
    api = rest_setup(emu)
    create(compute, spec("v1"))
    base = f"projects/labctl-demo/zones/{ZONE}"
    attach = {"source": f"{base}/disks/scratch", "deviceName": "scratch"}
    api.post(f"{base}/instances/v1/attachDisk", attach)
    compute.wait(compute.delete_vm("v1", ZONE))  # scratch stays, detached now
    compute.wait(compute.create_snapshot("theirs", ZONE, name="snap1", labels=OURS))
    inventory = scanned(compute)
    scratch = next(d for d in inventory.disks if d.name == "scratch")
    assert scratch.users == () and scratch.last_detached is not None
    assert scratch.last_detached > scratch.created  # aged from the detach, not the creation
    for name, kind, rule, since, threshold in (
        ("scratch", "disk", "orphaned", scratch.last_detached, timedelta(days=1)),
        ("ip1", "address", "unused", inventory.addresses[0].created, timedelta(hours=24)),
        ("snap1", "snapshot", "old", inventory.snapshots[0].created, timedelta(days=30)),
    ):
        seen = {e: (kind, name, rule) in fs for e, fs in edges(inventory, since, threshold).items()}
        assert seen == {"below": False, "at": True, "above": True}, name
    # the unlabelled disk is never a finding, at any age
    assert not any(f[1] == "theirs" for f in found_at(inventory, datetime(2030, 1, 1, tzinfo=UTC)))


def test_firewall_rule_and_buckets_on_the_emulator(emu: Emulator) -> None:
    from labctl.providers.gcp.storage import make_storage

    compute, storage = provider(), make_storage("labctl-demo")
    api = rest_setup(emu)
    create(compute, spec("lab1", labels={**OURS, "labctl-keep": "true"}))
    vm1 = api.get(f"projects/labctl-demo/zones/{ZONE}/instances/lab1")[1]
    tags = {"items": ["labctl-lab"], "fingerprint": vm1["tags"]["fingerprint"]}
    api.post(f"projects/labctl-demo/zones/{ZONE}/instances/lab1/setTags", tags)
    storage.create_bucket(BucketSpec("cloud-course-ana-aaaaaa", labels=OURS))
    storage.create_bucket(BucketSpec("other-course-bo", labels={**OURS, "labctl-course": "other"}))
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    in_use = found_at(scanned(compute, storage), now)
    assert ("firewall", "labctl-cloud-course-iap", "unused") not in in_use
    assert ("bucket", "cloud-course-ana-aaaaaa", "course-ended") in in_use  # ended 2026-11-30
    assert not any(f[1] == "other-course-bo" for f in in_use)
    compute.wait(compute.delete_vm("lab1", ZONE))
    assert ("firewall", "labctl-cloud-course-iap", "unused") in found_at(scanned(compute), now)
    # a rule that is not labctl's (the default network's) is left alone
    assert not any(
        f[0] == "firewall" and f[1].startswith("default-") for f in found_at(scanned(compute), now)
    )


def test_cleanup_end_to_end_on_the_emulator(emu: Emulator) -> None:
    compute = provider()
    rest_setup(emu)
    create(
        compute,
        spec("ana-gpu"),
        spec("bo-gpu"),
        spec("kept", labels={**OURS, "labctl-keep": "true"}),
    )
    compute.wait(compute.stop_vm("bo-gpu", ZONE))
    compute.wait(compute.stop_vm("kept", ZONE))
    emu.age("instance", "bo-gpu", zone=ZONE, days=8)
    emu.age("instance", "kept", zone=ZONE, days=80)
    emu.age("disk", "scratch", zone=ZONE, days=2)
    emu.age("disk", "theirs", zone=ZONE, days=200)
    emu.age("address", "ip1", region="us-central1", days=2)
    active = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    emu.set_guest_attribute("labctl-demo", ZONE, "ana-gpu", "labctl/last-active", active)
    emu.set_faults({"operation_seconds": 0, "snapshot_failures": ["scratch"]})

    result = gcp("cleanup", "--yes", "--format", "json", *NO_BUCKETS)
    assert result.exit_code == 1, result.stderr
    records = {r["name"]: r for r in json.loads(result.stdout)["findings"]}
    assert {n: r["result"] for n, r in records.items()} == {
        "ana-gpu": "stopped",
        "bo-gpu": "deleted",
        "scratch": "failed",
        "ip1": "released",
        "labctl-cloud-course-iap": "deleted",
    }
    assert "snapshot scratch-" in records["scratch"]["error"]["message"]
    disks = {d.name for d in compute.list_disks()}
    assert {"scratch", "theirs", "kept", "ana-gpu"} <= disks and "bo-gpu" not in disks
    snaps = {s.name: s for s in compute.list_snapshots()}
    bo_snapshot = next(s for n, s in snaps.items() if n.startswith("bo-gpu-"))
    assert bo_snapshot.status == "READY" and bo_snapshot.labels["labctl-managed"] == "true"

    emu.set_faults({"operation_seconds": 0})
    emu.clear_requests()
    rerun = gcp("cleanup", "--yes", "--format", "json", "--kind", "disk", "--kind", "snapshot")
    assert rerun.exit_code == 0, rerun.stderr
    done = {r["name"]: (r["rule"], r["result"]) for r in json.loads(rerun.stdout)["findings"]}
    failed_snapshot = next(n for n in done if n.startswith("scratch-"))
    assert done == {"scratch": ("orphaned", "deleted"), failed_snapshot: ("failed", "deleted")}
    posts = [r["path"] for r in emu.requests if r["method"] in ("POST", "DELETE")]
    assert [p for p in posts if p.endswith("/createSnapshot")] == [
        f"/compute/v1/projects/labctl-demo/zones/{ZONE}/disks/scratch/createSnapshot"
    ]
    assert "kept" in {v.name for v in compute.list_vms()}  # labctl-keep: never touched

    final = gcp("cleanup", "--dry-run", *NO_BUCKETS)
    assert "nothing to clean up" in final.stderr


def test_one_scan_is_six_lists_and_one_read_per_running_labctl_vm(
    emu: Emulator, storage_emulator: StorageEmulator, mocker: Any
) -> None:
    from labctl.providers.gcp.storage import GcpStorage

    bucket_lists = mocker.spy(GcpStorage, "list_buckets")
    object_lists = mocker.spy(GcpStorage, "list_blobs")
    compute = provider()
    create(compute, spec("r1"), spec("r2"), spec("s1"), spec("theirs", labels={}))
    compute.wait(compute.stop_vm("s1", ZONE))
    for name in ("r1", "r2"):
        emu.set_guest_attribute("labctl-demo", ZONE, name, "labctl/status", "ready")
    emu.clear_requests()
    result = gcp("cleanup", "--dry-run")
    assert result.exit_code == 0, result.stderr
    reads = sorted(r["path"].split("/labctl-demo/", 1)[1] for r in emu.requests)
    assert reads == [
        "aggregated/addresses",
        "aggregated/disks",
        "aggregated/instances",
        "global/firewalls",
        "global/snapshots",
        f"zones/{ZONE}/instances/r1/getGuestAttributes",
        f"zones/{ZONE}/instances/r2/getGuestAttributes",
    ]
    assert (bucket_lists.call_count, object_lists.call_count) == (1, 0)  # no bucket finding


def test_the_kind_choices_are_the_plans_kinds() -> None:
    from labctl.cli.cleanup import Kind

    assert tuple(k.value for k in Kind) == hygiene.KINDS


def test_the_expiry_cleanup_reads_is_what_vm_create_writes(
    labctl: Invoke, fake_compute: FakeCompute, monkeypatch: pytest.MonkeyPatch
) -> None:
    today = datetime.now(UTC).date()
    assert labctl("vm", "create", "t1", "--no-gpu", "--ttl", "7d").exit_code == 0
    label = fake_compute.get_vm("t1", ZONE).labels["labctl-expires"]
    assert label == (today + timedelta(days=7)).isoformat()
    monkeypatch.setenv("LABCTL_COURSE__TTL_DAYS", "3")
    monkeypatch.setenv("LABCTL_COURSE__MAX_RUN_HOURS", "6")
    assert labctl("vm", "create", "t2", "--no-gpu").exit_code == 0
    expected = (today + timedelta(days=3)).isoformat()
    assert fake_compute.get_vm("t2", ZONE).labels["labctl-expires"] == expected
    body = json.loads(labctl("vm", "create", "t3", "--no-gpu", "--dry-run").stdout)["request"]
    assert body["max_run_hours"] == 6  # the course default: Compute stops it by itself
    both = labctl("vm", "create", "t4", "--ttl", "7d", "--expires", "2099-01-01")
    assert both.exit_code == 2 and "--expires and --ttl conflict" in both.stderr
    # a day after the expiry, cleanup deletes it
    vm = fake_compute.get_vm("t1", ZONE)
    later = datetime.now(UTC) + timedelta(days=8)
    plan = hygiene.plan(
        hygiene.Inventory(vms=[vm]),
        hygiene.Policy(),
        hygiene.Options(),
        now=later,
        prices=load_prices(),
    )
    assert [(f.name, f.rule, f.action) for f in plan.findings] == [("t1", "expired", "delete")]
