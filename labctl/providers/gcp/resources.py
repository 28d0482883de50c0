"""Compute resources around the VMs: disks, snapshots, addresses, firewalls, labels, VM IAM,
instance schedules and quotas (REST, https://cloud.google.com/compute/docs/reference/rest/v1)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from labctl.errors import NotFound, PreconditionFailed
from labctl.models import Address, Firewall, IamPolicy, Quota, Schedule, Snapshot
from labctl.providers.base import IamUpdate, LabelsUpdate, Operation
from labctl.providers.gcp._operations import operation_of
from labctl.providers.gcp._parse import (
    parse_address,
    parse_firewall,
    parse_policy,
    parse_quotas,
    parse_schedule,
    parse_snapshot,
)
from labctl.providers.gcp._rest import RestCompute

log = logging.getLogger(__name__)

WRITE_ATTEMPTS = 5  # read-modify-write rounds when a fingerprint or etag keeps changing
IAM_POLICY_VERSION = 3


class ResourcesMixin:
    """Part of GcpCompute; needs its `_rest` and `project`."""

    project: str
    _rest: RestCompute

    def wait(self, operation: Operation, *, timeout: float | None = None) -> None: ...

    # -- reads: one aggregated or global list each ------------------------------------------

    def list_addresses(self) -> list[Address]:
        found = [parse_address(item) for _, item in self._rest.aggregated("addresses")]
        return sorted(found, key=lambda a: (a.region, a.name))

    def list_snapshots(self) -> list[Snapshot]:
        found = [parse_snapshot(i) for p in self._rest.pages("global/snapshots") for i in _items(p)]
        return sorted(found, key=lambda s: s.name)

    def list_firewalls(self) -> list[Firewall]:
        found = [parse_firewall(i) for p in self._rest.pages("global/firewalls") for i in _items(p)]
        return sorted(found, key=lambda f: f.name)

    def list_schedules(self) -> list[Schedule]:
        found = [parse_schedule(item) for _, item in self._rest.aggregated("resourcePolicies")]
        return sorted((s for s in found if s is not None), key=lambda s: (s.region, s.name))

    def region_quotas(self, region: str) -> list[Quota]:
        return parse_quotas(self._rest.get(f"regions/{region}"), region)

    def project_quotas(self) -> list[Quota]:
        return parse_quotas(self._rest.get(""), None)

    # -- cleanup's actions ------------------------------------------------------------------------

    def create_snapshot(
        self, disk: str, zone: str, *, name: str, labels: Mapping[str, str]
    ) -> Operation:
        body = {"name": name, "labels": dict(labels)}
        path = f"zones/{zone}/disks/{disk}/createSnapshot"
        return self._send("POST", path, body, kind="disk", name=disk, zone=zone)

    def delete_disk(self, name: str, zone: str) -> Operation:
        return self._send("DELETE", f"zones/{zone}/disks/{name}", kind="disk", name=name, zone=zone)

    def delete_snapshot(self, name: str) -> Operation:
        return self._send("DELETE", f"global/snapshots/{name}", kind="snapshot", name=name)

    def release_address(self, name: str, region: str) -> Operation:
        path = f"regions/{region}/addresses/{name}"
        return self._send("DELETE", path, kind="address", name=name, region=region)

    def delete_firewall(self, name: str) -> Operation:
        return self._send("DELETE", f"global/firewalls/{name}", kind="firewall", name=name)

    def start_label_update(self, name: str, zone: str, update: LabelsUpdate) -> Operation | None:
        path = f"zones/{zone}/instances/{name}"
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            body = self._get(path, kind="vm", name=name, zone=zone)
            current = dict(body.get("labels") or {})
            wanted = update(dict(current))
            if wanted == current:
                return None
            request = {"labels": wanted, "labelFingerprint": body.get("labelFingerprint", "")}
            try:
                return self._send("POST", f"{path}/setLabels", request, name=name, zone=zone)
            except PreconditionFailed:
                log.info("labels of %s changed meanwhile (attempt %d)", name, attempt)
        raise PreconditionFailed(f"labels of VM {name} kept changing", kind="vm", name=name)

    # -- a class's access and schedules -----------------------------------------------------------

    def get_vm_iam(self, name: str, zone: str) -> IamPolicy:
        params = {"optionsRequestedPolicyVersion": IAM_POLICY_VERSION}
        path = f"zones/{zone}/instances/{name}/getIamPolicy"
        return parse_policy(self._get(path, params, kind="vm", name=name, zone=zone))

    def update_vm_iam(self, name: str, zone: str, update: IamUpdate) -> IamPolicy:
        path = f"zones/{zone}/instances/{name}"
        params = {"optionsRequestedPolicyVersion": IAM_POLICY_VERSION}
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            body = self._get(f"{path}/getIamPolicy", params, kind="vm", name=name, zone=zone)
            current = parse_policy(body)
            wanted = update({role: set(m) for role, m in current.bindings.items()})
            if {r: set(m) for r, m in current.bindings.items() if m} == {
                r: m for r, m in wanted.items() if m
            }:
                return current
            policy = {
                "bindings": _bindings(body, wanted),
                "etag": current.etag,
                "version": IAM_POLICY_VERSION,
            }
            try:
                written = self._rest.post(f"{path}/setIamPolicy", {"policy": policy}, zone=zone)
                return parse_policy(written)
            except PreconditionFailed:
                log.info("IAM policy of %s changed meanwhile (attempt %d)", name, attempt)
            except NotFound as exc:
                raise NotFound(str(exc), kind="vm", name=name, zone=zone) from exc
        raise PreconditionFailed(f"IAM policy of VM {name} kept changing", kind="vm", name=name)

    def create_schedule(self, schedule: Schedule) -> Operation:
        policy: dict[str, Any] = {"timeZone": schedule.timezone}
        if schedule.start:
            policy["vmStartSchedule"] = {"schedule": schedule.start}
        if schedule.stop:
            policy["vmStopSchedule"] = {"schedule": schedule.stop}
        body = {
            "name": schedule.name,
            "description": schedule.description,
            "instanceSchedulePolicy": policy,
        }
        path = f"regions/{schedule.region}/resourcePolicies"
        return self._send("POST", path, body, kind="schedule", name=schedule.name)

    def delete_schedule(self, name: str, region: str) -> Operation:
        path = f"regions/{region}/resourcePolicies/{name}"
        return self._send("DELETE", path, kind="schedule", name=name, region=region)

    def attach_schedule(self, vm: str, zone: str, schedule: str) -> Operation:
        region = zone.rsplit("-", 1)[0]
        url = f"projects/{self.project}/regions/{region}/resourcePolicies/{schedule}"
        path = f"zones/{zone}/instances/{vm}/addResourcePolicies"
        return self._send("POST", path, {"resourcePolicies": [url]}, kind="vm", name=vm, zone=zone)

    def detach_schedule(self, vm: str, zone: str, schedule: str) -> Operation:
        region = zone.rsplit("-", 1)[0]
        url = f"projects/{self.project}/regions/{region}/resourcePolicies/{schedule}"
        path = f"zones/{zone}/instances/{vm}/removeResourcePolicies"
        return self._send("POST", path, {"resourcePolicies": [url]}, kind="vm", name=vm, zone=zone)

    # -- helpers ------------------------------------------------------------------------------

    def _get(
        self, path: str, params: Mapping[str, Any] | None = None, **facts: Any
    ) -> dict[str, Any]:
        try:
            return self._rest.get(path, params, zone=facts.get("zone"))
        except NotFound as exc:
            raise NotFound(exc.message, **facts) from exc

    def _send(
        self, method: str, path: str, body: dict[str, Any] | None = None, **facts: Any
    ) -> Operation:
        """One mutation with its own requestId (kept across retries); its operation."""
        params = {"requestId": str(uuid.uuid4())}
        try:
            answer = self._rest.request(
                method, path, params=params, body=body, zone=facts.get("zone")
            )
        except NotFound as exc:
            raise NotFound(exc.message, **facts) from exc
        return operation_of(answer)


def _items(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(page.get("items") or ())


def _bindings(original: Mapping[str, Any], wanted: Mapping[str, set[str]]) -> list[Any]:
    """The policy's bindings with the unconditional ones replaced by `wanted`."""
    kept = [b for b in original.get("bindings") or () if b.get("condition")]
    return kept + [
        {"role": role, "members": sorted(members)}
        for role, members in sorted(wanted.items())
        if members
    ]
