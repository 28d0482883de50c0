"""Pytest fixtures that run the labctl emulator in-process; import them into a conftest.py::

    from tests._emulator_fixtures import emulator, emulator_session  # noqa: F401

(tests/conftest.py does this for the whole suite.)

``emulator_session`` starts one emulator (Compute on a free port, no storage) for the whole
session; ``emulator`` hands it to a test with empty state and no faults, and cleans up after.
``storage_emulator_session`` starts one Cloud Storage emulator for the session;
``storage_emulator`` hands it to a test wiped, with STORAGE_EMULATOR_HOST pointing at it (it is
a ``labctl.emulator.storage.StorageEmulator``: ``.url``, ``.wipe()``, ``.objects(bucket)``).
``gcloud_env`` builds an isolated environment for running real gcloud against an emulator.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from labctl.emulator import Emulator
from labctl.emulator.storage import StorageEmulator

CLOSED_LOOPBACK = "127.0.0.1:9"  # nothing listens: metadata-server probes fail at once


@pytest.fixture(scope="session")
def emulator_session() -> Iterator[Emulator]:
    emu = Emulator(compute_port=0).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def emulator(emulator_session: Emulator) -> Iterator[Emulator]:
    emulator_session.set_faults({})
    emulator_session.reset()
    yield emulator_session
    emulator_session.set_faults({})
    emulator_session.reset()


@pytest.fixture(scope="session")
def storage_emulator_session() -> Iterator[StorageEmulator]:
    storage = StorageEmulator(0).start()
    try:
        yield storage
    finally:
        storage.stop()


@pytest.fixture
def storage_emulator(
    storage_emulator_session: StorageEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StorageEmulator]:
    storage_emulator_session.wipe()
    assert storage_emulator_session.url is not None
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_emulator_session.url)
    yield storage_emulator_session
    storage_emulator_session.wipe()


def gcloud_env(emu: Emulator, config_dir: Path, project: str = "labctl-demo") -> dict[str, str]:
    """Environment for a gcloud subprocess that talks only to ``emu``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CLOUDSDK_", "GOOGLE_", "GCLOUD_", "GCE_", "STORAGE_EMULATOR"))
    }
    config_dir.mkdir(parents=True, exist_ok=True)
    env.update(emu.env(project=project))
    env.update(
        {
            "CLOUDSDK_CONFIG": str(config_dir),
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
            "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1",
            "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
            "GCE_METADATA_HOST": CLOSED_LOOPBACK,
            "GCE_METADATA_IP": CLOSED_LOOPBACK,
        }
    )
    return env
