"""GcpCompute end to end over real HTTP: google-auth's session against the local emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from labctl.emulator import Emulator
from labctl.errors import AlreadyExists, NotFound, OperationTimeout, QuotaExceeded, Stockout
from labctl.models import Gpu, Provisioning, VmSpec, VmState
from labctl.providers.gcp import make_compute
from labctl.providers.gcp.compute import GcpCompute
from labctl.retry import RetryPolicy

pytestmark = pytest.mark.slow

PROJECT = "labctl-demo"
P100 = "nvidia-tesla-p100"
LABELS = {"labctl-managed": "true", "labctl-course": "cc101"}


@pytest.fixture
def emu(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    emulator.reset()
    emulator.set_faults({})
    # Only the endpoint override: the project comes from make_compute(project=...) and the
    # credentials must resolve to anonymous without any file or token.
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", emulator.compute_url)
    yield emulator
    emulator.set_faults({})
    emulator.reset()


@pytest.fixture
def compute(emu: Emulator, fast_retry: RetryPolicy) -> GcpCompute:
    provider = make_compute(project=PROJECT, retry=fast_retry)
    provider._poll_interval = 0.05
    return provider


def spec(name: str = "lab-ana", zone: str = "us-central1-c", **overrides: Any) -> VmSpec:
    values: dict[str, Any] = {
        "name": name,
        "zone": zone,
        "machine_type": "n1-standard-8",
        "image_project": "deeplearning-platform-release",
        "image_family": "common-cu129-ubuntu-2204-nvidia-580",
        "disk_size_gb": 100,
        "provisioning": Provisioning.SPOT,
        "gpu": Gpu(P100, 1),
        "startup_script": "#!/bin/bash\necho ready\n",
        "labels": {**LABELS, "labctl-student": name.removeprefix("lab-")},
    }
    values.update(overrides)
    return VmSpec(**values)


def create(compute: GcpCompute, s: VmSpec, *, request_id: str, wait: bool = True) -> None:
    operation = compute.insert_vm(s, request_id=request_id)
    if wait:
        compute.wait(operation)


def rid(label: str) -> str:
    """A stable UUID per label (Compute requires requestId to be a non-zero UUID)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"labctl-test/{label}"))


def recorded(emu: Emulator) -> list[dict[str, Any]]:
    """The emulator's request log: {method, path, query, body, time}."""
    return emu.requests


def paths(emu: Emulator, method: str | None = None) -> list[str]:
    return [
        str(r.get("path"))
        for r in recorded(emu)
        if method is None or str(r.get("method")).upper() == method
    ]


def request_ids(emu: Emulator) -> list[str]:
    ids = []
    for r in recorded(emu):
        if str(r.get("method")).upper() != "POST" or not str(r.get("path")).endswith("/instances"):
            continue
        query = r.get("query") or {}
        value = query.get("requestId")
        ids.append(value[0] if isinstance(value, list) else value)
    return ids


def test_vm_lifecycle(compute: GcpCompute, emu: Emulator) -> None:
    create(compute, spec(), request_id="11111111-1111-4111-8111-111111111111")

    vm = compute.get_vm("lab-ana", "us-central1-c")
    assert vm.state is VmState.RUNNING
    assert vm.status == "RUNNING"
    assert vm.zone == "us-central1-c"
    assert vm.machine_type == "n1-standard-8"
    assert vm.provisioning is Provisioning.SPOT
    assert vm.gpu == Gpu(P100, 1)
    assert vm.external_ip and vm.internal_ip
    assert vm.created is not None
    assert vm.labels["labctl-course"] == "cc101"
    assert vm.metadata["enable-guest-attributes"] == "TRUE"
    assert vm.metadata["install-nvidia-driver"] == "True"
    assert vm.id.isdigit()

    create(compute, spec("lab-bob", labels={"labctl-course": "other"}), request_id=rid("r-bob"))

    emu_requests_before = len(recorded(emu))
    vms = compute.list_vms()
    listing = recorded(emu)[emu_requests_before:]
    assert [r["path"] for r in listing] == [f"/compute/v1/projects/{PROJECT}/aggregated/instances"]
    assert {v.name for v in vms} == {"lab-ana", "lab-bob"}

    assert [v.name for v in compute.list_vms(labels={"labctl-course": "cc101"})] == ["lab-ana"]
    assert [v.name for v in compute.list_vms(name="lab-bob")] == ["lab-bob"]
    assert compute.list_vms(labels={"labctl-course": "nope"}) == []

    compute.wait(compute.stop_vm("lab-ana", "us-central1-c"))
    assert compute.get_vm("lab-ana", "us-central1-c").state is VmState.STOPPED
    compute.wait(compute.start_vm("lab-ana", "us-central1-c"))
    assert compute.get_vm("lab-ana", "us-central1-c").state is VmState.RUNNING

    compute.wait(compute.delete_vm("lab-ana", "us-central1-c"))
    with pytest.raises(NotFound, match="lab-ana"):
        compute.get_vm("lab-ana", "us-central1-c")
    with pytest.raises(NotFound):
        compute.wait(compute.delete_vm("lab-ana", "us-central1-c"))
    assert [v.name for v in compute.list_vms()] == ["lab-bob"]


@pytest.mark.parametrize("operation_seconds", [0.0, 0.3])
def test_stockout_carries_zone_and_alternatives(
    compute: GcpCompute, emu: Emulator, operation_seconds: float
) -> None:
    emu.set_faults(
        {
            "stockouts": [{"zone": "us-central1-c", "accelerator": P100}],
            "operation_seconds": operation_seconds,
        }
    )
    with pytest.raises(Stockout) as caught:
        create(compute, spec(), request_id=rid("r-stockout"))
    assert caught.value.zone == "us-central1-c"
    assert caught.value.zones_available == ("us-central1-f",)
    assert "us-central1-c" in caught.value.message


def test_global_gpu_quota(compute: GcpCompute, emu: Emulator) -> None:
    emu.set_faults({"quotas": {"GPUS_ALL_REGIONS": 0}})
    with pytest.raises(QuotaExceeded) as caught:
        create(compute, spec(), request_id=rid("r-quota-global"))
    assert caught.value.metric == "GPUS_ALL_REGIONS"
    assert caught.value.is_global
    assert caught.value.limit == 0.0
    assert compute.list_vms() == []


def test_regional_gpu_quota(compute: GcpCompute, emu: Emulator) -> None:
    # Spot GPUs use PREEMPTIBLE_NVIDIA_P100_GPUS, or the standard quota when that one is 0.
    emu.set_faults(
        {"quotas": {"us-central1": {"NVIDIA_P100_GPUS": 0, "PREEMPTIBLE_NVIDIA_P100_GPUS": 0}}}
    )
    with pytest.raises(QuotaExceeded) as caught:
        create(compute, spec(), request_id=rid("r-quota-region"))
    assert caught.value.region == "us-central1"
    assert not caught.value.is_global
    assert caught.value.metric.endswith("P100_GPUS")
    create(compute, spec(zone="europe-west4-a"), request_id=rid("r-quota-other-region"))


def test_rate_limit_retries_with_the_same_request_id(compute: GcpCompute, emu: Emulator) -> None:
    emu.set_faults({"rate_limit": {"count": 2, "methods": ["POST"]}})
    create(compute, spec(), request_id="22222222-2222-4222-8222-222222222222")
    assert request_ids(emu) == ["22222222-2222-4222-8222-222222222222"] * 3
    assert [v.name for v in compute.list_vms()] == ["lab-ana"]


def test_server_error_then_success(compute: GcpCompute, emu: Emulator) -> None:
    emu.set_faults({"server_errors": {"count": 1, "status": 503}})
    assert compute.list_zones()[:1] == ["asia-east1-a"]
    emu.set_faults({"server_errors": {"count": 1, "status": 503, "methods": ["POST"]}})
    create(compute, spec(), request_id=rid("r-503"))
    assert len(request_ids(emu)) == 2
    assert len(compute.list_vms()) == 1


def test_lost_insert_response_does_not_make_a_twin(compute: GcpCompute, emu: Emulator) -> None:
    faults = {
        "server_errors": {"count": 1, "status": 503, "methods": ["POST"], "after_commit": True}
    }
    emu.set_faults(faults)
    create(compute, spec(), request_id=rid("r-lost"))
    assert request_ids(emu) == [rid("r-lost")] * 2
    assert len(compute.list_vms()) == 1


def test_duplicate_name_already_exists(compute: GcpCompute) -> None:
    create(compute, spec(), request_id=rid("r-first"))
    with pytest.raises(AlreadyExists):
        create(compute, spec(), request_id=rid("r-second"))


def test_update_metadata_keeps_other_keys(compute: GcpCompute) -> None:
    create(compute, spec(), request_id=rid("r-meta"))
    compute.update_metadata(
        "lab-ana", "us-central1-c", lambda items: {**items, "ssh-keys": "ana:ssh-ed25519 AAA ana"}
    )
    metadata = compute.get_vm("lab-ana", "us-central1-c").metadata
    assert metadata["ssh-keys"] == "ana:ssh-ed25519 AAA ana"
    assert metadata["startup-script"].startswith("#!/bin/bash")
    assert metadata["enable-guest-attributes"] == "TRUE"


def test_update_metadata_redoes_after_a_concurrent_write(compute: GcpCompute) -> None:
    create(compute, spec(), request_id=rid("r-meta-race"))
    calls = 0

    def update(items: dict[str, str]) -> dict[str, str]:
        nonlocal calls
        calls += 1
        if calls == 1:  # someone else writes between our read and our write
            compute.update_metadata("lab-ana", "us-central1-c", lambda i: {**i, "other": "x"})
        return {**items, "mine": "y"}

    compute.update_metadata("lab-ana", "us-central1-c", update)
    assert calls == 2
    metadata = compute.get_vm("lab-ana", "us-central1-c").metadata
    assert (metadata["other"], metadata["mine"]) == ("x", "y")


def test_update_metadata_of_a_missing_vm(compute: GcpCompute) -> None:
    with pytest.raises(NotFound):
        compute.update_metadata("nobody", "us-central1-c", lambda items: items)


def test_accelerator_zones_in_one_request(compute: GcpCompute, emu: Emulator) -> None:
    before = len(recorded(emu))
    zones = compute.accelerator_zones(P100)
    assert len(recorded(emu)) - before == 1
    assert set(zones) == {
        "asia-east1-a",
        "asia-east1-c",
        "australia-southeast1-b",
        "europe-west1-b",
        "europe-west1-d",
        "europe-west4-a",
        "us-central1-c",
        "us-central1-f",
        "us-east1-b",
        "us-east1-c",
        "us-west1-a",
        "us-west1-b",
    }
    assert all(count >= 1 for count in zones.values())
    assert compute.accelerator_zones("nvidia-no-such-gpu") == {}


def test_catalog_reads(compute: GcpCompute) -> None:
    zones = compute.list_zones()
    assert "us-central1-c" in zones and zones == sorted(zones)
    machine = compute.get_machine_type("us-central1-c", "n1-standard-8")
    assert (machine.name, machine.zone, machine.cpus) == ("n1-standard-8", "us-central1-c", 8)
    assert machine.memory_mb == 30720
    with pytest.raises(NotFound, match="n1-standard-7"):
        compute.get_machine_type("us-central1-c", "n1-standard-7")


def test_disks_follow_their_vms(compute: GcpCompute) -> None:
    create(compute, spec(), request_id=rid("r-disk"))
    (disk,) = compute.list_disks(labels={"labctl-course": "cc101"})
    assert disk.name == "lab-ana"
    assert disk.zone == "us-central1-c"
    assert disk.size_gb == 100
    assert disk.users == ("lab-ana",)
    assert compute.list_disks(labels={"labctl-course": "nope"}) == []


def test_guest_attributes(compute: GcpCompute, emu: Emulator) -> None:
    create(compute, spec(), request_id=rid("r-guest"))
    assert compute.get_guest_attributes("lab-ana", "us-central1-c", "labctl/") == {}
    emu.set_guest_attribute(PROJECT, "us-central1-c", "lab-ana", "labctl/ready", "1")
    assert compute.get_guest_attributes("lab-ana", "us-central1-c", "labctl/") == {
        "labctl/ready": "1"
    }
    with pytest.raises(NotFound):
        compute.get_guest_attributes("nobody", "us-central1-c", "labctl/")


def test_create_without_wait(compute: GcpCompute, emu: Emulator) -> None:
    emu.set_faults({"operation_seconds": 0.3})
    create(compute, spec(), request_id=rid("r-nowait"), wait=False)
    assert compute.get_vm("lab-ana", "us-central1-c").name == "lab-ana"
    compute.wait(compute.delete_vm("lab-ana", "us-central1-c"))  # waits, past the slow operations
    assert compute.list_vms() == []


def test_slow_operation_waits_in_a_loop(compute: GcpCompute, emu: Emulator) -> None:
    emu.set_faults({"operation_seconds": 0.4, "wait_max_seconds": 0.1})
    create(compute, spec(), request_id=rid("r-slow"))
    assert compute.get_vm("lab-ana", "us-central1-c").state is VmState.RUNNING
    waits = [p for p in paths(emu, "POST") if p.endswith("/wait")]
    assert len(waits) >= 2  # wait returned before DONE at least once


def test_operation_deadline(compute: GcpCompute, emu: Emulator) -> None:
    emu.set_faults({"operation_seconds": 5.0, "wait_max_seconds": 0.1})
    compute._operation_timeout = 0.3
    with pytest.raises(OperationTimeout) as caught:
        create(compute, spec(), request_id=rid("r-deadline"))
    assert "continues in the background" in caught.value.message
    assert caught.value.zone == "us-central1-c"


LIST_IN_FRESH_PROCESS = """
import json, sys, time
start = time.perf_counter()
from labctl.models import VmSpec
from labctl.providers.gcp import make_compute
compute = make_compute(project="labctl-demo")
vms = compute.list_vms()
spec = VmSpec("fresh", "us-central1-c", "n1-standard-8", "debian-cloud", "debian-12", 10)
compute.wait(compute.insert_vm(spec, request_id="33333333-3333-4333-8333-333333333333"))
compute.wait(compute.delete_vm("fresh", "us-central1-c"))
elapsed = time.perf_counter() - start
heavy = sorted(m for m in sys.modules if m.startswith(("google.cloud", "google.api_core", "grpc")))
print(json.dumps({"names": [vm.name for vm in vms], "heavy": heavy, "seconds": elapsed}))
"""


def test_reads_and_writes_in_a_fresh_process_stay_light(compute: GcpCompute, emu: Emulator) -> None:
    create(compute, spec(), request_id=rid("r-fresh"))
    emu.clear_requests()
    proc = subprocess.run(
        [sys.executable, "-c", LIST_IN_FRESH_PROCESS],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ.copy(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["names"] == ["lab-ana"]
    # No google.cloud.compute_v1, api_core or grpc on the read or the write path.
    assert result["heavy"] == []
    calls = [(r["method"], r["path"].split(f"/projects/{PROJECT}/")[1]) for r in emu.requests]
    assert calls[0] == ("GET", "aggregated/instances")  # listing is one call
    assert calls[1] == ("POST", "zones/us-central1-c/instances")
    assert ("DELETE", "zones/us-central1-c/instances/fresh") in calls
