"""GcpCompute: the Compute Engine provider, over REST with google-auth's session."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from labctl.errors import NotFound, PreconditionFailed
from labctl.models import Disk, MachineType, Vm, VmSpec
from labctl.providers.base import MetadataUpdate, Operation
from labctl.providers.gcp._build import instance_body, metadata_body
from labctl.providers.gcp._operations import operation_of, wait_operation
from labctl.providers.gcp._parse import (
    filter_expression,
    last_segment,
    matches,
    metadata_items,
    parse_disk,
    parse_guest_attributes,
    parse_machine_type,
    parse_vm,
)
from labctl.providers.gcp._rest import RestCompute
from labctl.providers.gcp.account import AccountMixin
from labctl.providers.gcp.auth import compute_base_url
from labctl.providers.gcp.resources import ResourcesMixin
from labctl.retry import RetryPolicy

if TYPE_CHECKING:
    import requests
    from google.auth.credentials import Credentials

log = logging.getLogger(__name__)

OPERATION_TIMEOUT = 900.0  # seconds to wait for an operation to finish
METADATA_ATTEMPTS = 5  # read-modify-write rounds when the fingerprint keeps changing


class GcpCompute(ResourcesMixin, AccountMixin):
    """Compute Engine for one project: reads, mutations and operation waits over one REST
    session. Every request goes through `retry` (rate limits and 5xx are retried; a mutation
    keeps its requestId, so a retried insert never makes a second VM). Disks, snapshots,
    addresses, firewalls, IAM, schedules and quotas are in ResourcesMixin; what doctor asks
    (credentials, billing, the API's clock, preemptions) in AccountMixin."""

    def __init__(
        self,
        project: str,
        *,
        credentials: Credentials,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        operation_timeout: float = OPERATION_TIMEOUT,
        poll_interval: float = 1.0,
        session: requests.Session | None = None,
    ) -> None:
        self.project = project
        self.credentials = credentials
        self.base_url = compute_base_url(base_url)
        self._operation_timeout = operation_timeout
        self._poll_interval = poll_interval
        self._rest = RestCompute(
            project,
            credentials=credentials,
            base_url=self.base_url,
            retry=retry or RetryPolicy(),
            session=session,
        )

    # -- reads --------------------------------------------------------------------------------

    def list_zones(self) -> list[str]:
        names = [
            str(z["name"]) for page in self._rest.pages("zones") for z in page.get("items", ())
        ]
        return sorted(names)

    def get_machine_type(self, zone: str, name: str) -> MachineType:
        try:
            body = self._rest.get(f"zones/{zone}/machineTypes/{name}", zone=zone)
        except NotFound as exc:
            raise NotFound(
                f"machine type {name} is not offered in zone {zone}",
                kind="machine-type",
                name=name,
                zone=zone,
            ) from exc
        return parse_machine_type(body, zone)

    def check_image_family(self, project: str, family: str) -> None:
        try:
            self._rest.get(f"global/images/family/{family}", project=project)
        except NotFound as exc:
            raise NotFound(
                f"no image family {family!r} in project {project}", kind="image", name=family
            ) from exc

    def accelerator_zones(self, gpu_type: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for scope, item in self._rest.aggregated(
            "acceleratorTypes", filter=f'(name = "{gpu_type}")'
        ):
            if item.get("name") != gpu_type:
                continue
            zone = last_segment(item.get("zone") or scope)
            found[zone] = int(item.get("maximumCardsPerInstance", 1))
        return dict(sorted(found.items()))

    def list_vms(
        self, *, name: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[Vm]:
        vms = [
            parse_vm(item)
            for _, item in self._rest.aggregated("instances", filter=filter_expression(name))
        ]
        # Labels are matched here (see filter_expression); the name again, in case a server
        # ignores the filter.
        vms = [vm for vm in vms if (name is None or vm.name == name) and matches(vm.labels, labels)]
        return sorted(vms, key=lambda vm: (vm.zone, vm.name))

    def get_vm(self, name: str, zone: str) -> Vm:
        return parse_vm(self._get_instance(name, zone))

    def get_guest_attributes(self, name: str, zone: str, query_path: str) -> dict[str, str]:
        path = f"zones/{zone}/instances/{name}/getGuestAttributes"
        try:
            body = self._rest.get(path, {"queryPath": query_path}, zone=zone)
        except NotFound:
            # Compute answers 404 both for a missing VM and for "nothing written yet".
            self._get_instance(name, zone)
            return {}
        return parse_guest_attributes(body)

    def list_disks(self, *, labels: Mapping[str, str] | None = None) -> list[Disk]:
        disks = [parse_disk(item) for _, item in self._rest.aggregated("disks")]
        disks = [d for d in disks if matches(d.labels, labels)]
        return sorted(disks, key=lambda d: (d.zone, d.name))

    # -- mutations ----------------------------------------------------------------------------

    def insert_request(self, spec: VmSpec) -> dict[str, Any]:
        """The body `insert_vm` would send (for --dry-run)."""
        return instance_body(spec, self.project)

    def insert_vm(self, spec: VmSpec, *, request_id: str) -> Operation:
        body = self._rest.post(
            f"zones/{spec.zone}/instances",
            instance_body(spec, self.project),
            {"requestId": request_id},
            zone=spec.zone,
        )
        return operation_of(body)

    def stop_vm(self, name: str, zone: str) -> Operation:
        return self._vm_action(name, zone, "POST", "stop")

    def start_vm(self, name: str, zone: str) -> Operation:
        return self._vm_action(name, zone, "POST", "start")

    def delete_vm(self, name: str, zone: str) -> Operation:
        return self._vm_action(name, zone, "DELETE", None)

    def wait(self, operation: Operation, *, timeout: float | None = None) -> None:
        wait_operation(
            self._rest,
            operation,
            timeout=timeout or self._operation_timeout,
            poll_interval=self._poll_interval,
        )

    def update_metadata(self, name: str, zone: str, update: MetadataUpdate) -> None:
        """Read-modify-write with the metadata fingerprint; redone if someone else wrote first."""
        for attempt in range(1, METADATA_ATTEMPTS + 1):
            body = self._get_instance(name, zone)
            current = metadata_items(body)
            wanted = update(dict(current))
            if wanted == current:
                return
            fingerprint = (body.get("metadata") or {}).get("fingerprint")
            try:
                operation = self._mutate(
                    "POST",
                    f"zones/{zone}/instances/{name}/setMetadata",
                    metadata_body(wanted, fingerprint),
                    name=name,
                    zone=zone,
                )
                self.wait(operation)
                return
            except PreconditionFailed:
                log.info("metadata of %s changed meanwhile (attempt %d); re-reading", name, attempt)
        raise PreconditionFailed(
            f"metadata of VM {name} kept changing; gave up after {METADATA_ATTEMPTS} attempts",
            kind="vm",
            name=name,
            zone=zone,
        )

    # -- helpers ------------------------------------------------------------------------------

    def _vm_action(self, name: str, zone: str, method: str, verb: str | None) -> Operation:
        path = f"zones/{zone}/instances/{name}" + (f"/{verb}" if verb else "")
        return self._mutate(method, path, None, name=name, zone=zone)

    def _mutate(
        self, method: str, path: str, body: dict[str, Any] | None, *, name: str, zone: str
    ) -> Operation:
        # One requestId for every retry of this request: Compute then answers a retry of a
        # request that had in fact arrived with the first operation instead of acting twice.
        params = {"requestId": str(uuid.uuid4())}
        try:
            answer = self._rest.request(method, path, params=params, body=body, zone=zone)
        except NotFound as exc:
            raise _vm_not_found(name, zone) from exc
        return operation_of(answer)

    def _get_instance(self, name: str, zone: str) -> dict[str, Any]:
        try:
            return self._rest.get(f"zones/{zone}/instances/{name}", zone=zone)
        except NotFound as exc:
            raise _vm_not_found(name, zone) from exc


if TYPE_CHECKING:
    from labctl.providers.base import ComputeProvider

    _conforms: type[ComputeProvider] = GcpCompute


def _vm_not_found(name: str, zone: str) -> NotFound:
    return NotFound(f"VM {name} not found in zone {zone}", kind="vm", name=name, zone=zone)
