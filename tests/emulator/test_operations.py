"""Operations: PENDING -> RUNNING -> DONE by the clock, wait, list and filters; bulkInsert."""

from __future__ import annotations

import time

from labctl.emulator import Emulator
from tests.emulator._http import Api, vm_body

ZONE = "us-central1-c"
INSTANCES = f"projects/labctl-demo/zones/{ZONE}/instances"
OPS = f"projects/labctl-demo/zones/{ZONE}/operations"


def test_lifecycle_follows_operation_seconds(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"operation_seconds": 0.6})
    _, op = api.post(INSTANCES, vm_body())
    assert op["status"] in ("PENDING", "RUNNING")
    assert op["id"].isdigit() and op["name"].startswith("operation-")
    assert api.get(f"{INSTANCES}/vm-1")[1]["status"] in ("PROVISIONING", "STAGING")
    _, done = api.post(f"{OPS}/{op['name']}/wait")
    assert done["status"] == "DONE" and done["progress"] == 100 and done["endTime"]
    assert api.get(f"{INSTANCES}/vm-1")[1]["status"] == "RUNNING"
    _, stop = api.post(f"{INSTANCES}/vm-1/stop")
    assert api.get(f"{INSTANCES}/vm-1")[1]["status"] == "STOPPING"
    api.post(f"{OPS}/{stop['name']}/wait")
    assert api.get(f"{INSTANCES}/vm-1")[1]["status"] == "TERMINATED"


def test_wait_returns_before_done_at_its_cap(api: Api, emulator: Emulator) -> None:
    emulator.set_faults({"operation_seconds": 5, "wait_max_seconds": 0.3})
    _, op = api.post(INSTANCES, vm_body())
    start = time.monotonic()
    _, waited = api.post(f"{OPS}/{op['name']}/wait")
    assert 0.25 <= time.monotonic() - start < 2
    assert waited["status"] == "RUNNING"
    assert api.get(f"{OPS}/{op['name']}")[1]["status"] == "RUNNING"


def test_operation_scopes(api: Api) -> None:
    _, op = api.post("projects/labctl-demo/regions/us-central1/addresses", {"name": "ip-1"})
    assert op["region"].endswith("/regions/us-central1") and "zone" not in op
    assert api.get(f"projects/labctl-demo/regions/us-central1/operations/{op['name']}")[0] == 200
    assert api.get(f"{OPS}/{op['name']}")[0] == 404  # not a zonal operation
    _, fw_op = api.post(
        "projects/labctl-demo/global/firewalls",
        {"name": "allow-ssh", "allowed": [{"IPProtocol": "tcp", "ports": ["22"]}]},
    )
    assert (
        api.post(f"projects/labctl-demo/global/operations/{fw_op['name']}/wait")[1]["status"]
        == "DONE"
    )
    _, listing = api.get("projects/labctl-demo/global/operations", filter="operationType = insert")
    assert [o["name"] for o in listing["items"]] == [fw_op["name"]]


def test_bulk_insert_and_operation_group_filter(api: Api) -> None:
    body = {
        "count": "3",
        "namePattern": "lab-##",
        "instanceProperties": {
            "machineType": "n1-standard-4",
            "disks": [
                {
                    "boot": True,
                    "autoDelete": True,
                    "initializeParams": {
                        "sourceImage": "projects/debian-cloud/global/images/family/debian-12"
                    },
                }
            ],
            "networkInterfaces": [{"network": "global/networks/default"}],
            "guestAccelerators": [{"acceleratorType": "nvidia-tesla-p100", "acceleratorCount": 1}],
            "scheduling": {"onHostMaintenance": "TERMINATE"},
            "labels": {"labctl-course": "ml"},
        },
    }
    status, op = api.post(f"{INSTANCES}/bulkInsert", body)
    assert status == 200 and op["operationType"] == "bulkInsert"
    group = op["operationGroupId"]
    for query in (f"operationGroupId={group}", f"operationGroupId eq {group}"):
        _, ops = api.get(OPS, filter=query)
        names = sorted(o["targetLink"].rsplit("/", 1)[1] for o in ops["items"])
        assert names == ["lab-01", "lab-02", "lab-03", "us-central1-c"]
    # Names already taken are skipped by the pattern.
    api.post(f"{INSTANCES}/bulkInsert", {**body, "count": "1"})
    _, listing = api.get(INSTANCES)
    assert [i["name"] for i in listing["items"]] == ["lab-01", "lab-02", "lab-03", "lab-04"]


def test_list_filters_paging_and_aggregation(api: Api) -> None:
    for i in range(5):
        labels = {"labctl-course": "ml" if i % 2 else "db"}
        api.post(INSTANCES, vm_body(name=f"vm-{i}", labels=labels))
    api.post(
        "projects/labctl-demo/zones/us-east1-b/instances",
        vm_body(name="east", zone="us-east1-b", labels={"labctl-course": "ml"}),
    )
    api.post(f"{INSTANCES}/vm-0/stop")

    def names(**query: str) -> list[str]:
        _, agg = api.get("projects/labctl-demo/aggregated/instances", **query)
        return [i["name"] for scope in agg["items"].values() for i in scope.get("instances", [])]

    assert names(filter="labels.labctl-course = ml") == ["vm-1", "vm-3", "east"]
    assert len(names(filter="labels.labctl-course:*")) == 6
    assert names(filter="status = TERMINATED") == ["vm-0"]
    assert names(filter="name eq vm-[13]") == ["vm-1", "vm-3"]
    assert names(filter='(name ne "vm-.*") (status eq RUNNING)') == ["east"]
    assert names(filter="zone = us-east1-b") == ["east"]

    _, agg = api.get(
        "projects/labctl-demo/aggregated/instances",
        includeAllScopes="true",
        returnPartialSuccess="true",
    )
    empty = agg["items"]["zones/europe-west1-b"]["warning"]
    assert empty["code"] == "NO_RESULTS_ON_PAGE"

    seen: list[str] = []
    token = ""
    for _ in range(10):
        query = {"maxResults": "2", **({"pageToken": token} if token else {})}
        _, page = api.get("projects/labctl-demo/aggregated/instances", **query)
        seen += [i["name"] for s in page["items"].values() for i in s.get("instances", [])]
        token = page.get("nextPageToken", "")
        if not token:
            break
    assert sorted(seen) == sorted(["vm-0", "vm-1", "vm-2", "vm-3", "vm-4", "east"])
    _, zonal = api.get(INSTANCES, filter="labels.labctl-course = db", maxResults="1")
    assert [i["name"] for i in zonal["items"]] == ["vm-0"] and zonal["nextPageToken"]
    assert api.get(INSTANCES, filter="= vm-1")[0] == 400
    assert api.get(INSTANCES, maxResults="501")[0] == 400
