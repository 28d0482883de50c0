"""Creating course VMs: check the spec with the API, then one (or many, through the batch engine)
with zone failover."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from labctl.config import Settings
from labctl.errors import AlreadyExists, Interrupted
from labctl.models import VmSpec
from labctl.providers.base import ComputeProvider, Operation
from labctl.provisioning import Attempt, CreateResult, Provisioner, check_spec, failover_order
from labctl.runner import Outcome, apply_to_many


def create(
    compute: ComputeProvider,
    spec: VmSpec,
    settings: Settings,
    *,
    wait: bool = True,
    on_attempt: Callable[[Attempt], None] = lambda _: None,
) -> CreateResult:
    """Check the spec with the API (zone, machine type, GPU), refuse a name already used in any
    zone, then create it in its zone or the next one that has capacity."""
    offering = check_spec(compute, spec).offering
    provisioner = Provisioner.for_spec(
        compute,
        spec,
        allowed_zones=settings.allowed_zones,
        offering=offering,
        wait=wait,
        on_attempt=on_attempt,
    )
    try:
        return provisioner.run()
    except KeyboardInterrupt:
        sent = provisioner.attempts or provisioner.sending
        raise Interrupted(
            f"interrupted while creating {spec.name}",
            action="create",
            kind="vm",
            in_flight={spec.name: "insert"} if sent else {},
        ) from None


def create_many(
    compute: ComputeProvider,
    specs: Sequence[VmSpec],
    settings: Settings,
    *,
    wait: bool = True,
    on_result: Callable[[Outcome[VmSpec]], None] | None = None,
) -> list[Outcome[VmSpec]]:
    """Several VMs at once through the batch engine: every insert first, then every wait
    (with failover), so N VMs take about as long as one. One `list` call checks the names."""
    if not specs:
        return []
    offering = check_spec(compute, specs[0]).offering  # the flags are the same for all: check once
    existing = {vm.name: vm for vm in compute.list_vms()}
    provisioners = {
        spec.name: Provisioner.for_spec(
            compute,
            spec,
            allowed_zones=settings.allowed_zones,
            offering=offering,
            wait=wait,
            check_name=False,
        )
        for spec in specs
    }

    def send(spec: VmSpec) -> Operation | None:
        if spec.name in existing:
            vm = existing[spec.name]
            raise AlreadyExists(
                f"VM {spec.name} already exists in {vm.zone}",
                kind="vm",
                name=spec.name,
                zone=vm.zone,
            )
        return provisioners[spec.name].start()

    return apply_to_many(
        specs,
        key=lambda spec: spec.name,
        send=send,
        wait=lambda spec, op: provisioners[spec.name].finish(op),
        action="create",
        kind="vm",
        on_result=on_result,
    )


def failover_zones(compute: ComputeProvider, spec: VmSpec, settings: Settings) -> list[str]:
    """The zones a create would try, in order (after checking the spec like a create does)."""

    offering = check_spec(compute, spec).offering
    return failover_order(spec.zone, settings.allowed_zones, offering) if spec.gpu else [spec.zone]
