"""A tiny JSON client for the emulator's REST API (stdlib only)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from labctl.emulator import Emulator

TIMEOUT = 10


class Api:
    """``api.post("projects/labctl-demo/zones/z/instances", body)`` -> ``(status, json)``."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def call(
        self, method: str, path: str, body: Any = None, root: str | None = None, **query: Any
    ) -> tuple[int, Any]:
        base = root if root is not None else self.emu.compute_url
        url = base + path + (("?" + urlencode(query)) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"{}")

    def get(self, path: str, **query: Any) -> tuple[int, Any]:
        return self.call("GET", path, **query)

    def post(self, path: str, body: Any = None, **query: Any) -> tuple[int, Any]:
        return self.call("POST", path, body if body is not None else {}, **query)

    def delete(self, path: str, **query: Any) -> tuple[int, Any]:
        return self.call("DELETE", path, **query)

    def admin(self, method: str, name: str, body: Any = None) -> tuple[int, Any]:
        root = f"http://127.0.0.1:{self.emu.compute_port}/_emulator/"
        return self.call(method, name, body, root=root)


def vm_body(
    name: str = "vm-1",
    zone: str = "us-central1-c",
    machine: str = "n1-standard-8",
    gpu: str | None = "nvidia-tesla-p100",
    spot: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """An Instance body shaped like labctl's: boot disk from a family, NAT, labels."""
    body: dict[str, Any] = {
        "name": name,
        "machineType": f"zones/{zone}/machineTypes/{machine}",
        "disks": [
            {
                "boot": True,
                "autoDelete": True,
                "initializeParams": {
                    "sourceImage": "projects/deeplearning-platform-release/global/images/"
                    "family/common-cu129-ubuntu-2204-nvidia-580",
                    "diskSizeGb": "100",
                },
            }
        ],
        "networkInterfaces": [{"accessConfigs": [{"name": "external-nat"}]}],
        "labels": {"labctl-managed": "true", "labctl-course": "ml"},
        "scheduling": {"onHostMaintenance": "TERMINATE"},
    }
    if gpu:
        body["guestAccelerators"] = [
            {"acceleratorType": f"zones/{zone}/acceleratorTypes/{gpu}", "acceleratorCount": 1}
        ]
    if spot:
        body["scheduling"].update(
            provisioningModel="SPOT", instanceTerminationAction="STOP", automaticRestart=False
        )
    body.update(extra)
    return body
