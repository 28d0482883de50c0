"""Cloud Billing (v1) ``projects.getBillingInfo`` and the "API disabled" error of any API.

Served on the Compute emulator's port at ``/v1/projects/{project}/billingInfo``; gcloud finds it
through ``CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDBILLING`` (``Emulator.env()`` sets it).
The ``billing`` fault makes billing disabled or the account absent; the ``disabled_apis`` fault
makes Compute or Cloud Billing answer as an API that was never enabled in the project.
"""

from __future__ import annotations

import re
from typing import Any

from labctl.emulator.errors import ApiError
from labctl.emulator.faults import Faults

PATH_RE = re.compile(r"^/v1/projects/([^/]+)/billingInfo$")
# api -> (service name, title), as Google's front end names them in the error.
SERVICES = {
    "compute": ("compute.googleapis.com", "Compute Engine API"),
    "cloudbilling": ("cloudbilling.googleapis.com", "Cloud Billing API"),
    "storage": ("storage.googleapis.com", "Cloud Storage JSON API"),
}


def api_disabled_error(api: str, project_number: str) -> ApiError:
    """403 accessNotConfigured / SERVICE_DISABLED, as for an API not enabled in the project.

    gcloud recognises the message (``api_lib/util/api_enablement.py`` matches "Enable it by
    visiting ... then retry") and offers to enable the API when it may prompt.
    """
    service, title = SERVICES[api]
    url = f"https://console.developers.google.com/apis/api/{service}/overview?project={project_number}"
    message = (
        f"{title} has not been used in project {project_number} before or it is disabled. "
        f"Enable it by visiting {url} then retry. If you enabled this API recently, wait a few "
        "minutes for the action to propagate to our systems and retry."
    )
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "SERVICE_DISABLED",
            "domain": "googleapis.com",
            "metadata": {
                "service": service,
                "consumer": f"projects/{project_number}",
                "activationUrl": url,
                "serviceTitle": title,
                "containerInfo": project_number,
            },
        },
        {
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": "en-US",
            "message": message,
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "Google developers console API activation", "url": url}],
        },
    ]
    return ApiError(
        403,
        message,
        "accessNotConfigured",
        "usageLimits",
        status="PERMISSION_DENIED",
        details=details,
        extended_help="https://console.developers.google.com",
    )


def billing_info(faults: Faults, project: str, project_number: str) -> dict[str, Any]:
    """``ProjectBillingInfo`` for ``project`` (fields as in cloudbilling v1)."""
    if faults.api_disabled("cloudbilling"):
        raise api_disabled_error("cloudbilling", project_number)
    enabled, account = faults.billing()
    return {
        "name": f"projects/{project}/billingInfo",
        "projectId": project,
        "billingAccountName": account or "",
        "billingEnabled": enabled,
    }
