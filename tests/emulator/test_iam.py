"""Instance IAM policies: empty with an etag at first; stale etags fail 412; etags change."""

from __future__ import annotations

from labctl.emulator.validate import discovery
from tests.emulator._http import Api, vm_body

ZONE = "us-central1-c"
VM = f"projects/labctl-demo/zones/{ZONE}/instances/vm-1"
BINDING = {"role": "roles/compute.instanceAdmin.v1", "members": ["user:alice@example.com"]}


def test_request_schema_is_zone_set_policy_request() -> None:
    props = discovery()["schemas"]["ZoneSetPolicyRequest"]["properties"]
    assert set(props) == {"policy", "bindings", "etag"}


def test_new_instance_has_an_empty_policy_with_an_etag(api: Api) -> None:
    api.post(f"projects/labctl-demo/zones/{ZONE}/instances", vm_body())
    status, policy = api.get(f"{VM}/getIamPolicy", optionsRequestedPolicyVersion=3)
    assert status == 200 and policy["etag"] and "bindings" not in policy
    assert api.get(f"{VM}/getIamPolicy", optionsRequestedPolicyVersion=2)[0] == 400
    assert api.get(f"projects/labctl-demo/zones/{ZONE}/instances/ghost/getIamPolicy")[0] == 404


def test_set_with_etags(api: Api) -> None:
    api.post(f"projects/labctl-demo/zones/{ZONE}/instances", vm_body())
    first = api.get(f"{VM}/getIamPolicy")[1]
    status, set1 = api.post(
        f"{VM}/setIamPolicy", {"policy": {"bindings": [BINDING], "etag": first["etag"]}}
    )
    assert status == 200 and set1["bindings"] == [BINDING]
    assert set1["etag"] != first["etag"]
    assert api.get(f"{VM}/getIamPolicy")[1] == set1

    # A writer that read before set1 loses.
    status, err = api.post(
        f"{VM}/setIamPolicy", {"policy": {"bindings": [], "etag": first["etag"]}}
    )
    assert status == 412 and err["error"]["errors"][0]["reason"] == "conditionNotMet"
    assert api.get(f"{VM}/getIamPolicy")[1]["bindings"] == [BINDING]

    # The deprecated flattened form, with the etag in URL-safe base64.
    url_safe = set1["etag"].replace("+", "-").replace("/", "_")
    status, set2 = api.post(f"{VM}/setIamPolicy", {"bindings": [], "etag": url_safe})
    assert status == 200 and "bindings" not in set2 and set2["etag"] != set1["etag"]

    # No etag: an unconditional overwrite.
    status, set3 = api.post(f"{VM}/setIamPolicy", {"policy": {"bindings": [BINDING]}})
    assert status == 200 and set3["etag"] not in (set1["etag"], set2["etag"])


def test_bad_policies(api: Api) -> None:
    api.post(f"projects/labctl-demo/zones/{ZONE}/instances", vm_body())
    bad_member = {"role": "roles/viewer", "members": ["alice@example.com"]}
    assert api.post(f"{VM}/setIamPolicy", {"policy": {"bindings": [bad_member]}})[0] == 400
    bad_role = {"role": "viewer", "members": ["user:a@example.com"]}
    assert api.post(f"{VM}/setIamPolicy", {"policy": {"bindings": [bad_role]}})[0] == 400
    conditional = {
        **BINDING,
        "condition": {
            "title": "t",
            "expression": 'request.time < timestamp("2030-01-01T00:00:00Z")',
        },
    }
    body = {"policy": {"bindings": [conditional], "version": 1}}
    assert api.post(f"{VM}/setIamPolicy", body)[0] == 400
    body["policy"]["version"] = 3
    status, policy = api.post(f"{VM}/setIamPolicy", body)
    assert status == 200 and policy["version"] == 3
