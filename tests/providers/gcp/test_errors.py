"""Every way Compute reports an error becomes one labctl error with a one-line message."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from google.api_core import exceptions as core
from google.auth import exceptions as auth_exc
from google.cloud import compute_v1

from labctl.errors import (
    AlreadyExists,
    CredentialsError,
    InvalidInput,
    LabctlError,
    NotFound,
    PreconditionFailed,
    QuotaExceeded,
    RateLimited,
    Stockout,
    TransientError,
)
from labctl.providers.gcp import _errors
from labctl.providers.gcp._operations import raise_if_failed

URL = "https://compute.googleapis.com/compute/v1/projects/demo/zones/us-central1-c/instances"


def rest_body(status: int, message: str, reason: str, domain: str = "global") -> dict[str, Any]:
    """Compute's synchronous error body."""
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
        }
    }


def api_core_error(status: int, body: dict[str, Any]) -> core.GoogleAPICallError:
    """What google-cloud-compute raises for that body (same code path as its REST transport)."""
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.request = requests.Request("POST", URL).prepare()
    return core.from_http_response(response)


def assert_one_line(error: LabctlError) -> None:
    assert "\n" not in error.message
    assert "{" not in error.message  # no raw JSON
    assert error.message


STOCKOUT_OPERATION: dict[str, Any] = {
    "kind": "compute#operation",
    "name": "operation-1700000000000-abc",
    "zone": "https://www.googleapis.com/compute/v1/projects/demo/zones/us-central1-b",
    "operationType": "insert",
    "status": "DONE",
    "httpErrorStatusCode": 503,
    "httpErrorMessage": "SERVICE UNAVAILABLE",
    "error": {
        "errors": [
            {
                "code": "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                "message": "The zone 'projects/demo/zones/us-central1-b' does not have enough "
                "resources available to fulfill the request.  '(resource type:compute)'.",
                "errorDetails": [
                    {
                        "errorInfo": {
                            "reason": "resource_availability",
                            "domain": "compute.googleapis.com",
                            "metadatas": {
                                "attachment": "nvidia-tesla-t4:1",
                                "vmType": "n1-standard-4",
                                "zone": "us-central1-b",
                                "zonesAvailable": "us-central1-a,us-central1-f",
                            },
                        }
                    },
                    {
                        "localizedMessage": {
                            "locale": "en-US",
                            "message": "A n1-standard-4 VM instance with 1 nvidia-tesla-t4 "
                            "accelerator(s) is currently unavailable in the us-central1-b zone.",
                        }
                    },
                ],
            }
        ]
    },
}


# -- synchronous errors through api_core (mutations) ----------------------------------------


def test_regional_quota_from_api_core() -> None:
    message = "Quota 'NVIDIA_P100_GPUS' exceeded.  Limit: 0.0 in region us-central1."
    exc = api_core_error(403, rest_body(403, message, "quotaExceeded", "usageLimits"))
    error = _errors.from_exception(exc)
    assert isinstance(error, QuotaExceeded)
    assert (error.metric, error.region, error.limit) == ("NVIDIA_P100_GPUS", "us-central1", 0.0)
    assert not error.is_global
    assert "https://console.cloud.google.com/iam-admin/quotas" in (error.hint or "")
    assert "another region" in (error.hint or "")
    assert_one_line(error)


def test_global_gpu_quota_from_api_core() -> None:
    message = "Quota 'GPUS_ALL_REGIONS' exceeded.  Limit: 0.0 globally."
    exc = api_core_error(403, rest_body(403, message, "quotaExceeded", "usageLimits"))
    error = _errors.from_exception(exc)
    assert isinstance(error, QuotaExceeded)
    assert error.metric == "GPUS_ALL_REGIONS"
    assert error.is_global and error.limit == 0.0
    assert "start with GPUS_ALL_REGIONS = 0" in (error.hint or "")
    assert error.message == "quota GPUS_ALL_REGIONS exceeded globally (limit 0)"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (403, "rateLimitExceeded"),
        (429, "rateLimitExceeded"),
        (403, "userRateLimitExceeded"),
    ],
)
def test_rate_limits(status: int, reason: str) -> None:
    message = "Rate Limit Exceeded"
    error = _errors.from_exception(api_core_error(status, rest_body(status, message, reason)))
    assert isinstance(error, RateLimited)
    assert_one_line(error)


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        (404, "notFound", NotFound),
        (409, "alreadyExists", AlreadyExists),
        (412, "conditionNotMet", PreconditionFailed),
        (400, "invalid", InvalidInput),
        (500, "backendError", TransientError),
        (503, "backendError", TransientError),
        (401, "authError", CredentialsError),
        (403, "forbidden", CredentialsError),
    ],
)
def test_status_mapping(status: int, reason: str, expected: type[LabctlError]) -> None:
    message = "The resource 'projects/demo/zones/us-central1-c/instances/vm-1' was not found"
    error = _errors.from_exception(api_core_error(status, rest_body(status, message, reason)))
    assert type(error) is expected
    assert error is not None
    assert_one_line(error)
    assert "POST https://" not in error.message  # api_core's request prefix is dropped


def test_invalid_input_carries_computes_message() -> None:
    message = (
        "Invalid value for field 'resource.machineType': "
        "'zones/us-central1-c/machineTypes/n1-standard-7'. Machine type does not exist."
    )
    error = _errors.from_exception(api_core_error(400, rest_body(400, message, "invalid")))
    assert isinstance(error, InvalidInput)
    assert "Machine type does not exist" in error.message


def test_permission_denied_and_disabled_api_hints() -> None:
    denied = rest_body(403, "Required 'compute.instances.create' permission", "forbidden")
    error = _errors.from_exception(api_core_error(403, denied))
    assert isinstance(error, CredentialsError)
    assert "gcloud auth application-default login" in (error.hint or "")
    disabled = rest_body(403, "Compute Engine API has not been used", "accessNotConfigured")
    error = _errors.from_exception(api_core_error(403, disabled))
    assert isinstance(error, CredentialsError)
    assert "gcloud services enable compute.googleapis.com" in (error.hint or "")


def test_sync_insufficient_capacity_is_a_stockout() -> None:
    body = rest_body(503, "Insufficient capacity in zone us-east1-b", "insufficientCapacity")
    error = _errors.from_exception(api_core_error(503, body), zone="us-east1-b")
    assert isinstance(error, Stockout)
    assert error.zone == "us-east1-b"


# -- Operation errors (async) -----------------------------------------------------------------


def test_stockout_operation_json() -> None:
    error = _errors.from_operation(STOCKOUT_OPERATION)
    assert isinstance(error, Stockout)
    assert error.zone == "us-central1-b"
    assert error.zones_available == ("us-central1-a", "us-central1-f")
    assert error.hint == "try another zone: us-central1-a, us-central1-f"
    assert_one_line(error)


def test_stockout_operation_proto_with_metadata_key() -> None:
    """The same through compute_v1.Operation, with the `metadata` spelling of the map."""
    body = json.loads(json.dumps(STOCKOUT_OPERATION))
    info = body["error"]["errors"][0]["errorDetails"][0]["errorInfo"]
    info["metadata"] = info.pop("metadatas")
    operation = compute_v1.Operation.from_json(json.dumps(body), ignore_unknown_fields=True)
    from_json = _errors.from_operation(body)
    assert isinstance(from_json, Stockout)
    assert from_json.zones_available == ("us-central1-a", "us-central1-f")
    # compute_v1 knows only `metadatas` (it drops `metadata`), so the zone comes from the message.
    with pytest.raises(Stockout) as caught:
        raise_if_failed(operation, zone="us-central1-b")
    assert caught.value.zone == "us-central1-b"


def test_old_stockout_without_details_uses_the_zone_given() -> None:
    operation = {
        "status": "DONE",
        "httpErrorStatusCode": 503,
        "error": {
            "errors": [
                {
                    "code": "ZONE_RESOURCE_POOL_EXHAUSTED",
                    "message": "The zone 'projects/demo/zones/us-east1-c' does not have enough "
                    "resources available to fulfill the request. Try a different zone, "
                    "or try again later.",
                }
            ]
        },
    }
    error = _errors.from_operation(operation)
    assert isinstance(error, Stockout)
    assert error.zone == "us-east1-c"  # from the message
    assert error.zones_available == ()
    assert error.hint == "try another zone, or try again later"


def test_quota_operation_with_quota_info() -> None:
    operation = {
        "status": "DONE",
        "httpErrorStatusCode": 403,
        "error": {
            "errors": [
                {
                    "code": "QUOTA_EXCEEDED",
                    "message": "Quota 'NVIDIA_P100_GPUS' exceeded.  Limit: 1.0 in region "
                    "europe-west4.",
                    "errorDetails": [
                        {
                            "quotaInfo": {
                                "metricName": "compute.googleapis.com/nvidia_p100_gpus",
                                "limitName": "NVIDIA-P100-GPUS-per-project-region",
                                "dimensions": {"region": "europe-west4"},
                                "limit": 1,
                            }
                        }
                    ],
                }
            ]
        },
    }
    error = _errors.from_operation(operation)
    assert isinstance(error, QuotaExceeded)
    assert (error.metric, error.region, error.limit) == ("NVIDIA_P100_GPUS", "europe-west4", 1.0)


def test_quota_from_quota_info_only() -> None:
    operation = {
        "error": {
            "errors": [
                {
                    "code": "QUOTA_EXCEEDED",
                    "message": "Quota exceeded for quota metric 'GPUs (all regions)'.",
                    "errorDetails": [
                        {
                            "quotaInfo": {
                                "metricName": "compute.googleapis.com/gpus_all_regions",
                                "limitName": "GPUS-ALL-REGIONS-per-project",
                                "limit": 0,
                            }
                        }
                    ],
                }
            ]
        }
    }
    error = _errors.from_operation(operation)
    assert isinstance(error, QuotaExceeded)
    assert error.metric == "GPUS_ALL_REGIONS" and error.is_global and error.limit == 0.0


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("RESOURCE_OPERATION_RATE_EXCEEDED", RateLimited),
        ("CONCURRENT_OPERATIONS_QUOTA_EXCEEDED", RateLimited),
        ("UNSUPPORTED_OPERATION", Stockout),
        ("RESOURCE_NOT_FOUND", NotFound),
        ("RESOURCE_ALREADY_EXISTS", AlreadyExists),
        ("RESOURCE_NOT_READY", TransientError),
    ],
)
def test_operation_codes(code: str, expected: type[LabctlError]) -> None:
    operation = {"error": {"errors": [{"code": code, "message": f"{code} happened"}]}}
    assert type(_errors.from_operation(operation, zone="us-west1-b")) is expected


def test_successful_operation_is_no_error() -> None:
    assert _errors.from_operation({"status": "DONE", "name": "operation-1"}) is None
    raise_if_failed(compute_v1.Operation(name="op", status="DONE"), zone="us-central1-c")


def test_extended_operation_exception_with_proto_errors() -> None:
    """What ExtendedOperation.result() raises: an api_core error whose `errors` are protos."""
    operation = compute_v1.Operation.from_json(
        json.dumps(STOCKOUT_OPERATION), ignore_unknown_fields=True
    )
    exc = core.from_http_status(
        503, "SERVICE UNAVAILABLE", response=operation, errors=list(operation.error.errors)
    )
    error = _errors.from_exception(exc)
    assert isinstance(error, Stockout)
    assert error.zone == "us-central1-b"
    assert error.zones_available == ("us-central1-a", "us-central1-f")


# -- light REST path bodies ---------------------------------------------------------------------


def test_rest_body_quota_and_rate_limit() -> None:
    quota = rest_body(
        403, "Quota 'CPUS' exceeded.  Limit: 24.0 in region us-central1.", "quotaExceeded"
    )
    error = _errors.from_rest_response(403, json.dumps(quota).encode())
    assert isinstance(error, QuotaExceeded)
    assert (error.metric, error.region, error.limit) == ("CPUS", "us-central1", 24.0)
    rate = rest_body(403, "Rate Limit Exceeded", "rateLimitExceeded", "usageLimits")
    assert isinstance(_errors.from_rest_response(403, json.dumps(rate)), RateLimited)


def test_rest_body_with_google_rpc_error_info() -> None:
    body = {
        "error": {
            "code": 503,
            "message": "no capacity",
            "errors": [{"reason": "insufficientCapacity", "message": "no capacity"}],
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "insufficientCapacity",
                    "metadata": {"zone": "us-west1-a", "zonesAvailable": "us-west1-b"},
                }
            ],
        }
    }
    error = _errors.from_rest_response(503, body)
    assert isinstance(error, Stockout)
    assert (error.zone, error.zones_available) == ("us-west1-a", ("us-west1-b",))


def test_rest_body_that_is_not_json() -> None:
    error = _errors.from_rest_response(502, b"<html>Bad Gateway</html>")
    assert isinstance(error, TransientError)
    assert "HTTP 502" in error.message


def test_multiline_messages_become_one_line() -> None:
    body = rest_body(400, "Invalid value\n  for field 'name':\n 'Bad_Name'.", "invalid")
    error = _errors.from_rest_response(400, body)
    assert error.message == "Invalid value for field 'name': 'Bad_Name'."


# -- auth and transport ---------------------------------------------------------------------------


def test_auth_and_transport_exceptions() -> None:
    missing = _errors.from_exception(auth_exc.DefaultCredentialsError("not found"))
    assert isinstance(missing, CredentialsError)
    assert missing.message == "no Google Cloud credentials found"
    assert missing.hint == "run: gcloud auth application-default login"
    refresh = _errors.from_exception(auth_exc.RefreshError("invalid_grant: Token has been expired"))
    assert isinstance(refresh, CredentialsError)
    assert "gcloud auth application-default login" in (refresh.hint or "")
    dropped = _errors.from_exception(requests.ConnectionError("Connection refused"))
    assert isinstance(dropped, TransientError)
    assert _errors.from_exception(KeyError("x")) is None


def test_translated_context_manager() -> None:
    with pytest.raises(NotFound) as caught, _errors.translated(zone="us-central1-c"):
        raise api_core_error(404, rest_body(404, "The resource was not found", "notFound"))
    assert isinstance(caught.value.__cause__, core.NotFound)
    with pytest.raises(KeyError), _errors.translated():
        raise KeyError("a bug stays a bug")
