from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from labctl.cli import app
from labctl.errors import TransientError
from labctl.pricing import load_prices
from labctl.providers.fake.compute import FakeCompute


def run(runner: CliRunner, *args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def test_create_gpu_vm_then_list_as_json(runner: CliRunner, fake_compute: FakeCompute) -> None:
    result = run(runner, "vm", "create", "ana-gpu", "--gpu")
    assert result.exit_code == 0, result.stderr
    assert "ana-gpu is RUNNING in us-central1-c" in result.stderr
    assert "next: labctl tunnel jupyter ana-gpu" in result.stderr

    listed = run(runner, "vm", "list", "--format", "json")
    assert listed.exit_code == 0
    [vm] = json.loads(listed.stdout)
    assert vm["name"] == "ana-gpu"
    assert vm["gpu"] == "1x nvidia-tesla-p100"
    assert vm["provisioning"] == "spot"
    assert vm["labels"]["labctl-managed"] == "true"
    assert vm["labels"]["labctl-owner"] == "tester"
    assert vm["cost_per_hour"] == "$0.81/h"
    assert fake_compute.calls.count("instances.aggregatedList") == 1
    # labctl's metadata for the startup script
    meta = fake_compute.get_vm("ana-gpu", "us-central1-c").metadata
    assert meta["labctl-gpu"] == "true" and meta["labctl-idle-minutes"] == "60"
    # labctl's own key for the VM user, instance keys only, Jupyter run as that user
    user = meta["labctl-user"]
    assert meta["ssh-keys"].startswith(f"{user}:ssh-ed25519 ")
    assert '"expireOn":' in meta["ssh-keys"]
    assert meta["block-project-ssh-keys"] == "TRUE"


def test_table_output_has_the_columns(runner: CliRunner, fake_compute: FakeCompute) -> None:
    run(runner, "vm", "create", "b1", "--no-gpu", "--standard")
    result = run(runner, "vm", "list")
    header = result.stdout.splitlines()[0].split()
    assert header[:4] == ["NAME", "ZONE", "STATUS", "MACHINE"]
    assert "b1" in result.stdout and "standard" in result.stdout and "$0.38/h" in result.stdout
    assert f"prices dated {load_prices().date}" in result.stderr


def test_stockout_fails_over_and_says_so(runner: CliRunner, fake_compute: FakeCompute) -> None:
    fake_compute.faults.stockout_zones = {"us-central1-c"}
    result = run(runner, "vm", "create", "g1", "--gpu")
    assert result.exit_code == 0, result.stderr
    assert "us-central1-c: stockout; trying the next zone" in result.stderr
    assert "zones tried: us-central1-c (stockout), us-central1-f (created)" in result.stderr
    assert [vm.zone for vm in fake_compute.list_vms()] == ["us-central1-f"]


def test_quota_error_is_one_line_with_a_hint_and_exit_1(
    runner: CliRunner, fake_compute: FakeCompute
) -> None:
    fake_compute.faults.quotas = {"GPUS_ALL_REGIONS": 0}
    result = run(runner, "vm", "create", "g1", "--gpu")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: Quota 'GPUS_ALL_REGIONS' exceeded")
    assert "quotas" in lines[1]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad_Name"], "invalid VM name 'Bad_Name'"),
        (["ok", "--gpu", "--gpu-count", "0"], "--gpu-count must be >= 1 with --gpu, got 0"),
        (["ok", "--spot", "--preemptible"], "--spot and --preemptible conflict"),
        (["ok", "--no-gpu", "--gpu-type", "nvidia-tesla-t4"], "conflict with --no-gpu"),
        (["ok", "--label", "Team=x"], "invalid label key 'Team'"),
        (["ok", "--zone", "us-central1-a", "--gpu"], "us-central1-a does not offer"),
        (["ok", "--zone", "mars-west1-a"], "unknown zone 'mars-west1-a'"),
        (["ok", "--machine-type", "n9-huge"], "machine type 'n9-huge' is not offered"),
        (["ok", "--gpu-type", "nvidia-tesla-x1"], "unknown GPU type"),
        (["ok", "--disk-size", "5"], "at least 10 GB"),
        (["ok", "--startup-script", "/nonexistent.sh"], "startup script not found"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_created(
    runner: CliRunner, fake_compute: FakeCompute, args: list[str], message: str
) -> None:
    result = run(runner, "vm", "create", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert fake_compute.list_vms() == []
    assert fake_compute.insert_request_ids == []


def test_dry_run_prints_the_request_and_sends_nothing(
    runner: CliRunner, fake_compute: FakeCompute
) -> None:
    result = run(runner, "vm", "create", "d1", "--gpu", "--project", "p1", "--dry-run")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["name"] == "d1"
    assert body["scheduling"]["onHostMaintenance"] == "TERMINATE"
    assert body["scheduling"]["provisioningModel"] == "SPOT"
    assert body["guestAccelerators"][0]["acceleratorType"].endswith(
        "projects/p1/zones/us-central1-c/acceleratorTypes/nvidia-tesla-p100"
    )
    assert fake_compute.calls == []


def test_show_stop_start_delete(runner: CliRunner, fake_compute: FakeCompute) -> None:
    run(runner, "vm", "create", "v1", "--no-gpu")
    shown = run(runner, "vm", "show", "v1", "--format", "json")
    assert json.loads(shown.stdout)["status"] == "RUNNING"

    assert run(runner, "vm", "stop", "v1").exit_code == 0
    assert fake_compute.get_vm("v1", "us-central1-c").status == "TERMINATED"
    listed = json.loads(run(runner, "vm", "list", "--format", "json").stdout)
    assert listed[0]["cost_per_hour"] == "$0.00/h"  # a stopped VM costs no compute

    assert run(runner, "vm", "start", "v1").exit_code == 0
    assert fake_compute.get_vm("v1", "us-central1-c").status == "RUNNING"

    refused = run(runner, "vm", "delete", "v1", input="n\n")
    assert refused.exit_code == 1 and len(fake_compute.list_vms()) == 1
    assert run(runner, "vm", "delete", "v1", input="y\n").exit_code == 0
    assert fake_compute.list_vms() == []


def test_delete_of_a_vm_already_gone_is_a_warning(
    runner: CliRunner, fake_compute: FakeCompute
) -> None:
    run(runner, "vm", "create", "v1", "--no-gpu")
    result = run(runner, "vm", "delete", "v1", "ghost", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "warning: ghost: already gone" in result.stderr


def test_several_names_run_and_failures_are_reported_together(
    runner: CliRunner, fake_compute: FakeCompute
) -> None:
    for name in ("a1", "a2", "a3"):
        run(runner, "vm", "create", name, "--no-gpu")
    fake_compute.faults.fail("instances.stop", TransientError("backend error (503)"), times=50)
    result = run(runner, "vm", "stop", "a1", "a2", "a3", "nope")
    assert result.exit_code == 1
    for name in ("a1", "a2", "a3"):
        assert f"error: {name}: backend error (503)" in result.stderr
    assert "error: nope: VM 'nope' not found" in result.stderr
    assert "4 of 4 failed" in result.stderr


def test_same_name_in_two_zones_asks_for_zone(runner: CliRunner, fake_compute: FakeCompute) -> None:
    run(runner, "vm", "create", "twin", "--no-gpu")
    run(runner, "vm", "create", "twin", "--no-gpu", "--zone", "us-east1-b")
    result = run(runner, "vm", "show", "twin")
    assert result.exit_code == 2
    assert "exists in several zones" in result.stderr and "--zone" in result.stderr
    shown = run(runner, "vm", "show", "twin", "--zone", "us-east1-b", "--format", "json")
    assert json.loads(shown.stdout)["zone"] == "us-east1-b"
    listed = run(runner, "vm", "list", "--zone", "us-east1-b", "--format", "json")
    assert [vm["zone"] for vm in json.loads(listed.stdout)] == ["us-east1-b"]


def test_config_error_exits_2_naming_the_field(
    runner: CliRunner, fake_compute: FakeCompute, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABCTL_COURSE__GPU__COUNT", "0")
    result = run(runner, "vm", "list")
    assert result.exit_code == 2
    assert "course.gpu.count: must be >= 1, got 0" in result.stderr


def test_version_and_quiet(runner: CliRunner, fake_compute: FakeCompute) -> None:
    assert run(runner, "--version").stdout.startswith("labctl ")
    result = run(runner, "vm", "list", "-q")
    assert result.exit_code == 0 and result.stderr == ""
