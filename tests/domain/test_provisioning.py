from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from labctl.errors import AlreadyExists, InvalidInput, MayExist, QuotaExceeded, Stockout
from labctl.models import Gpu, Provisioning, VmSpec
from labctl.providers.base import Operation
from labctl.providers.fake.compute import FakeCompute
from labctl.provisioning import Attempt, CreateResult, Provisioner, check_spec, failover_order

ALLOWED = ["us-central1-c", "us-central1-f", "us-east1-b", "europe-west1-b"]


def spec(zone: str = "us-central1-c", **kw: object) -> VmSpec:
    fields: dict = {
        "name": "vm1",
        "zone": zone,
        "machine_type": "n1-standard-8",
        "image_project": "deeplearning-platform-release",
        "image_family": "common-cu129-ubuntu-2204-nvidia-580",
        "disk_size_gb": 100,
        "provisioning": Provisioning.SPOT,
        "gpu": Gpu("nvidia-tesla-p100", 1),
    }
    fields.update(kw)
    return VmSpec(**fields)


def create_with_failover(
    fake: FakeCompute,
    spec: VmSpec,
    *,
    allowed_zones: list[str],
    on_attempt: Callable[[Attempt], None] = lambda _: None,
) -> CreateResult:
    offering = check_spec(fake, spec).offering
    return Provisioner.for_spec(
        fake, spec, allowed_zones=allowed_zones, offering=offering, on_attempt=on_attempt
    ).run()


def test_failover_order_same_region_first_then_config_order() -> None:
    offering = {"us-central1-c": 1, "us-central1-f": 1, "us-east1-b": 1, "europe-west1-b": 1}
    order = failover_order("us-east1-b", ALLOWED, offering)
    assert order == ["us-east1-b", "us-central1-c", "us-central1-f", "europe-west1-b"]
    assert "us-central1-a" not in failover_order("us-central1-a", ALLOWED, offering)[1:]


def test_stockout_fails_over_within_region_first_and_reports_every_zone() -> None:
    fake = FakeCompute()
    fake.faults.stockout_zones = {"us-central1-c", "us-central1-f"}
    seen: list[Attempt] = []
    result = create_with_failover(fake, spec(), allowed_zones=ALLOWED, on_attempt=seen.append)
    assert result.zone == "us-east1-b"
    assert [a.zone for a in seen] == ["us-central1-c", "us-central1-f", "us-east1-b"]
    assert [a.outcome for a in seen] == ["stockout", "stockout", "created"]
    assert [a.retrying for a in seen] == [True, True, False]
    vms = fake.list_vms()
    assert [(v.name, v.zone) for v in vms] == [("vm1", "us-east1-b")]  # one VM, never two


def test_stockout_everywhere_is_one_error_naming_the_zones() -> None:
    fake = FakeCompute()
    fake.faults.stockout_zones = set(ALLOWED)
    with pytest.raises(Stockout) as exc:
        create_with_failover(fake, spec(), allowed_zones=ALLOWED)
    for zone in ALLOWED:
        assert zone in exc.value.message
    assert exc.value.tried == tuple(ALLOWED)
    assert fake.list_vms() == []


def test_the_last_stocked_out_zone_does_not_promise_another() -> None:
    fake = FakeCompute()
    fake.faults.stockout_zones = set(ALLOWED)
    seen: list[Attempt] = []
    with pytest.raises(Stockout):
        create_with_failover(fake, spec(), allowed_zones=ALLOWED, on_attempt=seen.append)
    assert [a.retrying for a in seen] == [True, True, True, False]


def test_global_gpu_quota_stops_at_once_with_a_hint() -> None:
    fake = FakeCompute()
    fake.faults.quotas = {"GPUS_ALL_REGIONS": 0}
    with pytest.raises(QuotaExceeded) as exc:
        create_with_failover(fake, spec(), allowed_zones=ALLOWED)
    assert exc.value.metric == "GPUS_ALL_REGIONS" and exc.value.is_global
    assert fake.insert_request_ids and len(set(fake.insert_request_ids)) == 1  # one zone only


def test_regional_quota_moves_to_another_region() -> None:
    fake = FakeCompute()
    # Spot GPUs use PREEMPTIBLE_NVIDIA_P100_GPUS, or the standard quota when that one is 0.
    fake.faults.quotas = {
        ("us-central1", "NVIDIA_P100_GPUS"): 0,
        ("us-central1", "PREEMPTIBLE_NVIDIA_P100_GPUS"): 0,
    }
    result = create_with_failover(fake, spec(), allowed_zones=ALLOWED)
    assert result.zone == "us-east1-b"
    # us-central1-f was skipped: the quota is regional
    assert [a.zone for a in result.attempts] == ["us-central1-c", "us-east1-b"]


def test_rate_limited_insert_is_retried_with_the_same_request_id() -> None:
    fake = FakeCompute()
    fake.faults.rate_limit("instances.insert", times=1)
    fake.faults.unavailable("instances.insert", times=1)
    create_with_failover(fake, spec(), allowed_zones=ALLOWED)
    assert len(fake.insert_request_ids) == 3
    assert len(set(fake.insert_request_ids)) == 1
    assert len(fake.list_vms(name="vm1")) == 1


def test_gpu_in_a_zone_without_it_names_the_zones_that_have_it() -> None:
    with pytest.raises(InvalidInput) as exc:
        create_with_failover(FakeCompute(), spec(zone="us-central1-a"), allowed_zones=ALLOWED)
    assert "us-central1-a does not offer nvidia-tesla-p100" in exc.value.message
    assert "us-central1-c" in exc.value.message and "europe-west1-b" in exc.value.message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"zone": "us-centrall-c"}, "unknown zone 'us-centrall-c'"),
        ({"machine_type": "n1-standard-7"}, "machine type 'n1-standard-7' is not offered"),
        ({"gpu": Gpu("nvidia-tesla-x999", 1)}, "unknown GPU type"),
        ({"gpu": Gpu("nvidia-tesla-p100", 8)}, "at most 4"),
    ],
)
def test_bad_zone_machine_or_gpu_is_refused_before_any_insert(changes: dict, message: str) -> None:
    fake = FakeCompute()
    with pytest.raises(InvalidInput, match=message):
        create_with_failover(fake, spec(**changes), allowed_zones=ALLOWED)
    assert fake.insert_request_ids == []


def test_duplicate_name_is_not_failed_over() -> None:
    fake = FakeCompute()
    create_with_failover(fake, spec(), allowed_zones=ALLOWED)
    with pytest.raises(AlreadyExists):
        create_with_failover(fake, spec(), allowed_zones=ALLOWED)
    assert len(fake.list_vms()) == 1


def test_a_name_used_in_another_zone_is_refused_naming_that_zone() -> None:
    # After a failover the VM lives in us-central1-f; the same create once the stockout
    # clears must not make a second VM (and a second GPU bill) in us-central1-c.
    fake = FakeCompute()
    fake.faults.stockout_zones = {"us-central1-c"}
    create_with_failover(fake, spec(), allowed_zones=ALLOWED)
    fake.faults.stockout_zones = set()
    with pytest.raises(AlreadyExists) as exc:
        create_with_failover(fake, spec(), allowed_zones=ALLOWED)
    assert exc.value.zone == "us-central1-f" and exc.value.kind == "vm"
    assert "already exists in us-central1-f" in exc.value.message
    assert [vm.zone for vm in fake.list_vms()] == ["us-central1-f"]


def test_cpu_vm_does_not_fail_over() -> None:
    fake = FakeCompute()
    fake.faults.stockout_zones = {"us-central1-c"}
    result = create_with_failover(fake, spec(gpu=None), allowed_zones=ALLOWED)
    assert result.zone == "us-central1-c"  # the fake only stocks out GPU requests


def test_insert_that_keeps_failing_is_reported_as_maybe_created_and_not_failed_over() -> None:
    fake = FakeCompute()
    fake.faults.unavailable("instances.insert", times=50)
    with pytest.raises(MayExist) as exc:
        create_with_failover(fake, spec(), allowed_zones=ALLOWED)
    assert "may have been created in us-central1-c" in exc.value.message
    assert (exc.value.action, exc.value.name, exc.value.zone) == ("create", "vm1", "us-central1-c")
    assert {rid for rid in fake.insert_request_ids} == {fake.insert_request_ids[0]}  # one zone


def test_a_racer_that_took_the_name_in_the_next_zone_is_named_with_its_zone() -> None:
    """Two creates of one name race: ours is stocked out in us-central1-c while the other
    lands in us-central1-f; our failover must not make a second VM there or elsewhere."""

    class Racing(FakeCompute):
        def insert_vm(self, spec: VmSpec, *, request_id: str) -> Operation:
            operation = super().insert_vm(spec, request_id=request_id)
            if spec.zone == "us-central1-c":  # meanwhile the other create lands in f
                super().insert_vm(replace(spec, zone="us-central1-f"), request_id="racer")
            return operation

    fake = Racing()
    fake.faults.stockout_zones = {"us-central1-c"}
    with pytest.raises(AlreadyExists) as exc:
        create_with_failover(fake, spec(), allowed_zones=ALLOWED)
    assert exc.value.zone == "us-central1-f"
    assert [vm.zone for vm in fake.list_vms(name="vm1")] == ["us-central1-f"]
