"""The storage emulator's HTTP server: bucket routes here, object routes to gcp-storage-emulator.

One port serves the whole JSON API. Bucket insert/get/list/patch/update/delete and bucket IAM
are answered by ``storage_buckets`` (gcp-storage-emulator drops settings at create, ignores
``project``/``prefix`` and etags); every other request goes to the library's own handler, whose
error responses (often empty) are given the API's JSON error body on the way out.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gcp_storage_emulator.server import RequestHandler

from labctl.emulator.billing import api_disabled_error
from labctl.emulator.errors import ApiError
from labctl.emulator.storage_buckets import Buckets
from labctl.emulator.storage_rules import NOT_FOUND, PRECONDITION

log = logging.getLogger(__name__)

# gcp-storage-emulator also answers /b/... without /storage/v1 (the Node client's form): so do we.
_API = r"(?:/storage/v1)?/b"
_BUCKETS = re.compile(_API)
_BUCKET = re.compile(_API + r"/([^/]+)")
_IAM = re.compile(_API + r"/([^/]+)/iam")
_LAYOUT = re.compile(_API + r"/([^/]+)/storageLayout")
_MANAGED_FOLDERS = re.compile(_API + r"/([^/]+)/managedFolders")
_OBJECT = re.compile(
    r"(?:/upload|/download)?" + _API + r"/([^/]+)/o(?:/(.+?))?(?:/[a-zA-Z]+To/.*)?"
)
_SINGLE_QUOTED_BOUNDARY = re.compile(r"boundary='([^']*)'")
MAX_JSON_BYTES = 1 << 20  # bucket metadata and policies are small
_REASONS = {
    400: "invalid",
    401: "required",
    403: "forbidden",
    404: "notFound",
    409: "conflict",
    412: "conditionNotMet",
    413: "uploadTooLarge",
    416: "requestedRangeNotSatisfiable",
    429: "rateLimitExceeded",
    501: "notImplemented",
}


class StorageHandler(RequestHandler):
    """gcp-storage-emulator's handler with the bucket routes answered first."""

    buckets: Buckets  # set on the subclass ``make_storage_server`` binds
    lock: threading.Lock
    disabled: Callable[[], bool]
    wfile: Any  # the library's base class is untyped
    path: str

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("storage %s " + format, self.address_string(), *args)

    # --- dispatch -------------------------------------------------------------------------------
    def _serve(self) -> None:
        # The library honours this header for clients that cannot send PATCH; so must we.
        method = self.headers.get("x-http-method-override") or self.command
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        # One request at a time, as in the library's single-threaded server; taken only once
        # the request line is read, so an idle connection (a port probe) blocks nobody.
        with self.lock:
            if self.disabled():
                self._send(403, api_disabled_error("storage", "0").body())
                return
            try:
                if self._bucket_route(method, url.path, query):
                    return
            except ApiError as err:
                self._send(err.code, None if err.code == 304 else err.body())
                return
            except Exception as exc:  # a bug must answer 500, not drop the connection
                log.debug("storage emulator error on %s %s", method, self.path, exc_info=True)
                self._send(500, ApiError(500, f"Internal error: {exc}", "backendError").body())
                return
            self._delegate(method, url.path)

    def _bucket_route(self, method: str, path: str, query: dict[str, str]) -> bool:
        base = f"http://{self.headers.get('Host') or f'127.0.0.1:{self.server.server_port}'}"
        b = self.buckets
        if _BUCKETS.fullmatch(path) and method in ("GET", "POST"):
            if method == "GET":
                self._send(200, b.list(query, base))
            else:
                self._send(200, b.insert(query, self._json_body(), base))
            return True
        if (m := _IAM.fullmatch(path)) and method in ("GET", "PUT"):
            name = unquote(m.group(1))
            self._send(
                200, b.get_iam(name) if method == "GET" else b.set_iam(name, self._json_body())
            )
            return True
        if (m := _LAYOUT.fullmatch(path)) and method == "GET":
            self._send(200, b.storage_layout(unquote(m.group(1))))
            return True
        if (m := _MANAGED_FOLDERS.fullmatch(path)) and method == "GET":
            # None here; gcloud storage rm -r lists them before it deletes the bucket.
            b.storage_layout(unquote(m.group(1)))  # 404 for a missing bucket
            self._send(200, {"kind": "storage#managedFolders"})
            return True
        if (m := _BUCKET.fullmatch(path)) and method in ("GET", "PATCH", "PUT", "DELETE"):
            name = unquote(m.group(1))
            if method == "GET":
                found = b.get(name, query, base)
                self._send(200 if found is not None else 304, found)
            elif method == "DELETE":
                b.delete(name, query)
                self._send(204, None)
            else:
                change = b.patch if method == "PATCH" else b.update
                self._send(200, change(name, query, self._json_body(), base))
            return True
        return False

    def _delegate(self, method: str, path: str) -> None:
        """Run the library's handler with its output captured, then pass it on (fixing errors)."""
        self._unquote_boundary()
        if self.path.startswith("/resumable/upload/"):
            # gcloud's resumable uploads start here (the SDK's storage/json_api_version help
            # text); the library knows only /upload/storage/v1/b/BUCKET/o for them.
            self.path = self.path.removeprefix("/resumable")
        real = self.wfile
        captured = io.BytesIO()
        self.wfile = captured
        try:
            getattr(RequestHandler, f"do_{self.command}")(self)
        except Exception as exc:
            log.debug("gcp-storage-emulator failed on %s %s", method, self.path, exc_info=True)
            self.wfile = real
            self._send(500, ApiError(500, f"Internal error: {exc}", "backendError").body())
            return
        finally:
            self.wfile = real
        raw = captured.getvalue()
        head, _, body = raw.partition(b"\r\n\r\n")
        try:
            status = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            status = 500
        if status < 400:
            real.write(raw)
        else:
            self._send(status, self._error_body(status, body, method, path))

    def _unquote_boundary(self) -> None:
        """gcloud (apitools) sends ``boundary='...'``; Python's MIME parser, which the library
        uses, strips only double quotes and then finds no parts. Cloud Storage accepts both."""
        ctype = self.headers.get("Content-Type") or ""
        if m := _SINGLE_QUOTED_BOUNDARY.search(ctype):
            del self.headers["Content-Type"]
            self.headers["Content-Type"] = ctype.replace(m.group(0), f'boundary="{m.group(1)}"')

    # --- bodies ---------------------------------------------------------------------------------
    def _error_body(self, status: int, body: bytes, method: str, path: str) -> dict[str, Any]:
        """The library's error as the API's JSON error (its own message kept when it sent one)."""
        try:
            sent = json.loads(body) if body else None
        except ValueError:
            sent = None
        error = sent.get("error") if isinstance(sent, dict) else None
        if isinstance(error, dict) and error.get("message"):
            errors = error.get("errors") or [{}]
            reason = errors[0].get("reason") if isinstance(errors[0], dict) else None
            return ApiError(status, str(error["message"]), reason or _reason(status)).body()
        try:
            message = HTTPStatus(status).phrase
        except ValueError:
            message = "Error"
        if status == 404 and (m := _OBJECT.fullmatch(path)):
            bucket, obj = unquote(m.group(1)), m.group(2)
            exists = self.buckets.exists(bucket)
            message = f"No such object: {bucket}/{unquote(obj)}" if obj and exists else NOT_FOUND
        elif status == 412:
            message = PRECONDITION
        elif status == 501:
            message = f"The storage emulator does not implement {method} {path}"
        return ApiError(status, message, _reason(status)).body()

    def _json_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_JSON_BYTES:
            self.close_connection = True
            raise ApiError(413, "Request body too large", "uploadTooLarge")
        raw = self.rfile.read(length) if length > 0 else b""
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "Parse Error", "parseError") from None

    def _send(self, status: int, payload: Any) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _reason(status: int) -> str:
    return _REASONS.get(status, "backendError" if status >= 500 else "invalid")


class StorageHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints a traceback on stderr; a client hanging up early is not worth one.
        log.debug("storage emulator: error serving %s", client_address, exc_info=True)


def make_storage_server(
    storage: Any,
    port: int,
    lock: threading.Lock,
    disabled: Callable[[], bool] | None = None,
) -> StorageHTTPServer:
    """Bind 127.0.0.1:port (0 picks a free port) for ``storage``; call ``serve_forever``."""
    attributes = {
        "buckets": Buckets(storage),
        "lock": lock,
        "disabled": staticmethod(disabled or (lambda: False)),
    }
    bound = type("BoundStorageHandler", (StorageHandler,), attributes)
    return StorageHTTPServer(("127.0.0.1", port), functools.partial(bound, storage))
