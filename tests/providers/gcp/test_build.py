"""The insert request, field by field, without HTTP.

labctl builds REST JSON itself (importing google-cloud-compute would cost a create more than
a second); every body is parsed here with google-cloud-compute's own message types, which
reject unknown fields, and then checked field by field on the parsed message.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from google.cloud import compute_v1

from labctl.models import Gpu, Provisioning, VmSpec
from labctl.providers.gcp._build import instance_body, metadata_body, scheduling_body

PROJECT = "labctl-demo"
IMAGE_PROJECT = "deeplearning-platform-release"
FAMILY = "common-cu129-ubuntu-2204-nvidia-580"
P100 = Gpu("nvidia-tesla-p100", 1)
LABELS = {"labctl-managed": "true", "labctl-course": "cc101", "labctl-student": "ana"}


def spec(**overrides: object) -> VmSpec:
    base = VmSpec(
        name="lab-ana",
        zone="us-central1-c",
        machine_type="n1-standard-8",
        image_project=IMAGE_PROJECT,
        image_family=FAMILY,
        disk_size_gb=100,
        provisioning=Provisioning.SPOT,
        gpu=P100,
        startup_script="#!/bin/bash\necho ready\n",
        metadata={"labctl-jupyter-port": "8888"},
        labels=LABELS,
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def build_instance(s: VmSpec, project: str) -> compute_v1.Instance:
    """labctl's body as google-cloud-compute parses it: an unknown field fails here."""
    return compute_v1.Instance.from_json(
        json.dumps(instance_body(s, project)), ignore_unknown_fields=False
    )


def metadata_of(instance: compute_v1.Instance) -> dict[str, str]:
    return {item.key: item.value for item in instance.metadata.items}


def test_gpu_spot_instance_field_by_field() -> None:
    instance = build_instance(spec(), PROJECT)

    assert instance.name == "lab-ana"
    assert instance.machine_type == "zones/us-central1-c/machineTypes/n1-standard-8"

    (disk,) = instance.disks
    assert disk.boot is True
    assert disk.auto_delete is True
    assert disk.initialize_params.source_image == (
        f"projects/{IMAGE_PROJECT}/global/images/family/{FAMILY}"
    )
    assert disk.initialize_params.disk_size_gb == 100
    assert dict(disk.initialize_params.labels) == LABELS

    (nic,) = instance.network_interfaces
    assert nic.network == "global/networks/default"
    (access,) = nic.access_configs
    assert access.type_ == "ONE_TO_ONE_NAT"
    assert access.name == "External NAT"

    (accelerator,) = instance.guest_accelerators
    assert accelerator.accelerator_type == (
        "projects/labctl-demo/zones/us-central1-c/acceleratorTypes/nvidia-tesla-p100"
    )
    assert accelerator.accelerator_count == 1

    scheduling = instance.scheduling
    assert scheduling.on_host_maintenance == "TERMINATE"  # not wiped by the spot settings
    assert scheduling.provisioning_model == "SPOT"
    assert scheduling.instance_termination_action == "STOP"
    assert "automatic_restart" in scheduling and scheduling.automatic_restart is False
    assert "preemptible" not in scheduling

    assert metadata_of(instance) == {
        "startup-script": "#!/bin/bash\necho ready\n",
        "enable-guest-attributes": "TRUE",
        "install-nvidia-driver": "True",
        "labctl-jupyter-port": "8888",
    }
    assert dict(instance.labels) == LABELS


def test_spot_with_delete_termination_action() -> None:
    instance = build_instance(spec(termination_action="DELETE"), PROJECT)
    assert instance.scheduling.instance_termination_action == "DELETE"


def test_preemptible_gpu() -> None:
    scheduling = build_instance(spec(provisioning=Provisioning.PREEMPTIBLE), PROJECT).scheduling
    assert scheduling.preemptible is True
    assert scheduling.automatic_restart is False
    assert scheduling.on_host_maintenance == "TERMINATE"
    assert "provisioning_model" not in scheduling
    assert "instance_termination_action" not in scheduling


def test_standard_without_gpu_leaves_scheduling_defaults() -> None:
    s = spec(provisioning=Provisioning.STANDARD, gpu=None, machine_type="e2-standard-2")
    instance = build_instance(s, PROJECT)
    assert scheduling_body(s) is None
    assert "scheduling" not in instance
    assert list(instance.guest_accelerators) == []
    assert "install-nvidia-driver" not in metadata_of(instance)
    assert metadata_of(instance)["enable-guest-attributes"] == "TRUE"
    assert "scheduling" not in instance_body(s, PROJECT)


def test_gpu_standard_terminates_and_keeps_automatic_restart_default() -> None:
    scheduling = build_instance(spec(provisioning=Provisioning.STANDARD), PROJECT).scheduling
    assert scheduling.on_host_maintenance == "TERMINATE"
    assert "automatic_restart" not in scheduling  # Compute's default (true)
    assert "provisioning_model" not in scheduling
    assert "preemptible" not in scheduling


def test_no_external_ip() -> None:
    (nic,) = build_instance(spec(external_ip=False), PROJECT).network_interfaces
    assert list(nic.access_configs) == []


def test_startup_script_present_and_absent() -> None:
    assert metadata_of(build_instance(spec(), PROJECT))["startup-script"].startswith("#!/bin/bash")
    assert "startup-script" not in metadata_of(build_instance(spec(startup_script=None), PROJECT))


def test_spec_metadata_overrides_defaults() -> None:
    s = spec(metadata={"enable-guest-attributes": "FALSE"})
    assert metadata_of(build_instance(s, PROJECT))["enable-guest-attributes"] == "FALSE"


@pytest.mark.parametrize("count", [1, 2, 4])
def test_gpu_count(count: int) -> None:
    instance = build_instance(spec(gpu=Gpu("nvidia-tesla-p100", count)), PROJECT)
    assert instance.guest_accelerators[0].accelerator_count == count


def test_run_time_limit_stops_the_vm() -> None:
    standard = build_instance(spec(provisioning=Provisioning.STANDARD, max_run_hours=6), PROJECT)
    assert standard.scheduling.max_run_duration.seconds == 6 * 3600
    assert standard.scheduling.instance_termination_action == "STOP"
    spot = build_instance(spec(termination_action="DELETE", max_run_hours=2), PROJECT)
    assert spot.scheduling.instance_termination_action == "DELETE"  # spot keeps its own action


def test_metadata_body_is_a_compare_and_set() -> None:
    body = metadata_body({"a": "1"}, "Zm9v")
    parsed = compute_v1.Metadata.from_json(json.dumps(body), ignore_unknown_fields=False)
    assert parsed.fingerprint == "Zm9v" and parsed.items[0].key == "a"
    assert "fingerprint" not in metadata_body({}, None)


def test_instance_body_is_rest_shaped() -> None:
    body = instance_body(spec(), PROJECT)
    assert body["machineType"] == "zones/us-central1-c/machineTypes/n1-standard-8"
    assert body["scheduling"] == {
        "onHostMaintenance": "TERMINATE",
        "provisioningModel": "SPOT",
        "instanceTerminationAction": "STOP",
        "automaticRestart": False,
    }
    assert body["guestAccelerators"][0]["acceleratorCount"] == 1
    assert body["disks"][0]["initializeParams"]["diskSizeGb"] == "100"  # int64 as a string
    assert body["networkInterfaces"][0]["accessConfigs"][0]["type"] == "ONE_TO_ONE_NAT"
    # It round-trips without unknown fields.
    compute_v1.Instance.from_json(json.dumps(body), ignore_unknown_fields=False)
