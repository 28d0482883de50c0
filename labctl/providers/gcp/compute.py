"""GcpCompute: the Compute Engine provider (reads over light REST, writes via the SDK)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from labctl.errors import NotFound, PreconditionFailed
from labctl.models import Disk, MachineType, Vm, VmSpec
from labctl.providers.base import MetadataUpdate
from labctl.providers.gcp import _errors
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
from labctl.providers.gcp.auth import client_api_endpoint, compute_base_url
from labctl.retry import RetryPolicy

if TYPE_CHECKING:
    import requests
    from google.auth.credentials import Credentials
    from google.cloud import compute_v1

log = logging.getLogger(__name__)
T = TypeVar("T")

CALL_TIMEOUT = 60.0  # seconds for one mutation request (the operation is waited on separately)
OPERATION_TIMEOUT = 900.0  # seconds to wait for an operation to finish
METADATA_ATTEMPTS = 5  # read-modify-write rounds when the fingerprint keeps changing


class GcpCompute:
    """Compute Engine for one project.

    Reads (list, get, catalog) are plain REST calls parsed into labctl records, so listing never
    imports google.cloud.compute_v1. Mutations use google-cloud-compute against the same
    endpoint and wait with an endpoint-configured ZoneOperationsClient. Every request goes
    through `retry` (rate limits and 5xx are retried; an insert keeps its requestId).
    """

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
        self.base_url = compute_base_url(base_url)
        self._credentials = credentials
        self._retry = retry or RetryPolicy()
        self._operation_timeout = operation_timeout
        self._poll_interval = poll_interval
        self._rest = RestCompute(
            project,
            credentials=credentials,
            base_url=self.base_url,
            retry=self._retry,
            session=session,
        )
        self._instances_client: compute_v1.InstancesClient | None = None
        self._operations_client: compute_v1.ZoneOperationsClient | None = None

    # -- reads (light REST) -----------------------------------------------------------------

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
                hint=f"list them with: gcloud compute machine-types list --zones {zone}",
            ) from exc
        return parse_machine_type(body, zone)

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

    # -- mutations (google-cloud-compute) ---------------------------------------------------

    def create_vm(self, spec: VmSpec, *, request_id: str, wait: bool = True) -> None:
        from google.cloud import compute_v1

        from labctl.providers.gcp._build import build_instance

        # One request object for every retry: the same requestId makes Compute return the
        # first attempt's operation instead of creating a second VM.
        request = compute_v1.InsertInstanceRequest(
            project=self.project,
            zone=spec.zone,
            instance_resource=build_instance(spec, self.project),
            request_id=request_id,
        )
        client = self._instances()
        operation = self._mutate(
            lambda: client.insert_unary(request=request, timeout=CALL_TIMEOUT),
            what=f"create VM {spec.name}",
            zone=spec.zone,
        )
        self._finish(operation, spec.zone, wait=wait)

    def stop_vm(self, name: str, zone: str, *, wait: bool = True) -> None:
        client = self._instances()
        operation = self._vm_mutation(
            lambda: client.stop_unary(
                project=self.project, zone=zone, instance=name, timeout=CALL_TIMEOUT
            ),
            "stop",
            name,
            zone,
        )
        self._finish(operation, zone, wait=wait)

    def start_vm(self, name: str, zone: str, *, wait: bool = True) -> None:
        client = self._instances()
        operation = self._vm_mutation(
            lambda: client.start_unary(
                project=self.project, zone=zone, instance=name, timeout=CALL_TIMEOUT
            ),
            "start",
            name,
            zone,
        )
        self._finish(operation, zone, wait=wait)

    def delete_vm(self, name: str, zone: str, *, wait: bool = True) -> None:
        client = self._instances()
        operation = self._vm_mutation(
            lambda: client.delete_unary(
                project=self.project, zone=zone, instance=name, timeout=CALL_TIMEOUT
            ),
            "delete",
            name,
            zone,
        )
        self._finish(operation, zone, wait=wait)

    def update_metadata(self, name: str, zone: str, update: MetadataUpdate) -> None:
        """Read-modify-write with the metadata fingerprint; redone if someone else wrote first."""
        from google.cloud import compute_v1

        client = self._instances()
        for attempt in range(1, METADATA_ATTEMPTS + 1):
            body = self._get_instance(name, zone)
            current = metadata_items(body)
            wanted = update(dict(current))
            if wanted == current:
                return
            resource = compute_v1.Metadata(
                items=[compute_v1.Items(key=k, value=v) for k, v in wanted.items()]
            )
            fingerprint = (body.get("metadata") or {}).get("fingerprint")
            if fingerprint:
                resource.fingerprint = fingerprint
            try:
                self._set_metadata(client, name, zone, resource)
                return
            except PreconditionFailed:
                log.info("metadata of %s changed meanwhile (attempt %d); re-reading", name, attempt)
        raise PreconditionFailed(
            f"metadata of VM {name} kept changing; gave up after {METADATA_ATTEMPTS} attempts",
            hint="try again in a moment",
        )

    # -- helpers ----------------------------------------------------------------------------

    def _set_metadata(
        self,
        client: compute_v1.InstancesClient,
        name: str,
        zone: str,
        resource: compute_v1.Metadata,
    ) -> None:
        operation = self._vm_mutation(
            lambda: client.set_metadata_unary(
                project=self.project,
                zone=zone,
                instance=name,
                metadata_resource=resource,
                timeout=CALL_TIMEOUT,
            ),
            "update metadata of",
            name,
            zone,
        )
        self._finish(operation, zone, wait=True)

    def _get_instance(self, name: str, zone: str) -> dict[str, Any]:
        try:
            return self._rest.get(f"zones/{zone}/instances/{name}", zone=zone)
        except NotFound as exc:
            raise _vm_not_found(name, zone) from exc

    def _mutate(self, fn: Callable[[], T], *, what: str, zone: str | None) -> T:
        """One SDK call: translated into labctl errors, retried by the policy (same arguments)."""

        def attempt() -> T:
            with _errors.translated(zone=zone):
                return fn()

        return self._retry.call(attempt, what=what)

    def _vm_mutation(
        self, fn: Callable[[], compute_v1.Operation], verb: str, name: str, zone: str
    ) -> compute_v1.Operation:
        try:
            return self._mutate(fn, what=f"{verb} VM {name}", zone=zone)
        except NotFound as exc:
            raise _vm_not_found(name, zone) from exc

    def _finish(self, operation: compute_v1.Operation, zone: str, *, wait: bool) -> None:
        from labctl.providers.gcp._operations import is_done, raise_if_failed, wait_zone_operation

        if not wait:
            if is_done(operation):
                raise_if_failed(operation, zone=zone)
            return
        wait_zone_operation(
            self._operations(),
            operation,
            project=self.project,
            zone=zone,
            timeout=self._operation_timeout,
            call=lambda fn: self._mutate(fn, what=f"wait for {operation.name}", zone=zone),
            poll_interval=self._poll_interval,
        )

    def _client_options(self) -> dict[str, str]:
        return {"api_endpoint": client_api_endpoint(self.base_url)}

    def _instances(self) -> compute_v1.InstancesClient:
        if self._instances_client is None:
            from google.cloud import compute_v1

            with _errors.translated():
                self._instances_client = compute_v1.InstancesClient(
                    credentials=self._credentials,
                    transport="rest",
                    client_options=self._client_options(),
                )
        return self._instances_client

    def _operations(self) -> compute_v1.ZoneOperationsClient:
        if self._operations_client is None:
            from google.cloud import compute_v1

            with _errors.translated():
                self._operations_client = compute_v1.ZoneOperationsClient(
                    credentials=self._credentials,
                    transport="rest",
                    client_options=self._client_options(),
                )
        return self._operations_client


if TYPE_CHECKING:
    from labctl.providers.base import ComputeProvider

    _conforms: type[ComputeProvider] = GcpCompute


def _vm_not_found(name: str, zone: str) -> NotFound:
    return NotFound(f"VM {name} not found in zone {zone}", hint="list VMs with: labctl vm list")
