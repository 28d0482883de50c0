"""Emulator fixtures for this directory (the shared ones come from tests/_emulator_fixtures.py)."""

import pytest

from labctl.emulator import Emulator
from tests._emulator_fixtures import emulator, emulator_session  # noqa: F401
from tests.emulator._http import Api


@pytest.fixture
def api(emulator: Emulator) -> Api:  # noqa: F811
    return Api(emulator)
