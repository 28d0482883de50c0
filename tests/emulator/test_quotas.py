"""Quotas: usage in regions.get / projects.get, PREEMPTIBLE_ metrics for Spot, limits, defaults."""

from __future__ import annotations

from typing import Any

from labctl.emulator import Emulator
from labctl.emulator.faults import Faults
from labctl.emulator.quotas import Demand, check
from labctl.emulator.state import State
from tests.emulator._http import Api, vm_body

ZONE = "us-central1-c"
INSTANCES = f"projects/labctl-demo/zones/{ZONE}/instances"
REGION = "projects/labctl-demo/regions/us-central1"


def quotas(api: Api, path: str = REGION) -> dict[str, dict[str, Any]]:
    status, body = api.get(path)
    assert status == 200, body
    return {q["metric"]: q for q in body["quotas"]}


def test_spot_uses_standard_quota_until_preemptible_quota_is_granted(
    api: Api, emulator: Emulator
) -> None:
    q = quotas(api)
    assert q["PREEMPTIBLE_CPUS"]["limit"] == 0.0  # a project has none until granted
    assert q["PREEMPTIBLE_NVIDIA_P100_GPUS"]["limit"] == 0.0
    api.post(INSTANCES, vm_body("spot-1"))
    q = quotas(api)
    assert q["CPUS"]["usage"] == 8.0 and q["NVIDIA_P100_GPUS"]["usage"] == 1.0
    assert q["PREEMPTIBLE_CPUS"]["usage"] == 0.0


def test_region_usage_follows_what_runs(api: Api, emulator: Emulator) -> None:
    emulator.set_faults(
        {"quotas": {"*": {"PREEMPTIBLE_CPUS": 96, "PREEMPTIBLE_NVIDIA_P100_GPUS": 8}}}
    )
    api.post(INSTANCES, vm_body("spot-1"))  # n1-standard-8 + P100, Spot
    api.post(INSTANCES, vm_body("std-1", spot=False))
    q = quotas(api)
    assert q["PREEMPTIBLE_CPUS"]["usage"] == 8.0 and q["CPUS"]["usage"] == 8.0
    assert q["PREEMPTIBLE_NVIDIA_P100_GPUS"]["usage"] == 1.0
    assert q["NVIDIA_P100_GPUS"]["usage"] == 1.0
    assert q["INSTANCES"]["usage"] == 2.0
    assert q["IN_USE_ADDRESSES"]["usage"] == 2.0  # each VM's ephemeral external IP
    assert q["SSD_TOTAL_GB"]["usage"] == 200.0  # two pd-balanced 100 GB boot disks
    assert q["COMMITTED_NVIDIA_P100_GPUS"] == {
        "metric": "COMMITTED_NVIDIA_P100_GPUS",
        "limit": 0.0,
        "usage": 0.0,
    }
    assert all(isinstance(v["limit"], float) for v in q.values())
    # A stopped VM uses no CPUs, GPUs or ephemeral IP, but it still exists.
    api.post(f"{INSTANCES}/spot-1/stop")
    q = quotas(api)
    assert q["PREEMPTIBLE_CPUS"]["usage"] == 0.0
    assert q["PREEMPTIBLE_NVIDIA_P100_GPUS"]["usage"] == 0.0
    assert q["IN_USE_ADDRESSES"]["usage"] == 1.0 and q["INSTANCES"]["usage"] == 2.0
    _, listed = api.get("projects/labctl-demo/regions")
    central = next(r for r in listed["items"] if r["name"] == "us-central1")
    assert {x["metric"]: x for x in central["quotas"]} == q
    other = quotas(api, "projects/labctl-demo/regions/europe-west4")
    assert other["CPUS"]["usage"] == 0.0


def test_project_quotas(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"quotas": {"GPUS_ALL_REGIONS": 4}})
    api.post(INSTANCES, vm_body("spot-1"))
    api.post(
        "projects/labctl-demo/zones/europe-west4-a/instances", vm_body("eu", zone="europe-west4-a")
    )
    api.post(f"projects/labctl-demo/zones/{ZONE}/disks/spot-1/createSnapshot", {"name": "s1"})
    status, project = api.get("projects/labctl-demo")
    assert status == 200
    assert project["name"] == "labctl-demo" and project["id"].isdigit()
    assert "commonInstanceMetadata" in project
    q = {x["metric"]: x for x in project["quotas"]}
    assert q["GPUS_ALL_REGIONS"] == {"metric": "GPUS_ALL_REGIONS", "limit": 4.0, "usage": 2.0}
    assert q["CPUS_ALL_REGIONS"]["usage"] == 16.0
    assert q["SNAPSHOTS"]["usage"] == 1.0
    assert q["FIREWALLS"]["usage"] == 4.0  # the default network's rules


def test_spot_is_refused_on_its_preemptible_quota(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"quotas": {"us-central1": {"PREEMPTIBLE_NVIDIA_P100_GPUS": 1}}})
    assert api.post(INSTANCES, vm_body("a"))[0] == 200
    status, err = api.post(INSTANCES, vm_body("b"))
    assert status == 403
    assert err["error"]["message"] == (
        "Quota 'PREEMPTIBLE_NVIDIA_P100_GPUS' exceeded. Limit: 1.0 in region us-central1."
    )
    assert err["error"]["errors"][0] == {
        "domain": "usageLimits",
        "reason": "quotaExceeded",
        "message": err["error"]["message"],
    }
    assert api.post(INSTANCES, vm_body("c", spot=False))[0] == 200  # standard quota is separate
    emulator.set_faults({"quotas": {"us-central1": {"PREEMPTIBLE_CPUS": 8}}})  # granted, 8
    status, err = api.post(INSTANCES, vm_body("d"))
    assert status == 403 and "'PREEMPTIBLE_CPUS'" in err["error"]["message"]


def test_without_preemptible_quota_spot_uses_standard(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"quotas": {"*": {"NVIDIA_P100_GPUS": 1}}})
    assert api.post(INSTANCES, vm_body("a"))[0] == 200
    assert quotas(api)["NVIDIA_P100_GPUS"]["usage"] == 1.0
    status, err = api.post(INSTANCES, vm_body("b"))
    assert status == 403 and "'NVIDIA_P100_GPUS'" in err["error"]["message"]
    # "*" applies to every region.
    eu = "projects/labctl-demo/zones/europe-west4-a/instances"
    assert api.post(eu, vm_body("eu-1", zone="europe-west4-a"))[0] == 200
    assert api.post(eu, vm_body("eu-2", zone="europe-west4-a"))[0] == 403


def test_any_metric_can_be_limited(api: Api, emulator: Emulator) -> None:
    emulator.set_faults(
        {
            "quotas": {
                "us-central1": {"STATIC_ADDRESSES": 1, "IN_USE_ADDRESSES": 1, "INSTANCES": 5},
                "SNAPSHOTS": 0,
            }
        }
    )
    q = quotas(api)
    assert q["STATIC_ADDRESSES"]["limit"] == 1.0 and q["INSTANCES"]["limit"] == 5.0
    assert api.post(f"{REGION}/addresses", {"name": "ip-1"})[0] == 200
    status, err = api.post(f"{REGION}/addresses", {"name": "ip-2"})
    assert status == 403 and "'STATIC_ADDRESSES'" in err["error"]["message"]
    assert api.post(INSTANCES, vm_body("a"))[0] == 200
    status, err = api.post(INSTANCES, vm_body("b"))
    assert status == 403 and "'IN_USE_ADDRESSES'" in err["error"]["message"]
    status, err = api.post(
        f"projects/labctl-demo/zones/{ZONE}/disks/a/createSnapshot", {"name": "s"}
    )
    assert status == 403
    assert err["error"]["message"] == "Quota 'SNAPSHOTS' exceeded. Limit: 0.0 globally."


def test_defaults_fit_a_class_of_1000_spot_p100_vms() -> None:
    state = State()
    demand = Demand(
        cpus=8,
        gpus={"nvidia-tesla-p100": 1},
        spot=True,
        instances=1000,
        external_ips=1,
        disks_gb={"SSD_TOTAL_GB": 100},
    )
    check(state, Faults({}), "labctl-demo", ZONE, demand)  # raises if any default is too small
