"""Storage fixtures: the real provider on the storage emulator, and a log of what it sent.

tests/conftest.py offers the fixtures to every test; `RequestLog` and `request_log` are for
a test that records another provider than `gcp_storage`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from labctl.emulator.storage import StorageEmulator
from labctl.providers.gcp.storage import GcpStorage, make_storage

PROJECT = "labctl-demo"


@pytest.fixture
def gcp_storage(storage_emulator: StorageEmulator) -> GcpStorage:
    """labctl's provider on the emulator (STORAGE_EMULATOR_HOST points at it)."""
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
