"""The one error table: a labctl error becomes a message, the next thing to try, an exit code.

Below the CLI, errors carry facts (kind, name, zone, metric ...), never a labctl command; this
module is the only place that turns those facts into advice. Exit codes: 2 for bad input, 130
after Ctrl-C, 1 for everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from labctl import errors as e
from labctl.labels import FIREWALL_DESCRIPTION, FIREWALL_PREFIX, IAP_SOURCE_RANGE
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
    "cleanup": "rerun labctl cleanup --dry-run to see what is left",
}
PAST = {
    "create": "created",
    "stop": "stopped",
    "start": "started",
    "delete": "deleted",
    "release": "released",
    "snapshot": "snapshotted",
    "clean up": "cleaned up",
    "attach": "attached",
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
        stem = (exc.name or "").split("-")[0]
        return f"list the families: gcloud compute images list --filter=family~{stem}"
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
        from labctl.classroom.classfile import DEFAULT_FILE  # loaded already by the command

        file = "" if exc.name in (None, DEFAULT_FILE) else f" {exc.name}"
        return f"fix the cause and run the same command again; it resumes: labctl class setup{file}"
    return None


def _declined(exc: e.Declined) -> str | None:
    return "no terminal to ask on: pass --yes to go ahead" if exc.no_terminal else None


def _ssh_auth(exc: ssh.SshAuthFailed) -> str | None:
    if isinstance(exc, ssh.SshLoginNotAllowed):
        return None  # another key would not help
    return f"put your key on the VM: labctl ssh-key add {exc.name or 'NAME'}"


def _ssh_connect(exc: ssh.SshConnectError) -> str | None:
    if not exc.booting:
        return None  # not SSH, no route, IAP: the error's own hint (if any) says what to do
    return f"the VM may still be booting; check it (labctl vm show {exc.name or 'NAME'}) and retry"


def _with_own(advice: str, exc: e.LabctlError) -> str:
    """labctl's advice, then the error's own (a gcloud or ssh-keygen command)."""
    return f"{advice}; or {exc.hint}" if exc.hint else advice


def _unknown_host_key(exc: ssh.UnknownHostKey) -> str:
    rerun = "rerun with --accept-new-host-key if you trust it"
    return f"{exc.hint}; {rerun}" if exc.hint else rerun


def _jupyter(exc: e.LabctlError) -> str:
    name = exc.name or "NAME"
    look = f"look on the VM: labctl vm ssh {name} -- sudo journalctl -u google-startup-scripts"
    return _with_own(look, exc)


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
    (ssh.UnknownHostKey, _unknown_host_key),
    (
        ssh.HostKeyMismatch,
        lambda exc: (
            "the address may now belong to another machine, or the connection is "
            f"intercepted; check the VM's address: labctl vm show {exc.name or 'NAME'}"
        ),
    ),
]


# -- labctl doctor: the command that fixes each problem a check reports -------------------------
# Named and described as labctl's rules are (labctl.labels), so cleanup knows it as labctl's.
IAP_FIREWALL_RULE = (
    f"gcloud compute firewall-rules create {FIREWALL_PREFIX}allow-ssh-from-iap --network=default "
    f"--direction=INGRESS --allow=tcp:22 --source-ranges={IAP_SOURCE_RANGE} "
    f"--description='{FIREWALL_DESCRIPTION}: SSH through IAP' --project={{project}}"
)
DOCTOR_FIXES: dict[str, str] = {
    "no-credentials": (
        'gcloud auth application-default login (to practise offline: eval "$(labctl emulator env)")'
    ),
    "no-project": "labctl init --project PROJECT (or: gcloud config set project PROJECT)",
    "no-such-project": "check the id (gcloud projects list), then: labctl init --project ID",
    "api-disabled": "gcloud services enable {api}",
    "billing-disabled": (
        "gcloud billing projects link {project} --billing-account=ACCOUNT "
        "(accounts: gcloud billing accounts list)"
    ),
    "no-gpu-zone": (
        "pick a zone offering {gpu} (gcloud compute accelerator-types list "
        "--filter=name={gpu}), then: labctl init --zone ZONE"
    ),
    "zone-without-gpu": "labctl init --zone ZONE (a zone listed above)",
    "no-ssh-rule": IAP_FIREWALL_RULE + " (then: labctl tunnel jupyter NAME --iap)",
    "no-openssh": "install OpenSSH (Debian/Ubuntu: sudo apt-get install openssh-client)",
    "no-gcloud": "install the Google Cloud CLI: https://cloud.google.com/sdk/docs/install",
    "no-key": "labctl init (creates it), or: labctl ssh-key show",
    "key-mode": "chmod 600 {path}",
    "clock": "turn on time sync (Linux: sudo timedatectl set-ntp true)",
}


def doctor_fix(check: Any) -> str | None:
    """The command that fixes what a doctor check (labctl.doctor.Check) found."""
    problem, facts, error = check.problem, dict(check.facts), check.error
    if problem == "quota":
        where = f" in {facts['region']}" if facts.get("region") else ""
        return f"request {facts['metric']} >= {facts['needed']}{where} at {QUOTA_URL}"
    template = DOCTOR_FIXES.get(problem or "")
    if template is not None:
        return template.format_map({"project": "PROJECT", **facts})
    return render(error)[1] if error is not None else None
