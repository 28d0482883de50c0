"""One set of checks, run on the in-memory fake and on the GCP provider over the emulator.

If the fake drifts from what google-cloud-compute against a Compute-shaped server does, these
fail for the fake, and the CLI tests that rely on it stop being trusted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from labctl.emulator import Emulator
from labctl.errors import AlreadyExists, NotFound, QuotaExceeded, Stockout
from labctl.models import Billing, Gpu, Provisioning, VmSpec, VmState
from labctl.providers.base import ComputeProvider
from labctl.providers.fake.compute import FakeCompute
from labctl.retry import RetryPolicy

P100 = "nvidia-tesla-p100"
FAST = RetryPolicy(attempts=5, initial=0.01, maximum=0.01, deadline=30, sleep=lambda s: None)


@dataclass
class World:
    """A provider plus the levers to break it the same way on both implementations."""

    compute: ComputeProvider
    stockout: Callable[[str], None]
    global_gpu_quota: Callable[[int], None]
    regional_gpu_quota: Callable[[str, int], None]
    rate_limit_inserts: Callable[[int], None]
    insert_request_ids: Callable[[], list[str]]
    preempt: Callable[[str, str], None] = lambda name, zone: None
    disable_billing: Callable[[], None] = lambda: None


def _fake_world() -> World:
    fake = FakeCompute(project="labctl-demo", retry=FAST)
    return World(
        compute=fake,
        stockout=lambda zone: fake.faults.stockout_zones.add(zone),
        global_gpu_quota=lambda n: fake.faults.quotas.update({"GPUS_ALL_REGIONS": n}),
        regional_gpu_quota=lambda region, n: fake.faults.quotas.update(
            {(region, "NVIDIA_P100_GPUS"): n, (region, "PREEMPTIBLE_NVIDIA_P100_GPUS"): n}
        ),
        rate_limit_inserts=lambda n: fake.faults.rate_limit("instances.insert", n),
        insert_request_ids=lambda: list(fake.insert_request_ids),
        preempt=lambda name, zone: fake.preempt(name, zone),
        disable_billing=lambda: setattr(fake, "billing_info", Billing(enabled=False)),
    )


def _gcp_world(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> World:
    from labctl.providers.gcp import make_compute

    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", emu.compute_url)
    provider = make_compute(project="labctl-demo", retry=FAST)
    provider._poll_interval = 0.05
    faults: dict[str, Any] = {}

    def add(key: str, value: Any) -> None:
        if isinstance(value, dict) and isinstance(faults.get(key), dict):
            faults[key].update(value)
        else:
            faults[key] = value
        emu.set_faults(faults)

    def request_ids() -> list[str]:
        return [
            r["query"]["requestId"][0]
            if isinstance(r["query"]["requestId"], list)
            else r["query"]["requestId"]
            for r in emu.requests
            if r["method"] == "POST"
            and r["path"].endswith("/instances")
            and "requestId" in r["query"]
        ]

    return World(
        compute=provider,
        stockout=lambda zone: add("stockouts", [*faults.get("stockouts", []), {"zone": zone}]),
        global_gpu_quota=lambda n: add("quotas", {"GPUS_ALL_REGIONS": n}),
        regional_gpu_quota=lambda region, n: add(
            "quotas", {region: {"NVIDIA_P100_GPUS": n, "PREEMPTIBLE_NVIDIA_P100_GPUS": n}}
        ),
        rate_limit_inserts=lambda n: add("rate_limit", {"count": n, "methods": ["POST"]}),
        insert_request_ids=request_ids,
        preempt=lambda name, zone: emu.preempt("labctl-demo", zone, name) and None,
        disable_billing=lambda: add("billing", {"enabled": False}),
    )


@pytest.fixture(params=["fake", "gcp"])
def world(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    if request.param == "fake":
        yield _fake_world()
        return
    emu: Emulator = request.getfixturevalue("emulator")
    emu.reset()
    emu.set_faults({})
    yield _gcp_world(emu, monkeypatch)
    emu.set_faults({})
    emu.reset()


def spec(name: str = "vm1", zone: str = "us-central1-c", **kw: Any) -> VmSpec:
    values: dict[str, Any] = {
        "name": name,
        "zone": zone,
        "machine_type": "n1-standard-8",
        "image_project": "deeplearning-platform-release",
        "image_family": "common-cu129-ubuntu-2204-nvidia-580",
        "disk_size_gb": 50,
        "provisioning": Provisioning.SPOT,
        "gpu": Gpu(P100, 1),
        "labels": {"labctl-managed": "true", "labctl-course": "cc"},
        "metadata": {"labctl-user": "ana"},
    }
    values.update(kw)
    return VmSpec(**values)


def create(world: World, s: VmSpec, request_id: str | None = None) -> str:
    """Insert and wait, as a create does: errors may come from either step."""
    request_id = request_id or str(uuid.uuid4())
    world.compute.wait(world.compute.insert_vm(s, request_id=request_id))
    return request_id


def test_lifecycle(world: World) -> None:
    c = world.compute
    create(world, spec())
    vm = c.get_vm("vm1", "us-central1-c")
    assert (vm.state, vm.status, vm.machine_type) == (VmState.RUNNING, "RUNNING", "n1-standard-8")
    assert vm.gpu == Gpu(P100, 1) and vm.provisioning is Provisioning.SPOT
    assert vm.external_ip and vm.id.isdigit() and vm.created is not None
    assert vm.labels["labctl-course"] == "cc" and vm.metadata["labctl-user"] == "ana"

    create(world, spec("vm2", gpu=None, labels={"labctl-course": "other"}))
    assert [v.name for v in c.list_vms()] == ["vm1", "vm2"]
    assert [v.name for v in c.list_vms(name="vm2")] == ["vm2"]
    assert [v.name for v in c.list_vms(labels={"labctl-course": "cc"})] == ["vm1"]

    c.wait(c.stop_vm("vm1", "us-central1-c"))
    stopped = c.get_vm("vm1", "us-central1-c")
    assert (stopped.state, stopped.status) == (VmState.STOPPED, "TERMINATED")
    c.wait(c.start_vm("vm1", "us-central1-c"))
    assert c.get_vm("vm1", "us-central1-c").state is VmState.RUNNING

    operation = c.delete_vm("vm1", "us-central1-c")
    assert operation.zone == "us-central1-c" and operation.target == "instances/vm1"
    c.wait(operation)
    with pytest.raises(NotFound) as gone:
        c.get_vm("vm1", "us-central1-c")
    assert (gone.value.kind, gone.value.name) == ("vm", "vm1")
    with pytest.raises(NotFound):
        c.delete_vm("vm1", "us-central1-c")


def test_many_operations_are_sent_first_then_waited_on(world: World) -> None:
    c = world.compute
    operations = [
        c.insert_vm(spec(f"m{i}", gpu=None), request_id=str(uuid.uuid4())) for i in range(3)
    ]
    for operation in operations:
        c.wait(operation)
    assert [v.name for v in c.list_vms()] == ["m0", "m1", "m2"]


def test_duplicate_name_in_a_zone(world: World) -> None:
    create(world, spec())
    with pytest.raises(AlreadyExists):
        create(world, spec())
    assert len(world.compute.list_vms()) == 1


def test_same_request_id_never_makes_a_second_vm(world: World) -> None:
    request_id = create(world, spec())
    create(world, spec(), request_id)
    assert len(world.compute.list_vms()) == 1


def test_stockout_names_its_zone_and_creates_nothing(world: World) -> None:
    world.stockout("us-central1-c")
    with pytest.raises(Stockout) as exc:
        create(world, spec())
    assert exc.value.zone == "us-central1-c"
    assert "us-central1-f" in exc.value.zones_available
    assert world.compute.list_vms() == []


def test_global_and_regional_gpu_quota(world: World) -> None:
    world.regional_gpu_quota("us-central1", 0)
    with pytest.raises(QuotaExceeded) as regional:
        create(world, spec())
    assert (regional.value.metric, regional.value.region) == ("NVIDIA_P100_GPUS", "us-central1")
    create(world, spec(zone="us-east1-b"))  # another region still has quota

    world.global_gpu_quota(1)  # the us-east1 VM already uses the one GPU allowed
    with pytest.raises(QuotaExceeded) as exc:
        create(world, spec("vm2", zone="europe-west1-b"))
    assert exc.value.metric == "GPUS_ALL_REGIONS" and exc.value.is_global


def test_rate_limited_insert_retries_with_the_same_request_id(world: World) -> None:
    world.rate_limit_inserts(2)
    request_id = create(world, spec())
    assert world.insert_request_ids() == [request_id] * 3
    assert len(world.compute.list_vms()) == 1


def test_catalog(world: World) -> None:
    c = world.compute
    zones = c.accelerator_zones(P100)
    assert "us-central1-c" in zones and "us-central1-a" not in zones
    assert zones["us-central1-c"] >= 1
    assert c.accelerator_zones("nvidia-nonexistent") == {}
    assert c.get_machine_type("us-central1-c", "n1-standard-8").cpus == 8
    with pytest.raises(NotFound):
        c.get_machine_type("us-central1-c", "n1-standard-7")
    assert "us-central1-c" in c.list_zones()
    c.check_image_family("deeplearning-platform-release", "common-cu129-ubuntu-2204-nvidia-580")
    with pytest.raises(NotFound) as image:
        c.check_image_family("deeplearning-platform-release", "no-such-family")
    assert (image.value.kind, image.value.name) == ("image", "no-such-family")


def test_metadata_update_keeps_other_keys(world: World) -> None:
    create(world, spec())
    world.compute.update_metadata(
        "vm1", "us-central1-c", lambda items: {**items, "ssh-keys": "ana:ssh-ed25519 AAAA x"}
    )
    meta = world.compute.get_vm("vm1", "us-central1-c").metadata
    assert meta["ssh-keys"] == "ana:ssh-ed25519 AAAA x" and meta["labctl-user"] == "ana"


def test_boot_disk_follows_its_vm(world: World) -> None:
    create(world, spec())
    disks = world.compute.list_disks()
    assert [(d.name, d.users) for d in disks] == [("vm1", ("vm1",))]
    # The VM carries its disks' total size, so a stopped VM's cost needs no disk listing.
    assert world.compute.get_vm("vm1", "us-central1-c").disk_gb == disks[0].size_gb > 0
    world.compute.wait(world.compute.delete_vm("vm1", "us-central1-c"))
    assert world.compute.list_disks() == []


def test_what_doctor_asks(world: World) -> None:
    c = world.compute
    assert c.billing().enabled
    world.disable_billing()
    assert c.billing().enabled is False
    server = c.server_time()
    assert server is not None and abs((server - datetime.now(UTC)).total_seconds()) < 60
    assert c.whoami()
    create(world, spec(gpu=None))
    assert c.preemptions("vm1", "us-central1-c") == []
    world.preempt("vm1", "us-central1-c")
    (when,) = c.preemptions("vm1", "us-central1-c")
    assert when.tzinfo is not None
    assert c.get_vm("vm1", "us-central1-c").state is VmState.STOPPED
    assert c.preemptions("other", "us-central1-c") == []


# -- what `labctl class` relies on -------------------------------------------------------------

ADMIN = "roles/compute.instanceAdmin.v1"


def test_vm_iam_read_and_exact_role_update(world: World) -> None:
    create(world, spec())
    c = world.compute
    assert dict(c.get_vm_iam("vm1", "us-central1-c").bindings) == {}
    c.update_vm_iam("vm1", "us-central1-c", lambda b: {**b, ADMIN: {"user:bo@uni.edu"}})
    written = c.update_vm_iam(
        "vm1", "us-central1-c", lambda b: {**b, ADMIN: {"user:ana@uni.edu", "user:ta@uni.edu"}}
    )
    read = c.get_vm_iam("vm1", "us-central1-c")
    assert {r: set(m) for r, m in read.bindings.items()} == {
        ADMIN: {"user:ana@uni.edu", "user:ta@uni.edu"}
    }
    assert read.etag == written.etag
    with pytest.raises(NotFound) as gone:
        c.get_vm_iam("nope", "us-central1-c")
    assert gone.value.kind == "vm"


def test_schedule_attach_detach_and_delete(world: World) -> None:
    from labctl.models import Schedule

    c = world.compute
    create(world, spec())
    schedule = Schedule("cc-schedule-1", "us-central1", "0 9 * * 1", "0 12 * * 1", "Europe/Zurich")
    c.wait(c.create_schedule(schedule))
    with pytest.raises(AlreadyExists):
        c.create_schedule(schedule)
    [listed] = [s for s in c.list_schedules() if s.name == "cc-schedule-1"]
    assert (listed.region, listed.start, listed.timezone) == (
        "us-central1",
        "0 9 * * 1",
        "Europe/Zurich",
    )
    c.wait(c.attach_schedule("vm1", "us-central1-c", "cc-schedule-1"))
    assert c.get_vm("vm1", "us-central1-c").resource_policies == ("cc-schedule-1",)
    c.wait(c.detach_schedule("vm1", "us-central1-c", "cc-schedule-1"))
    assert c.get_vm("vm1", "us-central1-c").resource_policies == ()
    c.wait(c.delete_schedule("cc-schedule-1", "us-central1"))
    assert [s for s in c.list_schedules() if s.name == "cc-schedule-1"] == []


def test_label_update_returns_an_operation_or_none(world: World) -> None:
    c = world.compute
    create(world, spec())
    operation = c.start_label_update("vm1", "us-central1-c", lambda cur: {**cur, "x": "1"})
    assert operation is not None
    c.wait(operation)
    assert c.get_vm("vm1", "us-central1-c").labels["x"] == "1"
    assert c.start_label_update("vm1", "us-central1-c", lambda cur: cur) is None


def test_quotas_count_a_running_spot_gpu_vm(world: World) -> None:
    """A project starts without preemptible quota: its spot VMs count in the standard one."""
    c = world.compute
    create(world, spec())
    regional = {q.metric: q for q in c.region_quotas("us-central1")}
    assert regional["PREEMPTIBLE_NVIDIA_P100_GPUS"].limit == 0
    assert regional["NVIDIA_P100_GPUS"].usage == 1
    assert regional["CPUS"].usage == 8
    assert regional["PREEMPTIBLE_NVIDIA_P100_GPUS"].usage == 0
    project = {q.metric: q for q in c.project_quotas()}
    assert project["GPUS_ALL_REGIONS"].usage == 1 and project["GPUS_ALL_REGIONS"].region is None
    c.wait(c.stop_vm("vm1", "us-central1-c"))
    assert {q.metric: q for q in c.region_quotas("us-central1")}["CPUS"].usage == 0
