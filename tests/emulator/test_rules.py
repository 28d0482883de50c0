"""Compute's rules on insert, and the instance lifecycle."""

from __future__ import annotations

import uuid

from labctl.emulator import Emulator
from tests.emulator._http import Api, vm_body

ZONE = "us-central1-c"
INSTANCES = f"projects/labctl-demo/zones/{ZONE}/instances"


def test_gpu_without_terminate_fails_like_compute(api: Api) -> None:
    body = vm_body(spot=False)
    body["scheduling"] = {"onHostMaintenance": "MIGRATE"}
    status, err = api.post(INSTANCES, body)
    assert status == 400
    assert (
        "Instances with guest accelerators do not support live migration."
        in (err["error"]["message"])
    )
    body["scheduling"] = {}  # standard VMs default to MIGRATE
    assert api.post(INSTANCES, body)[0] == 400


def test_spot_with_automatic_restart_fails(api: Api) -> None:
    body = vm_body()
    body["scheduling"]["automaticRestart"] = True
    status, err = api.post(INSTANCES, body)
    assert status == 400
    assert "cannot be automatically restarted" in err["error"]["message"]


def test_spot_defaults(api: Api) -> None:
    body = vm_body()
    body["scheduling"] = {"provisioningModel": "SPOT"}  # TERMINATE is Spot's only behaviour
    assert api.post(INSTANCES, body)[0] == 200
    _, inst = api.get(f"{INSTANCES}/vm-1")
    assert inst["scheduling"] == {
        "provisioningModel": "SPOT",
        "onHostMaintenance": "TERMINATE",
        "automaticRestart": False,
        "preemptible": True,
        "instanceTerminationAction": "STOP",
    }


def test_accelerator_not_offered_in_zone_fails(api: Api) -> None:
    status, err = api.post(
        "projects/labctl-demo/zones/us-central1-a/instances", vm_body(zone="us-central1-a")
    )
    assert status == 400
    assert "nvidia-tesla-p100" in err["error"]["message"]
    assert "us-central1-a" in err["error"]["message"]


def test_unknown_machine_type_and_zone_fail(api: Api) -> None:
    status, err = api.post(INSTANCES, vm_body(machine="n1-standard-7"))
    assert status == 400 and "n1-standard-7" in err["error"]["message"]
    status, err = api.post("projects/labctl-demo/zones/us-central1-z/instances", vm_body())
    assert status == 400 and "Unknown zone" in err["error"]["message"]
    assert api.get("projects/labctl-demo/zones/us-central1-z")[0] == 404


def test_gpu_on_e2_fails(api: Api) -> None:
    assert api.post(INSTANCES, vm_body(machine="e2-medium"))[0] == 400


def test_duplicate_is_409(api: Api) -> None:
    assert api.post(INSTANCES, vm_body())[0] == 200
    status, err = api.post(INSTANCES, vm_body())
    assert status == 409
    assert err["error"]["errors"][0]["reason"] == "alreadyExists"


def test_request_id_makes_insert_idempotent(api: Api, emulator: Emulator) -> None:
    rid = str(uuid.uuid4())
    s1, op1 = api.post(INSTANCES, vm_body(), requestId=rid)
    s2, op2 = api.post(INSTANCES, vm_body(), requestId=rid)
    assert (s1, s2) == (200, 200)
    assert op1["name"] == op2["name"] and op1["id"] == op2["id"]
    _, listing = api.get(INSTANCES)
    assert [i["name"] for i in listing["items"]] == ["vm-1"]
    inserts = [r for r in emulator.requests if r["method"] == "POST"]
    assert [r["query"]["requestId"] for r in inserts] == [rid, rid]
    # A new requestId is a new request: the name is taken now.
    assert api.post(INSTANCES, vm_body(), requestId=str(uuid.uuid4()))[0] == 409


def test_image_family_and_disk_size(api: Api) -> None:
    status, image = api.get(
        "projects/deeplearning-platform-release/global/images/family/common-cu129-ubuntu-2404-nvidia-580"
    )
    assert status == 200 and image["family"] == "common-cu129-ubuntu-2404-nvidia-580"
    assert (
        api.get(f"projects/deeplearning-platform-release/global/images/{image['name']}")[0] == 200
    )
    assert api.get("projects/debian-cloud/global/images/family/debian-12")[0] == 200
    assert api.get("projects/debian-cloud/global/images/family/debian-99")[0] == 404
    body = vm_body()
    body["disks"][0]["initializeParams"]["diskSizeGb"] = "10"  # DLVM images are 50 GB
    status, err = api.post(INSTANCES, body)
    assert status == 400 and "smaller than the image size" in err["error"]["message"]


def test_instance_shape(api: Api, emulator: Emulator) -> None:
    api.post(INSTANCES, vm_body())
    _, inst = api.get(f"{INSTANCES}/vm-1")
    assert inst["status"] == "RUNNING"
    assert inst["id"].isdigit()
    assert inst["selfLink"] == f"{emulator.compute_url}{INSTANCES}/vm-1"
    nic = inst["networkInterfaces"][0]
    assert nic["networkIP"].startswith("10.")
    assert nic["accessConfigs"][0]["natIP"].startswith("203.0.113.")
    assert inst["creationTimestamp"][-6:] == "-08:00"
    assert inst["disks"][0]["boot"] and inst["disks"][0]["source"].endswith("/disks/vm-1")
    # Found by numeric id too, as Compute allows.
    assert api.get(f"{INSTANCES}/{inst['id']}")[1]["name"] == "vm-1"


def test_stop_start_delete_lifecycle(api: Api) -> None:
    api.post(INSTANCES, vm_body())
    assert api.post(f"{INSTANCES}/vm-1/stop")[1]["status"] == "DONE"
    _, inst = api.get(f"{INSTANCES}/vm-1")
    assert inst["status"] == "TERMINATED"
    assert "natIP" not in inst["networkInterfaces"][0]["accessConfigs"][0]
    api.post(f"{INSTANCES}/vm-1/start")
    _, inst = api.get(f"{INSTANCES}/vm-1")
    assert inst["status"] == "RUNNING" and inst["networkInterfaces"][0]["accessConfigs"][0]["natIP"]
    assert api.delete(f"{INSTANCES}/vm-1")[0] == 200
    assert api.get(f"{INSTANCES}/vm-1")[0] == 404
    assert api.get(f"projects/labctl-demo/zones/{ZONE}/disks/vm-1")[0] == 404  # autoDelete=true


def test_auto_delete_false_leaves_an_orphan_disk(api: Api) -> None:
    body = vm_body()
    body["disks"][0]["autoDelete"] = False
    api.post(INSTANCES, body)
    _, disk = api.get(f"projects/labctl-demo/zones/{ZONE}/disks/vm-1")
    assert disk["users"] == [f"{api.emu.compute_url}{INSTANCES}/vm-1"]
    status, err = api.delete(f"projects/labctl-demo/zones/{ZONE}/disks/vm-1")
    assert status == 400 and "already being used" in err["error"]["message"]
    api.delete(f"{INSTANCES}/vm-1")
    _, disk = api.get(f"projects/labctl-demo/zones/{ZONE}/disks/vm-1")
    assert disk["users"] == [] and disk["lastDetachTimestamp"]
    _, agg = api.get("projects/labctl-demo/aggregated/disks", filter="name = vm-1")
    assert agg["items"][f"zones/{ZONE}"]["disks"][0]["name"] == "vm-1"
    assert api.delete(f"projects/labctl-demo/zones/{ZONE}/disks/vm-1")[0] == 200


def test_fingerprints_and_412(api: Api) -> None:
    api.post(INSTANCES, vm_body())
    _, inst = api.get(f"{INSTANCES}/vm-1")
    fp = inst["metadata"]["fingerprint"]
    items = [{"key": "enable-guest-attributes", "value": "TRUE"}]
    assert api.post(f"{INSTANCES}/vm-1/setMetadata", {"fingerprint": fp, "items": items})[0] == 200
    status, err = api.post(f"{INSTANCES}/vm-1/setMetadata", {"fingerprint": fp, "items": []})
    assert status == 412 and err["error"]["errors"][0]["reason"] == "conditionNotMet"
    _, inst = api.get(f"{INSTANCES}/vm-1")
    assert inst["metadata"]["items"] == items and inst["metadata"]["fingerprint"] != fp

    lfp = inst["labelFingerprint"]
    labels = {"labctl-course": "ml", "labctl-student": "alice"}
    assert (
        api.post(f"{INSTANCES}/vm-1/setLabels", {"labelFingerprint": lfp, "labels": labels})[0]
        == 200
    )
    assert (
        api.post(f"{INSTANCES}/vm-1/setLabels", {"labelFingerprint": lfp, "labels": {}})[0] == 412
    )
    assert api.get(f"{INSTANCES}/vm-1")[1]["labels"] == labels


def test_guest_attributes(api: Api, emulator: Emulator) -> None:
    api.post(INSTANCES, vm_body())
    path = f"{INSTANCES}/vm-1/getGuestAttributes"
    assert api.get(path, queryPath="hostkeys/")[0] == 404
    emulator.set_guest_attribute("labctl-demo", ZONE, "vm-1", "hostkeys/ssh-ed25519", "AAAAC3Nza")
    status, _ = api.admin(
        "PUT",
        "guest-attributes",
        {
            "project": "labctl-demo",
            "zone": ZONE,
            "instance": "vm-1",
            "path": "labctl/ready",
            "value": "1",
        },
    )
    assert status == 200
    _, attrs = api.get(path, queryPath="hostkeys/")
    assert attrs["queryValue"]["items"] == [
        {"namespace": "hostkeys", "key": "ssh-ed25519", "value": "AAAAC3Nza"}
    ]
    _, one = api.get(path, variableKey="labctl/ready")
    assert one["variableValue"] == "1"


def test_addresses_reserved_and_in_use(api: Api) -> None:
    addresses = "projects/labctl-demo/regions/us-central1/addresses"
    assert api.post(addresses, {"name": "ip-1"})[0] == 200
    _, addr = api.get(f"{addresses}/ip-1")
    assert addr["status"] == "RESERVED"
    body = vm_body()
    body["networkInterfaces"][0]["accessConfigs"][0]["natIP"] = addr["address"]
    api.post(INSTANCES, body)
    _, addr = api.get(f"{addresses}/ip-1")
    assert addr["status"] == "IN_USE" and addr["users"][0].endswith("/instances/vm-1")
    api.delete(f"{INSTANCES}/vm-1")
    _, agg = api.get("projects/labctl-demo/aggregated/addresses", filter="status = RESERVED")
    assert agg["items"]["regions/us-central1"]["addresses"][0]["name"] == "ip-1"
    assert api.delete(f"{addresses}/ip-1")[0] == 200


def test_project_and_catalog(api: Api) -> None:
    _, project = api.get("projects/labctl-demo")
    assert project["commonInstanceMetadata"]["fingerprint"]
    assert {q["metric"] for q in project["quotas"]} >= {"GPUS_ALL_REGIONS"}
    _, mt = api.get(f"projects/labctl-demo/zones/{ZONE}/machineTypes/n1-standard-8")
    assert (mt["guestCpus"], mt["memoryMb"]) == (8, 30720)
    _, acc = api.get(f"projects/labctl-demo/zones/{ZONE}/acceleratorTypes/nvidia-tesla-p100")
    assert acc["maximumCardsPerInstance"] == 4
    _, agg = api.get(
        "projects/labctl-demo/aggregated/acceleratorTypes", filter="name = nvidia-tesla-p100"
    )
    zones = sorted(k.split("/")[1] for k, v in agg["items"].items() if "acceleratorTypes" in v)
    assert zones == [
        "asia-east1-a", "asia-east1-c", "australia-southeast1-b", "europe-west1-b",
        "europe-west1-d", "europe-west4-a", "us-central1-c", "us-central1-f",
        "us-east1-b", "us-east1-c", "us-west1-a", "us-west1-b",
    ]  # fmt: skip
    _, region = api.get("projects/labctl-demo/regions/us-central1")
    assert any(q["metric"] == "NVIDIA_P100_GPUS" for q in region["quotas"])
