"""CLI tests run the real Typer app on the in-memory fake providers."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from labctl.cli._app import AppContext
from labctl.providers import registry
from labctl.providers.fake.compute import FakeCompute


@pytest.fixture
def fake_compute() -> FakeCompute:
    return FakeCompute(project="demo")


@pytest.fixture
def app_context(fake_compute: FakeCompute) -> AppContext:
    """What to hand the CLI as `obj`: the fake providers, and the stop event of a tunnel."""
    return AppContext(providers=registry.fake(compute=fake_compute))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
