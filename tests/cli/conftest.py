"""CLI tests run the real Typer app on the in-memory fake providers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from labctl.cli import _context
from labctl.providers.fake.compute import FakeCompute


@pytest.fixture
def fake_compute(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeCompute]:
    fake = FakeCompute(project="demo")
    monkeypatch.setattr(_context, "compute_factory", lambda ctx: fake)
    yield fake


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
