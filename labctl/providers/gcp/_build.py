"""Pure builders of compute_v1 request messages from labctl specs (no HTTP)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from labctl.models import Provisioning, VmSpec

if TYPE_CHECKING:
    from google.cloud import compute_v1

GUEST_ATTRIBUTES_KEY = "enable-guest-attributes"
NVIDIA_DRIVER_KEY = "install-nvidia-driver"
STARTUP_SCRIPT_KEY = "startup-script"


def machine_type_path(zone: str, machine_type: str) -> str:
    """ "zones/{zone}/machineTypes/{type}" (partial URL, as Compute accepts it)."""
    return f"zones/{zone}/machineTypes/{machine_type}"


def accelerator_type_path(project: str, zone: str, gpu_type: str) -> str:
    """The zonal accelerator type: "projects/{p}/zones/{z}/acceleratorTypes/{type}"."""
    return f"projects/{project}/zones/{zone}/acceleratorTypes/{gpu_type}"


def image_family_path(image_project: str, family: str) -> str:
    """ "projects/{image_project}/global/images/family/{family}" (the family's newest image)."""
    return f"projects/{image_project}/global/images/family/{family}"


def build_scheduling(spec: VmSpec) -> compute_v1.Scheduling | None:
    """The one place scheduling is decided; None leaves Compute's defaults (standard, no GPU).

    GPU: onHostMaintenance=TERMINATE (GPU VMs cannot live-migrate). Spot: provisioningModel=SPOT,
    instanceTerminationAction, automaticRestart=false. Preemptible: preemptible=true,
    automaticRestart=false. Fields are set on one object so none overwrites another.
    """
    from google.cloud import compute_v1

    if spec.gpu is None and spec.provisioning is Provisioning.STANDARD:
        return None
    scheduling = compute_v1.Scheduling()
    if spec.gpu is not None:
        scheduling.on_host_maintenance = "TERMINATE"
    if spec.provisioning is Provisioning.SPOT:
        scheduling.provisioning_model = "SPOT"
        scheduling.instance_termination_action = spec.termination_action
        scheduling.automatic_restart = False
    elif spec.provisioning is Provisioning.PREEMPTIBLE:
        scheduling.preemptible = True
        scheduling.automatic_restart = False
    return scheduling


def build_metadata_items(spec: VmSpec) -> dict[str, str]:
    """Instance metadata: startup script, guest attributes, the driver flag, then spec.metadata."""
    items: dict[str, str] = {}
    if spec.startup_script:
        items[STARTUP_SCRIPT_KEY] = spec.startup_script
    items[GUEST_ATTRIBUTES_KEY] = "TRUE"
    if spec.gpu is not None:
        items[NVIDIA_DRIVER_KEY] = "True"
    items.update(spec.metadata)
    return items


def build_instance(spec: VmSpec, project: str) -> compute_v1.Instance:
    """The full `Instance` for instances.insert in spec.zone, right the first time."""
    from google.cloud import compute_v1

    boot_disk = compute_v1.AttachedDisk(
        boot=True,
        auto_delete=True,
        type_="PERSISTENT",
        initialize_params=compute_v1.AttachedDiskInitializeParams(
            source_image=image_family_path(spec.image_project, spec.image_family),
            disk_size_gb=spec.disk_size_gb,
            labels=dict(spec.labels),
        ),
    )
    interface = compute_v1.NetworkInterface(network="global/networks/default")
    if spec.external_ip:
        interface.access_configs = [
            compute_v1.AccessConfig(name="External NAT", type_="ONE_TO_ONE_NAT")
        ]
    instance = compute_v1.Instance(
        name=spec.name,
        machine_type=machine_type_path(spec.zone, spec.machine_type),
        disks=[boot_disk],
        network_interfaces=[interface],
        labels=dict(spec.labels),
        metadata=compute_v1.Metadata(
            items=[
                compute_v1.Items(key=key, value=value)
                for key, value in build_metadata_items(spec).items()
            ]
        ),
    )
    if spec.gpu is not None:
        instance.guest_accelerators = [
            compute_v1.AcceleratorConfig(
                accelerator_type=accelerator_type_path(project, spec.zone, spec.gpu.type),
                accelerator_count=spec.gpu.count,
            )
        ]
    scheduling = build_scheduling(spec)
    if scheduling is not None:
        instance.scheduling = scheduling
    return instance


def instance_to_json(instance: compute_v1.Instance) -> dict[str, Any]:
    """The request body as Compute's REST API sees it (camelCase), for --dry-run output."""
    from google.cloud import compute_v1

    text = compute_v1.Instance.to_json(
        instance, always_print_fields_with_no_presence=False, indent=None
    )
    result: dict[str, Any] = json.loads(text)
    return result
