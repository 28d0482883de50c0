"""CLI tests run the real Typer app, handed fake providers through its application context."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from typer.testing import CliRunner, Result

from labctl.cli import app
from labctl.cli._app import AppContext
from labctl.providers import registry
from labctl.providers.fake.compute import FakeCompute
from labctl.providers.fake.storage import FakeStorage

Invoke = Callable[..., Result]


@pytest.fixture
def fake_compute() -> FakeCompute:
    return FakeCompute(project="labctl-demo")


@pytest.fixture
def fake_storage() -> FakeStorage:
    return FakeStorage(project="labctl-demo")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def app_context(fake_compute: FakeCompute, fake_storage: FakeStorage) -> AppContext:
    """What to hand the CLI as `obj` for one long-running command (a tunnel): the fake
    providers, and the stop event that ends it."""
    return AppContext(providers=registry.fake(compute=fake_compute, storage=fake_storage))


@pytest.fixture
def labctl(runner: CliRunner, fake_compute: FakeCompute, fake_storage: FakeStorage) -> Invoke:
    """`labctl(*args, input=None)`: one command on the fakes, a fresh AppContext each time."""

    def invoke(*args: str, input: str | None = None) -> Result:
        obj = AppContext(providers=registry.fake(compute=fake_compute, storage=fake_storage))
        return runner.invoke(app, list(args), input=input, obj=obj)

    return invoke
