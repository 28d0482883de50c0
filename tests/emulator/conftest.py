"""Emulator fixtures for this directory (the shared ones come from tests/_emulator_fixtures.py)."""

import pytest

from labctl.emulator import Emulator
from tests._emulator_fixtures import storage_emulator, storage_emulator_session  # noqa: F401
from tests.emulator._http import Api


@pytest.fixture
def api(emulator: Emulator) -> Api:
    return Api(emulator)
