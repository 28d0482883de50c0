"""State file round-trip, concurrency, storage, reset, and the foreground command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from labctl.emulator import Emulator
from tests.emulator._http import Api, vm_body

ZONE = "us-central1-c"
INSTANCES = f"projects/labctl-demo/zones/{ZONE}/instances"
REPO = Path(__file__).parents[2]


def test_state_file_round_trip(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Emulator(state_file=state) as emu:
        api = Api(emu)
        body = vm_body()
        body["disks"][0]["autoDelete"] = False
        api.post(INSTANCES, body)
        api.post(
            "projects/labctl-demo/global/firewalls",
            {"name": "fw", "allowed": [{"IPProtocol": "tcp"}]},
        )
        api.delete(f"{INSTANCES}/vm-1")
        api.post(INSTANCES, vm_body(name="kept"))
        saved = json.loads(state.read_text())
        assert "labctl-demo" in saved["projects"]
    with Emulator(state_file=state) as emu:  # a new port: links follow it
        api = Api(emu)
        status, inst = api.get(f"{INSTANCES}/kept")
        assert status == 200 and inst["selfLink"].startswith(emu.compute_url)
        assert api.get(f"projects/labctl-demo/zones/{ZONE}/disks/vm-1")[1]["users"] == []
        assert api.get("projects/labctl-demo/global/firewalls/fw")[0] == 200
        assert api.post(INSTANCES, vm_body(name="kept"))[0] == 409
        emu.reset()
        assert api.get(f"{INSTANCES}/kept")[0] == 404
        assert api.get("projects/labctl-demo/zones/us-central1-a")[0] == 200  # catalog stays
    assert json.loads(state.read_text())["projects"] == {}


def test_pending_effects_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Emulator(state_file=state) as emu:
        emu.set_faults({"operation_seconds": 0.5})
        Api(emu).post(INSTANCES, vm_body())
    time.sleep(0.6)
    with Emulator(state_file=state) as emu:
        assert Api(emu).get(f"{INSTANCES}/vm-1")[1]["status"] == "RUNNING"


def test_many_concurrent_inserts_wait_concurrently(emulator: Emulator) -> None:
    emulator.set_faults({"operation_seconds": 1.0, "latency_ms": 50})
    api = Api(emulator)
    results: list[str] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        _, op = api.post(INSTANCES, vm_body(name=f"vm-{i}", gpu=None, spot=False))
        _, done = api.post(f"projects/labctl-demo/zones/{ZONE}/operations/{op['name']}/wait")
        with lock:
            results.append(done["status"])

    threads = [threading.Thread(target=create, args=(i,)) for i in range(100)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - start
    assert results == ["DONE"] * 100
    assert elapsed < 6, elapsed  # 100 one-second operations overlap instead of queueing
    _, agg = api.get("projects/labctl-demo/aggregated/instances", filter="status = RUNNING")
    assert len(agg["items"][f"zones/{ZONE}"]["instances"]) == 100


def test_storage_emulator_alongside(tmp_path: Path) -> None:
    with Emulator(storage_port=0) as emu:
        assert emu.storage_port and emu.storage_url == f"http://127.0.0.1:{emu.storage_port}"
        env = emu.env(project="p1")
        assert env["STORAGE_EMULATOR_HOST"] == emu.storage_url
        assert env["CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE"] == emu.compute_url
        assert Path(env["CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"]).read_text().strip()
        assert env["CLOUDSDK_CORE_PROJECT"] == env["GOOGLE_CLOUD_PROJECT"] == "p1"
        assert env["LABCTL_PROJECT"] == "p1"
        with urllib.request.urlopen(f"{emu.storage_url}/storage/v1/b?project=p1", timeout=5) as r:
            assert r.status == 200


def test_binds_loopback_only(emulator: Emulator) -> None:
    assert emulator._server is not None
    assert emulator._server.server_address[0] == "127.0.0.1"


def test_foreground_command_prints_exports_and_stops_on_sigterm(tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text('{"latency_ms": 1}')
    proc = subprocess.Popen(
        [sys.executable, "-m", "labctl.emulator", "--port", "0", "--faults", str(faults),
         "--state", str(tmp_path / "state.json"), "--max-seconds", "60"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    try:
        lines = [proc.stdout.readline() for _ in range(5)] if proc.stdout else []
        exports = dict(line.removeprefix("export ").strip().split("=", 1) for line in lines)
        url = exports["CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/compute/v1/")
        with urllib.request.urlopen(url + "projects/labctl-demo", timeout=5) as resp:
            assert json.loads(resp.read())["name"] == "labctl-demo"
        port = url.split(":")[2].split("/")[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/faults", timeout=5) as r:
            assert json.loads(r.read()) == {"latency_ms": 1}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
