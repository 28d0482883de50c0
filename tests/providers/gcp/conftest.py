"""Isolation for the GCP provider tests: nothing reaches Google or the machine's gcloud setup."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from labctl.retry import RetryPolicy

CLOSED_PORT = "127.0.0.1:9"  # discard port: connections are refused at once


@pytest.fixture(autouse=True)
def isolated_google_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in list(os.environ):
        if key.startswith(("CLOUDSDK_", "GOOGLE_", "GCLOUD_", "LABCTL_", "GCE_")):
            monkeypatch.delenv(key, raising=False)
    config_dir = tmp_path / "gcloud"
    config_dir.mkdir()
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(config_dir))
    monkeypatch.setenv("GCE_METADATA_HOST", CLOSED_PORT)
    monkeypatch.setenv("GCE_METADATA_IP", CLOSED_PORT)
    monkeypatch.setenv("GCE_METADATA_TIMEOUT", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return config_dir


@pytest.fixture
def fast_retry() -> RetryPolicy:
    """Five tries, no real sleeping."""
    return RetryPolicy(attempts=5, initial=0.01, maximum=0.01, deadline=30, sleep=lambda s: None)
