"""`labctl doctor` against the emulator (the real GCP provider over HTTP): every check passes on
a fresh emulator, and each one fails once, with the command that fixes it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from labctl.cli import app
from labctl.cli._app import AppContext
from labctl.config import config_dir
from labctl.emulator import Emulator
from labctl.emulator.storage import StorageEmulator
from labctl.models import Firewall
from labctl.providers import registry
from labctl.providers.fake.compute import FakeCompute
from labctl.ssh.keys import default_key_path, ensure_key_pair

Doctor = Callable[..., tuple[Result, dict[str, dict[str, Any]]]]
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _tools(root: Path, *, ssh: bool = True, gcloud: bool = True) -> str:
    """A PATH with stand-ins for ssh and gcloud (gcloud's SDK VERSION file beside bin/)."""
    bin_dir = root / "sdk" / "bin"
    bin_dir.mkdir(parents=True)
    (root / "sdk" / "VERSION").write_text("528.0.0\n")
    if ssh:
        script = bin_dir / "ssh"
        script.write_text("#!/bin/sh\necho 'OpenSSH_9.2p1 Debian' >&2\n")
        script.chmod(0o755)
    if gcloud:
        script = bin_dir / "gcloud"
        script.write_text("#!/bin/sh\nexit 0\n")
        script.chmod(0o755)
    return str(bin_dir)


@pytest.fixture
def on_emulator(
    emulator: Emulator,
    storage_emulator: StorageEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[Emulator]:
    """The emulator's exports, labctl's key, and ssh and gcloud on the PATH."""
    for key, value in emulator.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", _tools(tmp_path / "tools"))
    ensure_key_pair(config_dir())
    yield emulator
    storage_emulator.disabled = lambda: False


@pytest.fixture
def doctor(runner: CliRunner) -> Doctor:
    def invoke(*args: str) -> tuple[Result, dict[str, dict[str, Any]]]:
        obj = AppContext(providers=registry.gcp())
        result = runner.invoke(app, ["doctor", "--format", "json", *args], obj=obj)
        records = {r["check"]: r for r in json.loads(result.stdout)} if result.stdout else {}
        return result, records

    return invoke


CHECKS = [
    "credentials",
    "project",
    "compute-api",
    "storage-api",
    "billing",
    "gpu-quota",
    "gpu-region-quota",
    "gpu-zones",
    "ssh-firewall",
    "openssh",
    "gcloud",
    "ssh-key",
    "clock",
]


def test_a_fresh_emulator_passes_every_check(on_emulator: Emulator, doctor: Doctor) -> None:
    result, records = doctor()
    assert result.exit_code == 0, result.output
    assert list(records) == CHECKS
    assert {r["status"] for r in records.values()} == {"OK"}, records
    assert all(r["fix"] is None for r in records.values())
    assert records["project"]["detail"] == "labctl-demo (from LABCTL_PROJECT)"
    assert records["ssh-firewall"]["detail"] == "default-allow-ssh lets port 22 in from anywhere"
    assert records["gcloud"]["detail"] == "Google Cloud SDK 528.0.0"


def test_the_table_is_one_line_a_check_with_the_fix_below(
    on_emulator: Emulator, runner: CliRunner
) -> None:
    on_emulator.set_faults({"billing": {"enabled": False}})
    result = runner.invoke(app, ["doctor"], obj=AppContext(providers=registry.gcp()))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert len(lines) == len(CHECKS) + 1  # one line per check, plus billing's fix
    billing = next(i for i, line in enumerate(lines) if line.split()[1] == "billing")
    assert lines[billing].startswith("FAIL  billing")
    assert "fix: gcloud billing projects link labctl-demo" in lines[billing + 1]
    assert "12 OK, 1 FAIL" in result.stderr


# Each check failing once: (how to break it, the check, its status, words of its fix).
def _no_credentials(emu: Emulator, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    mp.delenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE")


def _no_project(emu: Emulator, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    for key in ("LABCTL_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"):
        mp.delenv(key)
    mp.setenv("PATH", _tools(tmp / "nogcloud", gcloud=False))  # nothing to ask


def _faults(faults: dict[str, Any]) -> Callable[[Emulator, pytest.MonkeyPatch, Path], None]:
    def apply(emu: Emulator, mp: pytest.MonkeyPatch, tmp: Path) -> None:
        emu.set_faults(faults)

    return apply


def _zone_without_p100(emu: Emulator, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    (tmp / "labctl.toml").write_text('[course]\nzone = "us-central1-a"\nfallback_zones = []\n')
    mp.chdir(tmp)


def _path(**tools: bool) -> Callable[[Emulator, pytest.MonkeyPatch, Path], None]:
    def apply(emu: Emulator, mp: pytest.MonkeyPatch, tmp: Path) -> None:
        mp.setenv("PATH", _tools(tmp / "other", **tools))

    return apply


def _key_readable_by_others(emu: Emulator, mp: pytest.MonkeyPatch, tmp: Path) -> None:
    default_key_path(config_dir()).chmod(0o644)


BREAKS = [
    (_no_credentials, "credentials", "FAIL", "gcloud auth application-default login"),
    (_no_project, "project", "FAIL", "labctl init --project PROJECT"),
    (
        _faults({"disabled_apis": ["compute"]}),
        "compute-api",
        "FAIL",
        "gcloud services enable compute.googleapis.com",
    ),
    (_faults({"billing": {"enabled": False}}), "billing", "FAIL", "gcloud billing projects link"),
    (
        _faults({"quotas": {"GPUS_ALL_REGIONS": 0}}),
        "gpu-quota",
        "FAIL",
        "request GPUS_ALL_REGIONS >= 1 at https://console.cloud.google.com/iam-admin/quotas",
    ),
    (
        _faults({"quotas": {"*": {"PREEMPTIBLE_NVIDIA_P100_GPUS": 0, "NVIDIA_P100_GPUS": 0}}}),
        "gpu-region-quota",
        "FAIL",
        "request NVIDIA_P100_GPUS >= 1 in us-central1",
    ),
    (_zone_without_p100, "gpu-zones", "FAIL", "gcloud compute accelerator-types list"),
    (
        _faults({"default_firewall_rules": False}),
        "ssh-firewall",
        "FAIL",
        "--description='Created by labctl: SSH through IAP' --project=labctl-demo",
    ),
    (_path(ssh=False), "openssh", "WARN", "install OpenSSH"),
    (_path(gcloud=False), "gcloud", "WARN", "https://cloud.google.com/sdk/docs/install"),
    (_key_readable_by_others, "ssh-key", "FAIL", "chmod 600 "),
    (_faults({"clock_offset_seconds": -900}), "clock", "FAIL", "timedatectl set-ntp true"),
]


@pytest.mark.parametrize(("brk", "check", "status", "fix"), BREAKS, ids=[b[1] for b in BREAKS])
def test_each_check_fails_once_with_its_fix(
    on_emulator: Emulator,
    doctor: Doctor,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    brk: Callable[[Emulator, pytest.MonkeyPatch, Path], None],
    check: str,
    status: str,
    fix: str,
) -> None:
    brk(on_emulator, monkeypatch, tmp_path)
    result, records = doctor()
    assert records[check]["status"] == status, records[check]
    assert fix in (records[check]["fix"] or ""), records[check]
    assert result.exit_code == (1 if status == "FAIL" else 0), result.output
    others = {name: r["status"] for name, r in records.items() if name != check}
    assert "FAIL" not in others.values(), others  # what depends on it says SKIP, not FAIL


def test_storage_api_disabled(
    on_emulator: Emulator, storage_emulator: StorageEmulator, doctor: Doctor
) -> None:
    storage_emulator.disabled = lambda: True
    result, records = doctor()
    assert result.exit_code == 1
    assert records["storage-api"]["status"] == "FAIL"
    assert records["storage-api"]["fix"] == "gcloud services enable storage.googleapis.com"


def test_a_missing_key_is_a_warning_that_init_fixes(on_emulator: Emulator, doctor: Doctor) -> None:
    default_key_path(config_dir()).unlink()
    result, records = doctor()
    assert result.exit_code == 0
    assert records["ssh-key"]["status"] == "WARN"
    assert records["ssh-key"]["fix"].startswith("labctl init")


def test_a_class_needs_quota_for_every_student(
    on_emulator: Emulator, doctor: Doctor, tmp_path: Path
) -> None:
    on_emulator.set_faults({"quotas": {"GPUS_ALL_REGIONS": 2}})
    roster = tmp_path / "roster.csv"
    roster.write_text("email,name\nana@uni.edu,Ana\nbo@uni.edu,Bo\ncy@uni.edu,Cy\n")
    result, records = doctor("--class", str(roster))
    assert result.exit_code == 1
    assert records["gpu-quota"]["detail"] == "GPUS_ALL_REGIONS: 2 of 2 free, 3 needed"
    assert f"for {roster}" in result.stderr


@pytest.mark.parametrize("example", ["class.example.toml", "roster.example.csv"])
def test_a_class_file_or_roster_counts_its_students_not_its_tas(
    on_emulator: Emulator, doctor: Doctor, example: str
) -> None:
    on_emulator.set_faults({"quotas": {"GPUS_ALL_REGIONS": 2}})
    result, records = doctor("--class", str(CONFIGS / example))  # 3 students and a TA
    assert result.exit_code == 1
    assert records["gpu-quota"]["detail"] == "GPUS_ALL_REGIONS: 2 of 2 free, 3 needed"


def test_the_cloudbilling_api_disabled_is_a_warning(on_emulator: Emulator, doctor: Doctor) -> None:
    on_emulator.set_faults({"disabled_apis": ["cloudbilling"]})
    result, records = doctor()
    assert result.exit_code == 0
    assert records["billing"]["status"] == "WARN"
    assert records["billing"]["fix"] == "gcloud services enable cloudbilling.googleapis.com"


# -- the firewall rule, on the fake provider ---------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "status"),
    [
        (Firewall("iap", source_ranges=("35.235.240.0/20",), allowed=("tcp:22",)), "OK"),
        (Firewall("wide", source_ranges=("35.235.0.0/16",), allowed=("tcp:1-1024",)), "OK"),
        (Firewall("mine", source_ranges=("198.51.100.7/32",), allowed=("tcp:22",)), "WARN"),
        (Firewall("tagged", target_tags=("web",), source_ranges=("0.0.0.0/0",)), "FAIL"),
        (Firewall("off", source_ranges=("0.0.0.0/0",), allowed=("tcp",), disabled=True), "FAIL"),
        (Firewall("http", source_ranges=("0.0.0.0/0",), allowed=("tcp:80",)), "FAIL"),
    ],
    ids=lambda v: getattr(v, "name", v),
)
def test_which_rules_let_ssh_in(
    labctl: Callable[..., Result], fake_compute: FakeCompute, rule: Firewall, status: str
) -> None:
    fake_compute.add_firewall(rule)
    result = labctl("doctor", "--format", "json")
    records = {r["check"]: r for r in json.loads(result.stdout)}
    assert records["ssh-firewall"]["status"] == status, records["ssh-firewall"]
    assert records["credentials"]["detail"] == "fake provider (no credentials needed)"
