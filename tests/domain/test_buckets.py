"""labctl.buckets without any cloud: names, create plans, selection, delete plans, IAM input."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from labctl import buckets
from labctl.config import Settings, load_settings
from labctl.errors import AlreadyExists, InvalidInput, NotEmpty, NotFound
from labctl.models import BucketSpec
from labctl.providers.fake.storage import FakeStorage

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings() -> Settings:
    return load_settings()


def test_check_names_drops_repeats_and_stops_at_the_first_bad_one() -> None:
    assert buckets.check_names(["b-1", "a-1", "b-1"]) == ["b-1", "a-1"]
    with pytest.raises(InvalidInput, match="'B'"):
        buckets.check_names(["ok-1", "B"])


def test_locations_and_classes_are_normalised_or_refused() -> None:
    assert buckets.check_location("us-central1") == "US-CENTRAL1"
    assert buckets.check_location("eu") == "EU"
    assert buckets.check_location("nam4") == "NAM4"
    assert buckets.check_storage_class("nearline") == "NEARLINE"
    with pytest.raises(InvalidInput, match="unknown bucket location"):
        buckets.check_location("us-central1-a")  # a zone, not a location
    with pytest.raises(InvalidInput, match="unknown storage class"):
        buckets.check_storage_class("MULTI_REGIONAL_PLUS")


def test_names_keep_e_mails_and_the_project_id_out() -> None:
    with pytest.raises(InvalidInput, match="e-mail"):
        buckets.check_prefix("ana@uni.edu", project=None)
    with pytest.raises(InvalidInput, match="project id"):
        buckets.check_public_name("x-my-project-42-y", project="my-project-42")
    with pytest.raises(InvalidInput, match="project id"):
        buckets.check_prefix("My_Project_42 data", project="my-project-42")
    # Placeholders shorter than any real project id (6+) do not match ordinary words.
    assert buckets.check_public_name("lab-demo-1", project="demo") == "lab-demo-1"


def test_plan_checks_every_rule_before_any_call(settings: Settings) -> None:
    def plan(**kw: Any) -> buckets.BucketPlan:
        return buckets.plan(buckets.BucketRequest(**kw), settings, now=NOW)

    with pytest.raises(InvalidInput, match="must not start with 'goog'"):
        plan(name="googly-1")
    with pytest.raises(InvalidInput, match="not both"):
        plan(name="ok-1", prefix="lab")
    with pytest.raises(InvalidInput, match="reserved"):
        plan(name="ok-1", labels=["labctl-managed=false"])
    planned = plan(name="ok-1", location="eu", storage_class="coldline", labels=["team=a"])
    assert planned.derived_from is None
    assert (planned.spec.name, planned.spec.location, planned.spec.storage_class) == (
        "ok-1",
        "EU",
        "COLDLINE",
    )
    assert planned.spec.labels == {
        "team": "a",
        "labctl-managed": "true",
        "labctl-course": "cloud-course",
        "labctl-owner": "tester",
        "labctl-created": "20260901-120000",
    }


def test_plan_derives_a_name_from_course_and_owner(settings: Settings) -> None:
    planned = buckets.plan(buckets.BucketRequest(owner="Ana.Maria@uni.edu"), settings, now=NOW)
    assert planned.derived_from == "cloud-course-ana-maria"
    assert planned.spec.name.startswith("cloud-course-ana-maria-")
    assert planned.spec.location == "US-CENTRAL1"  # the region of course.zone
    assert planned.spec.labels["labctl-owner"] == "ana-maria"


def test_create_checks_the_name_against_the_resolved_project(settings: Settings) -> None:
    fake = FakeStorage(project="cs-lab-2026")
    planned = buckets.plan(buckets.BucketRequest(name="x-cs-lab-2026-y"), settings, now=NOW)
    with pytest.raises(InvalidInput, match="project id"):
        buckets.create(fake, planned)
    assert fake.calls == []


def test_derived_names_give_up_after_a_bounded_number_of_tries() -> None:
    fake = FakeStorage()
    suffixes = iter(f"{i:06x}" for i in range(10))
    fake.faults.foreign_buckets = {f"lab-{i:06x}" for i in range(10)}
    planned = buckets.BucketPlan(BucketSpec(f"lab-{next(suffixes)}"), derived_from="lab")
    with pytest.raises(AlreadyExists, match="3 derived bucket names were all taken") as err:
        buckets.create(fake, planned, attempts=3, suffix=lambda: next(suffixes))
    assert err.value.hint and "--prefix" in err.value.hint
    assert fake.calls == ["create_bucket"] * 3


def test_explicit_name_that_is_taken_is_not_retried() -> None:
    fake = FakeStorage()
    fake.create_bucket(BucketSpec("taken-1"))
    with pytest.raises(AlreadyExists) as err:
        buckets.create(fake, buckets.BucketPlan(BucketSpec("taken-1")))
    assert err.value.owned is True and err.value.kind == "bucket"
    assert fake.calls == ["create_bucket", "create_bucket"]


def test_selector_slugs_the_owner_and_parses_the_age() -> None:
    wanted = buckets.selector(course="cs-101", owner="Ana@uni.edu", older_than="2d")
    assert wanted.labels() == {
        "labctl-managed": "true",
        "labctl-course": "cs-101",
        "labctl-owner": "ana",
    }
    assert wanted.min_age == timedelta(days=2) and wanted.by_labels
    assert buckets.selector(all_=True).labels() == {}
    with pytest.raises(InvalidInput, match="--older-than"):
        buckets.selector(older_than="two days")


def test_select_filters_on_labels_and_age() -> None:
    fake = FakeStorage()
    for name, days in (("old-1", 10), ("new-1", 1)):
        fake.create_bucket(BucketSpec(name, labels={"labctl-managed": "true"}))
        entry = fake.buckets[name]
        entry.bucket = replace(entry.bucket, created=NOW - timedelta(days=days))
    fake.create_bucket(BucketSpec("foreign-1"))
    everything = buckets.select(fake, buckets.selector(all_=True), now=NOW)
    assert [b.name for b in everything] == ["foreign-1", "new-1", "old-1"]
    old = buckets.select(fake, buckets.selector(older_than="7d"), now=NOW)
    assert [b.name for b in old] == ["old-1"]


def test_delete_plan_counts_and_turns_problems_into_failed_items() -> None:
    fake = FakeStorage()
    for name in ("b-1", "b-2", "b-3"):
        fake.create_bucket(BucketSpec(name))
    fake.put_object("b-1", "a", b"x" * 10)
    fake.put_object("b-1", "b", b"x" * 5)
    names = ["b-1", "b-2", "nope-1", "b-1", "b-3"]
    kept = buckets.plan_delete(fake, names, force=False, now=NOW)
    assert kept.plans == [buckets.DeletePlan("b-2", 0, 0), buckets.DeletePlan("b-3", 0, 0)]
    assert isinstance(kept.failures["b-1"], NotEmpty)
    assert kept.failures["b-1"].name == "b-1"
    assert isinstance(kept.failures["nope-1"], NotFound)
    forced = buckets.plan_delete(fake, names, force=True, now=NOW)
    assert forced.plans[0] == buckets.DeletePlan("b-1", 2, 15)


def test_delete_many_keeps_going_past_a_failure() -> None:
    fake = FakeStorage()
    for name in ("b-1", "b-2"):
        fake.create_bucket(BucketSpec(name))
    fake.put_object("b-1", "late", b"x")  # appeared after the count
    plans = [buckets.DeletePlan("b-1", 0, 0), buckets.DeletePlan("b-2", 0, 0)]
    outcomes = buckets.delete_many(fake, plans, force=False)
    assert [(o.key, o.ok) for o in outcomes] == [("b-1", False), ("b-2", True)]
    assert isinstance(outcomes[0].error, NotEmpty)
    assert list(fake.buckets) == ["b-1"]


def test_members_and_roles() -> None:
    assert buckets.check_member("ana@uni.edu") == "user:ana@uni.edu"
    assert buckets.check_member("group:tas@uni.edu") == "group:tas@uni.edu"
    assert buckets.check_member("domain:uni.edu") == "domain:uni.edu"
    for bad in ("ana", "user:ana", "allUsers", "robot:x@y.z"):
        with pytest.raises(InvalidInput):
            buckets.check_member(bad)
    assert buckets.check_role("viewer") == "roles/storage.objectViewer"
    assert buckets.check_role("editor") == "roles/storage.objectAdmin"
    request = buckets.access_request("b-1", "ana@uni.edu", "editor")
    assert request == buckets.AccessRequest(
        "b-1", "user:ana@uni.edu", "editor", "roles/storage.objectAdmin"
    )


def test_change_access_reports_the_bindings_afterwards() -> None:
    fake = FakeStorage()
    fake.create_bucket(BucketSpec("b-1"))
    request = buckets.access_request("b-1", "ana@uni.edu", "viewer")
    granted = buckets.change_access(fake, request, grant=True)
    assert granted.changed and granted.members == {
        "roles/storage.objectViewer": ["user:ana@uni.edu"]
    }
    assert not buckets.change_access(fake, request, grant=True).changed
    assert buckets.change_access(fake, request, grant=False).members == {}


def test_delete_targets_are_names_or_selectors() -> None:
    assert buckets.delete_targets(["b-1", "b-1"], buckets.selector()) == ["b-1"]
    with pytest.raises(InvalidInput, match="not both"):
        buckets.delete_targets(["b-1"], buckets.selector(course="cs"))
    with pytest.raises(InvalidInput, match="name the buckets"):
        buckets.delete_targets([], buckets.selector(all_=True))


def test_ctrl_c_during_deletes_names_the_buckets_still_in_flight() -> None:
    import threading

    from labctl.cli._errors import render
    from labctl.errors import Interrupted

    fake = FakeStorage()
    for name in ("b-1", "b-2"):
        fake.create_bucket(BucketSpec(name))
    entered, stuck = threading.Event(), threading.Event()
    real = fake.delete_bucket

    def slow(name: str, *, force: bool = False) -> None:
        if name == "b-2":
            entered.set()
            stuck.wait(5)
        real(name, force=force)

    fake.delete_bucket = slow  # type: ignore[method-assign]

    def on_result(outcome: object) -> None:
        entered.wait(5)  # b-2's request is out when the user presses Ctrl-C
        raise KeyboardInterrupt

    plans = [buckets.DeletePlan("b-1", 0, 0), buckets.DeletePlan("b-2", 0, 0)]
    with pytest.raises(Interrupted) as err:
        buckets.delete_many(fake, plans, force=False, on_result=on_result)
    stuck.set()
    assert err.value.kind == "bucket" and list(err.value.in_flight) == ["b-2"]
    assert render(err.value)[1] == "b-2 may still be deleted: labctl bucket ls gs://b-2"
