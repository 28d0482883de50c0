"""The one error table: a labctl error becomes a message, the next thing to try, an exit code.

Below the CLI, errors carry facts (kind, name, zone, metric ...), never a labctl command; this
module is the only place that turns those facts into advice. Exit codes: 2 for bad input, 130
after Ctrl-C, 1 for everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labctl import errors as e
from labctl.ssh import errors as ssh

QUOTA_URL = "https://console.cloud.google.com/iam-admin/quotas"
ADC_HINT = "run: gcloud auth application-default login"

# kind -> the command that shows such a resource, with {name}/{zone} filled in
SHOW = {
    "vm": "labctl vm show {name}",
    "bucket": "labctl bucket ls gs://{name}",
}
LIST = {
    "vm": "labctl vm list",
    "bucket": "labctl bucket list",
    "disk": "labctl cleanup --all --dry-run",
    "snapshot": "labctl cleanup --all --dry-run",
    "address": "labctl cleanup --all --dry-run",
    "object": "labctl bucket ls gs://{zone}",
}
PAST = {
    "create": "created",
    "stop": "stopped",
    "start": "started",
    "delete": "deleted",
    "attach": "attached",
    "snapshot": "snapshotted",
    "label": "labelled",
}


def render(exc: e.LabctlError) -> tuple[str, str | None, int]:
    """(message, hint or None, exit code) for any labctl error."""
    for kind, advise in _TABLE:
        if isinstance(exc, kind):
            hint = advise(exc)
            break
    else:
        hint = None
    return exc.message, hint or exc.hint, exc.exit_code


def _fill(template: str, exc: e.LabctlError) -> str:
    return template.format(name=exc.name or "NAME", zone=exc.zone or "ZONE")


def _invalid(exc: Any) -> str | None:
    if exc.field == "project":
        return "pass --project PROJECT, or run: gcloud config set project PROJECT"
    if exc.kind == "image":
        return f"list the families: gcloud compute images list --filter=family~{exc.name or ''}"
    return None


def _not_found(exc: e.NotFound) -> str | None:
    if exc.kind == "machine-type":
        return f"list them: gcloud compute machine-types list --zones {exc.zone}"
    if exc.kind == "image":
        return "list the families: gcloud compute images list --filter=family~" + (exc.name or "")
    if exc.kind == "object" and exc.name:  # name: "gs://BUCKET/PATH"
        return f"see what there is: labctl bucket ls {exc.name.rsplit('/', 1)[0]}/"
    template = LIST.get(exc.kind or "")
    return f"see what there is: {_fill(template, exc)}" if template else None


def _exists(exc: e.AlreadyExists) -> str | None:
    if exc.kind == "vm":
        where = f" in {exc.zone}" if exc.zone else ""
        return f"it is already there{where}: labctl vm show {exc.name}"
    if exc.kind == "bucket" and exc.owned:
        return f"use it (labctl bucket ls gs://{exc.name}) or pick another name"
    if exc.kind == "bucket" and exc.owned is False:
        return "bucket names are global: pick another one, or leave NAME out to get a unique one"
    return None


def _wrong_state(exc: e.WrongState) -> str | None:
    if exc.kind != "vm":
        return None
    if exc.state in ("stopped", "stopping"):
        return f"start it first: labctl vm start {exc.name}"
    return f"it is still starting; retry in a minute (labctl vm show {exc.name})"


def _stockout(exc: e.Stockout) -> str:
    if exc.tried:
        return "try again later, or allow more zones in course.fallback_zones (labctl config show)"
    if exc.zones_available:
        return f"try another zone: --zone {exc.zones_available[0]}"
    return "try another zone with --zone, or try again later"


def _quota(exc: e.QuotaExceeded) -> str:
    if exc.metric == "GPUS_ALL_REGIONS":
        return (
            f"request more GPUS_ALL_REGIONS quota at {QUOTA_URL} (new projects start at 0; "
            "free-trial accounts must upgrade first)"
        )
    where = f" in {exc.region}" if exc.region else ""
    hint = f"request more {exc.metric} quota{where} at {QUOTA_URL}"
    return hint + ", or use a zone in another region" if exc.region else hint


def _may_exist(exc: e.MayExist) -> str | None:
    template = SHOW.get(exc.kind or "")
    return f"check: {_fill(template, exc)}" if template else None


def _interrupted(exc: e.Interrupted) -> str | None:
    if not exc.in_flight:
        return None
    past = PAST.get(exc.action, exc.action)
    names = sorted(exc.in_flight)
    if len(names) == 1 and exc.kind in SHOW:
        show = SHOW[exc.kind].format(name=names[0], zone="")
        return f"{names[0]} may still be {past}: {show}"
    listing = LIST.get(exc.kind or "", "")
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"{shown} may still be {past}" + (f": {listing}" if listing else "")


def _partial(exc: e.PartialFailure) -> str | None:
    if exc.kind == "class":  # name: the class file
        file = "" if exc.name in (None, "class.toml") else f" {exc.name}"
        return f"fix the cause and run the same command again; it resumes: labctl class setup{file}"
    return None


def _declined(exc: e.Declined) -> str | None:
    return "no terminal to ask on: pass --yes to go ahead" if exc.no_terminal else None


def _ssh_auth(exc: e.LabctlError) -> str:
    return f"put your key on the VM: labctl ssh-key add {exc.name or 'NAME'}"


def _ssh_connect(exc: e.LabctlError) -> str:
    name = exc.name or "NAME"
    return f"the VM may be stopped or still booting: labctl vm show {name}"


def _jupyter(exc: e.LabctlError) -> str:
    name = exc.name or "NAME"
    return (
        "the startup script may have failed: "
        f"labctl vm ssh {name} -- sudo journalctl -u google-startup-scripts"
    )


# The first matching row wins: subclasses before their bases.
_TABLE: list[tuple[type[Any], Callable[[Any], str | None]]] = [
    (e.InvalidInput, _invalid),
    (e.CredentialsError, lambda _: ADC_HINT),
    (e.ApiDisabled, lambda exc: f"run: gcloud services enable {exc.api}"),
    (
        e.PermissionDenied,
        lambda _: (
            "ask for a role on the project (roles/compute.instanceAdmin.v1 for VMs, "
            "roles/storage.admin for buckets), or check --project"
        ),
    ),
    (e.NotFound, _not_found),
    (e.AlreadyExists, _exists),
    (e.NotEmpty, lambda exc: f"delete its objects too: labctl bucket delete {exc.name} --force"),
    (e.PreconditionFailed, lambda _: "someone changed it meanwhile; try again"),
    (e.WrongState, _wrong_state),
    (e.Stockout, _stockout),
    (e.QuotaExceeded, _quota),
    (e.RateLimited, lambda _: "wait a minute and try again; rate quotas refill every minute"),
    (
        e.EndpointUnreachable,
        lambda exc: f"is `labctl emulator start` running? (endpoint {exc.url})",
    ),
    (e.TransientError, lambda _: "try again in a moment"),
    (e.OperationTimeout, _may_exist),
    (e.MayExist, _may_exist),
    (e.Interrupted, _interrupted),
    (e.Declined, _declined),
    (e.PartialFailure, _partial),
    (ssh.SshAuthFailed, _ssh_auth),
    (ssh.SshConnectError, _ssh_connect),
    (ssh.JupyterNotRunning, _jupyter),
]
