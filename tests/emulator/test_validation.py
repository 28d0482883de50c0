"""Request bodies and path parameters are checked against the Compute v1 discovery document."""

from __future__ import annotations

import pytest

from labctl.emulator import Emulator
from tests.emulator._http import Api, vm_body

INSERT = "projects/labctl-demo/zones/us-central1-c/instances"


def _error(resp: tuple[int, dict]) -> tuple[int, str, str]:
    status, body = resp
    err = body["error"]
    assert err["code"] == status
    assert err["errors"][0]["message"] == err["message"]
    return status, err["errors"][0]["reason"], err["message"]


def test_unknown_field_is_400(api: Api) -> None:
    body = vm_body()
    body["scheduling"]["sometimes"] = True
    status, reason, message = _error(api.post(INSERT, body))
    assert (status, reason) == (400, "invalid")
    assert 'Unknown name "sometimes"' in message and "resource.scheduling" in message


def test_bad_enum_is_400(api: Api) -> None:
    body = vm_body()
    body["scheduling"]["onHostMaintenance"] = "SOMETIMES"
    status, reason, message = _error(api.post(INSERT, body))
    assert (status, reason) == (400, "invalid")
    assert "MIGRATE, TERMINATE" in message


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("scheduling", "automaticRestart"), "yes"),
        (("guestAccelerators", 0, "acceleratorCount"), "one"),
        (("disks", 0, "initializeParams", "diskSizeGb"), "100GB"),
        (("labels",), ["a"]),
    ],
)
def test_wrong_type_is_400(api: Api, path: tuple, value: object) -> None:
    body = vm_body()
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    status, reason, _ = _error(api.post(INSERT, body))
    assert (status, reason) == (400, "invalid")


def test_int64_as_string_of_digits_is_accepted(api: Api) -> None:
    status, op = api.post(INSERT, vm_body())  # diskSizeGb is "100", as google-cloud-compute sends
    assert status == 200, op


def test_bad_name_is_400(api: Api) -> None:
    status, reason, message = _error(api.post(INSERT, vm_body(name="Bad_Name")))
    assert (status, reason) == (400, "invalid")
    assert "resource.name" in message and "Bad_Name" in message


def test_missing_required_name_is_400(api: Api) -> None:
    body = vm_body()
    del body["name"]
    status, _reason, message = _error(api.post(INSERT, body))
    assert status == 400 and "resource.name" in message


def test_bad_path_parameter_is_400(api: Api) -> None:
    status, _reason, message = _error(
        api.get("projects/labctl-demo/zones/us-central1-c/instances/Bad_Name")
    )
    assert status == 400 and "Bad_Name" in message


def test_invalid_json_is_400(emulator: Emulator) -> None:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(emulator.compute_url + INSERT, data=b"{not json", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    assert info.value.code == 400


def test_unknown_route_is_404_and_unimplemented_method_is_501(api: Api) -> None:
    assert api.get("projects/labctl-demo/nothing/here")[0] == 404
    status, body = api.get("projects/labctl-demo/global/machineImages")
    assert status == 501 and "compute.machineImages.list" in body["error"]["message"]


def test_request_id_must_be_a_uuid(api: Api) -> None:
    status, _reason, message = _error(api.post(INSERT, vm_body(), requestId="not-a-uuid"))
    assert status == 400 and "requestId" in message
