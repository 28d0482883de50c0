"""Isolation for every test: nothing from this machine's Google or labctl setup leaks in or out."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

# One in-process emulator for the whole session, reset around each test that asks for it.
from tests._emulator_fixtures import (  # noqa: F401
    emulator,
    emulator_session,
    storage_emulator,
    storage_emulator_session,
)
from tests._storage_fixtures import gcp_storage, http_log  # noqa: F401


def _closed_loopback_port() -> int:
    """A port nothing listens on: google-auth's metadata probe fails at once instead of leaving."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLOSED_PORT = _closed_loopback_port()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Live tests (a real project) run only when asked: -m live and LABCTL_LIVE_PROJECT set."""
    markexpr = config.getoption("-m") or ""
    asked = "live" in markexpr and "not live" not in markexpr
    asked = asked and bool(os.environ.get("LABCTL_LIVE_PROJECT"))
    for item in items:
        if "live" in item.keywords and not asked:
            item.add_marker(
                pytest.mark.skip(reason="live test: run with -m live and LABCTL_LIVE_PROJECT")
            )


@pytest.fixture(autouse=True)
def isolated_env(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    if request.node.get_closest_marker("live"):
        yield  # live tests use the machine's real credentials on purpose
        return
    home = tmp_path_factory.mktemp("home")
    for key in list(os.environ):
        if key.startswith(("LABCTL_", "CLOUDSDK_", "GOOGLE_", "GCLOUD_")) or key in (
            "STORAGE_EMULATOR_HOST",
        ):
            monkeypatch.delenv(key)
    monkeypatch.setenv("LABCTL_CONFIG_DIR", str(home / "labctl"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(home / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{CLOSED_PORT}")
    monkeypatch.setenv("GCE_METADATA_IP", f"127.0.0.1:{CLOSED_PORT}")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("LABCTL_OWNER", "tester")
    yield
