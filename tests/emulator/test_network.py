"""Firewall rules (the default network's, and kept fields), instance tags, addresses with labels."""

from __future__ import annotations

from typing import Any

from labctl.emulator import Emulator
from tests.emulator._http import Api, vm_body

FIREWALLS = "projects/labctl-demo/global/firewalls"
ADDRESSES = "projects/labctl-demo/regions/us-central1/addresses"
ZONE = "us-central1-c"
INSTANCES = f"projects/labctl-demo/zones/{ZONE}/instances"


def names(listing: dict[str, Any]) -> list[str]:
    return [i["name"] for i in listing.get("items", [])]


def test_new_project_has_the_default_rules(api: Api) -> None:
    _, listing = api.get(FIREWALLS)
    assert names(listing) == [
        "default-allow-icmp",
        "default-allow-internal",
        "default-allow-rdp",
        "default-allow-ssh",
    ]
    ssh = api.get(f"{FIREWALLS}/default-allow-ssh")[1]
    assert ssh["sourceRanges"] == ["0.0.0.0/0"]
    assert ssh["allowed"] == [{"IPProtocol": "tcp", "ports": ["22"]}]
    assert ssh["priority"] == 65534 and ssh["direction"] == "INGRESS"
    assert ssh["network"].endswith("/global/networks/default")
    assert ssh["description"] == "Allow SSH from anywhere"
    # Removable, like any rule.
    assert api.delete(f"{FIREWALLS}/default-allow-ssh")[0] == 200
    assert "default-allow-ssh" not in names(api.get(FIREWALLS)[1])


def test_fault_leaves_default_rules_out(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"default_firewall_rules": False})
    emulator.reset()
    assert names(api.get(FIREWALLS)[1]) == []
    emulator.set_faults({"default_firewall_rules": ["default-allow-internal"]})
    emulator.reset()
    assert names(api.get(FIREWALLS)[1]) == ["default-allow-internal"]


def test_firewall_keeps_its_fields(api: Api) -> None:
    body = {
        "name": "labctl-allow-iap-ssh",
        "description": "IAP to port 22",
        "direction": "INGRESS",
        "priority": 900,
        "sourceRanges": ["35.235.240.0/20"],
        "targetTags": ["labctl"],
        "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}],
    }
    assert api.post(FIREWALLS, body)[0] == 200
    got = api.get(f"{FIREWALLS}/labctl-allow-iap-ssh")[1]
    assert {k: got[k] for k in body} == body
    assert got["creationTimestamp"] and got["kind"] == "compute#firewall"
    bad = dict(body, name="bad-priority", priority=70000)
    assert api.post(FIREWALLS, bad)[0] == 400


def test_instance_tags(api: Api) -> None:
    api.post(INSTANCES, vm_body(tags={"items": ["labctl"]}))
    tags = api.get(f"{INSTANCES}/vm-1")[1]["tags"]
    assert tags["items"] == ["labctl"] and tags["fingerprint"]
    body = {"items": ["labctl", "jupyter"], "fingerprint": tags["fingerprint"]}
    assert api.post(f"{INSTANCES}/vm-1/setTags", body)[0] == 200
    after = api.get(f"{INSTANCES}/vm-1")[1]["tags"]
    assert after["items"] == ["labctl", "jupyter"] and after["fingerprint"] != tags["fingerprint"]
    assert api.post(f"{INSTANCES}/vm-1/setTags", body)[0] == 412  # stale fingerprint


def test_address_labels_and_status(api: Api) -> None:
    body = {"name": "ip-1", "labels": {"labctl-course": "ml"}}
    assert api.post(ADDRESSES, body)[0] == 200
    addr = api.get(f"{ADDRESSES}/ip-1")[1]
    assert addr["status"] == "RESERVED" and not addr.get("users")
    assert addr["labels"] == {"labctl-course": "ml"}
    status, op = api.post(
        f"{ADDRESSES}/ip-1/setLabels",
        {"labels": {"labctl-course": "ml", "owner": "alice"}, "labelFingerprint": "AAAA"},
    )
    assert status == 412
    status, op = api.post(
        f"{ADDRESSES}/ip-1/setLabels",
        {"labels": {"owner": "alice"}, "labelFingerprint": addr["labelFingerprint"]},
    )
    assert status == 200 and op["region"].endswith("/regions/us-central1")
    assert op["operationType"] == "setLabels"
    _, listed = api.get(ADDRESSES, filter="labels.owner = alice")
    assert names(listed) == ["ip-1"]
    _, agg = api.get("projects/labctl-demo/aggregated/addresses")
    assert agg["items"]["regions/us-central1"]["addresses"][0]["labels"] == {"owner": "alice"}

    vm = vm_body(zone=ZONE)
    vm["networkInterfaces"] = [{"accessConfigs": [{"natIP": addr["address"]}]}]
    api.post(INSTANCES, vm)
    used = api.get(f"{ADDRESSES}/ip-1")[1]
    assert used["status"] == "IN_USE" and used["users"][0].endswith("/instances/vm-1")
    assert api.delete(f"{ADDRESSES}/ip-1")[0] == 400
    api.delete(f"{INSTANCES}/vm-1")
    assert api.get(f"{ADDRESSES}/ip-1")[1]["status"] == "RESERVED"
