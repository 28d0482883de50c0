"""Isolation for the GCP provider tests: nothing reaches Google or the machine's gcloud setup."""

from __future__ import annotations

from pathlib import Path

import pytest

from labctl.retry import RetryPolicy


@pytest.fixture(autouse=True)
def isolated_google_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """gcloud's config dir, empty and writable (tests put credentials or projects in it).

    tests/conftest.py has already cleared Google and labctl variables and pointed the
    metadata server at a closed port; here HOME moves too, so `~/.config/gcloud` is empty.
    """
    config_dir = tmp_path / "gcloud"
    config_dir.mkdir()
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(config_dir))
    monkeypatch.setenv("GCE_METADATA_TIMEOUT", "1")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return config_dir


@pytest.fixture
def fast_retry() -> RetryPolicy:
    """Five tries, no real sleeping."""
    return RetryPolicy(attempts=5, initial=0.01, maximum=0.01, deadline=30, sleep=lambda s: None)
