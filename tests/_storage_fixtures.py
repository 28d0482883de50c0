"""Storage fixtures: gcp-storage-emulator on 127.0.0.1, the real provider on it, a request log.

Import them into a test module that needs them::

    from tests._storage_fixtures import gcp_storage, storage_emulator  # noqa: F401
    from tests._storage_fixtures import storage_emulator_server  # noqa: F401
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from labctl.providers.gcp.storage import GcpStorage, make_storage

PROJECT = "demo"


@dataclass
class StorageEmulator:
    server: Any
    url: str

    def objects(self, bucket: str) -> dict[str, dict[str, Any]]:
        """The emulator's stored object metadata (to corrupt a checksum, for example)."""
        return dict(self.server._storage.objects.get(bucket, {}))


@pytest.fixture(scope="session")
def storage_emulator_server() -> Iterator[StorageEmulator]:
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True)
    server.start()
    try:
        host, port = server._api._httpd.server_address[:2]
        assert host == "127.0.0.1"
        yield StorageEmulator(server, f"http://127.0.0.1:{port}")
    finally:
        server.stop()


@pytest.fixture
def storage_emulator(
    storage_emulator_server: StorageEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StorageEmulator]:
    storage_emulator_server.server.wipe()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_emulator_server.url)
    yield storage_emulator_server
    storage_emulator_server.server.wipe()


@pytest.fixture
def gcp_storage(storage_emulator: StorageEmulator) -> GcpStorage:
    return make_storage(PROJECT)


@dataclass
class Sent:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


class RequestLog:
    """Every HTTP request the client library sent, recorded from its session."""

    def __init__(self, spy: Any) -> None:
        self._spy = spy

    @property
    def requests(self) -> list[Sent]:
        sent = []
        for call in self._spy.call_args_list:
            args, kwargs = call.args, call.kwargs
            method = kwargs.get("method", args[0] if args else "")
            url = kwargs.get("url", args[1] if len(args) > 1 else "")
            data = kwargs.get("data")
            body: Any = data
            if isinstance(data, str | bytes):
                try:
                    body = json.loads(data)
                except (ValueError, UnicodeDecodeError):
                    body = data
            parts = urlsplit(url)
            headers = {k.lower(): v for k, v in (kwargs.get("headers") or {}).items()}
            sent.append(Sent(method.upper(), parts.path, parse_qs(parts.query), body, headers))
        return sent

    def find(self, method: str, path_suffix: str) -> list[Sent]:
        return [r for r in self.requests if r.method == method and r.path.endswith(path_suffix)]


def request_log(storage: GcpStorage, mocker: Any) -> RequestLog:
    """Record what `storage`'s client sends from now on."""
    return RequestLog(mocker.spy(storage.client._http, "request"))


@pytest.fixture
def http_log(gcp_storage: GcpStorage, mocker: Any) -> RequestLog:
    return request_log(gcp_storage, mocker)
