"""google-cloud-compute (REST transport, anonymous credentials) works against the emulator."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from labctl.emulator import Emulator

compute_v1 = pytest.importorskip("google.cloud.compute_v1")
from google.api_core import exceptions  # noqa: E402
from google.auth.credentials import AnonymousCredentials  # noqa: E402

PROJECT, ZONE = "labctl-demo", "us-central1-c"


def _clients(emu: Emulator) -> tuple[Any, Any]:
    opts = {"api_endpoint": f"http://127.0.0.1:{emu.compute_port}"}
    kwargs = {"credentials": AnonymousCredentials(), "client_options": opts, "transport": "rest"}
    return compute_v1.InstancesClient(**kwargs), compute_v1.ZoneOperationsClient(**kwargs)


def _instance(name: str) -> Any:
    return compute_v1.Instance(
        name=name,
        machine_type=f"zones/{ZONE}/machineTypes/n1-standard-8",
        disks=[
            compute_v1.AttachedDisk(
                boot=True,
                auto_delete=True,
                initialize_params=compute_v1.AttachedDiskInitializeParams(
                    source_image="projects/deeplearning-platform-release/global/images/family/"
                    "common-cu129-ubuntu-2204-nvidia-580",
                    disk_size_gb=100,
                ),
            )
        ],
        network_interfaces=[
            compute_v1.NetworkInterface(
                access_configs=[compute_v1.AccessConfig(name="external-nat")]
            )
        ],
        guest_accelerators=[
            compute_v1.AcceleratorConfig(
                accelerator_type=f"zones/{ZONE}/acceleratorTypes/nvidia-tesla-p100",
                accelerator_count=1,
            )
        ],
        scheduling=compute_v1.Scheduling(
            on_host_maintenance="TERMINATE",
            provisioning_model="SPOT",
            instance_termination_action="STOP",
            automatic_restart=False,
        ),
        labels={"labctl-managed": "true", "labctl-course": "ml"},
    )


def _insert(instances: Any, name: str, request_id: str | None = None) -> Any:
    request = compute_v1.InsertInstanceRequest(
        project=PROJECT, zone=ZONE, instance_resource=_instance(name), request_id=request_id
    )
    return instances.insert_unary(request=request)


def _wait(ops: Any, op: Any, deadline: float = 10.0) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        op = ops.wait(project=PROJECT, zone=ZONE, operation=op.name)
        if op.status == compute_v1.Operation.Status.DONE:
            return op
    raise AssertionError(f"operation {op.name} not DONE in {deadline} s")


def test_insert_list_get_stop_delete(emulator: Emulator) -> None:
    emulator.set_faults({"operation_seconds": 0.3})
    instances, ops = _clients(emulator)
    op = _insert(instances, "vm-1", str(uuid.uuid4()))
    assert op.id > 0 and op.status in (
        compute_v1.Operation.Status.PENDING,
        compute_v1.Operation.Status.RUNNING,
    )
    done = _wait(ops, op)
    assert not done.error.errors

    request = compute_v1.AggregatedListInstancesRequest(
        project=PROJECT, filter="labels.labctl-course = ml", max_results=500
    )
    found = [
        inst.name
        for _scope, scoped in instances.aggregated_list(request=request)
        for inst in scoped.instances
    ]
    assert found == ["vm-1"]

    inst = instances.get(project=PROJECT, zone=ZONE, instance="vm-1")
    assert inst.status == "RUNNING"
    assert inst.scheduling.provisioning_model == "SPOT"
    assert inst.guest_accelerators[0].accelerator_count == 1
    assert inst.network_interfaces[0].access_configs[0].nat_i_p.startswith("203.0.113.")

    _wait(ops, instances.stop_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    assert instances.get(project=PROJECT, zone=ZONE, instance="vm-1").status == "TERMINATED"
    _wait(ops, instances.delete_unary(project=PROJECT, zone=ZONE, instance="vm-1"))
    with pytest.raises(exceptions.NotFound):
        instances.get(project=PROJECT, zone=ZONE, instance="vm-1")


def test_errors_map_to_api_core_exceptions(emulator: Emulator) -> None:
    instances, ops = _clients(emulator)
    instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=_instance("vm-1"))
    with pytest.raises(exceptions.Conflict):
        instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=_instance("vm-1"))
    bad = _instance("vm-2")
    bad.scheduling = compute_v1.Scheduling(on_host_maintenance="MIGRATE")
    with pytest.raises(exceptions.BadRequest, match="live migration"):
        instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=bad)
    emulator.set_faults({"quotas": {"GPUS_ALL_REGIONS": 0}})
    with pytest.raises(exceptions.Forbidden, match="GPUS_ALL_REGIONS"):
        instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=_instance("vm-3"))
    emulator.set_faults({"stockouts": [{"zone": ZONE}]})
    op = _wait(
        ops, instances.insert_unary(project=PROJECT, zone=ZONE, instance_resource=_instance("vm-4"))
    )
    assert op.http_error_status_code == 503
    assert op.error.errors[0].code == "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS"
    meta = op.error.errors[0].error_details[0].error_info.metadatas
    assert meta["zonesAvailable"] == "us-central1-f"
    emulator.set_faults({"rate_limit": {"count": 1}})
    with pytest.raises(exceptions.Forbidden, match="Quota exceeded for quota metric"):
        instances.get(project=PROJECT, zone=ZONE, instance="vm-1")


def test_request_id_sent_by_the_client_is_idempotent(emulator: Emulator) -> None:
    instances, _ops = _clients(emulator)
    rid = str(uuid.uuid4())
    first = _insert(instances, "vm-1", rid)
    again = _insert(instances, "vm-1", rid)
    assert first.name == again.name
    inserts = [r for r in emulator.requests if r["method"] == "POST"]
    assert [r["query"]["requestId"] for r in inserts] == [rid, rid]
    assert inserts[0]["body"]["disks"][0]["initializeParams"]["diskSizeGb"] == "100"  # int64 as str


def test_disabled_api_surfaces_service_disabled(emulator: Emulator) -> None:
    instances, _ops = _clients(emulator)
    emulator.set_faults({"disabled_apis": ["compute"]})
    with pytest.raises(exceptions.Forbidden) as info:
        instances.get(project=PROJECT, zone=ZONE, instance="vm-1")
    assert info.value.reason == "SERVICE_DISABLED" and info.value.domain == "googleapis.com"
    assert info.value.metadata["service"] == "compute.googleapis.com"
    assert "Compute Engine API has not been used in project" in info.value.message
