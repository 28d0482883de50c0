"""Pure builders of Compute Engine v1 request bodies (REST JSON, camelCase) from labctl specs.

The shapes follow the API reference (https://cloud.google.com/compute/docs/reference/rest/v1/
instances/insert) and GoogleCloudPlatform/python-docs-samples
`compute/client_library/ingredients/instances/`; tests parse every body with
google-cloud-compute's own message types, which reject unknown fields.
"""

from __future__ import annotations

from typing import Any

from labctl.models import Provisioning, VmSpec

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


def scheduling_body(spec: VmSpec) -> dict[str, Any] | None:
    """The one place scheduling is decided; None leaves Compute's defaults (standard, no GPU).

    GPU: onHostMaintenance=TERMINATE (GPU VMs cannot live-migrate). Spot: provisioningModel=SPOT,
    instanceTerminationAction, automaticRestart=false. Preemptible: preemptible=true,
    automaticRestart=false. A run-time limit: maxRunDuration with the STOP action, so Compute
    stops a forgotten VM itself. Fields go into one object so none overwrites another (the
    preemptible sample in python-docs-samples replaces `scheduling` and loses TERMINATE).
    """
    scheduling: dict[str, Any] = {}
    if spec.gpu is not None:
        scheduling["onHostMaintenance"] = "TERMINATE"
    if spec.provisioning is Provisioning.SPOT:
        scheduling["provisioningModel"] = "SPOT"
        scheduling["instanceTerminationAction"] = spec.termination_action
        scheduling["automaticRestart"] = False
    elif spec.provisioning is Provisioning.PREEMPTIBLE:
        scheduling["preemptible"] = True
        scheduling["automaticRestart"] = False
    if spec.max_run_hours:
        scheduling["maxRunDuration"] = {"seconds": str(spec.max_run_hours * 3600)}
        # Spot keeps its own action (STOP keeps the disk); otherwise the limit stops the VM.
        scheduling.setdefault("instanceTerminationAction", "STOP")
    return scheduling or None


def metadata_items(spec: VmSpec) -> dict[str, str]:
    """Instance metadata: startup script, guest attributes, the driver flag, then spec.metadata."""
    items: dict[str, str] = {}
    if spec.startup_script:
        items[STARTUP_SCRIPT_KEY] = spec.startup_script
    items[GUEST_ATTRIBUTES_KEY] = "TRUE"
    if spec.gpu is not None:
        items[NVIDIA_DRIVER_KEY] = "True"
    items.update(spec.metadata)
    return items


def instance_body(spec: VmSpec, project: str) -> dict[str, Any]:
    """The `Instance` for instances.insert in spec.zone, right the first time."""
    interface: dict[str, Any] = {"network": "global/networks/default"}
    if spec.external_ip:
        interface["accessConfigs"] = [{"name": "External NAT", "type": "ONE_TO_ONE_NAT"}]
    body: dict[str, Any] = {
        "name": spec.name,
        "machineType": machine_type_path(spec.zone, spec.machine_type),
        "disks": [
            {
                "boot": True,
                "autoDelete": True,
                "type": "PERSISTENT",
                "initializeParams": {
                    "sourceImage": image_family_path(spec.image_project, spec.image_family),
                    "diskSizeGb": str(spec.disk_size_gb),  # int64: a string in JSON
                    "labels": dict(spec.labels),
                },
            }
        ],
        "networkInterfaces": [interface],
        "labels": dict(spec.labels),
        "metadata": {"items": [{"key": k, "value": v} for k, v in metadata_items(spec).items()]},
    }
    if spec.gpu is not None:
        body["guestAccelerators"] = [
            {
                "acceleratorType": accelerator_type_path(project, spec.zone, spec.gpu.type),
                "acceleratorCount": spec.gpu.count,
            }
        ]
    scheduling = scheduling_body(spec)
    if scheduling is not None:
        body["scheduling"] = scheduling
    return body


def metadata_body(items: dict[str, str], fingerprint: str | None) -> dict[str, Any]:
    """A `Metadata` for instances.setMetadata; the fingerprint makes it a compare-and-set."""
    body: dict[str, Any] = {"items": [{"key": k, "value": v} for k, v in items.items()]}
    if fingerprint:
        body["fingerprint"] = fingerprint
    return body
