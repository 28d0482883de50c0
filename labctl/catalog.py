"""The read-only Compute catalog: regions, zones, machine types, GPUs and their quota metrics.

Shared by the emulator and the in-memory fake provider, so both offer the same locations and
shapes. Pure data and small helpers; nothing here imports the emulator.
"""

from __future__ import annotations

from collections.abc import Callable

# Region -> its zones. A realistic subset of Compute Engine's locations.
REGIONS: dict[str, list[str]] = {
    "us-central1": ["us-central1-a", "us-central1-b", "us-central1-c", "us-central1-f"],
    "us-east1": ["us-east1-b", "us-east1-c", "us-east1-d"],
    "us-west1": ["us-west1-a", "us-west1-b", "us-west1-c"],
    "europe-west1": ["europe-west1-b", "europe-west1-c", "europe-west1-d"],
    "europe-west4": ["europe-west4-a", "europe-west4-b", "europe-west4-c"],
    "asia-east1": ["asia-east1-a", "asia-east1-b", "asia-east1-c"],
    "australia-southeast1": [
        "australia-southeast1-a",
        "australia-southeast1-b",
        "australia-southeast1-c",
    ],
}

ZONES: dict[str, str] = {zone: region for region, zones in REGIONS.items() for zone in zones}

# name -> (guestCpus, memoryMb, isSharedCpu). Real N1 ratios: standard 3.75 GB/vCPU,
# highmem 6.5 GB/vCPU, highcpu 0.9 GB/vCPU.
MACHINE_TYPES: dict[str, tuple[int, int, bool]] = {}
for _cpus in (1, 2, 4, 8, 16, 32, 64, 96):
    MACHINE_TYPES[f"n1-standard-{_cpus}"] = (_cpus, 3840 * _cpus, False)
for _cpus in (2, 4, 8, 16, 32, 64, 96):
    MACHINE_TYPES[f"n1-highmem-{_cpus}"] = (_cpus, 6656 * _cpus, False)
    MACHINE_TYPES[f"n1-highcpu-{_cpus}"] = (_cpus, int(_cpus * 921.6), False)
for _cpus in (2, 4, 8, 16, 32):
    MACHINE_TYPES[f"e2-standard-{_cpus}"] = (_cpus, 4096 * _cpus, False)
MACHINE_TYPES["e2-micro"] = (2, 1024, True)
MACHINE_TYPES["e2-small"] = (2, 2048, True)
MACHINE_TYPES["e2-medium"] = (2, 4096, True)

# Only N1 machine types accept attached GPUs (P100, T4, V100).
GPU_MACHINE_FAMILIES = ("n1-",)

P100_ZONES = [
    "asia-east1-a",
    "asia-east1-c",
    "australia-southeast1-b",
    "europe-west1-b",
    "europe-west1-d",
    "europe-west4-a",
    "us-central1-c",
    "us-central1-f",
    "us-east1-b",
    "us-east1-c",
    "us-west1-a",
    "us-west1-b",
]
T4_ZONES = [
    "asia-east1-a",
    "asia-east1-c",
    "australia-southeast1-a",
    "australia-southeast1-c",
    "europe-west1-b",
    "europe-west1-c",
    "europe-west1-d",
    "europe-west4-a",
    "europe-west4-b",
    "europe-west4-c",
    "us-central1-a",
    "us-central1-b",
    "us-central1-c",
    "us-central1-f",
    "us-east1-c",
    "us-east1-d",
    "us-west1-a",
    "us-west1-b",
]
V100_ZONES = [
    "asia-east1-c",
    "europe-west4-a",
    "europe-west4-b",
    "europe-west4-c",
    "us-central1-a",
    "us-central1-b",
    "us-central1-c",
    "us-central1-f",
    "us-west1-a",
    "us-west1-b",
]

# accelerator -> (description, maximumCardsPerInstance, zones, quota metric suffix)
ACCELERATORS: dict[str, tuple[str, int, list[str], str]] = {
    "nvidia-tesla-p100": ("NVIDIA Tesla P100", 4, P100_ZONES, "P100"),
    "nvidia-tesla-t4": ("NVIDIA T4", 4, T4_ZONES, "T4"),
    "nvidia-tesla-v100": ("NVIDIA V100", 8, V100_ZONES, "V100"),
}


def region_of(zone: str) -> str | None:
    return ZONES.get(zone)


def accelerator_zones(accelerator: str) -> list[str]:
    entry = ACCELERATORS.get(accelerator)
    return list(entry[2]) if entry else []


def accelerators_in_zone(zone: str) -> list[str]:
    return [name for name, entry in ACCELERATORS.items() if zone in entry[2]]


def gpu_quota_metric(accelerator: str, preemptible: bool = False) -> str:
    """``NVIDIA_P100_GPUS`` or ``PREEMPTIBLE_NVIDIA_P100_GPUS``."""
    suffix = ACCELERATORS[accelerator][3] if accelerator in ACCELERATORS else "UNKNOWN"
    return f"{'PREEMPTIBLE_' if preemptible else ''}NVIDIA_{suffix}_GPUS"


def spot_quota_metric(standard: str, spot: bool, limit: Callable[[str], float]) -> str:
    """The metric a VM counts against where `standard` ("CPUS", "NVIDIA_P100_GPUS") is the
    usual one: a Spot (or preemptible) VM uses PREEMPTIBLE_<standard>, unless its `limit` is 0
    (then the standard one) (https://cloud.google.com/compute/docs/instances/spot#quotas)."""
    preemptible = "PREEMPTIBLE_" + standard
    return preemptible if spot and limit(preemptible) > 0 else standard


# Public image project -> (family, newest image name, size GB, description).
IMAGES: dict[str, list[tuple[str, str, int, str]]] = {
    "deeplearning-platform-release": [
        (
            "common-cu129-ubuntu-2204-nvidia-580",
            "common-cu129-v20251020-ubuntu-2204-py310",
            50,
            "Google, Deep Learning VM, CUDA 12.9, NVIDIA driver 580, Ubuntu 22.04",
        ),
        (
            "common-cu129-ubuntu-2404-nvidia-580",
            "common-cu129-v20251020-ubuntu-2404-py312",
            50,
            "Google, Deep Learning VM, CUDA 12.9, NVIDIA driver 580, Ubuntu 24.04",
        ),
        (
            "common-cu128-ubuntu-2204-nvidia-570",
            "common-cu128-v20250930-ubuntu-2204-py310",
            50,
            "Google, Deep Learning VM, CUDA 12.8, NVIDIA driver 570, Ubuntu 22.04",
        ),
    ],
    "debian-cloud": [
        ("debian-12", "debian-12-bookworm-v20251014", 10, "Debian, Debian GNU/Linux, 12"),
    ],
    "ubuntu-os-cloud": [
        (
            "ubuntu-2204-lts",
            "ubuntu-2204-jammy-v20251015",
            10,
            "Canonical, Ubuntu, 22.04 LTS, amd64 jammy image",
        ),
    ],
}


def image_family_exists(project: str, family: str) -> bool:
    return any(entry[0] == family for entry in IMAGES.get(project, []))
