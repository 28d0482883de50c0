"""`labctl vm` on the fake provider: output contracts, hints, bad input, batches."""

from __future__ import annotations

import json

import pytest

from labctl.errors import TransientError
from labctl.pricing import load_prices
from labctl.providers.fake.compute import FakeCompute
from tests.cli.conftest import Invoke


def test_create_gpu_vm_then_list_as_json(labctl: Invoke, fake_compute: FakeCompute) -> None:
    result = labctl("vm", "create", "ana-gpu", "--gpu")
    assert result.exit_code == 0, result.stderr
    assert "ana-gpu is RUNNING in us-central1-c" in result.stderr
    assert "next: labctl tunnel jupyter ana-gpu" in result.stderr

    listed = labctl("vm", "list", "--format", "json")
    assert listed.exit_code == 0
    [vm] = json.loads(listed.stdout)
    assert vm["name"] == "ana-gpu"
    assert vm["gpu"] == {"type": "nvidia-tesla-p100", "count": 1}
    assert vm["provisioning"] == "spot"
    assert vm["owner"] == "tester" and vm["labels"]["labctl-managed"] == "true"
    assert vm["cost_per_hour_usd"] == pytest.approx(0.8079, abs=0.001)
    assert "prices_date" not in vm  # table metadata is not repeated per row
    # labctl's metadata for the startup script
    meta = fake_compute.get_vm("ana-gpu", "us-central1-c").metadata
    assert meta["labctl-gpu"] == "true" and meta["labctl-idle-minutes"] == "60"
    # labctl's own key for the VM user, instance keys only, Jupyter run as that user
    user = meta["labctl-user"]
    assert meta["ssh-keys"].startswith(f"{user}:ssh-ed25519 ")
    assert '"expireOn":' in meta["ssh-keys"]
    assert meta["block-project-ssh-keys"] == "TRUE"


def test_list_is_one_call_and_the_table_has_the_columns(
    labctl: Invoke, fake_compute: FakeCompute
) -> None:
    labctl("vm", "create", "b1", "--no-gpu", "--standard")
    fake_compute.calls.clear()
    result = labctl("vm", "list")
    assert fake_compute.calls == ["instances.aggregatedList"]
    header = result.stdout.splitlines()[0].split()
    assert header[:5] == ["NAME", "ZONE", "STATUS", "OWNER", "MACHINE"]
    assert "b1" in result.stdout and "standard" in result.stdout and "$0.38/h" in result.stdout
    assert f"prices dated {load_prices().date}" in result.stderr


def test_stockout_fails_over_and_says_so(labctl: Invoke, fake_compute: FakeCompute) -> None:
    fake_compute.faults.stockout_zones = {"us-central1-c"}
    result = labctl("vm", "create", "g1", "--gpu")
    assert result.exit_code == 0, result.stderr
    assert "us-central1-c: stockout; trying the next zone" in result.stderr
    assert "zones tried: us-central1-c (stockout), us-central1-f (created)" in result.stderr
    assert [vm.zone for vm in fake_compute.list_vms()] == ["us-central1-f"]


def test_rerunning_a_create_after_failover_says_where_the_vm_is(
    labctl: Invoke, fake_compute: FakeCompute
) -> None:
    fake_compute.faults.stockout_zones = {"us-central1-c"}
    assert labctl("vm", "create", "dup1", "--gpu").exit_code == 0
    fake_compute.faults.stockout_zones = set()
    again = labctl("vm", "create", "dup1", "--gpu", "--zone", "us-central1-c")
    assert again.exit_code == 1
    assert "dup1 already exists in us-central1-f" in again.stderr
    assert "labctl vm show dup1" in again.stderr
    assert len(fake_compute.list_vms(name="dup1")) == 1


def test_global_quota_is_one_line_with_the_quota_hint(
    labctl: Invoke, fake_compute: FakeCompute
) -> None:
    fake_compute.faults.quotas = {"GPUS_ALL_REGIONS": 0}
    result = labctl("vm", "create", "g1", "--gpu")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: Quota 'GPUS_ALL_REGIONS' exceeded")
    assert "GPUS_ALL_REGIONS quota" in lines[1] and "iam-admin/quotas" in lines[1]
    assert "trying the next zone" not in result.stderr
    assert "Traceback" not in result.output


def test_a_cpu_quota_on_a_cpu_vm_gets_no_gpu_hint_and_no_false_failover(
    labctl: Invoke, fake_compute: FakeCompute
) -> None:
    from labctl.errors import QuotaExceeded

    quota = QuotaExceeded(
        "quota CPUS exceeded in region us-central1", metric="CPUS", region="us-central1"
    )
    fake_compute.faults.fail("instances.insert", quota)
    result = labctl("vm", "create", "c1", "--no-gpu")
    assert result.exit_code == 1
    assert "trying the next zone" not in result.stderr
    assert "GPU" not in result.stderr
    assert "request more CPUS quota in us-central1" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad_Name"], "invalid VM name 'Bad_Name'"),
        (["ok", "--gpu", "--gpu-count", "0"], "--gpu-count must be one of 1, 2, 4, 8, got 0"),
        (["ok", "--gpu-count", "3"], "--gpu-count must be one of 1, 2, 4, 8, got 3"),
        (["ok", "--spot", "--preemptible"], "--spot and --preemptible conflict"),
        (["ok", "--no-gpu", "--gpu-type", "nvidia-tesla-t4"], "conflict with --no-gpu"),
        (["ok", "--label", "Team=x"], "invalid label key 'Team'"),
        (["ok", "--label", "labctl-managed=false"], "labctl's own label keys are reserved"),
        (["ok", "--zone", "us-central1-a", "--gpu"], "us-central1-a does not offer"),
        (["ok", "--zone", "mars-west1-a"], "unknown zone 'mars-west1-a'"),
        (["ok", "--zone", "us-central1-c/../../x"], "course.zone: does not look like a zone"),
        (["ok", "--project", "../../x"], "gcp.project"),
        (["ok", "--machine-type", "n9-huge"], "machine type 'n9-huge' is not offered"),
        (["ok", "--machine-type", ""], "--machine-type ''"),
        (["ok", "--gpu-type", ""], "--gpu-type ''"),
        (["ok", "--gpu-type", "nvidia-tesla-x1"], "unknown GPU type"),
        (["ok", "--disk-size", "5"], "--disk-size must be 10-65536 GB, got 5"),
        (["ok", "--disk-size", "99999999"], "--disk-size must be 10-65536 GB, got 99999999"),
        (["ok", "--startup-script", "/nonexistent.sh"], "startup script not found"),
        (["ok", "--startup-script", "/"], "is a directory"),
        (["ok", "--expires", "2001-01-01"], "--expires 2001-01-01: the date is in the past"),
        (["ok", "--expires", "soon"], "--expires 'soon': not a date"),
        (["ok", "--ttl", "7x"], "--ttl '7x'"),
        (["ok", "--max-run-hours", "0"], "--max-run-hours must be"),
        (
            ["ok", "--image-family", "pytorch-9"],
            "gcloud compute images list --filter=family~pytorch",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_created(
    labctl: Invoke, fake_compute: FakeCompute, args: list[str], message: str
) -> None:
    result = labctl("vm", "create", *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "unexpected" not in result.stderr
    assert fake_compute.list_vms() == []
    assert fake_compute.insert_request_ids == []


def test_too_many_labels_says_how_many_the_user_may_give(labctl: Invoke) -> None:
    labels = [arg for i in range(61) for arg in ("--label", f"k{i}=v")]
    result = labctl("vm", "create", "ok", *labels)
    assert result.exit_code == 2
    assert "61 given, at most 59" in result.stderr


@pytest.mark.parametrize("content", [b"\x00\x01\x02binary", "caf\u00e9\n".encode("latin-1")])
def test_a_startup_script_that_is_not_text_is_exit_2(
    labctl: Invoke, tmp_path, content: bytes
) -> None:
    script = tmp_path / "s.sh"
    script.write_bytes(content)
    result = labctl("vm", "create", "ok", "--startup-script", str(script))
    assert result.exit_code == 2, result.output
    assert "startup script" in result.stderr and "unexpected" not in result.stderr


def test_dev_null_as_startup_script_is_an_empty_script(
    labctl: Invoke, fake_compute: FakeCompute
) -> None:
    result = labctl("vm", "create", "ok", "--no-gpu", "--startup-script", "/dev/null")
    assert result.exit_code == 0, result.stderr


def test_expiry_and_run_limit_become_a_label_and_scheduling(
    labctl: Invoke, fake_compute: FakeCompute
) -> None:
    result = labctl("vm", "create", "e1", "--no-gpu", "--expires", "2099-01-31")
    assert result.exit_code == 0, result.stderr
    assert fake_compute.get_vm("e1", "us-central1-c").labels["labctl-expires"] == "2099-01-31"
    dry = labctl("vm", "create", "e2", "--max-run-hours", "6", "--dry-run")
    body = json.loads(dry.stdout)["request"]
    assert body["max_run_hours"] == 6


def test_dry_run_summarises_sends_nothing_and_writes_no_key(
    labctl: Invoke, fake_compute: FakeCompute, tmp_path
) -> None:
    import os

    result = labctl("vm", "create", "d1", "--gpu", "--dry-run")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["names"] == ["d1"]
    assert summary["zones_in_failover_order"][:2] == ["us-central1-c", "us-central1-f"]
    assert summary["cost_per_hour_usd"] == pytest.approx(0.8079, abs=0.001)
    assert summary["request"]["startup_script"] == "<-v shows it>"
    assert fake_compute.insert_request_ids == []
    assert not any(
        c.startswith("instances.") and c != "instances.aggregatedList" for c in fake_compute.calls
    )
    assert not os.path.exists(os.path.join(os.environ["LABCTL_CONFIG_DIR"], "ssh"))


def test_show_stop_start_delete_and_their_hints(labctl: Invoke, fake_compute: FakeCompute) -> None:
    labctl("vm", "create", "v1", "--no-gpu")
    shown = labctl("vm", "show", "v1", "--format", "json")
    record = json.loads(shown.stdout)
    assert (
        record["status"] == "RUNNING" and record["user"] and record["idle_shutdown_minutes"] == 60
    )

    stopped = labctl("vm", "stop", "v1")
    assert stopped.exit_code == 0 and "next: labctl vm start v1" in stopped.stderr
    assert fake_compute.get_vm("v1", "us-central1-c").status == "TERMINATED"
    listed = json.loads(labctl("vm", "list", "--format", "json").stdout)
    # A stopped VM costs no compute, only its disks: pd-standard, $0.04 per GB-month there.
    disk_gb = fake_compute.get_vm("v1", "us-central1-c").disk_gb
    assert disk_gb > 0
    assert listed[0]["cost_per_hour_usd"] == pytest.approx(disk_gb * 0.04 / 730, rel=1e-6)
    assert listed[0]["cost_approximate"] is False  # labctl's boot disks are pd-standard
    shown = labctl("vm", "show", "v1")
    assert "tunnel jupyter" not in shown.stderr and "labctl vm start v1" in shown.stderr

    assert labctl("vm", "start", "v1").exit_code == 0
    assert fake_compute.get_vm("v1", "us-central1-c").status == "RUNNING"


def test_delete_asks_and_a_no_is_said_not_silent(labctl: Invoke, fake_compute: FakeCompute) -> None:
    labctl("vm", "create", "v1", "--no-gpu")
    refused = labctl("vm", "delete", "v1")  # CliRunner has no terminal: --yes is needed
    assert refused.exit_code == 1 and "pass --yes" in refused.stderr
    assert "nothing deleted" in refused.stderr
    assert len(fake_compute.list_vms()) == 1
    assert "their boot disks" not in refused.stderr
    assert labctl("vm", "delete", "v1", "--yes").exit_code == 0
    assert fake_compute.list_vms() == []


def test_delete_of_a_vm_already_gone_is_a_warning(labctl: Invoke) -> None:
    labctl("vm", "create", "v1", "--no-gpu")
    result = labctl("vm", "delete", "v1", "ghost", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "warning: ghost: already gone" in result.stderr


def test_several_names_run_and_failures_are_reported_together(
    labctl: Invoke, fake_compute: FakeCompute
) -> None:
    for name in ("a1", "a2", "a3"):
        labctl("vm", "create", name, "--no-gpu")
    fake_compute.faults.fail("instances.stop", TransientError("backend error (503)"), times=50)
    result = labctl("vm", "stop", "a1", "a2", "a3", "nope", "--format", "json")
    assert result.exit_code == 1
    for name in ("a1", "a2", "a3"):
        assert f"error: {name}: backend error (503)" in result.stderr
    assert "error: nope: VM 'nope' not found" in result.stderr
    assert "4 of 4 could not be stopped" in result.stderr
    records = json.loads(result.stdout)
    assert {r["name"] for r in records} == {"a1", "a2", "a3"}
    assert all(r["ok"] is False and "503" in r["error"]["message"] for r in records)


def test_stop_and_delete_print_a_json_record_per_vm(labctl: Invoke) -> None:
    for name in ("a1", "a2"):
        labctl("vm", "create", name, "--no-gpu")
    stopped = labctl("vm", "stop", "a1", "a2", "--format", "json")
    assert [(r["name"], r["state"]) for r in json.loads(stopped.stdout)] == [
        ("a1", "stopped"),
        ("a2", "stopped"),
    ]
    deleted = labctl("vm", "delete", "a1", "a2", "--yes", "--format", "json")
    assert [r["state"] for r in json.loads(deleted.stdout)] == ["deleted", "deleted"]


def test_stop_by_selector_and_a_short_next_line(labctl: Invoke, fake_compute: FakeCompute) -> None:
    for name in ("s1", "s2", "s3", "s4"):
        labctl("vm", "create", name, "--no-gpu")
    result = labctl("vm", "stop", "--owner", "tester", "--yes")
    assert result.exit_code == 0, result.stderr
    assert {vm.status for vm in fake_compute.list_vms()} == {"TERMINATED"}
    assert "next: labctl vm start --course COURSE" in result.stderr
    nothing = labctl("vm", "stop", "--owner", "nobody", "--yes")
    assert nothing.exit_code == 0 and "no VMs to stop" in nothing.stderr
    bare = labctl("vm", "stop")
    assert bare.exit_code == 2 and "name the VMs to stop" in bare.stderr


def test_a_stop_by_selector_is_confirmed_first(labctl: Invoke, fake_compute: FakeCompute) -> None:
    labctl("vm", "create", "s1", "--no-gpu")
    refused = labctl("vm", "stop", "--owner", "tester")  # no terminal to ask on
    assert refused.exit_code == 1 and "pass --yes" in refused.stderr
    assert "nothing stopped" in refused.stderr
    assert fake_compute.get_vm("s1", "us-central1-c").status == "RUNNING"
    named = labctl("vm", "stop", "s1")  # named VMs are not asked about
    assert named.exit_code == 0


def test_several_names_create_through_one_batch(labctl: Invoke, fake_compute: FakeCompute) -> None:
    result = labctl("vm", "create", "m1", "m2", "m3", "--no-gpu", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert fake_compute.calls.count("instances.aggregatedList") == 1  # one name check for all
    assert sorted(vm.name for vm in fake_compute.list_vms()) == ["m1", "m2", "m3"]
    assert [r["state"] for r in json.loads(result.stdout)] == ["running"] * 3


def test_same_name_in_two_zones_asks_for_zone(labctl: Invoke, fake_compute: FakeCompute) -> None:
    from labctl.models import VmSpec

    for zone in ("us-central1-c", "us-east1-b"):  # made behind labctl's back (another tool)
        spec = VmSpec("twin", zone, "n1-standard-8", "p", "f", 10)
        fake_compute.insert_vm(spec, request_id=zone)
    result = labctl("vm", "show", "twin")
    assert result.exit_code == 2
    assert "exists in several zones" in result.stderr and "--zone" in result.stderr
    shown = labctl("vm", "show", "twin", "--zone", "us-east1-b", "--format", "json")
    assert json.loads(shown.stdout)["zone"] == "us-east1-b"
    listed = labctl("vm", "list", "--all", "--zone", "us-east1-b", "--format", "json")
    assert [vm["zone"] for vm in json.loads(listed.stdout)] == ["us-east1-b"]


def test_list_shows_labctls_vms_unless_all(labctl: Invoke, fake_compute: FakeCompute) -> None:
    from labctl.models import VmSpec

    fake_compute.insert_vm(
        VmSpec("other", "us-east1-b", "n1-standard-8", "p", "f", 10), request_id="x"
    )
    labctl("vm", "create", "mine", "--no-gpu")
    mine = json.loads(labctl("vm", "list", "--format", "json").stdout)
    assert [vm["name"] for vm in mine] == ["mine"]
    everything = json.loads(labctl("vm", "list", "--all", "--format", "json").stdout)
    assert sorted(vm["name"] for vm in everything) == ["mine", "other"]
    # --managed, the default said out loud, wins when it comes last (an alias's --all before).
    managed = labctl("vm", "list", "--all", "--managed", "--format", "json").stdout
    assert [vm["name"] for vm in json.loads(managed)] == ["mine"]


def test_config_error_exits_2_naming_the_field(
    labctl: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABCTL_COURSE__GPU__COUNT", "0")
    result = labctl("vm", "list")
    assert result.exit_code == 2
    assert "course.gpu.count: must be one of 1, 2, 4, 8, got 0" in result.stderr


def test_version_and_quiet(labctl: Invoke) -> None:
    assert labctl("--version").stdout.startswith("labctl ")
    result = labctl("vm", "list", "-q")
    assert result.exit_code == 0 and result.stderr == ""


def test_values_with_the_same_rule_as_the_configuration(
    labctl: Invoke, fake_compute: FakeCompute, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    days = labctl("ssh-key", "add", "v1", "--days", "3650")  # course.ssh_key_days caps 365
    assert days.exit_code == 2 and "365" in days.stderr
    port = labctl("emulator", "start", "--port", "70000")
    assert port.exit_code == 2 and "70000" in port.stderr
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    monkeypatch.setenv("LABCTL_CONFIG_DIR", str(not_a_dir))
    result = labctl("vm", "create", "v1", "--no-gpu")
    assert result.exit_code == 2, result.output
    assert "is a file, not a directory" in result.stderr and "unexpected" not in result.stderr
    assert fake_compute.insert_request_ids == []
