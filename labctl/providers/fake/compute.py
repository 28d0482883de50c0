"""An in-memory ComputeProvider with an injectable clock and failure injection, for tests and demos.

It raises the same labctl errors as the GCP provider, and goes through the same RetryPolicy, so
the contract tests hold it to the real provider's behaviour.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from labctl import catalog  # the same zones, machine types and GPUs as the emulator
from labctl.errors import (
    AlreadyExists,
    InvalidInput,
    LabctlError,
    NotFound,
    QuotaExceeded,
    RateLimited,
    Stockout,
    TransientError,
)
from labctl.models import Disk, MachineType, Provisioning, Vm, VmSpec, VmState
from labctl.providers.base import MetadataUpdate, Operation
from labctl.providers.fake.resources import FakeResources
from labctl.retry import RetryPolicy

T = TypeVar("T")


@dataclass
class FakeFaults:
    """What to break. Counters go down as faults are served."""

    stockout_zones: set[str] = field(default_factory=set)
    # "GPUS_ALL_REGIONS" -> limit, or (region, metric) -> limit, e.g. ("us-central1", "CPUS").
    quotas: dict[str | tuple[str, str], float] = field(default_factory=dict)
    # method ("instances.insert", or "*" for any) -> errors its next calls raise, in order
    failures: dict[str, list[LabctlError]] = field(default_factory=dict)

    def fail(self, method: str, error: LabctlError, times: int = 1) -> None:
        """Make the next `times` calls of `method` raise `error` (before any retry)."""
        self.failures.setdefault(method, []).extend([error] * times)

    def rate_limit(self, method: str = "*", times: int = 1) -> None:
        self.fail(method, RateLimited("rate limit exceeded", hint="wait a minute"), times)

    def unavailable(self, method: str = "*", times: int = 1) -> None:
        self.fail(method, TransientError("the service is unavailable (503)"), times)

    def take(self, method: str) -> LabctlError | None:
        for key in (method, "*"):
            queue = self.failures.get(key)
            if queue:
                return queue.pop(0)
        return None


class FakeCompute(FakeResources):
    def __init__(
        self,
        project: str = "labctl-demo",
        *,
        clock: Callable[[], datetime] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.project = project
        self.clock = clock or (lambda: datetime.now(UTC))
        self.retry = retry or RetryPolicy(sleep=lambda _: None)
        self.faults = FakeFaults()
        self.calls: list[str] = []  # API calls as a server would see them, retries included
        self.insert_request_ids: list[str] = []
        self._vms: dict[tuple[str, str], Vm] = {}
        self._disks: dict[tuple[str, str], Disk] = {}
        self._guest_attributes: dict[tuple[str, str], dict[str, str]] = {}
        self._seen_requests: dict[str, Operation] = {}
        self._failed: dict[str, LabctlError] = {}  # operation name -> what it ended with
        self._next_id = 1000
        self._lock = threading.Lock()
        self._init_resources()

    # -- test helpers ----------------------------------------------------------------------------
    def preempt(self, name: str, zone: str) -> None:
        """What Compute does to a spot VM when it needs the capacity back."""
        vm = self._vms[(zone, name)]
        self._vms[(zone, name)] = replace(
            vm, state=VmState.STOPPED, status="TERMINATED", last_stopped=self.clock()
        )
        self._preempted.setdefault((zone, name), []).append(self.clock())

    def set_guest_attributes(self, name: str, zone: str, values: dict[str, str]) -> None:
        self._guest_attributes[(zone, name)] = dict(values)

    def set_external_ip(self, name: str, zone: str, ip: str | None) -> None:
        self._vms[(zone, name)] = replace(self._vms[(zone, name)], external_ip=ip)

    # -- the provider surface --------------------------------------------------------------------
    def list_zones(self) -> list[str]:
        return self._call("zones.list", lambda: sorted(catalog.ZONES))

    def get_machine_type(self, zone: str, name: str) -> MachineType:
        def get() -> MachineType:
            if zone not in catalog.ZONES or name not in catalog.MACHINE_TYPES:
                raise NotFound(f"machine type {name!r} not found in zone {zone!r}")
            cpus, memory, _shared = catalog.MACHINE_TYPES[name]
            return MachineType(name=name, zone=zone, cpus=cpus, memory_mb=memory)

        return self._call("machineTypes.get", get)

    def check_image_family(self, project: str, family: str) -> None:
        def get() -> None:
            if not catalog.image_family_exists(project, family):
                raise NotFound(
                    f"no image family {family!r} in project {project}", kind="image", name=family
                )

        self._call("images.getFromFamily", get)

    def accelerator_zones(self, gpu_type: str) -> dict[str, int]:
        def get() -> dict[str, int]:
            entry = catalog.ACCELERATORS.get(gpu_type)
            return dict.fromkeys(entry[2], entry[1]) if entry else {}

        return self._call("acceleratorTypes.aggregatedList", get)

    def list_vms(
        self, *, name: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[Vm]:
        def get() -> list[Vm]:
            vms = [
                vm
                for vm in self._vms.values()
                if (name is None or vm.name == name)
                and all(vm.labels.get(k) == v for k, v in (labels or {}).items())
            ]
            return sorted(vms, key=lambda vm: (vm.name, vm.zone))

        return self._call("instances.aggregatedList", get)

    def get_vm(self, name: str, zone: str) -> Vm:
        return self._call("instances.get", lambda: self._find(name, zone))

    def insert_request(self, spec: VmSpec) -> dict[str, Any]:
        return {"project": self.project, **asdict(spec)}

    def insert_vm(self, spec: VmSpec, *, request_id: str) -> Operation:
        def insert() -> Operation:
            with self._lock:
                if request_id in self._seen_requests:
                    # The same request again: Compute answers with the first operation.
                    return self._seen_requests[request_id]
                self._check_insert(spec)
                operation = self._operation(spec.zone, f"instances/{spec.name}")
                self._seen_requests[request_id] = operation
                if spec.gpu and spec.zone in self.faults.stockout_zones:
                    # As on Compute, a stockout is what the accepted insert's operation ends with.
                    self._failed[operation.name] = self._stockout(spec)
                    return operation
                self._vms[(spec.zone, spec.name)] = self._new_vm(spec)
                self._disks[(spec.zone, spec.name)] = Disk(
                    name=spec.name,
                    zone=spec.zone,
                    size_gb=spec.disk_size_gb,
                    users=(spec.name,),
                    labels=dict(spec.labels),
                    created=self.clock(),
                    type="pd-balanced",
                )
                return operation

        # Every attempt is recorded as the server would see it, retries included.
        return self._call(
            "instances.insert", insert, seen=lambda: self.insert_request_ids.append(request_id)
        )

    def stop_vm(self, name: str, zone: str) -> Operation:
        return self._call("instances.stop", lambda: self._set_state(name, zone, VmState.STOPPED))

    def start_vm(self, name: str, zone: str) -> Operation:
        return self._call("instances.start", lambda: self._set_state(name, zone, VmState.RUNNING))

    def delete_vm(self, name: str, zone: str) -> Operation:
        def delete() -> Operation:
            with self._lock:
                self._find(name, zone)
                del self._vms[(zone, name)]
                self._disks.pop((zone, name), None)  # boot disks are created with autoDelete
                for key, disk in list(self._disks.items()):  # other disks stay, detached
                    if name in disk.users and disk.zone == zone:
                        users = tuple(u for u in disk.users if u != name)
                        self._disks[key] = replace(disk, users=users, last_detached=self.clock())
                return self._operation(zone, f"instances/{name}")

        return self._call("instances.delete", delete)

    def wait(self, operation: Operation, *, timeout: float | None = None) -> None:
        def get() -> None:
            error = self._failed.get(operation.name)
            if error is not None:
                raise error

        self._call("zoneOperations.wait", get)

    def update_metadata(self, name: str, zone: str, update: MetadataUpdate) -> None:
        def set_metadata() -> None:
            with self._lock:
                vm = self._find(name, zone)
                self._vms[(zone, name)] = replace(vm, metadata=update(dict(vm.metadata)))

        self._call("instances.setMetadata", set_metadata)

    def get_guest_attributes(self, name: str, zone: str, query_path: str) -> dict[str, str]:
        def get() -> dict[str, str]:
            self._find(name, zone)
            values = self._guest_attributes.get((zone, name), {})
            return {k: v for k, v in values.items() if k.startswith(query_path)}

        return self._call("instances.getGuestAttributes", get)

    def list_disks(self, *, labels: Mapping[str, str] | None = None) -> list[Disk]:
        def get() -> list[Disk]:
            return [
                d
                for d in self._disks.values()
                if all(d.labels.get(k) == v for k, v in (labels or {}).items())
            ]

        return self._call("disks.aggregatedList", get)

    # -- internals -------------------------------------------------------------------------------
    def _call(self, method: str, fn: Callable[[], T], seen: Callable[[], None] | None = None) -> T:
        def attempt() -> T:
            self.calls.append(method)
            if seen:
                seen()
            error = self.faults.take(method)
            if error is not None:
                raise error
            return fn()

        return self.retry.call(attempt, what=method)

    def _find(self, name: str, zone: str) -> Vm:
        vm = self._vms.get((zone, name))
        if vm is None:
            raise NotFound(f"VM {name} not found in zone {zone}", kind="vm", name=name, zone=zone)
        return vm

    def _set_state(self, name: str, zone: str, state: VmState) -> Operation:
        with self._lock:
            vm = self._find(name, zone)
            now = self.clock()
            if state is VmState.RUNNING:
                vm = replace(vm, state=state, status="RUNNING", last_started=now)
            else:
                vm = replace(vm, state=state, status="TERMINATED", last_stopped=now)
            self._vms[(zone, name)] = vm
            return self._operation(zone, f"instances/{name}")

    def _operation(self, zone: str, target: str) -> Operation:
        self._next_id += 1
        return Operation(name=f"operation-{self._next_id}", scope=f"zones/{zone}", target=target)

    def _stockout(self, spec: VmSpec) -> Stockout:
        assert spec.gpu is not None
        zones = catalog.accelerator_zones(spec.gpu.type)
        available = tuple(z for z in zones if z not in self.faults.stockout_zones)
        return Stockout(
            f"zone {spec.zone} has no capacity for {spec.machine_type} with "
            f"{spec.gpu.count} {spec.gpu.type} right now",
            zone=spec.zone,
            zones_available=available,
        )

    def _check_insert(self, spec: VmSpec) -> None:
        if spec.zone not in catalog.ZONES:
            raise NotFound(f"zone {spec.zone!r} not found")
        if spec.machine_type not in catalog.MACHINE_TYPES:
            raise InvalidInput(f"machine type {spec.machine_type!r} not found in {spec.zone}")
        if (spec.zone, spec.name) in self._vms:
            raise AlreadyExists(f"VM {spec.name!r} already exists in zone {spec.zone!r}")
        if spec.gpu:
            zones = catalog.accelerator_zones(spec.gpu.type)
            if spec.zone not in zones:
                raise InvalidInput(f"accelerator {spec.gpu.type!r} is not offered in {spec.zone}")
            self._check_gpu_quota(spec)

    def _check_gpu_quota(self, spec: VmSpec) -> None:
        """As Compute: GPUS_ALL_REGIONS, then the region's metric this VM would use."""
        assert spec.gpu is not None
        (project,) = self._quotas(None)
        if project.limit < project.usage + spec.gpu.count:
            raise QuotaExceeded(
                f"Quota 'GPUS_ALL_REGIONS' exceeded. Limit: {project.limit} globally.",
                metric="GPUS_ALL_REGIONS",
                limit=project.limit,
            )
        quotas = {q.metric: q for q in self._quotas(spec.region)}
        spot = spec.provisioning is not Provisioning.STANDARD
        metric = self._gpu_metric(spec.gpu.type, spot, spec.region)
        quota = quotas[metric]
        if quota.limit < quota.usage + spec.gpu.count:
            raise QuotaExceeded(
                f"Quota '{metric}' exceeded. Limit: {quota.limit} in region {spec.region}.",
                metric=metric,
                region=spec.region,
                limit=quota.limit,
            )

    def _new_vm(self, spec: VmSpec) -> Vm:
        self._next_id += 1
        return Vm(
            name=spec.name,
            zone=spec.zone,
            id=str(self._next_id),
            state=VmState.RUNNING,
            status="RUNNING",
            machine_type=spec.machine_type,
            provisioning=spec.provisioning,
            gpu=spec.gpu,
            external_ip=f"203.0.113.{self._next_id % 250 + 1}" if spec.external_ip else None,
            internal_ip=f"10.128.0.{self._next_id % 250 + 1}",
            created=self.clock(),
            labels=dict(spec.labels),
            metadata=dict(spec.metadata),
            last_started=self.clock(),
            disks=(spec.name,),
            disk_gb=spec.disk_size_gb,
        )
