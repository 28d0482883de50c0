"""Cleanup's rules (pure: a fixed clock, no provider) and its apply (on the in-memory fake)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from labctl import hygiene
from labctl.errors import PermissionDenied
from labctl.hygiene import Inventory, Options, Policy
from labctl.hygiene.rules import activity_wanted, age_text, buckets_to_count
from labctl.models import (
    Address,
    Bucket,
    Disk,
    Firewall,
    Gpu,
    Provisioning,
    Snapshot,
    Vm,
    VmState,
)
from labctl.pricing import load_prices
from labctl.providers.fake.compute import FakeCompute
from labctl.providers.fake.storage import FakeStorage

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
MINUTE = timedelta(minutes=1)
OURS = {"labctl-managed": "true", "labctl-course": "ml", "labctl-owner": "ana"}
ZONE = "us-central1-c"
PRICES = load_prices()
POLICY = Policy()  # the defaults: 60 min, 12 h, 7 days, 1 day, 24 h, 30 days


def vm(name: str = "v1", state: VmState = VmState.RUNNING, **kw: Any) -> Vm:
    values: dict[str, Any] = {
        "name": name,
        "zone": ZONE,
        "id": "1",
        "state": state,
        "status": {VmState.RUNNING: "RUNNING", VmState.STOPPED: "TERMINATED"}.get(state, "X"),
        "machine_type": "n1-standard-8",
        "provisioning": Provisioning.SPOT,
        "gpu": Gpu("nvidia-tesla-p100", 1),
        "external_ip": "203.0.113.7",
        "created": NOW - timedelta(hours=2),
        "labels": dict(OURS),
        "last_started": NOW - timedelta(hours=1),
        "disks": (name,),
    }
    values.update(kw)
    return Vm(**values)


def disk(name: str = "d1", users: tuple[str, ...] = (), **kw: Any) -> Disk:
    values: dict[str, Any] = {
        "name": name,
        "zone": ZONE,
        "size_gb": 100,
        "users": users,
        "labels": dict(OURS),
        "created": NOW - timedelta(days=60),
        "type": "pd-balanced",
    }
    values.update(kw)
    return Disk(**values)


def plan(inventory: Inventory, policy: Policy = POLICY, **options: Any) -> hygiene.Plan:
    return hygiene.plan(inventory, policy, Options(**options), now=NOW, prices=PRICES)


def found(inventory: Inventory, policy: Policy = POLICY, **options: Any) -> list[tuple[str, ...]]:
    return [(f.kind, f.name, f.rule, f.action) for f in plan(inventory, policy, **options).findings]


# Each threshold: a minute below is no finding; at it and a minute above, a finding.
EDGES = [(-MINUTE, False), (timedelta(0), True), (MINUTE, True)]


@pytest.mark.parametrize(("offset", "expected"), EDGES, ids=["below", "at", "above"])
def test_idle_running_vm(offset: timedelta, expected: bool) -> None:
    inventory = Inventory(
        vms=[vm()], last_active={(ZONE, "v1"): NOW - timedelta(minutes=60) - offset}
    )
    assert found(inventory) == ([("instance", "v1", "idle", "stop")] if expected else [])


@pytest.mark.parametrize(("offset", "expected"), EDGES, ids=["below", "at", "above"])
def test_vm_running_too_long(offset: timedelta, expected: bool) -> None:
    inventory = Inventory(vms=[vm(last_started=NOW - timedelta(hours=12) - offset)])
    assert found(inventory) == ([("instance", "v1", "running", "stop")] if expected else [])


@pytest.mark.parametrize(("offset", "expected"), EDGES, ids=["below", "at", "above"])
def test_vm_stopped_too_long(offset: timedelta, expected: bool) -> None:
    stopped = vm(state=VmState.STOPPED, last_stopped=NOW - timedelta(days=7) - offset)
    assert found(Inventory(vms=[stopped])) == (
        [("instance", "v1", "stopped", "delete")] if expected else []
    )


@pytest.mark.parametrize(
    ("expires", "expected"),
    [(TODAY + timedelta(days=1), False), (TODAY, False), (TODAY - timedelta(days=1), True)],
    ids=["tomorrow", "today", "yesterday"],
)
def test_vm_past_its_expiry(expires: date, expected: bool) -> None:
    labels = {**OURS, "labctl-expires": expires.isoformat()}
    running = vm(labels=labels)
    assert found(Inventory(vms=[running])) == (
        [("instance", "v1", "expired", "delete")] if expected else []
    )


@pytest.mark.parametrize(("offset", "expected"), EDGES, ids=["below", "at", "above"])
def test_orphaned_disk(offset: timedelta, expected: bool) -> None:
    detached = disk(last_detached=NOW - timedelta(days=1) - offset)
    assert found(Inventory(disks=[detached])) == (
        [("disk", "d1", "orphaned", "delete")] if expected else []
    )


def test_disk_without_detach_time_ages_from_creation_and_attached_disks_stay() -> None:
    never_attached = disk(created=NOW - timedelta(days=2))
    attached = disk("boot", users=("v9",))
    assert found(Inventory(disks=[never_attached, attached])) == [
        ("disk", "d1", "orphaned", "delete")
    ]


@pytest.mark.parametrize(("offset", "expected"), EDGES, ids=["below", "at", "above"])
def test_unused_address(offset: timedelta, expected: bool) -> None:
    reserved = Address(
        "ip1",
        "us-central1",
        "198.51.100.1",
        "RESERVED",
        labels=OURS,
        created=NOW - timedelta(hours=24) - offset,
    )
    in_use = Address(
        "ip2",
        "us-central1",
        "198.51.100.2",
        "IN_USE",
        users=("v1",),
        labels=OURS,
        created=NOW - timedelta(days=90),
    )
    assert found(Inventory(addresses=[reserved, in_use])) == (
        [("address", "ip1", "unused", "release")] if expected else []
    )


@pytest.mark.parametrize(("offset", "expected"), EDGES, ids=["below", "at", "above"])
def test_old_snapshot(offset: timedelta, expected: bool) -> None:
    snap = Snapshot("s1", "d1", 100, 2**30, "READY", OURS, NOW - timedelta(days=30) - offset)
    assert found(Inventory(snapshots=[snap])) == (
        [("snapshot", "s1", "old", "delete")] if expected else []
    )


def test_failed_labctl_snapshot_is_deleted_at_once() -> None:
    failed = Snapshot("s1", "d1", 100, 0, "FAILED", OURS, NOW)
    assert found(Inventory(snapshots=[failed])) == [("snapshot", "s1", "failed", "delete")]


def test_labctl_firewall_rule_whose_tags_no_vm_carries() -> None:
    ours = "Created by labctl for course ml: IAP SSH"
    rules = [
        Firewall("labctl-ml-iap", ours, target_tags=("labctl-ml",)),
        Firewall("labctl-ml-web", ours, target_tags=("web",)),  # a VM carries it
        Firewall("labctl-ml-all", ours),  # no tags: applies to every VM
        Firewall("labctl-lookalike", "someone else's", target_tags=("gone",)),
        Firewall("default-allow-ssh", "Allow SSH"),
    ]
    someone_elses_vm = vm("x", labels={}, tags=("web",))
    result = plan(Inventory(vms=[someone_elses_vm], firewalls=rules), kinds=("firewall",))
    assert [(f.name, f.rule, f.course) for f in result.findings] == [
        ("labctl-ml-iap", "unused", "ml")
    ]
    assert {r.name for r in result.left_alone} == {"labctl-lookalike", "default-allow-ssh"}


@pytest.mark.parametrize(
    ("ends", "expected"),
    [(TODAY + timedelta(days=1), False), (TODAY, False), (TODAY - timedelta(days=1), True)],
    ids=["tomorrow", "today", "yesterday"],
)
def test_bucket_of_a_course_that_ended(ends: date, expected: bool) -> None:
    bucket = Bucket("ml-ana-1", "US-CENTRAL1", "STANDARD", OURS, NOW, 3, 3 * 2**20)
    policy = Policy(course_ends={"ml": ends})
    kept = [("bucket", "ml-ana-1", "course-ended", "none")] if expected else []
    assert found(Inventory(buckets=[bucket]), policy) == kept
    deleted = [("bucket", "ml-ana-1", "course-ended", "delete")] if expected else []
    assert found(Inventory(buckets=[bucket]), policy, include_buckets=True) == deleted


def test_bucket_past_its_expiry_shows_its_objects_and_goes_only_when_included() -> None:
    labels = {**OURS, "labctl-expires": (TODAY - timedelta(days=1)).isoformat()}
    bucket = Bucket("b1", "US-CENTRAL1", "STANDARD", labels, NOW, 12, 5 * 2**30)
    [shown] = plan(Inventory(buckets=[bucket])).findings
    assert (shown.rule, shown.action, shown.objects, shown.bytes) == (
        "expired",
        "none",
        12,
        5 * 2**30,
    )
    assert "--include-buckets" in shown.note and shown.saving.usd_per_hour == 0.0
    [deleted] = plan(Inventory(buckets=[bucket]), include_buckets=True).findings
    assert deleted.action == "delete" and deleted.saving.usd_per_month == pytest.approx(0.1)


def test_a_rule_set_to_zero_is_off() -> None:
    off = Policy(
        idle=None, running=None, stopped=None, orphan_disk=None, unused_address=None, snapshot=None
    )
    inventory = Inventory(
        vms=[
            vm(last_started=NOW - timedelta(days=9)),
            vm("s", VmState.STOPPED, last_stopped=NOW - timedelta(days=99)),
        ],
        last_active={(ZONE, "v1"): NOW - timedelta(days=9)},
        disks=[disk(last_detached=NOW - timedelta(days=99))],
    )
    assert found(inventory, off) == []
    assert Policy.from_settings(_settings(idle_minutes=0)).idle is None


def _settings(**cleanup: int) -> Any:
    from labctl.config import load_settings

    base = load_settings()
    return base.model_copy(update={"cleanup": base.cleanup.model_copy(update=cleanup)})


# -- what is never touched ---------------------------------------------------------------------


def test_unlabelled_and_kept_resources_are_left_alone_and_counted() -> None:
    inventory = Inventory(
        vms=[
            vm("mine", VmState.STOPPED, last_stopped=NOW - timedelta(days=30)),
            vm("theirs", VmState.STOPPED, labels={}, last_stopped=NOW - timedelta(days=30)),
            vm(
                "keep",
                VmState.STOPPED,
                labels={**OURS, "labctl-keep": "true"},
                last_stopped=NOW - timedelta(days=30),
            ),
        ],
        disks=[disk("loose", labels={}, last_detached=NOW - timedelta(days=9))],
    )
    result = plan(inventory)
    assert [f.name for f in result.findings] == ["mine"]
    assert (result.unmanaged, result.kept) == (2, 1)
    alone = {(r.name, r.why, r.would) for r in result.left_alone}
    assert ("theirs", "no labctl labels", "stopped 30 days") in alone
    assert ("keep", "labctl-keep=true", "stopped 30 days") in alone
    assert ("loose", "no labctl labels", "no VM for 9 days") in alone


def test_filters_course_owner_kind_and_age() -> None:
    other = {**OURS, "labctl-course": "db", "labctl-owner": "bo"}
    young = NOW - timedelta(days=10)
    inventory = Inventory(
        vms=[
            vm("a", VmState.STOPPED, last_stopped=NOW - timedelta(days=9), created=young),
            vm("b", VmState.STOPPED, labels=other, last_stopped=NOW - timedelta(days=9)),
        ],
        disks=[disk(last_detached=NOW - timedelta(days=2))],
    )
    assert [f.name for f in plan(inventory, course="db").findings] == ["b"]
    assert [f.name for f in plan(inventory, owner="ana").findings] == ["a", "d1"]
    assert [f.name for f in plan(inventory, kinds=("disk",)).findings] == ["d1"]
    assert [f.name for f in plan(inventory, older_than=timedelta(days=30)).findings] == ["d1"]


# -- actions, snapshots, order -------------------------------------------------------------------


def test_stops_are_stops_unless_delete_is_asked_for() -> None:
    inventory = Inventory(
        vms=[vm()],
        disks=[disk("v1", users=("v1",))],
        last_active={(ZONE, "v1"): NOW - timedelta(hours=3)},
    )
    [stop] = plan(inventory).findings
    assert (stop.action, stop.snapshots) == ("stop", ())
    # a stop saves the machine, GPU and IP; the disk keeps billing
    assert stop.saving.usd_per_month == pytest.approx(stop.cost.usd_per_month - 10.0)
    [delete] = plan(inventory, delete_running=True).findings
    assert delete.action == "delete" and delete.saving == delete.cost
    assert [(s.name, s.disk, s.size_gb, s.exists) for s in delete.snapshots] == [
        ("v1-20261201", "v1", 100, False)
    ]
    assert delete.snapshots[0].labels["labctl-managed"] == "true"
    assert delete.snapshots[0].labels["labctl-owner"] == "ana"
    [bare] = plan(inventory, delete_running=True, snapshot=False).findings
    assert bare.snapshots == ()


def test_snapshot_names_reuse_an_earlier_runs_and_avoid_failed_or_foreign_ones() -> None:
    long_name = "d" * 63
    inventory = Inventory(
        disks=[
            disk("kept-done", last_detached=NOW - timedelta(days=3)),
            disk("retry", last_detached=NOW - timedelta(days=3)),
            disk(long_name, last_detached=NOW - timedelta(days=3)),
            disk("twin", last_detached=NOW - timedelta(days=3)),
            disk("twin", zone="us-east1-b", last_detached=NOW - timedelta(days=3)),
        ],
        snapshots=[
            Snapshot("kept-done-20261201", "kept-done", 100, 1, "READY", OURS, NOW),
            Snapshot("retry-20261201", "retry", 100, 0, "FAILED", OURS, NOW),
        ],
    )
    result = plan(inventory, kinds=("disk",))
    chosen = {(f.name, f.zone): f.snapshots[0] for f in result.findings}
    assert chosen[("kept-done", ZONE)].exists
    assert chosen[("retry", ZONE)].name == "retry-20261201-2"
    assert len(chosen[(long_name, ZONE)].name) == 63
    twins = {chosen[("twin", ZONE)].name, chosen[("twin", "us-east1-b")].name}
    assert twins == {"twin-20261201", "twin-20261201-2"}
    assert len(result.new_snapshots) == 4  # the existing one is not taken again


def test_findings_come_in_apply_order_with_a_total_saving() -> None:
    inventory = Inventory(
        buckets=[
            Bucket("b", "US", "STANDARD", {**OURS, "labctl-expires": "2020-01-01"}, NOW, 0, 0)
        ],
        snapshots=[Snapshot("s", "d", 1, 2**30, "READY", OURS, NOW - timedelta(days=40))],
        addresses=[
            Address(
                "ip",
                "us-east1",
                "198.51.100.3",
                "RESERVED",
                labels=OURS,
                created=NOW - timedelta(days=2),
            )
        ],
        disks=[disk(last_detached=NOW - timedelta(days=2))],
        vms=[vm(state=VmState.STOPPED, last_stopped=NOW - timedelta(days=8))],
    )
    result = plan(inventory, include_buckets=True)
    assert [f.kind for f in result.findings] == [
        "instance",
        "disk",
        "address",
        "snapshot",
        "bucket",
    ]
    assert result.monthly_saving.usd_per_month == pytest.approx(
        sum(f.saving.usd_per_month or 0 for f in result.findings), abs=0.02
    )


def test_activity_is_read_only_for_running_labctl_vms_not_found_otherwise() -> None:
    inventory = Inventory(
        vms=[
            vm("fresh"),
            vm("long", last_started=NOW - timedelta(hours=20)),  # found without it
            vm("off", VmState.STOPPED),
            vm("theirs", labels={}),
            vm("kept", labels={**OURS, "labctl-keep": "true"}),
        ]
    )
    wanted = activity_wanted(inventory, POLICY, Options(), NOW)
    assert [v.name for v in wanted] == ["fresh"]
    assert activity_wanted(inventory, POLICY, Options(kinds=("disk",)), NOW) == []


def test_only_bucket_findings_are_counted() -> None:
    gone = {**OURS, "labctl-expires": "2020-01-01"}
    inventory = Inventory(
        buckets=[Bucket("old", "US", "STANDARD", gone), Bucket("new", "US", "STANDARD", OURS)]
    )
    assert buckets_to_count(inventory, POLICY, Options(), NOW) == ["old"]


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(minutes=75), "75 min"),
        (timedelta(hours=14), "14 h"),
        (timedelta(days=9, hours=3), "9 days"),
    ],
)
def test_ages_read_as_people_say_them(delta: timedelta, text: str) -> None:
    assert age_text(delta) == text


# -- apply, on the in-memory provider --------------------------------------------------------------


@pytest.fixture
def fake() -> FakeCompute:
    compute = FakeCompute(clock=lambda: NOW)
    compute.add_vm(vm("idle"))
    compute.add_disk(disk("idle", users=("idle",)))
    compute.set_guest_attributes("idle", ZONE, {"labctl/last-active": "2026-12-01T09:00:00Z"})
    compute.add_vm(
        vm("old", VmState.STOPPED, last_stopped=NOW - timedelta(days=8), disks=("old", "old-data"))
    )
    compute.add_disk(disk("old", users=("old",)))
    compute.add_disk(disk("old-data", users=("old",), size_gb=500))
    compute.add_disk(disk("orphan", last_detached=NOW - timedelta(days=2)))
    compute.add_address(
        Address(
            "ip",
            "us-central1",
            "198.51.100.9",
            "RESERVED",
            labels=OURS,
            created=NOW - timedelta(days=2),
        )
    )
    compute.add_snapshot(
        Snapshot("ancient", "x", 10, 2**30, "READY", OURS, NOW - timedelta(days=99))
    )
    compute.add_firewall(
        Firewall(
            "labctl-ml-iap", "Created by labctl for course ml: IAP", target_tags=("labctl-ml",)
        )
    )
    return compute


def survey(
    compute: FakeCompute, storage: FakeStorage | None = None, **options: Any
) -> hygiene.Plan:
    return hygiene.survey(compute, storage, POLICY, Options(**options), now=NOW, prices=PRICES)[1]


def test_one_scan_is_five_lists_and_one_activity_read(fake: FakeCompute) -> None:
    fake.calls.clear()
    survey(fake, kinds=("instance", "disk", "address", "snapshot", "firewall"))
    assert sorted(fake.calls) == sorted(
        [
            "instances.aggregatedList",
            "disks.aggregatedList",
            "addresses.aggregatedList",
            "snapshots.list",
            "firewalls.list",
            "instances.getGuestAttributes",
        ]
    )


def test_apply_in_order_snapshots_first_and_a_rerun_finds_nothing(fake: FakeCompute) -> None:
    planned = survey(fake)
    assert [(f.kind, f.name, f.action) for f in planned.findings] == [
        ("instance", "idle", "stop"),
        ("instance", "old", "delete"),
        ("disk", "orphan", "delete"),
        ("address", "ip", "release"),
        ("snapshot", "ancient", "delete"),
        ("firewall", "labctl-ml-iap", "delete"),
    ]
    fake.calls.clear()
    results = hygiene.apply(fake, None, planned)
    assert [(r.finding.name, r.outcome) for r in results] == [
        ("idle", "stopped"),
        ("old", "deleted"),
        ("orphan", "deleted"),
        ("ip", "released"),
        ("ancient", "deleted"),
        ("labctl-ml-iap", "deleted"),
    ]
    mutations = [c for c in fake.calls if not c.endswith(("Operations.wait", "wait"))]
    # the instances' snapshots are awaited before any instance request; kinds in order
    assert mutations[:2] == ["disks.createSnapshot", "disks.createSnapshot"]
    assert sorted(mutations[2:4]) == ["instances.delete", "instances.stop"]
    assert mutations[4:] == [
        "disks.createSnapshot",
        "disks.delete",
        "addresses.delete",
        "snapshots.delete",
        "firewalls.delete",
    ]
    snapshots = {s.name: s for s in fake.list_snapshots()}
    assert {"old-20261201", "old-data-20261201", "orphan-20261201"} <= set(snapshots)
    assert snapshots["old-data-20261201"].labels["labctl-managed"] == "true"
    # the data disk of the deleted VM stays, detached: a later run handles it
    assert [d.name for d in fake.list_disks() if not d.users] == ["old-data"]
    again = survey(fake)
    assert [f.name for f in again.findings] == []  # converged: nothing acted on twice


def test_a_failed_snapshot_keeps_its_disk_and_the_rest_goes_on(fake: FakeCompute) -> None:
    fake.failing_snapshots.add("orphan")
    results = {r.finding.name: r for r in hygiene.apply(fake, None, survey(fake))}
    assert results["orphan"].outcome == "failed"
    assert "snapshot orphan-20261201 of disk orphan failed" in results["orphan"].error.message
    assert "orphan" in {d.name for d in fake.list_disks()}
    assert results["ip"].outcome == "released" and results["old"].outcome == "deleted"
    # next run: the failed snapshot is cleaned up and a new one (another name) is taken
    fake.failing_snapshots.clear()
    second = survey(fake)
    assert [(f.name, [s.name for s in f.snapshots]) for f in second.findings] == [
        ("orphan", ["orphan-20261201-2"]),
        ("orphan-20261201", []),
    ]
    assert all(r.ok for r in hygiene.apply(fake, None, second))
    assert "orphan" not in {d.name for d in fake.list_disks()}


def test_a_delete_failing_in_the_middle_then_a_rerun_finishes(fake: FakeCompute) -> None:
    fake.faults.fail("disks.delete", PermissionDenied("permission denied: disks.delete"))
    first = {r.finding.name: r for r in hygiene.apply(fake, None, survey(fake))}
    assert first["orphan"].outcome == "failed" and first["ip"].outcome == "released"
    snapshots_before = [s.name for s in fake.list_snapshots()]
    fake.calls.clear()
    rerun = survey(fake)
    assert [(f.name, f.snapshots[0].exists) for f in rerun.findings] == [("orphan", True)]
    assert [r.outcome for r in hygiene.apply(fake, None, rerun)] == ["deleted"]
    assert "disks.createSnapshot" not in fake.calls  # the first run's snapshot is reused
    assert [s.name for s in fake.list_snapshots()] == snapshots_before


def test_something_already_gone_counts_as_done(fake: FakeCompute) -> None:
    planned = survey(fake, kinds=("address",))
    fake.release_address("ip", "us-central1")
    [result] = hygiene.apply(fake, None, planned)
    assert (result.outcome, result.ok) == ("already gone", True)


def test_buckets_go_last_and_only_when_included(fake: FakeCompute) -> None:
    from labctl.models import BucketSpec

    storage = FakeStorage()
    storage.create_bucket(BucketSpec("ml-old", labels={**OURS, "labctl-expires": "2026-11-01"}))
    storage.put_object("ml-old", "data.bin", b"x" * 1000)
    kept = survey(fake, storage, kinds=("bucket",))
    [finding] = kept.findings
    assert (finding.action, finding.objects, finding.bytes) == ("none", 1, 1000)
    assert hygiene.apply(fake, storage, kept) == []
    included = survey(fake, storage, kinds=("bucket",), include_buckets=True)
    assert [r.outcome for r in hygiene.apply(fake, storage, included)] == ["deleted"]
    assert storage.list_buckets() == []
