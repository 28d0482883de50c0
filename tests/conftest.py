"""Isolation for every test: nothing from this machine's Google or labctl setup leaks in or out."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest


def _closed_loopback_port() -> int:
    """A port nothing listens on: google-auth's metadata probe fails at once instead of leaving."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLOSED_PORT = _closed_loopback_port()


@pytest.fixture(autouse=True)
def isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
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
