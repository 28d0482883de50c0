"""`labctl doctor`'s checks: is this machine and this project ready for a course VM?

Each check is a small function that returns one `Check`: a status, a one-line detail, and the
facts of what is wrong (`problem` plus `facts`, or the labctl `error` it ran into). Turning a
problem into the command that fixes it is the CLI's job (labctl.cli._errors.doctor_fix), as for
every other error. A check that cannot run because an earlier one failed says SKIP.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import stat
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from labctl import catalog
from labctl.config import Settings
from labctl.errors import (
    ApiDisabled,
    CredentialsError,
    InvalidInput,
    LabctlError,
    NotFound,
    PermissionDenied,
)
from labctl.labels import IAP_SOURCE_RANGE
from labctl.models import Firewall, Provisioning, Quota, region_of
from labctl.providers.base import ComputeProvider, StorageProvider

IAP_RANGE = ipaddress.IPv4Network(IAP_SOURCE_RANGE)
ANYWHERE = ipaddress.IPv4Network("0.0.0.0/0")
CLOCK_WARN_SECONDS = 30
CLOCK_FAIL_SECONDS = 300  # OAuth tokens and signed requests start failing around here
VERSION_TIMEOUT_S = 10.0
SHOWN_ZONES = 3


class Status(StrEnum):
    OK = "OK"
    WARN = "WARN"
    FAIL = "FAIL"
    SKIP = "SKIP"  # not checked: an earlier check failed


@dataclass(frozen=True)
class Check:
    """One line of doctor. `problem` names what is wrong ("api-disabled", "quota" ...) and
    `facts` the values a fix needs ({"api": "compute.googleapis.com"}); `error` is the labctl
    error the check ran into, when that is the problem."""

    check: str
    status: Status
    detail: str
    problem: str | None = None
    facts: Mapping[str, Any] = field(default_factory=dict)
    error: LabctlError | None = None


def run_version(command: list[str]) -> str | None:
    """The first line a `--version`-style command prints (stdout or stderr), or None."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=VERSION_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return text[0].strip() if text else None


@dataclass
class Doctor:
    """What the checks look at. The providers are made on first use, so a missing credential
    or project is a check's result, not an exception; each cloud answer is asked once."""

    settings: Settings
    compute_factory: Callable[[], ComputeProvider]
    storage_factory: Callable[[], StorageProvider]
    key_path: Path
    vms: int = 1  # how many course VMs the quota must allow (a class: one per student)
    project_flag: str | None = None
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    which: Callable[[str], str | None] = shutil.which
    version_of: Callable[[list[str]], str | None] = run_version

    def run(self) -> list[Check]:
        return [_safely(check, self) for check in CHECKS]

    # -- the cloud, asked once ------------------------------------------------------------------
    @cached_property
    def compute(self) -> ComputeProvider | LabctlError:
        try:
            return self.compute_factory()
        except LabctlError as exc:
            return exc

    @cached_property
    def project_quotas(self) -> list[Quota] | LabctlError:
        """projects.get: whether the project exists and Compute answers, and its quotas."""
        return _ask(self.compute, lambda c: c.project_quotas())

    @property
    def gpu_needed(self) -> int:
        gpu = self.settings.course.gpu
        return gpu.count * self.vms if gpu.enabled else 0

    def skip_unless_compute(self, name: str) -> Check | None:
        """A SKIP line when Compute did not answer (that failure has its own line)."""
        answer = self.project_quotas
        if isinstance(answer, LabctlError):
            return Check(name, Status.SKIP, f"not checked: {_why_not(answer)}")
        return None


def _why_not(error: LabctlError) -> str:
    if isinstance(error, CredentialsError):
        return "no credentials"
    if isinstance(error, InvalidInput) and error.field == "project":
        return "no project"
    if isinstance(error, NotFound):
        return "no such project"
    if isinstance(error, ApiDisabled):
        return f"{error.api} is not enabled"
    return _first_line(error.message)


def _ask(compute: ComputeProvider | LabctlError, call: Callable[[Any], Any]) -> Any:
    if isinstance(compute, LabctlError):
        return compute
    try:
        return call(compute)
    except LabctlError as exc:
        return exc


def _safely(check: Callable[[Doctor], Check], doctor: Doctor) -> Check:
    """A check that hits an unexpected labctl error reports it instead of stopping doctor."""
    try:
        return check(doctor)
    except LabctlError as exc:
        name = check.__name__.removeprefix("check_").replace("_", "-")
        return Check(name, Status.FAIL, _first_line(exc.message), error=exc)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"


def _cloud_failure(name: str, error: LabctlError, **facts: Any) -> Check:
    if isinstance(error, ApiDisabled):
        return Check(
            name, Status.FAIL, f"{error.api} is not enabled", "api-disabled", {"api": error.api}
        )
    return Check(name, Status.FAIL, _first_line(error.message), facts=facts, error=error)


# -- credentials and project ---------------------------------------------------------------------
def check_credentials(d: Doctor) -> Check:
    compute = d.compute
    if isinstance(compute, CredentialsError):
        return Check("credentials", Status.FAIL, compute.message, "no-credentials", error=compute)
    if isinstance(compute, InvalidInput) and compute.field == "project":
        return Check("credentials", Status.OK, "found (whose: not asked without a project)")
    if isinstance(compute, LabctlError):
        return Check("credentials", Status.FAIL, _first_line(compute.message), error=compute)
    return Check("credentials", Status.OK, compute.whoami())


def check_project(d: Doctor) -> Check:
    compute = d.compute
    if isinstance(compute, InvalidInput) and compute.field == "project":
        return Check("project", Status.FAIL, "no project set", "no-project", error=compute)
    if isinstance(compute, LabctlError):
        return Check("project", Status.SKIP, f"not checked: {_why_not(compute)}")
    origin = _project_origin(d, compute.project)
    answer = d.project_quotas
    if isinstance(answer, NotFound):
        facts = {"project": compute.project}
        return Check(
            "project", Status.FAIL, f"{compute.project} not found", "no-such-project", facts
        )
    if isinstance(answer, ApiDisabled):
        return Check("project", Status.OK, f"{compute.project}{origin} (exists)")
    if isinstance(answer, LabctlError):
        return Check("project", Status.WARN, f"{compute.project}{origin}: not confirmed")
    return Check("project", Status.OK, f"{compute.project}{origin}")


def _project_origin(d: Doctor, project: str) -> str:
    """ " (from gcloud config)": where the project came from, when that can be told."""
    from labctl.providers.gcp.auth import known_project_source

    found = known_project_source(d.project_flag, d.settings.gcp.project or None)
    if found is None or found[0] != project:
        return ""
    return f" (from {found[1]})"


def check_compute_api(d: Doctor) -> Check:
    if isinstance(d.compute, LabctlError):
        return Check("compute-api", Status.SKIP, f"not checked: {_why_not(d.compute)}")
    answer = d.project_quotas
    if isinstance(answer, NotFound):
        return Check("compute-api", Status.SKIP, "not checked: no such project")
    if isinstance(answer, LabctlError):
        return _cloud_failure("compute-api", answer)
    return Check("compute-api", Status.OK, "Compute Engine API answers")


def check_storage_api(d: Doctor) -> Check:
    if isinstance(d.compute, LabctlError):
        return Check("storage-api", Status.SKIP, f"not checked: {_why_not(d.compute)}")
    try:
        count = len(d.storage_factory().list_buckets())
    except LabctlError as exc:
        return _cloud_failure("storage-api", exc)
    return Check("storage-api", Status.OK, f"Cloud Storage API answers ({count} bucket(s))")


def check_billing(d: Doctor) -> Check:
    skipped = d.skip_unless_compute("billing")
    if skipped:
        return skipped
    answer = _ask(d.compute, lambda c: c.billing())
    if isinstance(answer, ApiDisabled):
        detail = f"not known: {answer.api} is not enabled"
        return Check("billing", Status.WARN, detail, "api-disabled", {"api": answer.api})
    if isinstance(answer, PermissionDenied):
        return Check("billing", Status.WARN, "not known: no permission to read it", error=answer)
    if isinstance(answer, LabctlError):
        return Check("billing", Status.WARN, f"not known: {_first_line(answer.message)}")
    project = getattr(d.compute, "project", "")
    if not answer.enabled:
        return Check(
            "billing", Status.FAIL, "billing is disabled", "billing-disabled", {"project": project}
        )
    return Check("billing", Status.OK, f"enabled ({answer.account})")


# -- GPUs ----------------------------------------------------------------------------------------
def gpu_metric(gpu_type: str) -> str:
    """ "nvidia-tesla-p100" -> "NVIDIA_P100_GPUS"; also for a GPU the catalog does not list
    ("nvidia-l4" -> "NVIDIA_L4_GPUS"), which the project may still offer."""
    if gpu_type in catalog.ACCELERATORS:
        return catalog.gpu_quota_metric(gpu_type)
    core = re.sub(r"^nvidia-(tesla-)?", "", gpu_type).upper().replace("-", "_")
    return f"NVIDIA_{core}_GPUS"


def _quota_check(name: str, quota: Quota, needed: int, where: str) -> Check:
    free = int(quota.free)
    text = f"{quota.metric}{where}: {free} of {int(quota.limit)} free, {needed} needed"
    if free >= needed:
        return Check(name, Status.OK, text)
    facts = {"metric": quota.metric, "region": quota.region, "needed": needed + int(quota.usage)}
    return Check(name, Status.FAIL, text, "quota", facts)


def check_gpu_quota(d: Doctor) -> Check:
    if not d.settings.course.gpu.enabled:
        return Check("gpu-quota", Status.OK, "no GPU needed (course.gpu.enabled is false)")
    skipped = d.skip_unless_compute("gpu-quota")
    if skipped:
        return skipped
    quotas = d.project_quotas
    assert isinstance(quotas, list)
    found = {q.metric: q for q in quotas}.get("GPUS_ALL_REGIONS")
    if found is None:
        return Check("gpu-quota", Status.WARN, "GPUS_ALL_REGIONS is not reported for the project")
    return _quota_check("gpu-quota", found, d.gpu_needed, "")


def check_gpu_region_quota(d: Doctor) -> Check:
    course = d.settings.course
    if not course.gpu.enabled:
        return Check("gpu-region-quota", Status.OK, "no GPU needed")
    skipped = d.skip_unless_compute("gpu-region-quota")
    if skipped:
        return skipped
    region = region_of(course.zone)
    answer = _ask(d.compute, lambda c: c.region_quotas(region))
    if isinstance(answer, LabctlError):
        return _cloud_failure("gpu-region-quota", answer)
    quotas = {q.metric: q for q in answer}
    standard = gpu_metric(course.gpu.type)
    spot = course.provisioning is not Provisioning.STANDARD
    limits = {q.metric: q.limit for q in answer}
    quota = quotas.get(catalog.spot_quota_metric(standard, spot, lambda m: limits.get(m, 0.0)))
    if quota is None:
        return Check("gpu-region-quota", Status.WARN, f"{standard} is not reported for {region}")
    return _quota_check("gpu-region-quota", quota, d.gpu_needed, f" in {region}")


def check_gpu_zones(d: Doctor) -> Check:
    course = d.settings.course
    if not course.gpu.enabled:
        return Check("gpu-zones", Status.OK, "no GPU needed")
    skipped = d.skip_unless_compute("gpu-zones")
    if skipped:
        return skipped
    answer = _ask(d.compute, lambda c: c.accelerator_zones(course.gpu.type))
    if isinstance(answer, LabctlError):
        return _cloud_failure("gpu-zones", answer)
    allowed = d.settings.allowed_zones
    offering = [z for z in allowed if z in answer]
    facts = {"gpu": course.gpu.type}
    if not offering:
        detail = f"none of the {len(allowed)} allowed zones offers {course.gpu.type}"
        return Check("gpu-zones", Status.FAIL, detail, "no-gpu-zone", facts)
    shown = ", ".join(offering[:SHOWN_ZONES])
    more = f" and {len(offering) - SHOWN_ZONES} more" if len(offering) > SHOWN_ZONES else ""
    if course.zone not in answer:
        detail = f"course.zone {course.zone} has no {course.gpu.type}; failover: {shown}{more}"
        return Check("gpu-zones", Status.WARN, detail, "zone-without-gpu", facts)
    return Check("gpu-zones", Status.OK, f"{course.gpu.type} in {shown}{more}")


# -- network -------------------------------------------------------------------------------------
def _opens_ssh(rule: Firewall) -> bool:
    """An enabled ingress rule for every VM (no target tags: labctl's VMs have none) that
    allows TCP port 22."""
    if rule.disabled or rule.direction != "INGRESS" or rule.target_tags:
        return False
    for allowed in rule.allowed:
        protocol, _, ports = allowed.partition(":")
        if protocol == "all" or (protocol in ("tcp", "6") and (not ports or _has_22(ports))):
            return True
    return False


def _has_22(ports: str) -> bool:
    low, _, high = ports.partition("-")
    try:
        return int(low) <= 22 <= int(high or low)
    except ValueError:
        return False


def _covers(ranges: tuple[str, ...], network: ipaddress.IPv4Network) -> bool:
    for text in ranges:
        try:
            source = ipaddress.ip_network(text, strict=False)
        except ValueError:
            continue
        if isinstance(source, ipaddress.IPv4Network) and network.subnet_of(source):
            return True
    return False


def check_ssh_firewall(d: Doctor) -> Check:
    skipped = d.skip_unless_compute("ssh-firewall")
    if skipped:
        return skipped
    answer = _ask(d.compute, lambda c: c.list_firewalls())
    if isinstance(answer, LabctlError):
        return _cloud_failure("ssh-firewall", answer)
    rules = [r for r in answer if _opens_ssh(r)]
    anyone = [r.name for r in rules if _covers(r.source_ranges, ANYWHERE)]
    if anyone:
        return Check("ssh-firewall", Status.OK, f"{anyone[0]} lets port 22 in from anywhere")
    iap = [r.name for r in rules if _covers(r.source_ranges, IAP_RANGE)]
    if iap:
        return Check("ssh-firewall", Status.OK, f"{iap[0]} lets port 22 in from IAP ({IAP_RANGE})")
    project = getattr(d.compute, "project", "")
    if rules:
        ranges = ", ".join(sorted({s for r in rules for s in r.source_ranges}))
        detail = f"port 22 is open only from {ranges}: is your address among them?"
        return Check("ssh-firewall", Status.WARN, detail, "no-ssh-rule", {"project": project})
    detail = "no firewall rule lets port 22 in (from your address or from IAP)"
    return Check("ssh-firewall", Status.FAIL, detail, "no-ssh-rule", {"project": project})


# -- this machine --------------------------------------------------------------------------------
def check_openssh(d: Doctor) -> Check:
    ssh = d.which("ssh")
    if ssh is None:
        return Check("openssh", Status.WARN, "ssh not found (vm ssh needs it)", "no-openssh")
    return Check("openssh", Status.OK, d.version_of([ssh, "-V"]) or ssh)


def check_gcloud(d: Doctor) -> Check:
    gcloud = d.which("gcloud")
    if gcloud is None:
        return Check("gcloud", Status.WARN, "gcloud not found (IAP tunnels need it)", "no-gcloud")
    return Check(
        "gcloud", Status.OK, _sdk_version(gcloud) or d.version_of([gcloud, "--version"]) or gcloud
    )


def _sdk_version(gcloud: str) -> str | None:
    """The Cloud SDK's VERSION file beside bin/gcloud: no second of gcloud start-up."""
    try:
        version = (Path(gcloud).resolve().parent.parent / "VERSION").read_text().strip()
    except OSError:
        return None
    return f"Google Cloud SDK {version}" if version else None


def check_ssh_key(d: Doctor) -> Check:
    path = d.key_path
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return Check("ssh-key", Status.WARN, f"no key yet at {path}", "no-key", {"path": str(path)})
    if mode & 0o077:
        detail = f"{path} can be read by others (mode {mode:04o})"
        return Check("ssh-key", Status.FAIL, detail, "key-mode", {"path": str(path)})
    return Check("ssh-key", Status.OK, f"{path} ({mode:04o})")


def check_clock(d: Doctor) -> Check:
    skipped = d.skip_unless_compute("clock")
    if skipped:
        return skipped
    answer = _ask(d.compute, lambda c: c.server_time())
    if isinstance(answer, LabctlError) or answer is None:
        return Check("clock", Status.SKIP, "the API sent no Date header")
    skew = (d.now() - answer).total_seconds()
    text = f"{abs(skew):.0f} s {'ahead of' if skew > 0 else 'behind'} the API's clock"
    if abs(skew) > CLOCK_FAIL_SECONDS:
        return Check("clock", Status.FAIL, text, "clock")
    if abs(skew) > CLOCK_WARN_SECONDS:
        return Check("clock", Status.WARN, text, "clock")
    return Check("clock", Status.OK, f"within {CLOCK_WARN_SECONDS} s of the API's clock")


CHECKS: tuple[Callable[[Doctor], Check], ...] = (
    check_credentials,
    check_project,
    check_compute_api,
    check_storage_api,
    check_billing,
    check_gpu_quota,
    check_gpu_region_quota,
    check_gpu_zones,
    check_ssh_firewall,
    check_openssh,
    check_gcloud,
    check_ssh_key,
    check_clock,
)


def roster_size(path: Path) -> int:
    """How many students (one course VM each) a class names: a roster CSV, or a TOML class
    file whose roster is read. TAs get no VM, so they are not counted."""
    from labctl.classroom.classfile import load_class
    from labctl.classroom.roster import load_roster

    roster = load_class(path).roster if path.suffix == ".toml" else path
    students = load_roster(roster).students
    if not students:
        raise InvalidInput(f"{path}: names no students", field="--class")
    return len(students)
