"""Every way Compute reports an error becomes one labctl error with a one-line message."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from google.auth import exceptions as auth_exc

from labctl.errors import (
    AlreadyExists,
    ApiDisabled,
    CredentialsError,
    InvalidInput,
    LabctlError,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    QuotaExceeded,
    RateLimited,
    Stockout,
    TransientError,
)
from labctl.providers.gcp import _errors


def rest_body(status: int, message: str, reason: str, domain: str = "global") -> dict[str, Any]:
    """Compute's synchronous error body."""
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
        }
    }


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


# -- synchronous errors: REST error bodies ---------------------------------------------------


def test_regional_quota() -> None:
    message = "Quota 'NVIDIA_P100_GPUS' exceeded.  Limit: 0.0 in region us-central1."
    error = _errors.from_rest_response(403, rest_body(403, message, "quotaExceeded", "usageLimits"))
    assert isinstance(error, QuotaExceeded)
    assert (error.metric, error.region, error.limit) == ("NVIDIA_P100_GPUS", "us-central1", 0.0)
    assert not error.is_global
    assert_one_line(error)


def test_global_gpu_quota() -> None:
    message = "Quota 'GPUS_ALL_REGIONS' exceeded.  Limit: 0.0 globally."
    error = _errors.from_rest_response(403, rest_body(403, message, "quotaExceeded", "usageLimits"))
    assert isinstance(error, QuotaExceeded)
    assert error.metric == "GPUS_ALL_REGIONS"
    assert error.is_global and error.limit == 0.0
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
    error = _errors.from_rest_response(status, rest_body(status, message, reason))
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
        (403, "forbidden", PermissionDenied),
    ],
)
def test_status_mapping(status: int, reason: str, expected: type[LabctlError]) -> None:
    message = "The resource 'projects/demo/zones/us-central1-c/instances/vm-1' was not found"
    error = _errors.from_rest_response(status, rest_body(status, message, reason))
    assert type(error) is expected
    assert error is not None
    assert_one_line(error)
    assert error.hint is None  # advice is the CLI's (cli/_errors.py), not the provider's


def test_invalid_input_carries_computes_message() -> None:
    message = (
        "Invalid value for field 'resource.machineType': "
        "'zones/us-central1-c/machineTypes/n1-standard-7'. Machine type does not exist."
    )
    error = _errors.from_rest_response(400, rest_body(400, message, "invalid"))
    assert isinstance(error, InvalidInput)
    assert "Machine type does not exist" in error.message


def test_permission_denied_and_disabled_api() -> None:
    denied = rest_body(403, "Required 'compute.instances.create' permission", "forbidden")
    error = _errors.from_rest_response(403, denied)
    assert isinstance(error, PermissionDenied)
    disabled = rest_body(403, "Compute Engine API has not been used", "accessNotConfigured")
    error = _errors.from_rest_response(403, disabled)
    assert isinstance(error, ApiDisabled) and error.api == "compute.googleapis.com"


def test_sync_insufficient_capacity_is_a_stockout() -> None:
    body = rest_body(503, "Insufficient capacity in zone us-east1-b", "insufficientCapacity")
    error = _errors.from_rest_response(503, body, zone="us-east1-b")
    assert isinstance(error, Stockout)
    assert error.zone == "us-east1-b"


# -- Operation errors (async) -----------------------------------------------------------------


def test_stockout_operation_json() -> None:
    error = _errors.from_operation(STOCKOUT_OPERATION)
    assert isinstance(error, Stockout)
    assert error.zone == "us-central1-b"
    assert error.zones_available == ("us-central1-a", "us-central1-f")
    assert_one_line(error)


def test_stockout_operation_with_the_metadata_spelling() -> None:
    """ErrorInfo's map is `metadatas` in Compute's operations, `metadata` in google.rpc."""
    body = json.loads(json.dumps(STOCKOUT_OPERATION))
    info = body["error"]["errors"][0]["errorDetails"][0]["errorInfo"]
    info["metadata"] = info.pop("metadatas")
    error = _errors.from_operation(body)
    assert isinstance(error, Stockout)
    assert error.zones_available == ("us-central1-a", "us-central1-f")


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
    refresh = _errors.from_exception(auth_exc.RefreshError("invalid_grant: Token has been expired"))
    assert isinstance(refresh, CredentialsError)
    dropped = _errors.from_exception(requests.ConnectionError("Connection refused"))
    assert isinstance(dropped, TransientError)
    assert _errors.from_exception(KeyError("x")) is None
