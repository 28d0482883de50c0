"""A small catalog of Compute Engine facts used by the fake provider and as fallbacks offline."""

from __future__ import annotations

# Zones offering nvidia-tesla-p100 (GCP_FACTS 2.2). The real provider asks the API instead.
P100_ZONES = (
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
)

ZONES = (
    *(f"us-central1-{z}" for z in "abcf"),
    *(f"us-east1-{z}" for z in "bcd"),
    *(f"us-west1-{z}" for z in "abc"),
    *(f"europe-west1-{z}" for z in "bcd"),
    *(f"europe-west4-{z}" for z in "abc"),
    *(f"asia-east1-{z}" for z in "abc"),
    *(f"australia-southeast1-{z}" for z in "abc"),
)

# name -> (vCPUs, memory MB); n1-standard-N has 3.75 GB per vCPU.
MACHINE_TYPES: dict[str, tuple[int, int]] = {
    **{f"n1-standard-{n}": (n, n * 3840) for n in (1, 2, 4, 8, 16, 32, 64, 96)},
    **{f"n1-highmem-{n}": (n, n * 6656) for n in (2, 4, 8, 16, 32, 64, 96)},
    "e2-micro": (2, 1024),
    "e2-medium": (2, 4096),
    **{f"e2-standard-{n}": (n, n * 4096) for n in (2, 4, 8, 16, 32)},
}

# accelerator -> (zones, maximum cards per VM)
ACCELERATORS: dict[str, tuple[tuple[str, ...], int]] = {
    "nvidia-tesla-p100": (P100_ZONES, 4),
    "nvidia-tesla-t4": (
        tuple(z for z in ZONES if z.endswith(("-a", "-b", "-c")) and "australia" not in z),
        4,
    ),
}


def gpu_quota_metric(gpu_type: str) -> str:
    """'nvidia-tesla-p100' -> 'NVIDIA_P100_GPUS' (Compute's regional quota metric name)."""
    return f"NVIDIA_{gpu_type.rsplit('-', 1)[-1].upper()}_GPUS"
