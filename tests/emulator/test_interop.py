"""What labctl creates, gcloud lists, and the reverse: both clients agree on one emulator."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from labctl.emulator import Emulator
from labctl.models import Gpu, Provisioning, VmSpec, VmState
from labctl.providers.gcp import make_compute
from labctl.retry import RetryPolicy
from tests.emulator.test_gcloud import DLVM, P100, ZONE, Gcloud

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed"),
]


def test_labctl_and_gcloud_see_each_others_vms(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", emulator.compute_url)
    compute = make_compute(project="labctl-demo", retry=RetryPolicy(sleep=lambda s: None))
    g = Gcloud(emulator, tmp_path / "gcloud")

    spec = VmSpec(
        name="from-labctl",
        zone=ZONE,
        machine_type="n1-standard-8",
        image_project="deeplearning-platform-release",
        image_family="common-cu129-ubuntu-2204-nvidia-580",
        disk_size_gb=50,
        provisioning=Provisioning.SPOT,
        gpu=Gpu("nvidia-tesla-p100", 1),
        labels={"labctl-managed": "true", "labctl-owner": "ana"},
    )
    compute.wait(compute.insert_vm(spec, request_id=str(uuid.uuid4())))
    [seen] = g.json("compute", "instances", "list", "--filter=name=from-labctl")
    assert seen["status"] == "RUNNING"
    assert seen["scheduling"]["provisioningModel"] == "SPOT"
    assert seen["scheduling"]["onHostMaintenance"] == "TERMINATE"
    assert seen["guestAccelerators"][0]["acceleratorType"].endswith("nvidia-tesla-p100")
    assert seen["labels"]["labctl-owner"] == "ana"

    g.run(
        "compute", "instances", "create", "from-gcloud", f"--zone={ZONE}", *P100, *DLVM,
        "--maintenance-policy=TERMINATE", "--provisioning-model=SPOT", "--labels=course=ml",
    )  # fmt: skip
    vm = compute.get_vm("from-gcloud", ZONE)
    assert (vm.state, vm.provisioning) == (VmState.RUNNING, Provisioning.SPOT)
    assert vm.gpu == Gpu("nvidia-tesla-p100", 1) and vm.machine_type == "n1-standard-8"
    assert vm.labels == {"course": "ml"} and vm.external_ip
    assert [v.name for v in compute.list_vms()] == ["from-gcloud", "from-labctl"]

    g.run("compute", "instances", "stop", "from-labctl", f"--zone={ZONE}")
    assert compute.get_vm("from-labctl", ZONE).state is VmState.STOPPED
    compute.wait(compute.delete_vm("from-gcloud", ZONE))
    assert [i["name"] for i in g.json("compute", "instances", "list")] == ["from-labctl"]
