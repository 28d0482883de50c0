"""Real gcloud against the emulator: the commands a course admin runs, and Compute's errors.

gcloud takes about a second per call, so one scenario covers the whole path.
"""

from __future__ import annotations

from pathlib import Path

from labctl.emulator import Emulator
from tests.emulator._gcloud import Gcloud, needs_gcloud

pytestmark = needs_gcloud

ZONE = "us-central1-c"
DLVM = [
    "--image-family=common-cu129-ubuntu-2204-nvidia-580",
    "--image-project=deeplearning-platform-release",
]
P100 = ["--machine-type=n1-standard-8", "--accelerator=type=nvidia-tesla-p100,count=1"]


def test_gcloud_course_workflow(emulator: Emulator, tmp_path: Path) -> None:
    emulator.set_faults({"operation_seconds": 0.3})  # gcloud must poll operations.wait
    g = Gcloud(emulator, tmp_path / "gcloud")

    zones = {z["name"] for z in g.json("compute", "zones", "list")}
    assert {"us-central1-a", "us-central1-f", "europe-west4-a"} <= zones

    accels = g.json("compute", "accelerator-types", "list", "--filter=name=nvidia-tesla-p100")
    assert len(accels) == 12 and ZONE in {a["zone"].rsplit("/", 1)[1] for a in accels}

    created = g.run(
        "compute", "instances", "create", "vm-alice", f"--zone={ZONE}", *P100, *DLVM,
        "--maintenance-policy=TERMINATE", "--provisioning-model=SPOT",
        "--labels=labctl-managed=true,labctl-course=ml,labctl-student=alice",
    )  # fmt: skip
    assert "vm-alice" in created.stdout

    failed = g.run(
        "compute", "instances", "create", "vm-bob", f"--zone={ZONE}", *P100, *DLVM, ok=False
    )
    assert failed.returncode != 0
    assert "Instances with guest accelerators do not support live migration." in failed.stderr

    listed = g.json("compute", "instances", "list", "--filter=labels.labctl-course=ml")
    assert [(i["name"], i["labels"]["labctl-student"]) for i in listed] == [("vm-alice", "alice")]

    described = g.json("compute", "instances", "describe", "vm-alice", f"--zone={ZONE}")
    assert described["status"] == "RUNNING"
    assert described["scheduling"]["provisioningModel"] == "SPOT"
    assert described["scheduling"]["onHostMaintenance"] == "TERMINATE"

    g.run("compute", "instances", "stop", "vm-alice", f"--zone={ZONE}")
    assert (
        emulator.snapshot()["labctl-demo"]["_instances"][f"{ZONE}/vm-alice"]["status"]
        == "TERMINATED"
    )
    g.run("compute", "instances", "start", "vm-alice", f"--zone={ZONE}")
    assert (
        emulator.snapshot()["labctl-demo"]["_instances"][f"{ZONE}/vm-alice"]["status"] == "RUNNING"
    )

    bulk = g.run(
        "compute", "instances", "bulk", "create", "--name-pattern=lab-##", "--count=2",
        "--zone=us-central1-a", "--machine-type=e2-medium",
        "--image-family=debian-12", "--image-project=debian-cloud",
    )  # fmt: skip
    assert "VM instances created: 2, failed: 0." in bulk.stderr

    disks = {d["name"] for d in g.json("compute", "disks", "list")}
    assert disks == {"vm-alice", "lab-01", "lab-02"}

    g.run(
        "compute", "firewall-rules", "create", "labctl-allow-iap-ssh", "--allow=tcp:22",
        "--source-ranges=35.235.240.0/20",
    )  # fmt: skip
    rules = {r["name"]: r for r in g.json("compute", "firewall-rules", "list")}
    assert rules["labctl-allow-iap-ssh"]["sourceRanges"] == ["35.235.240.0/20"]
    assert rules["default-allow-ssh"]["sourceRanges"] == ["0.0.0.0/0"]  # a new project's
    g.run("compute", "firewall-rules", "delete", "labctl-allow-iap-ssh", "default-allow-ssh")
    left = {r["name"] for r in g.json("compute", "firewall-rules", "list")}
    assert "default-allow-ssh" not in left and "labctl-allow-iap-ssh" not in left

    g.run("compute", "instances", "delete", "vm-alice", f"--zone={ZONE}")
    remaining = emulator.snapshot()["labctl-demo"]["_instances"]
    assert sorted(remaining) == ["us-central1-a/lab-01", "us-central1-a/lab-02"]
    paths = {r["path"] for r in emulator.requests}
    assert any(p.endswith("/wait") for p in paths)  # gcloud waited on operations

    # Several VMs in one command: gcloud sends a multipart batch request.
    g.run("compute", "instances", "delete", "lab-01", "lab-02", "--zone=us-central1-a")
    assert emulator.snapshot()["labctl-demo"]["_instances"] == {}
