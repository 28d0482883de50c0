"""What a class has in the cloud, found by its labels: one aggregated VM list, one bucket list,
one aggregated resource-policy list, sent together."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from labctl.labels import COURSE, OWNER, is_managed
from labctl.models import Bucket, Schedule, Vm
from labctl.providers.base import ComputeProvider, StorageProvider
from labctl.runner import raise_first, read_many

STUDENT = "labctl-student"  # digest of the student's e-mail (roster.email_digest)
SCHEDULE_PREFIX = "schedule"


@dataclass
class ClassResources:
    course: str
    vms: list[Vm]  # labelled with the course
    buckets: list[Bucket]
    schedules: list[Schedule]  # the class's instance schedules, every region
    other_vms: list[Vm] = field(default_factory=list)  # the project's other VMs (name clashes)
    other_buckets: list[Bucket] = field(default_factory=list)


def scan(
    compute: ComputeProvider,
    storage: StorageProvider | None,
    course: str,
    *,
    schedules: bool = True,
) -> ClassResources:
    """Every VM (to see names taken by others), every bucket, the class's schedules; the lists
    are sent together and any that fails fails the scan."""
    calls: dict[str, Callable[[], list[Any]]] = {"vms": compute.list_vms}
    if storage is not None:
        calls["buckets"] = storage.list_buckets
    if schedules:
        calls["schedules"] = compute.list_schedules
    outcomes = read_many(list(calls), lambda name: calls[name](), doing="listing")
    raise_first(outcomes)
    listed = {o.key: o.value for o in outcomes}
    vms: list[Vm] = listed["vms"]
    buckets: list[Bucket] = listed.get("buckets", [])
    found: list[Schedule] = listed.get("schedules", [])
    return ClassResources(
        course=course,
        vms=[vm for vm in vms if in_class(vm.labels, course)],
        buckets=[b for b in buckets if in_class(b.labels, course)],
        schedules=[s for s in found if is_class_schedule(s, course)],
        other_vms=[vm for vm in vms if not in_class(vm.labels, course)],
        other_buckets=[b for b in buckets if not in_class(b.labels, course)],
    )


def in_class(labels: Mapping[str, str], course: str) -> bool:
    return labels.get(COURSE) == course and is_managed(labels)


def schedule_description(course: str) -> str:
    return f"instance schedule of course {course}, kept by labctl"


def is_class_schedule(schedule: Schedule, course: str) -> bool:
    return schedule.name.startswith(f"{course}-{SCHEDULE_PREFIX}-") and (
        schedule.description == schedule_description(course)
    )


def vm_name(course: str, slug: str) -> str:
    return f"{course}-{slug}"


def slug_of_vm(vm: Vm, course: str) -> str:
    """The owner label, else the name without the course."""
    return vm.labels.get(OWNER) or vm.name.removeprefix(f"{course}-")


def known_slugs(resources: ClassResources) -> dict[str, str]:
    """digest -> slug of every student the cloud already knows (VMs first, then buckets)."""
    known: dict[str, str] = {}
    for vm in resources.vms:
        digest = vm.labels.get(STUDENT)
        if digest:
            known.setdefault(digest, slug_of_vm(vm, resources.course))
    for bucket in resources.buckets:
        digest, owner = bucket.labels.get(STUDENT), bucket.labels.get(OWNER)
        if digest and owner:
            known.setdefault(digest, owner)
    return known


@dataclass(frozen=True)
class Leftover:
    """A student in the cloud who is no longer in the roster (removed only with --prune)."""

    slug: str
    vms: tuple[Vm, ...]
    buckets: tuple[Bucket, ...]


def leftovers(resources: ClassResources, students: Collection[str]) -> list[Leftover]:
    """The students of the class's VMs and buckets whose digest is not in `students` (the
    roster's), by slug."""
    vms: dict[str, list[Vm]] = {}
    buckets: dict[str, list[Bucket]] = {}
    for vm in resources.vms:  # only a student's: the instructor's own VMs of the course stay
        if STUDENT in vm.labels and vm.labels[STUDENT] not in students:
            vms.setdefault(slug_of_vm(vm, resources.course), []).append(vm)
    for bucket in resources.buckets:
        if STUDENT in bucket.labels and bucket.labels[STUDENT] not in students:
            buckets.setdefault(bucket.labels.get(OWNER, bucket.name), []).append(bucket)
    return [
        Leftover(slug, tuple(vms.get(slug, ())), tuple(buckets.get(slug, ())))
        for slug in sorted(set(vms) | set(buckets))
    ]
