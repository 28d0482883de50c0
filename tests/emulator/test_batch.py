"""Batch requests: multipart/mixed in, one HTTP response per part out (as gcloud expects)."""

from __future__ import annotations

import urllib.request

from labctl.emulator import Emulator
from tests.emulator._http import Api, vm_body


def test_batch_runs_each_part(api: Api, emulator: Emulator) -> None:
    api.post("projects/labctl-demo/zones/us-central1-c/instances", vm_body(name="a"))
    boundary = "===============123=="
    parts = []
    for i, name in enumerate(["a", "missing"]):
        parts.append(
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <x+{i}>\r\n\r\n"
            f"GET /compute/v1/projects/labctl-demo/zones/us-central1-c/instances/{name}?alt=json "
            "HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n"
        )
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{emulator.compute_port}/batch/compute/v1",
        data=body,
        method="POST",
        headers={"Content-Type": f'multipart/mixed; boundary="{boundary}"'},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("multipart/mixed; boundary=")
        text = resp.read().decode()
    assert "Content-ID: <response-x+0>" in text and "HTTP/1.1 200 OK" in text
    assert "Content-ID: <response-x+1>" in text and "HTTP/1.1 404 Not Found" in text
    assert '"name": "a"' in text
