"""The in-memory provider's disks, snapshots, addresses, firewalls, labels, IAM, schedules and
quotas (part of FakeCompute), with the same errors as the GCP provider."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from labctl import catalog
from labctl.errors import AlreadyExists, InvalidInput, NotFound, TransientError
from labctl.models import (
    Address,
    Billing,
    Disk,
    Firewall,
    IamPolicy,
    Provisioning,
    Quota,
    Schedule,
    Snapshot,
    Vm,
    VmState,
    region_of,
)
from labctl.providers.base import IamUpdate, LabelsUpdate, Operation

T = TypeVar("T")
DEFAULT_LIMIT = 10_000.0  # a quota nobody set: plenty


class FakeResources:
    """Part of FakeCompute; uses its state and `_call` (retries, faults, call log)."""

    project: str
    clock: Callable[[], datetime]
    faults: Any
    _lock: threading.Lock
    _vms: dict[tuple[str, str], Vm]
    _disks: dict[tuple[str, str], Disk]
    _failed: dict[str, Any]

    def _call(self, method: str, fn: Callable[[], T], seen: Callable[[], None] | None = None) -> T:
        raise NotImplementedError

    def _operation(self, zone: str, target: str) -> Operation:
        raise NotImplementedError

    def _init_resources(self) -> None:
        self._addresses: dict[tuple[str, str], Address] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._firewalls: dict[str, Firewall] = {}
        self._schedules: dict[tuple[str, str], Schedule] = {}
        self._iam: dict[tuple[str, str], IamPolicy] = {}
        self.failing_snapshots: set[str] = set()  # disk names whose snapshot fails
        # What doctor asks: set them to make a check fail.
        self.billing_info = Billing(enabled=True, account="billingAccounts/000000-000000-000000")
        self.clock_offset = timedelta(0)  # the API's Date header minus the fake's clock
        self._preempted: dict[tuple[str, str], list[datetime]] = {}

    # -- test helpers ---------------------------------------------------------------------------

    def add_vm(self, vm: Vm) -> None:
        """A VM as it is (state, timestamps, tags), with no operation: for tests of what exists."""
        self._vms[(vm.zone, vm.name)] = vm

    def add_disk(self, disk: Disk) -> None:
        self._disks[(disk.zone, disk.name)] = disk

    def add_address(self, address: Address) -> None:
        self._addresses[(address.region, address.name)] = address

    def add_snapshot(self, snapshot: Snapshot) -> None:
        self._snapshots[snapshot.name] = snapshot

    def add_firewall(self, firewall: Firewall) -> None:
        self._firewalls[firewall.name] = firewall

    def vm_policy(self, name: str, zone: str) -> IamPolicy:
        return self._iam.get((zone, name), IamPolicy({}))

    # -- reads ------------------------------------------------------------------------------------

    def list_addresses(self) -> list[Address]:
        return self._call(
            "addresses.aggregatedList", lambda: sorted(self._addresses.values(), key=_key)
        )

    def list_snapshots(self) -> list[Snapshot]:
        return self._call("snapshots.list", lambda: sorted(self._snapshots.values(), key=_key))

    def list_firewalls(self) -> list[Firewall]:
        return self._call("firewalls.list", lambda: sorted(self._firewalls.values(), key=_key))

    def list_schedules(self) -> list[Schedule]:
        return self._call(
            "resourcePolicies.aggregatedList", lambda: sorted(self._schedules.values(), key=_key)
        )

    def region_quotas(self, region: str) -> list[Quota]:
        return self._call("regions.get", lambda: self._quotas(region))

    def project_quotas(self) -> list[Quota]:
        return self._call("projects.get", lambda: self._quotas(None))

    # -- what doctor asks -------------------------------------------------------------------------

    def whoami(self) -> str:
        return "fake provider (no credentials needed)"

    def billing(self) -> Billing:
        return self._call("projects.getBillingInfo", lambda: self.billing_info)

    def server_time(self) -> datetime | None:
        return self._call("zones.list", lambda: self.clock() + self.clock_offset)

    def preemptions(self, name: str, zone: str) -> list[datetime]:
        return self._call(
            "zoneOperations.list", lambda: list(self._preempted.get((zone, name), []))
        )

    # -- cleanup's actions -------------------------------------------------------------------------

    def create_snapshot(
        self, disk: str, zone: str, *, name: str, labels: Mapping[str, str]
    ) -> Operation:
        def snapshot() -> Operation:
            with self._lock:
                source = self._disks.get((zone, disk))
                if source is None:
                    raise NotFound(f"disk {disk} not found in {zone}", kind="disk", name=disk)
                operation = self._operation(zone, f"disks/{disk}")
                if name in self._snapshots:
                    raise AlreadyExists(
                        f"snapshot {name} already exists", kind="snapshot", name=name
                    )
                fails = disk in self.failing_snapshots
                if fails:  # as on Compute: the operation ends in an error, the snapshot FAILED
                    self._failed[operation.name] = TransientError(f"snapshot of {disk} failed")
                self._snapshots[name] = Snapshot(
                    name,
                    disk,
                    source.size_gb,
                    0 if fails else source.size_gb * 2**30 // 4,
                    "FAILED" if fails else "READY",
                    dict(labels),
                    self.clock(),
                )
                return operation

        return self._call("disks.createSnapshot", snapshot)

    def delete_disk(self, name: str, zone: str) -> Operation:
        def delete() -> Operation:
            with self._lock:
                disk = self._disks.get((zone, name))
                if disk is None:
                    raise NotFound(f"disk {name} not found in {zone}", kind="disk", name=name)
                if disk.users:
                    raise InvalidInput(f"disk {name} is in use by {', '.join(disk.users)}")
                del self._disks[(zone, name)]
                return self._operation(zone, f"disks/{name}")

        return self._call("disks.delete", delete)

    def delete_snapshot(self, name: str) -> Operation:
        return self._call("snapshots.delete", lambda: self._pop(self._snapshots, name, "snapshot"))

    def release_address(self, name: str, region: str) -> Operation:
        return self._call(
            "addresses.delete", lambda: self._pop(self._addresses, (region, name), "address")
        )

    def delete_firewall(self, name: str) -> Operation:
        return self._call("firewalls.delete", lambda: self._pop(self._firewalls, name, "firewall"))

    def start_label_update(self, name: str, zone: str, update: LabelsUpdate) -> Operation | None:
        def set_labels() -> Operation | None:
            with self._lock:
                vm = self._vms.get((zone, name))
                if vm is None:
                    raise NotFound(f"VM {name} not found in zone {zone}", kind="vm", name=name)
                wanted = update(dict(vm.labels))
                if wanted == dict(vm.labels):
                    return None
                self._vms[(zone, name)] = replace(vm, labels=wanted)
                return self._operation(zone, f"instances/{name}")

        return self._call("instances.setLabels", set_labels)

    # -- a class's access and schedules -----------------------------------------------------------

    def get_vm_iam(self, name: str, zone: str) -> IamPolicy:
        def get() -> IamPolicy:
            with self._lock:
                if (zone, name) not in self._vms:
                    raise NotFound(f"VM {name} not found in zone {zone}", kind="vm", name=name)
                return self._iam.get((zone, name), IamPolicy({}, "e0"))

        return self._call("instances.getIamPolicy", get)

    def update_vm_iam(self, name: str, zone: str, update: IamUpdate) -> IamPolicy:
        def set_policy() -> IamPolicy:
            with self._lock:
                if (zone, name) not in self._vms:
                    raise NotFound(f"VM {name} not found in zone {zone}", kind="vm", name=name)
                current = self._iam.get((zone, name), IamPolicy({}, "e0"))
                wanted = update({r: set(m) for r, m in current.bindings.items()})
                bindings = {r: tuple(sorted(m)) for r, m in wanted.items() if m}
                if bindings == {r: m for r, m in current.bindings.items() if m}:
                    return current
                written = IamPolicy(bindings, f"e{int(current.etag[1:] or 0) + 1}", 3)
                self._iam[(zone, name)] = written
                return written

        return self._call("instances.setIamPolicy", set_policy)

    def create_schedule(self, schedule: Schedule) -> Operation:
        def create() -> Operation:
            with self._lock:
                key = (schedule.region, schedule.name)
                if key in self._schedules:
                    raise AlreadyExists(
                        f"schedule {schedule.name} already exists in {schedule.region}",
                        kind="schedule",
                        name=schedule.name,
                    )
                self._schedules[key] = schedule
                return Operation(f"op-{schedule.name}", f"regions/{schedule.region}")

        return self._call("resourcePolicies.insert", create)

    def delete_schedule(self, name: str, region: str) -> Operation:
        def delete() -> Operation:
            with self._lock:
                if any(
                    name in vm.resource_policies and vm.region == region
                    for vm in self._vms.values()
                ):
                    raise InvalidInput(f"schedule {name} is still attached to VMs")
                if self._schedules.pop((region, name), None) is None:
                    raise NotFound(f"schedule {name} not found", kind="schedule", name=name)
                return Operation(f"op-del-{name}", f"regions/{region}")

        return self._call("resourcePolicies.delete", delete)

    def attach_schedule(self, vm: str, zone: str, schedule: str) -> Operation:
        def attach() -> Operation:
            with self._lock:
                found = self._vms.get((zone, vm))
                if found is None:
                    raise NotFound(f"VM {vm} not found in zone {zone}", kind="vm", name=vm)
                if (region_of(zone), schedule) not in self._schedules:
                    raise InvalidInput(f"schedule {schedule} is not in {region_of(zone)}")
                if schedule not in found.resource_policies:
                    policies = (*found.resource_policies, schedule)
                    self._vms[(zone, vm)] = replace(found, resource_policies=policies)
                return self._operation(zone, f"instances/{vm}")

        return self._call("instances.addResourcePolicies", attach)

    def detach_schedule(self, vm: str, zone: str, schedule: str) -> Operation:
        def detach() -> Operation:
            with self._lock:
                found = self._vms.get((zone, vm))
                if found is None:
                    raise NotFound(f"VM {vm} not found in zone {zone}", kind="vm", name=vm)
                policies = tuple(p for p in found.resource_policies if p != schedule)
                self._vms[(zone, vm)] = replace(found, resource_policies=policies)
                return self._operation(zone, f"instances/{vm}")

        return self._call("instances.removeResourcePolicies", detach)

    # -- internals --------------------------------------------------------------------------------

    def _pop(self, table: dict[Any, Any], key: Any, kind: str) -> Operation:
        with self._lock:
            found = table.pop(key, None)
            if found is None:
                name = key[-1] if isinstance(key, tuple) else key
                raise NotFound(f"{kind} {name} not found", kind=kind, name=name)
            scope = f"regions/{key[0]}" if isinstance(key, tuple) else "global"
            return Operation(f"op-{kind}-{found.name}", scope)

    def _gpu_metric(self, gpu_type: str, spot: bool, region: str) -> str:
        """Spot and preemptible GPUs use the PREEMPTIBLE_ quota once a region has one (its limit
        is above 0); a project without preemptible quota counts them in the standard one
        (https://cloud.google.com/compute/docs/instances/spot#quotas). As in the emulator,
        a project starts without preemptible quota."""
        preemptible = catalog.gpu_quota_metric(gpu_type, preemptible=True)
        if spot and self.faults.quotas.get((region, preemptible), 0) > 0:
            return preemptible
        return catalog.gpu_quota_metric(gpu_type)

    def _quotas(self, region: str | None) -> list[Quota]:
        """Usage from running VMs; limits from faults.quotas (or plenty)."""
        running = [
            vm
            for vm in self._vms.values()
            if vm.state is VmState.RUNNING and (region is None or vm.region == region)
        ]
        usage: dict[str, float] = {}
        for vm in running:
            spot = vm.provisioning is not Provisioning.STANDARD
            cpus = catalog.MACHINE_TYPES.get(vm.machine_type, (0, 0, False))[0]
            preemptible_cpus = (
                spot and _limit(self.faults.quotas, vm.region, "PREEMPTIBLE_CPUS") > 0
            )
            _add(usage, "PREEMPTIBLE_CPUS" if preemptible_cpus else "CPUS", cpus)
            if vm.gpu:
                _add(usage, self._gpu_metric(vm.gpu.type, spot, vm.region), vm.gpu.count)
                _add(usage, "GPUS_ALL_REGIONS", vm.gpu.count)
        limits = self.faults.quotas
        if region is None:
            used = usage.get("GPUS_ALL_REGIONS", 0.0)
            return [Quota("GPUS_ALL_REGIONS", limits.get("GPUS_ALL_REGIONS", DEFAULT_LIMIT), used)]
        metrics = {m for (r, m) in (k for k in limits if isinstance(k, tuple)) if r == region}
        metrics |= set(usage) - {"GPUS_ALL_REGIONS"}
        metrics |= {"CPUS", "PREEMPTIBLE_CPUS", "NVIDIA_P100_GPUS", "PREEMPTIBLE_NVIDIA_P100_GPUS"}
        return [
            Quota(m, _limit(limits, region, m), usage.get(m, 0.0), region) for m in sorted(metrics)
        ]


def _limit(limits: Mapping[Any, float], region: str, metric: str) -> float:
    """A limit set by the test, else: no preemptible quota, plenty of everything else."""
    default = 0.0 if metric.startswith("PREEMPTIBLE_") else DEFAULT_LIMIT
    return float(limits.get((region, metric), default))


def _add(usage: dict[str, float], metric: str, amount: float) -> None:
    usage[metric] = usage.get(metric, 0.0) + amount


def _key(resource: Any) -> tuple[str, str]:
    return (getattr(resource, "region", ""), resource.name)
