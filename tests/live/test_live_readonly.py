"""Read-only checks against a real project (opt-in: -m live, LABCTL_LIVE_PROJECT=my-project).

They create nothing, so they cost nothing; they confirm what the emulator assumes.
"""

from __future__ import annotations

import os

import pytest

from labctl.providers.gcp import make_compute

pytestmark = pytest.mark.live


@pytest.fixture
def compute():  # type: ignore[no-untyped-def]
    return make_compute(project=os.environ["LABCTL_LIVE_PROJECT"])


def test_p100_zones_come_from_one_aggregated_call(compute) -> None:  # type: ignore[no-untyped-def]
    zones = compute.accelerator_zones("nvidia-tesla-p100")
    assert zones, "no zone offers nvidia-tesla-p100 any more: update configs/defaults.toml"
    assert all(count >= 1 for count in zones.values())


def test_course_machine_type_exists_in_the_default_zone(compute) -> None:  # type: ignore[no-untyped-def]
    assert compute.get_machine_type("us-central1-c", "n1-standard-8").cpus == 8


def test_list_vms_with_a_label_filter(compute) -> None:  # type: ignore[no-untyped-def]
    vms = compute.list_vms(labels={"labctl-managed": "true"})
    assert all(vm.labels.get("labctl-managed") == "true" for vm in vms)
