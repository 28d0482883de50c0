"""Resource policies (instance schedules) and attaching them to instances."""

from __future__ import annotations

from typing import Any

from tests.emulator._http import Api, vm_body

REGION = "us-central1"
POLICIES = f"projects/labctl-demo/regions/{REGION}/resourcePolicies"
ZONE = "us-central1-c"
INSTANCES = f"projects/labctl-demo/zones/{ZONE}/instances"


def schedule(name: str = "lab-hours", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": "Lab hours",
        "instanceSchedulePolicy": {
            "vmStartSchedule": {"schedule": "0 8 * * MON-FRI"},
            "vmStopSchedule": {"schedule": "0 20 * * *"},
            "timeZone": "Europe/Berlin",
            **extra,
        },
    }


def test_insert_get_list_aggregated(api: Api) -> None:
    status, op = api.post(POLICIES, schedule(startTime="2026-01-05T00:00:00Z"))
    assert status == 200 and op["region"].endswith(f"/regions/{REGION}")
    policy = api.get(f"{POLICIES}/lab-hours")[1]
    assert policy["kind"] == "compute#resourcePolicy" and policy["status"] == "READY"
    assert policy["instanceSchedulePolicy"]["timeZone"] == "Europe/Berlin"
    assert policy["instanceSchedulePolicy"]["vmStopSchedule"] == {"schedule": "0 20 * * *"}
    assert policy["description"] == "Lab hours" and policy["region"].endswith(REGION)
    assert [p["name"] for p in api.get(POLICIES)[1]["items"]] == ["lab-hours"]
    _, agg = api.get("projects/labctl-demo/aggregated/resourcePolicies")
    assert agg["items"][f"regions/{REGION}"]["resourcePolicies"][0]["name"] == "lab-hours"
    assert api.post(POLICIES, schedule())[0] == 409


def test_bad_schedules(api: Api) -> None:
    assert api.post(POLICIES, schedule(timeZone="Mars/Olympus"))[0] == 400
    bad_cron = schedule()
    bad_cron["instanceSchedulePolicy"]["vmStartSchedule"] = {"schedule": "every morning"}
    assert api.post(POLICIES, bad_cron)[0] == 400
    neither = schedule()
    del neither["instanceSchedulePolicy"]["vmStartSchedule"]
    del neither["instanceSchedulePolicy"]["vmStopSchedule"]
    assert api.post(POLICIES, neither)[0] == 400
    assert api.post(POLICIES, schedule(expirationTime="next week"))[0] == 400


def test_attach_rules(api: Api) -> None:
    api.post(POLICIES, schedule())
    api.post(POLICIES, schedule("evenings"))
    api.post("projects/labctl-demo/regions/europe-west4/resourcePolicies", schedule("far-away"))
    api.post(INSTANCES, vm_body())
    vm = f"{INSTANCES}/vm-1"
    link = f"projects/labctl-demo/regions/{REGION}/resourcePolicies/lab-hours"

    status, op = api.post(f"{vm}/addResourcePolicies", {"resourcePolicies": [link]})
    assert status == 200 and op["operationType"] == "addResourcePolicies"
    attached = api.get(vm)[1]["resourcePolicies"]
    assert len(attached) == 1 and attached[0].endswith("/resourcePolicies/lab-hours")

    # Another region: refused. A second schedule: refused.
    other = "projects/labctl-demo/regions/europe-west4/resourcePolicies/far-away"
    status, err = api.post(f"{vm}/addResourcePolicies", {"resourcePolicies": [other]})
    assert status == 400 and "same region" in err["error"]["message"]
    second = f"regions/{REGION}/resourcePolicies/evenings"
    status, err = api.post(f"{vm}/addResourcePolicies", {"resourcePolicies": [second]})
    assert status == 400 and "at most one" in err["error"]["message"]
    ghost = f"regions/{REGION}/resourcePolicies/ghost"
    assert api.post(f"{vm}/addResourcePolicies", {"resourcePolicies": [ghost]})[0] == 404

    # Attached: cannot be deleted.
    status, err = api.delete(f"{POLICIES}/lab-hours")
    assert status == 400
    assert err["error"]["errors"][0]["reason"] == "resourceInUseByAnotherResource"
    status, op = api.post(f"{vm}/removeResourcePolicies", {"resourcePolicies": [link]})
    assert status == 200 and "resourcePolicies" not in api.get(vm)[1]
    assert api.delete(f"{POLICIES}/lab-hours")[0] == 200


def test_insert_with_a_schedule(api: Api) -> None:
    api.post(POLICIES, schedule())
    body = vm_body(resourcePolicies=[f"regions/{REGION}/resourcePolicies/lab-hours"])
    assert api.post(INSTANCES, body)[0] == 200
    assert api.get(f"{INSTANCES}/vm-1")[1]["resourcePolicies"][0].endswith("/lab-hours")
    elsewhere = vm_body(
        "vm-2", resourcePolicies=["regions/europe-west4/resourcePolicies/lab-hours"]
    )
    assert api.post(INSTANCES, elsewhere)[0] == 400
    # Deleting the VM frees the schedule.
    api.delete(f"{INSTANCES}/vm-1")
    assert api.delete(f"{POLICIES}/lab-hours")[0] == 200
