"""Batch requests (``POST /batch/compute/v1``, multipart/mixed), as gcloud sends for several VMs.

gcloud batches requests when one command touches several resources, e.g.
``gcloud compute instances delete a b``. Each part holds one HTTP request; the answer holds one
HTTP response per part with ``Content-ID: <response-ID>``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from email.parser import BytesParser
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

BATCH_PATH = "/batch/compute/v1"
MAX_PARTS = 1000

# (verb, path relative to /compute/v1/, query, body bytes) -> (status, payload)
Dispatch = Callable[[str, str, dict[str, str], bytes], tuple[int, Any]]


def handle_batch(
    content_type: str, raw: bytes, prefix: str, dispatch: Dispatch
) -> tuple[str, bytes]:
    """Run every part through ``dispatch``; return (content type, multipart body)."""
    message = BytesParser().parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    if not message.is_multipart():
        raise ValueError("a batch request must be multipart/mixed")
    boundary = f"batch_{secrets.token_hex(12)}"
    out: list[bytes] = []
    for part in list(message.walk())[1 : MAX_PARTS + 1]:
        if part.is_multipart():
            continue
        content_id = (part.get("Content-ID") or "").strip("<>")
        payload = part.get_payload(decode=True)
        status, body = _run_part(payload if isinstance(payload, bytes) else b"", prefix, dispatch)
        data = json.dumps(body).encode()
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        out.append(
            (
                f"--{boundary}\r\nContent-Type: application/http\r\n"
                f"Content-ID: <response-{content_id}>\r\n\r\n"
                f"HTTP/1.1 {status} {reason}\r\n"
                "Content-Type: application/json; charset=UTF-8\r\n"
                f"Content-Length: {len(data)}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    out.append(f"--{boundary}--\r\n".encode())
    return f"multipart/mixed; boundary={boundary}", b"".join(out)


def _run_part(http_request: bytes, prefix: str, dispatch: Dispatch) -> tuple[int, Any]:
    head, _, body = http_request.replace(b"\r\n", b"\n").partition(b"\n\n")
    request_line = head.split(b"\n", 1)[0].decode("latin-1").split()
    if len(request_line) < 2:
        return 400, {"error": {"code": 400, "message": "bad batch part", "errors": []}}
    verb, target = request_line[0], request_line[1]
    url = urlsplit(target)
    if not url.path.startswith(prefix):
        return 404, {"error": {"code": 404, "message": f"Not found: {url.path}", "errors": []}}
    query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
    return dispatch(verb, url.path[len(prefix) :], query, body)
