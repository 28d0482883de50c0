"""HTTP: the Compute v1 routes under /compute/v1/ and the admin routes under /_emulator/."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from labctl.emulator import validate
from labctl.emulator.api import HANDLERS, Ctx
from labctl.emulator.batch import BATCH_PATH, handle_batch
from labctl.emulator.billing import PATH_RE as BILLING_PATH
from labctl.emulator.billing import api_disabled_error, billing_info
from labctl.emulator.errors import ApiError, bad_request
from labctl.emulator.faults import Faults
from labctl.emulator.state import State, render

log = logging.getLogger(__name__)

PREFIX = "/compute/v1/"
ADMIN = "/_emulator/"
BILLING_PREFIX = "/v1/projects/"  # Cloud Billing v1, same port
MAX_RECORDED = 10_000  # requests kept for tests and benchmarks
MAX_BODY = 10 * 1024 * 1024

_RATE_LIMIT_MESSAGE = (
    "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service "
    "'compute.googleapis.com' for consumer 'project_number:{number}'."
)
_SERVER_ERROR_MESSAGES = {
    500: "Internal error. Please try again or contact Google Support.",
    502: "Bad Gateway",
    503: "The service is currently unavailable.",
    504: "Deadline expired before operation could complete.",
}


class ComputeService:
    """Everything behind the HTTP layer: faults, routing, validation, handlers, the request log."""

    def __init__(self, state: State, faults: Faults) -> None:
        # Importing the handler modules registers them in api.HANDLERS.
        from labctl.emulator import (  # noqa: F401
            addresses,
            bulk,
            catalog_api,
            disks,
            firewalls,
            iam,
            instance_settings,
            operations,
            policies,
            snapshots,
        )
        from labctl.emulator.instances import register_effects
        from labctl.emulator.runtime import register_sweep

        self.state = state
        self.faults = faults
        register_effects(state)
        register_sweep(state)
        snapshots.register_effects(state)

        def default_rules(project: str, proj: dict[str, Any]) -> None:
            names = faults.default_firewall_rules(sorted(firewalls.DEFAULT_RULES))
            firewalls.add_default_rules(proj, project, names)

        state.on_new_project.append(default_rules)
        self._log_lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self.admin_hooks: dict[str, Callable[[dict[str, Any]], Any]] = {}

    # --- request log -------------------------------------------------------------------------
    def record(self, method: str, path: str, query: dict[str, str], body: Any) -> None:
        entry = {"method": method, "path": path, "query": query, "body": body, "time": time.time()}
        with self._log_lock:
            self._requests.append(entry)
            if len(self._requests) > MAX_RECORDED:
                del self._requests[: len(self._requests) - MAX_RECORDED]

    def requests(self) -> list[dict[str, Any]]:
        with self._log_lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._log_lock:
            self._requests.clear()

    # --- Compute requests --------------------------------------------------------------------
    def handle(
        self, verb: str, rel_path: str, query: dict[str, str], raw: bytes, base: str
    ) -> tuple[int, Any]:
        """Serve one Compute request; ``rel_path`` is relative to ``/compute/v1/``."""
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.record(verb, PREFIX + rel_path, query, body)
        latency = self.faults.latency_seconds
        if latency:
            time.sleep(latency)  # outside the lock: concurrent requests overlap
        try:
            if self.faults.api_disabled("compute"):
                raise api_disabled_error("compute", self._project_number(rel_path))
            if self.faults.take_rate_limit(verb):
                number = self._project_number(rel_path)
                raise ApiError(
                    403,
                    _RATE_LIMIT_MESSAGE.format(number=number),
                    "rateLimitExceeded",
                    "usageLimits",
                )
            server_error = self.faults.take_server_error(verb)
            if server_error and not server_error.get("after_commit"):
                raise self._server_error(server_error)
            if isinstance(body, str):
                raise ApiError(400, "Invalid JSON payload received.", "parseError")
            result = self._dispatch(verb, rel_path, query, body, base)
            if server_error:
                raise self._server_error(server_error)
            return 200, result
        except ApiError as err:
            return err.code, err.body()

    def _project_number(self, rel_path: str) -> str:
        parts = rel_path.split("/")
        if len(parts) < 2 or parts[0] != "projects":
            return "0"
        with self.state.lock:
            return str(self.state.project(parts[1])["id"])

    def billing(self, verb: str, path: str) -> tuple[int, Any]:
        """Serve ``GET /v1/projects/{project}/billingInfo`` (Cloud Billing v1)."""
        m = BILLING_PATH.match(path)
        self.record(verb, path, {}, None)
        if m is None or verb != "GET":
            return 404, ApiError(404, f"Not found: {path}", "notFound").body()
        try:
            number = self._project_number(f"projects/{m.group(1)}")
            return 200, billing_info(self.faults, m.group(1), number)
        except ApiError as err:
            return err.code, err.body()

    @staticmethod
    def _server_error(spec: dict[str, Any]) -> ApiError:
        status = int(spec.get("status", 503))
        message = _SERVER_ERROR_MESSAGES.get(status, "Server error")
        return ApiError(status, message, "backendError")

    def _dispatch(
        self, verb: str, rel_path: str, query: dict[str, str], body: Any, base: str
    ) -> Any:
        found = validate.match(verb, rel_path)
        if found is None:
            raise ApiError(404, f"The requested URL {PREFIX}{rel_path} was not found.", "notFound")
        method, params = found
        handler = HANDLERS.get(method.id)
        if handler is None:
            raise ApiError(501, f"The emulator does not implement {method.id}.", "notImplemented")
        validate.check_params(method, params)
        validate.check_body(method, body if method.request else None)
        request_id = query.get("requestId")
        if request_id:
            _check_request_id(request_id)
        mutating = verb != "GET" and not method.id.endswith(".wait")
        ctx = Ctx(self.state, self.faults, method.id, params, query, body or {}, base)
        with self.state.lock:
            self.state.tick()
            key = f"{method.id}:{request_id}" if request_id else None
            seen = ctx.proj["_requestIds"].get(key) if key else None
            if seen and seen in ctx.proj["_operations"]:
                # A retry: Compute returns the first request's operation and does nothing else.
                from labctl.emulator.operations import view

                return render(view(ctx.proj["_operations"][seen]), base)
            result = handler(ctx)
            if key and isinstance(result, dict) and result.get("kind") == "compute#operation":
                ctx.proj["_requestIds"][key] = result["name"]
            if mutating:
                self.state.tick()  # zero-second operations finish now
                self.state.save()
            if isinstance(result, dict) and "_start" in result:
                from labctl.emulator.operations import view

                result = view(result)
            return render(result, base)

    # --- admin requests ----------------------------------------------------------------------
    def admin(self, verb: str, name: str, raw: bytes) -> tuple[int, Any]:
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return 400, {"error": "body must be JSON"}
        hook = self.admin_hooks.get(f"{verb} {name}")
        if hook is None:
            return 404, {"error": f"no admin endpoint {verb} {ADMIN}{name}"}
        try:
            return 200, hook(body)
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error": str(exc)}
        except ApiError as err:
            return err.code, err.body()


def _check_request_id(value: str) -> None:
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.int == 0:
        raise bad_request(
            f"Invalid value for field 'requestId': '{value}'. The request ID must be a valid "
            "UUID with the exception that zero UUID is not supported."
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the clients reuse connections
    server_version = "labctl-emulator"
    timeout = 60  # idle keep-alive connections are closed after this
    service: ComputeService  # set on a per-server subclass

    def _respond(self, status: int, payload: Any, content_type: str | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type or "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("request body too large")
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        try:
            raw = self._body()
        except ValueError as exc:
            self.close_connection = True
            self._respond(413, ApiError(413, str(exc), "invalid").body())
            return
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        port = getattr(self.server, "server_port", 80)
        base = f"http://{self.headers.get('Host') or f'127.0.0.1:{port}'}{PREFIX}"
        if url.path == BATCH_PATH and self.command == "POST":
            self._batch(raw, base)
            return
        if url.path.startswith(ADMIN):
            status, payload = self.service.admin(self.command, url.path[len(ADMIN) :], raw)
        elif url.path.startswith(BILLING_PREFIX):
            status, payload = self.service.billing(self.command, url.path)
        elif url.path.startswith(PREFIX):
            try:
                status, payload = self.service.handle(
                    self.command, url.path[len(PREFIX) :], query, raw, base
                )
            except Exception:  # a bug must not kill the connection silently
                log.exception("emulator error on %s %s", self.command, self.path)
                status, payload = (
                    500,
                    ApiError(500, "Internal emulator error", "backendError").body(),
                )
        else:
            status, payload = 404, ApiError(404, f"Not found: {url.path}", "notFound").body()
        self._respond(status, payload)

    def _batch(self, raw: bytes, base: str) -> None:
        def dispatch(verb: str, rel: str, query: dict[str, str], body: bytes) -> tuple[int, Any]:
            return self.service.handle(verb, rel, query, body, base)

        try:
            ctype, data = handle_batch(self.headers.get("Content-Type", ""), raw, PREFIX, dispatch)
        except ValueError as exc:
            self._respond(400, ApiError(400, str(exc), "invalid").body())
            return
        self._respond(200, data, ctype)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The Date header, moved by the clock_offset_seconds fault (doctor's clock check)."""
        now = time.time() if timestamp is None else timestamp
        return super().date_time_string(now + self.service.faults.clock_offset_seconds)


class ComputeHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 2048  # a class of 1,000 VMs waited on at once must not see refusals

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver prints a traceback on stderr for any error; a client that hung up in
        the middle of a wait (Ctrl-C, a timeout) is not worth one, so only real faults are
        logged, through logging, where the CLI's level decides what is shown."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError):
            log.debug("client %s went away: %s", client_address, error)
            return
        log.warning("emulator error serving %s", client_address, exc_info=True)


def make_server(service: ComputeService, port: int) -> ComputeHTTPServer:
    """Bind 127.0.0.1:port (0 picks a free port). Call ``serve_forever`` in a thread."""
    handler = type("BoundHandler", (_Handler,), {"service": service})
    return ComputeHTTPServer(("127.0.0.1", port), handler)
