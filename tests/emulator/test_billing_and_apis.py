"""Cloud Billing's billingInfo on the emulator's port, and APIs that are not enabled."""

from __future__ import annotations

import re
from typing import Any

from labctl.emulator import Emulator
from tests.emulator._http import Api

# gcloud's pattern for "API not enabled" errors (googlecloudsdk/api_lib/util/api_enablement.py).
GCLOUD_ENABLEMENT_RE = re.compile(
    r".*Enable it by visiting https://console.(?:cloud|developers).google.com"
    r"/apis/api/([^/]+)/overview\?project=(\S+) then retry. If you "
    r"enabled this API recently, wait a few minutes for the action to propagate"
    r" to our systems and retry.\w*"
)


def billing(api: Api, project: str = "labctl-demo") -> tuple[int, Any]:
    root = f"http://127.0.0.1:{api.emu.compute_port}/"
    return api.call("GET", f"v1/projects/{project}/billingInfo", root=root)


def test_billing_info(api: Api, emulator: Emulator) -> None:
    status, info = billing(api, "my-course")
    assert status == 200
    assert info == {
        "name": "projects/my-course/billingInfo",
        "projectId": "my-course",
        "billingAccountName": "billingAccounts/000000-000000-000000",
        "billingEnabled": True,
    }
    emulator.set_faults({"billing": {"enabled": False}})
    assert billing(api)[1]["billingEnabled"] is False
    emulator.set_faults({"billing": {"account": None}})
    _, none = billing(api)
    assert none["billingEnabled"] is False and none["billingAccountName"] == ""
    emulator.set_faults({"billing": {"account": "0A1B2C-3D4E5F-6A7B8C"}})
    assert billing(api)[1]["billingAccountName"] == "billingAccounts/0A1B2C-3D4E5F-6A7B8C"
    assert any(r["path"] == "/v1/projects/labctl-demo/billingInfo" for r in emulator.requests)


def test_env_points_gcloud_at_billing(emulator: Emulator) -> None:
    env = emulator.env()
    assert env["CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDBILLING"] == (
        f"http://127.0.0.1:{emulator.compute_port}/"
    )


def test_disabled_compute_api(api: Api, emulator: Emulator) -> None:
    number = api.get("projects/labctl-demo")[1]["id"]
    emulator.set_faults({"disabled_apis": ["compute"]})
    for status, body in (
        api.get("projects/labctl-demo/zones"),
        api.post("projects/labctl-demo/global/firewalls", {}),
    ):
        assert status == 403
        err = body["error"]
        assert err["status"] == "PERMISSION_DENIED"
        assert err["message"].startswith(
            f"Compute Engine API has not been used in project {number} before or it is disabled."
        )
        assert err["errors"][0]["reason"] == "accessNotConfigured"
        assert err["errors"][0]["domain"] == "usageLimits"
        info = next(d for d in err["details"] if d["@type"].endswith("google.rpc.ErrorInfo"))
        assert info["reason"] == "SERVICE_DISABLED" and info["domain"] == "googleapis.com"
        assert info["metadata"]["service"] == "compute.googleapis.com"
        assert info["metadata"]["consumer"] == f"projects/{number}"
        assert info["metadata"]["activationUrl"].endswith(
            f"/apis/api/compute.googleapis.com/overview?project={number}"
        )
        match = GCLOUD_ENABLEMENT_RE.match(err["message"])
        assert match and match.groups() == ("compute.googleapis.com", number)
    assert billing(api)[0] == 200  # only Compute is off
    emulator.set_faults({"disabled_apis": ["cloudbilling"]})
    status, body = billing(api)
    assert status == 403 and body["error"]["message"].startswith("Cloud Billing API has not")
    assert api.get("projects/labctl-demo/zones")[0] == 200
