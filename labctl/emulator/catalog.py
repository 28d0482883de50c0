"""Emulator-only catalog: public images and the API JSON of zones, regions and types."""

from __future__ import annotations

import zlib
from typing import Any

from labctl.catalog import ACCELERATORS, IMAGES, MACHINE_TYPES, REGIONS, ZONES

# image project -> [(family, image name, diskSizeGb, description)]
# Catalog resources never change, so their ids and timestamps are derived from their names.
CATALOG_TIMESTAMP = "1969-12-31T16:00:00.000-08:00"


def stable_id(*parts: str) -> str:
    """A decimal uint64-style id that is the same on every run for the same name."""
    key = "/".join(parts).encode()
    return str((zlib.crc32(key) << 20) + zlib.adler32(key) % (1 << 20) + 1000)


def zone_resource(project: str, zone: str) -> dict[str, Any]:
    region = ZONES[zone]
    return {
        "kind": "compute#zone",
        "id": stable_id("zone", zone),
        "creationTimestamp": CATALOG_TIMESTAMP,
        "name": zone,
        "description": zone,
        "status": "UP",
        "region": f"@/projects/{project}/regions/{region}",
        "selfLink": f"@/projects/{project}/zones/{zone}",
        "availableCpuPlatforms": ["Intel Broadwell", "Intel Skylake", "AMD Milan"],
        "supportsPzs": False,
    }


def region_resource(project: str, region: str, quotas: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "compute#region",
        "id": stable_id("region", region),
        "creationTimestamp": CATALOG_TIMESTAMP,
        "name": region,
        "description": region,
        "status": "UP",
        "zones": [f"@/projects/{project}/zones/{z}" for z in REGIONS[region]],
        "quotas": quotas,
        "selfLink": f"@/projects/{project}/regions/{region}",
        "supportsPzs": False,
    }


def machine_type_resource(project: str, zone: str, name: str) -> dict[str, Any]:
    cpus, memory_mb, shared = MACHINE_TYPES[name]
    gb = memory_mb / 1024
    mem = f"{gb:g}" if gb >= 1 else f"{gb:.1f}"
    desc = f"{cpus} vCPU{'s' if cpus > 1 else ''}, {mem} GB RAM"
    if shared:
        desc = f"Efficient Instance, {cpus} vCPU (1/4 shared physical core) and {mem} GB RAM"
    res: dict[str, Any] = {
        "kind": "compute#machineType",
        "id": stable_id("machineType", name),
        "creationTimestamp": CATALOG_TIMESTAMP,
        "name": name,
        "description": desc,
        "guestCpus": cpus,
        "memoryMb": memory_mb,
        "imageSpaceGb": 0,
        "maximumPersistentDisks": 16 if shared else 128,
        "maximumPersistentDisksSizeGb": "3072" if shared else "263168",
        "zone": zone,  # Compute returns the bare zone name here, not a URL.
        "selfLink": f"@/projects/{project}/zones/{zone}/machineTypes/{name}",
        "isSharedCpu": shared,
        "architecture": "X86_64",
    }
    return res


def accelerator_type_resource(project: str, zone: str, name: str) -> dict[str, Any]:
    desc, max_cards, _zones, _metric = ACCELERATORS[name]
    return {
        "kind": "compute#acceleratorType",
        "id": stable_id("acceleratorType", name),
        "creationTimestamp": CATALOG_TIMESTAMP,
        "name": name,
        "description": desc,
        "zone": f"@/projects/{project}/zones/{zone}",
        "selfLink": f"@/projects/{project}/zones/{zone}/acceleratorTypes/{name}",
        "maximumCardsPerInstance": max_cards,
    }


def find_image(project: str, name: str) -> tuple[str, str, int, str] | None:
    for entry in IMAGES.get(project, []):
        if entry[1] == name:
            return entry
    return None


def find_image_family(project: str, family: str) -> tuple[str, str, int, str] | None:
    for entry in IMAGES.get(project, []):
        if entry[0] == family:
            return entry
    return None


def image_resource(project: str, entry: tuple[str, str, int, str]) -> dict[str, Any]:
    family, name, size_gb, desc = entry
    return {
        "kind": "compute#image",
        "id": stable_id("image", project, name),
        "creationTimestamp": "2025-10-14T11:02:33.104-07:00",
        "name": name,
        "description": desc,
        "family": family,
        "sourceType": "RAW",
        "status": "READY",
        "archiveSizeBytes": str(size_gb * 1024**3 // 5),
        "diskSizeGb": str(size_gb),
        "licenses": [f"@/projects/{project}/global/licenses/{family}"],
        "guestOsFeatures": [
            {"type": "VIRTIO_SCSI_MULTIQUEUE"},
            {"type": "UEFI_COMPATIBLE"},
            {"type": "GVNIC"},
        ],
        "labelFingerprint": "42WmSpB8rSM=",
        "storageLocations": ["us", "eu", "asia"],
        "architecture": "X86_64",
        "selfLink": f"@/projects/{project}/global/images/{name}",
    }
