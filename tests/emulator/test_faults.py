"""Faults: stockouts in the operation, quota 403s, rate limits, 5xx, latency, preemption."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from labctl.emulator import Emulator
from labctl.emulator.faults import check_faults, load_faults_file
from tests.emulator._http import Api, vm_body

ZONE = "us-central1-c"
INSTANCES = f"projects/labctl-demo/zones/{ZONE}/instances"


def test_stockout_fails_in_the_operation(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"stockouts": [{"zone": ZONE, "accelerator": "nvidia-tesla-p100"}]})
    status, op = api.post(INSTANCES, vm_body())
    assert status == 200
    assert op["status"] == "DONE" and op["httpErrorStatusCode"] == 503
    err = op["error"]["errors"][0]
    assert err["code"] == "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"
    info = err["errorDetails"][0]["errorInfo"]["metadatas"]
    assert info["zone"] == ZONE
    assert info["zonesAvailable"] == "us-central1-f"  # the region's other P100 zone
    assert info["attachment"] == "nvidia-tesla-p100:1"
    assert "us-central1-f" in err["errorDetails"][2]["localizedMessage"]["message"]
    assert api.get(f"{INSTANCES}/vm-1")[0] == 404  # not created
    # Another zone, or a VM without that accelerator, is fine.
    assert "error" not in api.post(INSTANCES, vm_body(name="cpu-only", gpu=None, spot=False))[1]
    other = "projects/labctl-demo/zones/us-central1-f/instances"
    assert "error" not in api.post(other, vm_body(zone="us-central1-f"))[1]


def test_stockout_count_and_machine_type(api: Api, emulator: Emulator) -> None:
    emulator.set_faults(
        {"stockouts": [{"zone": ZONE, "machine_type": "n1-standard-8", "count": 1}]}
    )
    assert "error" in api.post(INSTANCES, vm_body())[1]
    assert "error" not in api.post(INSTANCES, vm_body())[1]  # count used up
    assert emulator.faults["stockouts"][0]["count"] == 0


def test_stockout_on_start(api: Api, emulator: Emulator) -> None:
    api.post(INSTANCES, vm_body())
    api.post(f"{INSTANCES}/vm-1/stop")
    emulator.set_faults({"stockouts": [{"zone": ZONE}]})
    _, op = api.post(f"{INSTANCES}/vm-1/start")
    assert op["error"]["errors"][0]["code"] == "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"
    assert api.get(f"{INSTANCES}/vm-1")[1]["status"] == "TERMINATED"


def test_global_gpu_quota(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"quotas": {"GPUS_ALL_REGIONS": 0}})
    status, err = api.post(INSTANCES, vm_body())
    assert status == 403
    assert err["error"]["message"] == "Quota 'GPUS_ALL_REGIONS' exceeded. Limit: 0.0 globally."
    assert err["error"]["errors"][0]["reason"] == "quotaExceeded"
    assert api.post(INSTANCES, vm_body(gpu=None, spot=False))[0] == 200  # no GPU, no problem


def test_regional_quotas_count_running_vms(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"quotas": {"us-central1": {"NVIDIA_P100_GPUS": 1, "CPUS": 24}}})
    assert api.post(INSTANCES, vm_body(name="a", spot=False))[0] == 200
    status, err = api.post(INSTANCES, vm_body(name="b", spot=False))
    assert status == 403
    assert err["error"]["message"] == (
        "Quota 'NVIDIA_P100_GPUS' exceeded. Limit: 1.0 in region us-central1."
    )
    # Stopped VMs do not count.
    api.post(f"{INSTANCES}/a/stop")
    assert api.post(INSTANCES, vm_body(name="b", spot=False))[0] == 200
    status, err = api.post(
        INSTANCES, vm_body(name="c", machine="n1-standard-32", gpu=None, spot=False)
    )
    assert (
        status == 403 and "Quota 'CPUS' exceeded. Limit: 24.0 in region" in err["error"]["message"]
    )
    # Starting the stopped GPU VM would need a second P100.
    assert api.post(f"{INSTANCES}/a/start")[0] == 403
    _, region = api.get("projects/labctl-demo/regions/us-central1")
    quota = {q["metric"]: q for q in region["quotas"]}
    assert quota["NVIDIA_P100_GPUS"] == {"metric": "NVIDIA_P100_GPUS", "limit": 1.0, "usage": 1.0}


def test_preemptible_quota_used_when_configured(api: Api, emulator: Emulator) -> None:
    emulator.set_faults(
        {"quotas": {"us-central1": {"NVIDIA_P100_GPUS": 0, "PREEMPTIBLE_NVIDIA_P100_GPUS": 4}}}
    )
    assert api.post(INSTANCES, vm_body(spot=True))[0] == 200
    body = vm_body(name="standard", spot=False)
    assert api.post(INSTANCES, body)[0] == 403


def test_rate_limit(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"rate_limit": {"count": 2, "methods": ["POST"]}})
    assert api.get(INSTANCES)[0] == 200  # GETs are not limited here
    for _ in range(2):
        status, err = api.post(INSTANCES, vm_body())
        assert status == 403
        assert err["error"]["errors"][0]["reason"] == "rateLimitExceeded"
        assert "Quota exceeded for quota metric 'Queries'" in err["error"]["message"]
    assert api.post(INSTANCES, vm_body())[0] == 200
    assert emulator.faults["rate_limit"]["count"] == 0


def test_server_errors_then_retry_with_request_id(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"server_errors": {"count": 1, "status": 503}})
    rid = str(uuid.uuid4())
    assert api.post(INSTANCES, vm_body(), requestId=rid)[0] == 503
    assert api.get(f"{INSTANCES}/vm-1")[0] == 404  # failed before doing anything
    assert api.post(INSTANCES, vm_body(), requestId=rid)[0] == 200


def test_lost_response_retry_reuses_the_operation(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"server_errors": {"count": 1, "status": 500, "after_commit": True}})
    rid = str(uuid.uuid4())
    assert api.post(INSTANCES, vm_body(), requestId=rid)[0] == 500
    assert api.get(f"{INSTANCES}/vm-1")[0] == 200  # it was created
    status, op = api.post(INSTANCES, vm_body(), requestId=rid)
    assert status == 200 and op["operationType"] == "insert" and "error" not in op
    posts = [r for r in emulator.requests if r["method"] == "POST"]
    assert len(posts) == 2 and {r["query"]["requestId"] for r in posts} == {rid}


def test_latency(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"latency_ms": 200})
    start = time.monotonic()
    api.get("projects/labctl-demo/zones/us-central1-a")
    assert time.monotonic() - start >= 0.2


def test_preempt_stop_and_delete(api: Api, emulator: Emulator) -> None:
    api.post(INSTANCES, vm_body(name="stops"))
    body = vm_body(name="goes")
    body["scheduling"]["instanceTerminationAction"] = "DELETE"
    api.post(INSTANCES, body)
    op = emulator.preempt("labctl-demo", ZONE, "stops")
    assert op["operationType"] == "compute.instances.preempted" and op["status"] == "DONE"
    assert api.get(f"{INSTANCES}/stops")[1]["status"] == "TERMINATED"
    status, _ = api.admin(
        "POST", "preempt", {"project": "labctl-demo", "zone": ZONE, "instance": "goes"}
    )
    assert status == 200
    assert api.get(f"{INSTANCES}/goes")[0] == 404
    _, ops = api.get(
        f"projects/labctl-demo/zones/{ZONE}/operations",
        filter="operationType = compute.instances.preempted",
    )
    assert sorted(o["targetLink"].rsplit("/", 1)[1] for o in ops["items"]) == ["goes", "stops"]
    api.post(INSTANCES, vm_body(name="standard", gpu=None, spot=False))
    with pytest.raises(Exception, match="not a Spot"):
        emulator.preempt("labctl-demo", ZONE, "standard")


def test_admin_faults_endpoint(api: Api, emulator: Emulator) -> None:
    status, body = api.admin("PUT", "faults", {"operation_seconds": 0.5})
    assert status == 200 and body["operation_seconds"] == 0.5
    assert api.admin("GET", "faults")[1] == {"operation_seconds": 0.5}
    assert api.admin("PUT", "faults", {"nonsense": 1})[0] == 400
    api.get("projects/labctl-demo")
    assert api.admin("GET", "requests")[1][-1]["path"] == "/compute/v1/projects/labctl-demo"


def test_faults_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "faults.yaml"
    yaml_file.write_text("quotas:\n  GPUS_ALL_REGIONS: 0\n  us-central1: {CPUS: 24}\n")
    assert load_faults_file(yaml_file) == {
        "quotas": {"GPUS_ALL_REGIONS": 0, "us-central1": {"CPUS": 24}}
    }
    example = Path(__file__).parents[2] / "configs" / "emulator-faults.example.yaml"
    check_faults(load_faults_file(example))
    with pytest.raises(ValueError):
        check_faults({"stockouts": [{"accelerator": "x"}]})


@pytest.mark.parametrize(
    "bad",
    [
        {"disabled_apis": ["bigquery"]},
        {"disabled_apis": "compute"},
        {"default_firewall_rules": ["default-allow-everything"]},
        {"default_firewall_rules": "no"},
        {"billing": {"enabled": "no"}},
        {"billing": {"owner": "me"}},
        {"snapshot_failures": "disk-1"},
    ],
)
def test_new_fault_keys_are_checked(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        check_faults(bad)
