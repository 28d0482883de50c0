"""The light read path without a server: paging, bounds, retries, JSON -> labctl records."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests
from google.auth.credentials import AnonymousCredentials

from labctl.errors import EndpointUnreachable, InvalidInput, RateLimited, TransientError
from labctl.models import Gpu, Provisioning, VmState
from labctl.providers.gcp._parse import (
    filter_expression,
    parse_disk,
    parse_guest_attributes,
    parse_timestamp,
    parse_vm,
)
from labctl.providers.gcp._rest import RestCompute
from labctl.retry import RetryPolicy

BASE = "http://127.0.0.1:1/compute/v1/"


class FakeSession(requests.Session):
    """Answers requests from a queue of (status, body) or exceptions, and records them."""

    def __init__(self, answers: list[Any]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def request(  # type: ignore[override]
        self, method: str, url: str | bytes, **kwargs: Any
    ) -> requests.Response:
        self.calls.append((str(url), dict(kwargs.get("params") or {})))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        return response


def rest(
    answers: list[Any], base_url: str = BASE, **kwargs: Any
) -> tuple[RestCompute, FakeSession]:
    session = FakeSession(answers)
    policy = RetryPolicy(attempts=3, initial=0.0, sleep=lambda s: None)
    client = RestCompute(
        "labctl-demo",
        credentials=AnonymousCredentials(),
        base_url=base_url,
        retry=policy,
        session=session,
        **kwargs,
    )
    return client, session


def page(items: dict[str, Any], token: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"items": items, **extra}
    if token:
        body["nextPageToken"] = token
    return body


def test_aggregated_follows_page_tokens() -> None:
    first = page({"zones/a-1": {"instances": [{"name": "vm1"}]}}, token="t2")
    second = page(
        {
            "zones/b-1": {"instances": [{"name": "vm2"}]},
            "zones/c-1": {"warning": {"code": "NO_RESULTS_ON_PAGE"}},
        }
    )
    client, session = rest([(200, first), (200, second)])
    found = list(client.aggregated("instances", filter='(name = "x")'))
    assert [(scope, item["name"]) for scope, item in found] == [
        ("zones/a-1", "vm1"),
        ("zones/b-1", "vm2"),
    ]
    (url1, params1), (_, params2) = session.calls
    assert url1 == BASE + "projects/labctl-demo/aggregated/instances"
    assert params1 == {
        "maxResults": 500,
        "returnPartialSuccess": "true",
        "filter": '(name = "x")',
    }
    assert params2["pageToken"] == "t2"


def test_paging_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    endless = [(200, page({}, token=f"t{i}")) for i in range(5)]
    client, session = rest(endless, max_pages=3)
    with caplog.at_level(logging.WARNING):
        assert list(client.aggregated("instances")) == []
    assert len(session.calls) == 3
    assert "incomplete" in caplog.text


def test_unreachable_scopes_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    body = page({"zones/a-1": {"disks": [{"name": "d"}]}}, unreachables=["zones/x-1"])
    client, _ = rest([(200, body)])
    with caplog.at_level(logging.WARNING):
        assert len(list(client.aggregated("disks"))) == 1
    assert "zones/x-1" in caplog.text


def test_rate_limit_and_5xx_are_retried_then_succeed() -> None:
    reasons = [{"reason": "rateLimitExceeded", "message": "Rate Limit Exceeded"}]
    limited = {"error": {"code": 403, "message": "Rate Limit Exceeded", "errors": reasons}}
    unavailable = {"error": {"code": 503, "message": "The service is currently unavailable."}}
    client, session = rest([(403, limited), (503, unavailable), (200, {"name": "z"})])
    assert client.get("zones/z") == {"name": "z"}
    assert len(session.calls) == 3


def test_retries_are_bounded() -> None:
    limited = {"error": {"code": 429, "message": "Too many requests"}}
    client, session = rest([(429, limited)] * 5)
    with pytest.raises(RateLimited):
        client.get("zones")
    assert len(session.calls) == 3


def test_connection_errors_become_transient_and_are_retried() -> None:
    refused = requests.ConnectionError("Connection refused")
    client, session = rest([refused] * 3, base_url="https://compute.googleapis.com/compute/v1/")
    with pytest.raises(TransientError, match="could not reach Compute Engine"):
        client.get("zones")
    assert len(session.calls) == 3


def test_a_local_endpoint_that_does_not_answer_fails_at_once() -> None:
    refused = requests.ConnectionError("Connection refused")
    client, session = rest([refused] * 3)
    with pytest.raises(EndpointUnreachable) as exc:
        client.get("zones")
    assert exc.value.url == BASE
    assert len(session.calls) == 1  # a refused loopback port is not retried for seconds


@pytest.mark.parametrize(
    "path", ["../x", "zones/us-central1-c/instances/a?x=1", "zones/a b", "zones/#frag", "zones//x"]
)
def test_no_value_can_redirect_a_request(path: str) -> None:
    client, session = rest([])
    with pytest.raises(InvalidInput):
        client.get(path)
    assert session.calls == []


def test_mutations_send_json_and_keep_their_request_id_across_retries() -> None:
    unavailable = {"error": {"code": 503, "message": "backend error"}}
    operation = {"name": "operation-1", "zone": "zones/us-central1-c", "status": "RUNNING"}
    client, session = rest([(503, unavailable), (200, operation)])
    answer = client.post("zones/us-central1-c/instances", {"name": "a"}, {"requestId": "r-1"})
    assert answer["name"] == "operation-1"
    assert [params["requestId"] for _, params in session.calls] == ["r-1", "r-1"]


INSTANCE: dict[str, Any] = {
    "kind": "compute#instance",
    "id": "4841462436748828168",
    "name": "lab-ana",
    "zone": "https://www.googleapis.com/compute/v1/projects/demo/zones/us-central1-c",
    "machineType": "https://www.googleapis.com/compute/v1/projects/demo/zones/us-central1-c/"
    "machineTypes/n1-standard-8",
    "status": "TERMINATED",
    "creationTimestamp": "2025-01-15T08:30:00.123-08:00",
    "scheduling": {"preemptible": True, "automaticRestart": False},
    "guestAccelerators": [
        {
            "acceleratorType": "https://www.googleapis.com/compute/v1/projects/demo/zones/"
            "us-central1-c/acceleratorTypes/nvidia-tesla-p100",
            "acceleratorCount": 2,
        }
    ],
    "networkInterfaces": [
        {
            "networkIP": "10.128.0.5",
            "accessConfigs": [{"type": "ONE_TO_ONE_NAT", "natIP": "34.1.2.3"}],
        }
    ],
    "labels": {"labctl-course": "cc101"},
    "metadata": {"fingerprint": "abc=", "items": [{"key": "startup-script", "value": "echo"}]},
}


def test_parse_vm() -> None:
    vm = parse_vm(INSTANCE)
    assert vm.name == "lab-ana" and vm.zone == "us-central1-c" and vm.region == "us-central1"
    assert vm.id == "4841462436748828168"
    assert (vm.state, vm.status) == (VmState.STOPPED, "TERMINATED")
    assert vm.machine_type == "n1-standard-8"
    assert vm.provisioning is Provisioning.PREEMPTIBLE
    assert vm.gpu == Gpu("nvidia-tesla-p100", 2)
    assert (vm.external_ip, vm.internal_ip) == ("34.1.2.3", "10.128.0.5")
    assert vm.created == datetime(2025, 1, 15, 16, 30, 0, 123000, tzinfo=UTC)
    assert vm.labels == {"labctl-course": "cc101"}
    assert vm.metadata == {"startup-script": "echo"}


def test_parse_minimal_vm() -> None:
    vm = parse_vm({"name": "x", "zone": "zones/us-east1-b", "status": "SOMETHING_NEW"})
    assert vm.state is VmState.UNKNOWN
    assert vm.provisioning is Provisioning.STANDARD
    assert vm.gpu is None and vm.external_ip is None and vm.internal_ip is None
    assert vm.created is None and vm.labels == {} and vm.metadata == {}
    spot = parse_vm({"name": "s", "scheduling": {"provisioningModel": "SPOT"}, "status": "STAGING"})
    assert spot.provisioning is Provisioning.SPOT and spot.state is VmState.PENDING


def test_parse_disk_and_guest_attributes() -> None:
    disk = parse_disk(
        {
            "name": "lab-ana",
            "zone": "projects/demo/zones/us-central1-c",
            "sizeGb": "100",
            "users": ["https://x/projects/demo/zones/us-central1-c/instances/lab-ana"],
        }
    )
    assert (disk.size_gb, disk.users) == (100, ("lab-ana",))
    attributes = {
        "queryPath": "hostkeys/",
        "queryValue": {
            "items": [
                {"namespace": "hostkeys", "key": "ssh-ed25519", "value": "AAAA"},
                {"namespace": "hostkeys", "key": "ssh-rsa", "value": "BBBB"},
            ]
        },
    }
    assert parse_guest_attributes(attributes) == {
        "hostkeys/ssh-ed25519": "AAAA",
        "hostkeys/ssh-rsa": "BBBB",
    }
    assert parse_guest_attributes({"variableKey": "ns/k", "variableValue": "v"}) == {"ns/k": "v"}


def test_timestamps_and_filter() -> None:
    assert parse_timestamp("2025-01-15T08:30:00Z") == datetime(2025, 1, 15, 8, 30, tzinfo=UTC)
    plus_two = timezone(timedelta(hours=2))
    assert parse_timestamp("2025-01-15T08:30:00+02:00") == datetime(
        2025, 1, 15, 8, 30, tzinfo=plus_two
    )
    assert parse_timestamp("yesterday") is None
    assert filter_expression("lab-ana") == '(name = "lab-ana")'
    assert filter_expression(None) is None
