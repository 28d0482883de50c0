"""Emulator: start and stop the Compute server (and optionally Cloud Storage) on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

from labctl.emulator.faults import Faults
from labctl.emulator.inputs import check_port, check_state_file, load_faults
from labctl.emulator.server import ComputeHTTPServer, ComputeService, make_server
from labctl.emulator.state import State, render
from labctl.emulator.storage import StorageEmulator

log = logging.getLogger(__name__)

DUMMY_TOKEN = "labctl-emulator-token"
_STOP_TIMEOUT = 5.0


class Emulator:
    """A local Compute Engine v1 REST server, plus gcp-storage-emulator when asked.

    ``compute_port=0`` picks a free port; ``storage_port=None`` runs no storage emulator (an
    int, 0 included, starts one). ``state_file`` is loaded at start and rewritten atomically
    after changes (at most every 0.25 s, and at stop); ``faults_file`` is YAML or JSON (see
    ``labctl.emulator.faults``).
    """

    def __init__(
        self,
        compute_port: int = 0,
        storage_port: int | None = None,
        state_file: str | Path | None = None,
        faults_file: str | Path | None = None,
    ) -> None:
        self._requested_port = check_port(compute_port, "compute port")
        self._storage_port = (
            None if storage_port is None else check_port(storage_port, "storage port")
        )
        self.state_file = Path(state_file) if state_file else None
        self.faults_file = Path(faults_file) if faults_file else None
        self._faults = Faults({})
        self.reload_faults_file()
        self._state: State | None = None
        self._service: ComputeService | None = None
        self._server: ComputeHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._storage: StorageEmulator | None = None
        self._tmpdir: Path | None = None
        self.token_file: Path | None = None
        self.run_file: Path | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> Emulator:
        if self._server is not None:
            return self
        check_state_file(self.state_file)
        self._state = State(self.state_file)
        self._service = ComputeService(self._state, self._faults)
        self._register_admin(self._service)
        try:
            self._server = make_server(self._service, self._requested_port)
        except OSError as exc:  # name the address: "[Errno 98] Address already in use: '...'"
            raise OSError(exc.errno, exc.strerror, f"127.0.0.1:{self._requested_port}") from None
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="labctl-compute-emulator",
            daemon=True,
        )
        self._thread.start()
        self._tmpdir = Path(tempfile.mkdtemp(prefix="labctl-emulator-"))
        self.token_file = self._tmpdir / "access-token"
        self.token_file.write_text(DUMMY_TOKEN + "\n", encoding="utf-8")
        if self._storage_port is not None:
            try:
                self._storage = StorageEmulator(
                    self._storage_port, disabled=lambda: self._faults.api_disabled("storage")
                ).start()
            except BaseException:
                self.stop()
                raise
        log.info("compute emulator on %s", self.compute_url)
        return self

    def write_run_file(self, project: str = "labctl-demo") -> Path:
        """Record this emulator for ``labctl emulator status/stop`` (removed by ``stop``).

        Raises ``lifecycle.EmulatorRunning`` if another live emulator is recorded.
        """
        from labctl.emulator.lifecycle import write_run_file

        self.run_file = write_run_file(self, project)
        return self.run_file

    def stop(self) -> None:
        if self.run_file is not None:
            from labctl.emulator.lifecycle import remove_run_file

            remove_run_file(self.run_file, os.getpid())
            self.run_file = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._state is not None:
            self._state.flush()  # the last changes, if a write was coalesced
        if self._thread is not None:
            self._thread.join(_STOP_TIMEOUT)
            self._thread = None
        if self._storage is not None:
            self._storage.stop()
            self._storage = None
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- addresses -----------------------------------------------------------------------------
    @property
    def compute_port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start()")
        return int(self._server.server_address[1])

    @property
    def compute_url(self) -> str:
        """``http://127.0.0.1:PORT/compute/v1/``: what gcloud's endpoint override wants."""
        return f"http://127.0.0.1:{self.compute_port}/compute/v1/"

    @property
    def storage_port(self) -> int | None:
        return self._storage.port if self._storage else None

    @property
    def storage_url(self) -> str | None:
        return self._storage.url if self._storage else None

    def env(self, project: str = "labctl-demo") -> dict[str, str]:
        """Environment that points gcloud, google-cloud-* and labctl at this emulator."""
        if self.token_file is None:
            raise RuntimeError("the emulator is not running; call start()")
        return emulator_env(self.compute_url, self.storage_url, self.token_file, project)

    # --- faults, requests, state ------------------------------------------------------------------
    @property
    def faults(self) -> dict[str, Any]:
        return self._faults.as_dict()

    def set_faults(self, faults: dict[str, Any]) -> None:
        """Replace the faults (raises ValueError on a bad mapping)."""
        self._faults.set(faults)

    def reload_faults_file(self) -> None:
        """(Re)read the faults file; ValueError/OSError naming the file if it is bad."""
        if self.faults_file is not None:
            faults = load_faults(self.faults_file)
            try:
                self._faults.set(faults)
            except ValueError as exc:
                raise ValueError(f"{self.faults_file}: {exc}") from None

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Compute and Cloud Billing requests so far: ``{method, path, query, body, time}``."""
        return self._svc().requests()

    def clear_requests(self) -> None:
        self._svc().clear_requests()

    def reset(self) -> None:
        """Drop every project's resources and operations (the catalog stays).

        A project is set up again on its next request, with the default network's firewall
        rules that the ``default_firewall_rules`` fault allows.
        """
        self._svc().state.reset()
        self._svc().clear_requests()
        if self._storage is not None:
            self._storage.wipe()

    def preempt(self, project: str, zone: str, instance: str) -> dict[str, Any]:
        """Preempt a Spot VM (STOP or DELETE per its instanceTerminationAction)."""
        from labctl.emulator.instances import preempt

        state = self._svc().state
        with state.lock:
            state.tick()
            op = preempt(state, project, zone, instance)
            state.save()
            from labctl.emulator.operations import view

            return dict(render(view(op), self.compute_url))

    def set_guest_attribute(
        self, project: str, zone: str, instance: str, path: str, value: str
    ) -> None:
        """Set ``NAMESPACE/KEY`` as the VM's guest agent would (e.g. ``hostkeys/ssh-ed25519``)."""
        from labctl.emulator.instance_settings import set_guest_attribute

        state = self._svc().state
        with state.lock:
            set_guest_attribute(state, project, zone, instance, path, value)
            state.save()

    def age(
        self,
        kind: str,
        name: str,
        *,
        project: str = "labctl-demo",
        zone: str | None = None,
        region: str | None = None,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
    ) -> dict[str, Any]:
        """Move every timestamp of a resource into the past (tests of age thresholds).

        ``kind``: instance, disk (``zone=``), address, resource_policy (``region=``), snapshot,
        firewall. Returns the resource as a GET would, after lazy checks (maxRunDuration) ran.
        """
        from labctl.emulator.aging import age

        seconds = ((days * 24 + hours) * 60 + minutes) * 60
        state = self._svc().state
        with state.lock:
            state.tick()
            resource = age(state, project, kind, name, seconds, zone=zone, region=region)
            state.tick()  # e.g. an instance now past its maxRunDuration stops
            state.save()
            return dict(render(resource, self.compute_url))

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of the raw state (for debugging and tests)."""
        return self._svc().state.snapshot()

    def _svc(self) -> ComputeService:
        if self._service is None:
            raise RuntimeError("the emulator is not running; call start()")
        return self._service

    def _register_admin(self, service: ComputeService) -> None:
        def put_faults(body: dict[str, Any]) -> dict[str, Any]:
            self.set_faults(body)
            return self.faults

        def guest_attributes(body: dict[str, Any]) -> dict[str, Any]:
            path = body.get("path") or f"{body['namespace']}/{body['key']}"
            self.set_guest_attribute(
                body["project"], body["zone"], body["instance"], path, str(body["value"])
            )
            return {"ok": True}

        def age(body: dict[str, Any]) -> dict[str, Any]:
            return self.age(
                str(body["kind"]),
                str(body["name"]),
                project=str(body.get("project", "labctl-demo")),
                zone=body.get("zone"),
                region=body.get("region"),
                days=float(body.get("days", 0)),
                hours=float(body.get("hours", 0)),
                minutes=float(body.get("minutes", 0)),
            )

        def clear(_body: dict[str, Any]) -> dict[str, Any]:
            self.clear_requests()
            return {"ok": True}

        def reset(_body: dict[str, Any]) -> dict[str, Any]:
            self.reset()
            return {"ok": True}

        service.admin_hooks.update(
            {
                "GET faults": lambda _b: self.faults,
                "PUT faults": put_faults,
                "GET requests": lambda _b: self.requests,
                "DELETE requests": clear,
                "POST reset": reset,
                "POST preempt": lambda b: self.preempt(b["project"], b["zone"], b["instance"]),
                "PUT guest-attributes": guest_attributes,
                "POST age": age,
                "GET health": lambda _b: {
                    "ok": True,
                    "compute_url": self.compute_url,
                    "pid": os.getpid(),  # lets `labctl emulator stop` confirm whom it signals
                },
            }
        )


def emulator_env(
    compute_url: str, storage_url: str | None, token_file: Path, project: str = "labctl-demo"
) -> dict[str, str]:
    """The exports for an emulator at these addresses (``labctl emulator env`` prints them).

    gcloud wants an access token even for a plain-http endpoint; any token in a file will do.
    ``gcloud storage`` needs the JSON API base ending in ``storage/v1/``: it derives upload and
    download links by removing that suffix (``api_lib/storage/gcs_json/client.py`` in the SDK).
    """
    root = compute_url.split("compute/v1/", 1)[0]  # http://127.0.0.1:PORT/
    env = {
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE": compute_url,
        # gcloud's [api_endpoint_overrides] cloudbilling property; billing.py serves it.
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDBILLING": root,
        "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(token_file),
        "CLOUDSDK_CORE_PROJECT": project,
        "GOOGLE_CLOUD_PROJECT": project,
        "LABCTL_PROJECT": project,
    }
    if storage_url:
        env["STORAGE_EMULATOR_HOST"] = storage_url
        env["CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE"] = storage_url.rstrip("/") + "/storage/v1/"
    return env
