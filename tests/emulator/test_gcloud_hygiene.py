"""Real gcloud against the newer emulator features: cleanup, class setup and doctor checks."""

from __future__ import annotations

from pathlib import Path

from labctl.emulator import Emulator
from tests.emulator._gcloud import Gcloud, needs_gcloud
from tests.emulator._http import Api, vm_body

pytestmark = needs_gcloud

ZONE = "us-central1-c"
REGION = "us-central1"


def test_gcloud_cleanup_commands(emulator: Emulator, tmp_path: Path) -> None:
    """Snapshots, disks, addresses and labels: what a cleanup of forgotten resources uses."""
    api = Api(emulator)
    api.post(f"projects/labctl-demo/zones/{ZONE}/instances", vm_body("vm-1"))
    g = Gcloud(emulator, tmp_path / "gcloud")
    z = f"--zone={ZONE}"

    g.run("compute", "disks", "create", "data-1", z, "--size=200GB", "--labels=owner=alice")
    g.run("compute", "instances", "attach-disk", "vm-1", z, "--disk=data-1", "--device-name=d1")
    disk = g.json("compute", "disks", "describe", "data-1", z)
    assert disk["users"][0].endswith("/instances/vm-1") and disk["lastAttachTimestamp"]
    g.run("compute", "instances", "detach-disk", "vm-1", z, "--disk=data-1")
    disk = g.json("compute", "disks", "describe", "data-1", z)
    assert not disk.get("users") and disk["lastDetachTimestamp"]

    g.run("compute", "disks", "snapshot", "data-1", z, "--snapshot-names=data-1-final")
    snaps = g.json("compute", "snapshots", "list")
    assert [(s["name"], s["status"]) for s in snaps] == [("data-1-final", "READY")]
    g.run("compute", "snapshots", "add-labels", "data-1-final", "--labels=labctl-course=ml")
    snap = g.json("compute", "snapshots", "describe", "data-1-final")
    assert snap["labels"] == {"labctl-course": "ml"} and snap["sourceDisk"].endswith("/data-1")
    g.run("compute", "disks", "delete", "data-1", z)
    g.run("compute", "snapshots", "delete", "data-1-final")
    assert g.json("compute", "snapshots", "list") == []

    g.run("compute", "addresses", "create", "ip-1", f"--region={REGION}")
    # GA gcloud has no `addresses update`; labels come from the API, gcloud lists them.
    addr = f"projects/labctl-demo/regions/{REGION}/addresses/ip-1"
    fingerprint = api.get(addr)[1]["labelFingerprint"]
    api.post(f"{addr}/setLabels", {"labels": {"a": "b"}, "labelFingerprint": fingerprint})
    listed = g.json("compute", "addresses", "list", "--filter=status=RESERVED")
    assert [(a["name"], a["labels"]) for a in listed] == [("ip-1", {"a": "b"})]

    g.run("compute", "instances", "add-tags", "vm-1", z, "--tags=labctl,jupyter")
    tags = g.json("compute", "instances", "describe", "vm-1", z)["tags"]["items"]
    assert sorted(tags) == ["jupyter", "labctl"]


def test_gcloud_class_setup_commands(emulator: Emulator, tmp_path: Path) -> None:
    """Instance IAM, schedules and run limits: what instructor class setup uses."""
    g = Gcloud(emulator, tmp_path / "gcloud")
    z = f"--zone={ZONE}"
    g.run(
        "compute", "instances", "create", "vm-alice", z, "--machine-type=e2-medium",
        "--image-family=debian-12", "--image-project=debian-cloud",
        "--max-run-duration=4h", "--instance-termination-action=STOP",
    )  # fmt: skip
    vm = g.json("compute", "instances", "describe", "vm-alice", z)
    assert vm["scheduling"]["maxRunDuration"]["seconds"] == "14400"
    assert vm["resourceStatus"]["scheduling"]["terminationTimestamp"]

    policy = g.json("compute", "instances", "get-iam-policy", "vm-alice", z)
    assert policy["etag"] and not policy.get("bindings")
    g.run(
        "compute", "instances", "add-iam-policy-binding", "vm-alice", z,
        "--member=user:alice@example.com", "--role=roles/compute.instanceAdmin.v1",
    )  # fmt: skip
    after = g.json("compute", "instances", "get-iam-policy", "vm-alice", z)
    assert after["bindings"] == [
        {"members": ["user:alice@example.com"], "role": "roles/compute.instanceAdmin.v1"}
    ]
    assert after["etag"] != policy["etag"]

    g.run(
        "compute", "resource-policies", "create", "instance-schedule", "lab-hours",
        f"--region={REGION}", "--vm-start-schedule=0 8 * * 1-5",
        "--vm-stop-schedule=0 20 * * *", "--timezone=Europe/Berlin",
    )  # fmt: skip
    g.run(
        "compute",
        "instances",
        "add-resource-policies",
        "vm-alice",
        z,
        "--resource-policies=lab-hours",
    )
    vm = g.json("compute", "instances", "describe", "vm-alice", z)
    assert vm["resourcePolicies"][0].endswith("/resourcePolicies/lab-hours")
    busy = g.run(
        "compute", "resource-policies", "delete", "lab-hours", f"--region={REGION}", ok=False
    )
    assert busy.returncode != 0 and "already being used by" in busy.stderr

    emulator.age("instance", "vm-alice", zone=ZONE, hours=5)
    assert g.json("compute", "instances", "describe", "vm-alice", z)["status"] == "TERMINATED"


def test_gcloud_doctor_commands(emulator: Emulator, tmp_path: Path) -> None:
    """Quotas, billing, firewall and a disabled API: what `labctl doctor` checks."""
    emulator.set_faults(
        {
            "quotas": {"GPUS_ALL_REGIONS": 0, REGION: {"PREEMPTIBLE_NVIDIA_P100_GPUS": 0}},
            "default_firewall_rules": ["default-allow-internal"],
            "billing": {"enabled": False},
        }
    )
    g = Gcloud(emulator, tmp_path / "gcloud")
    region = g.json("compute", "regions", "describe", REGION)
    quotas = {q["metric"]: q for q in region["quotas"]}
    assert quotas["PREEMPTIBLE_NVIDIA_P100_GPUS"]["limit"] == 0.0
    assert quotas["CPUS"]["usage"] == 0.0
    project = g.json("compute", "project-info", "describe")
    assert {"metric": "GPUS_ALL_REGIONS", "limit": 0.0, "usage": 0.0} in project["quotas"]

    rules = g.json("compute", "firewall-rules", "list")
    assert [r["name"] for r in rules] == ["default-allow-internal"]  # no SSH rule

    billing = g.json("billing", "projects", "describe", "labctl-demo")
    assert billing["billingEnabled"] is False and billing["projectId"] == "labctl-demo"

    emulator.set_faults({"disabled_apis": ["compute"]})
    failed = g.run("compute", "instances", "describe", "vm-1", f"--zone={ZONE}", ok=False)
    assert failed.returncode != 0
    assert "Compute Engine API has not been used in project" in failed.stderr
