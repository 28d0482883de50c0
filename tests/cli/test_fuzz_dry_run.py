"""Generated bad (and good) input at `vm create --dry-run` and `bucket create --dry-run`.

Whatever is thrown at them: exit 0 or 2, never "unexpected" (a bug), and nothing that changes
anything reaches the emulator; a value refused before any call sends nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from labctl.cli import app
from labctl.cli._app import AppContext
from labctl.emulator import Emulator
from labctl.emulator.storage import StorageEmulator
from labctl.providers import registry

pytestmark = pytest.mark.slow

MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
# Letters people type, plus what breaks URLs, shells and encodings.
TRICKY = st.sampled_from([*"aZz09-_./?#%&= :@\\\"'\n\t", "é", "ñ", "ǅ", "\x00"])
WORD = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x24F), max_size=70),
    st.text(alphabet=TRICKY, max_size=20),
    st.sampled_from(["..", "../../x", "a/../b", "x?y=1", "a#b"]),
    st.from_regex(r"[a-z][-a-z0-9]{0,70}", fullmatch=True),
)
NUMBER = st.one_of(st.integers(-5, 70000), st.sampled_from(["", "x", "1e3", "-0", "3.5"]))
VALID_NAME = st.from_regex(r"[a-z][-a-z0-9]{0,20}[a-z0-9]", fullmatch=True)


def sometimes(strategy: st.SearchStrategy[object], good: st.SearchStrategy[object]) -> object:
    """Mostly nothing or a good value, sometimes anything: enough valid runs reach the API."""
    return st.one_of(st.none(), st.none(), good, strategy)


@pytest.fixture
def world(
    emulator: Emulator, storage_emulator: StorageEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Emulator]:
    for key, value in emulator.env(project="labctl-demo").items():
        if key != "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE":
            monkeypatch.setenv(key, value)
    assert storage_emulator.url is not None
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", storage_emulator.url)
    yield emulator


def invoke(emu: Emulator, args: list[str]) -> tuple[int, str, list[dict[str, object]]]:
    emu.clear_requests()
    obj = AppContext(providers=registry.gcp())
    result = CliRunner().invoke(app, args, obj=obj)
    return result.exit_code, result.stderr, list(emu.requests)


def check(code: int, stderr: str, sent: list[dict[str, object]]) -> None:
    event(f"exit {code}")
    assert code in (0, 2), stderr
    assert "unexpected" not in stderr and "Traceback" not in stderr, stderr
    assert not [r for r in sent if r["method"] in MUTATING], sent


FUZZ = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@FUZZ
@given(
    name=st.one_of(VALID_NAME, WORD),
    label=sometimes(st.tuples(WORD, WORD), st.tuples(VALID_NAME, VALID_NAME)),
    project=sometimes(WORD, st.sampled_from(["labctl-demo", "example.com:my-course"])),
    zone=sometimes(WORD, st.sampled_from(["us-central1-c", "us-central1-a", "europe-west1-b"])),
    disk=sometimes(NUMBER, st.integers(10, 65536)),
    gpus=sometimes(NUMBER, st.sampled_from([1, 2, 4])),
    machine=sometimes(WORD, st.sampled_from(["n1-standard-8", "n1-standard-4", "e2-micro"])),
)
def test_vm_create_dry_run(
    world: Emulator,
    name: str,
    label: tuple[str, str] | None,
    project: str | None,
    zone: str | None,
    disk: object,
    gpus: object,
    machine: str | None,
) -> None:
    args = ["vm", "create", name, "--dry-run"]
    if label is not None:
        args += ["--label", f"{label[0]}={label[1]}"]
    for flag, value in (
        ("--project", project),
        ("--zone", zone),
        ("--disk-size", disk),
        ("--gpu-count", gpus),
        ("--machine-type", machine),
    ):
        if value is not None:
            args += [flag, str(value)]
    code, stderr, sent = invoke(world, args)
    check(code, stderr, sent)
    bad_locally = code == 2 and not any(r["method"] == "GET" for r in sent)
    if bad_locally:
        assert sent == []


@FUZZ
@given(
    name=sometimes(WORD, VALID_NAME),
    prefix=st.one_of(st.none(), st.none(), st.none(), VALID_NAME, WORD),
    location=sometimes(WORD, st.sampled_from(["us-central1", "EU", "nam4"])),
    storage_class=sometimes(WORD, st.sampled_from(["STANDARD", "nearline"])),
    label=sometimes(st.tuples(WORD, WORD), st.tuples(VALID_NAME, VALID_NAME)),
)
def test_bucket_create_dry_run(
    world: Emulator,
    name: str | None,
    prefix: str | None,
    location: str | None,
    storage_class: str | None,
    label: tuple[str, str] | None,
) -> None:
    args = ["bucket", "create", "--dry-run"]
    if label is not None:
        args += ["--label", f"{label[0]}={label[1]}"]
    if name is not None:
        args.insert(2, name)
    for flag, value in (
        ("--prefix", prefix),
        ("--location", location),
        ("--storage-class", storage_class),
    ):
        if value is not None:
            args += [flag, value]
    code, stderr, sent = invoke(world, args)
    check(code, stderr, sent)
    assert sent == []  # a bucket dry run makes no call at all
