"""The operation error of a create that hits a stockout, shaped like Compute's."""

from __future__ import annotations

from typing import Any

from labctl import catalog
from labctl.emulator.api import last
from labctl.emulator.faults import Faults


def stockout_error(
    faults: Faults, project: str, zone: str, machine: str, accelerators: list[dict[str, Any]]
) -> dict[str, Any]:
    """The operation fields of a failed create, as Compute reports a zone without capacity."""
    acc = last(accelerators[0]["acceleratorType"]) if accelerators else None
    cards = int(accelerators[0]["acceleratorCount"]) if accelerators else 0
    region = catalog.ZONES[zone]
    candidates = catalog.accelerator_zones(acc) if acc else catalog.REGIONS[region]
    available = [
        z
        for z in candidates
        if z != zone
        and catalog.ZONES.get(z) == region
        and not faults.stocked_out(z, acc, machine, consume=False)
    ]
    what = f"A {machine} VM instance" + (f" with {cards} {acc} accelerator(s)" if acc else "")
    text = f"{what} is currently unavailable in the {zone} zone. "
    if available:
        text += (
            f"Consider trying your request in the {', '.join(available)} zone(s), which currently "
            "has/have capacity to accommodate your request. "
        )
    text += (
        "Alternatively, you can try your request again with a different VM hardware "
        "configuration or at a later time. For more information, see the troubleshooting "
        "documentation."
    )
    meta = {"zone": zone, "vmType": machine}
    if acc:
        meta["attachment"] = f"{acc}:{cards}"
    if available:
        meta["zonesAvailable"] = ",".join(available)
    return {
        "error": {
            "errors": [
                {
                    "code": "ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS",
                    "message": f"The zone 'projects/{project}/zones/{zone}' does not have enough "
                    "resources available to fulfill the request.  '(resource type:compute)'.",
                    "errorDetails": [
                        {
                            "errorInfo": {
                                "reason": "resource_availability",
                                "domain": "compute.googleapis.com",
                                "metadatas": meta,
                            }
                        },
                        {
                            "help": {
                                "links": [
                                    {
                                        "description": "Troubleshooting documentation",
                                        "url": "https://cloud.google.com/compute/docs/resource-error",
                                    }
                                ]
                            }
                        },
                        {"localizedMessage": {"locale": "en-US", "message": text}},
                    ],
                }
            ]
        },
        "httpErrorStatusCode": 503,
        "httpErrorMessage": "SERVICE UNAVAILABLE",
    }
