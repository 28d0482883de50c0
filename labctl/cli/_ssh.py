"""What every SSH command shares: its options, and turning a VM name into a `VmAccess`."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labctl.cli._app import AppContext, library_loggers
from labctl.errors import LabctlError, WrongState

# paramiko and the SSH layer are imported inside the functions: `labctl --help` must not pay.
if TYPE_CHECKING:
    from labctl.models import Vm
    from labctl.ssh.commands import VmAccess
    from labctl.ssh.hostkeys import ConfirmHostKey

log = logging.getLogger(__name__)

UserOpt = Annotated[
    str | None,
    typer.Option(
        "--user",
        help="Linux user on the VM (default: the user vm create set up, else your login name).",
        show_default=False,
    ),
]
IdentityOpt = Annotated[
    Path | None,
    typer.Option(
        "--identity",
        help="Private key to log in with (default: labctl's own key in its config dir).",
        dir_okay=False,
        show_default=False,
    ),
]
SshPortOpt = Annotated[int, typer.Option("--ssh-port", min=1, max=65535, help="SSH port.")]
AcceptNewOpt = Annotated[
    bool,
    typer.Option(
        "--accept-new-host-key",
        help="Trust a host key the VM did not publish (its first connection, no prompt).",
    ),
]
IapOpt = Annotated[
    bool, typer.Option("--iap", help="Connect through Identity-Aware Proxy (needs gcloud).")
]


@dataclass(frozen=True)
class SshOptions:
    """The connection options shared by `tunnel`, `vm ssh` and `ssh-key add --wait`."""

    user: str | None = None
    identity: Path | None = None
    port: int = 22
    accept_new_host_key: bool = False
    iap: bool = False


@contextmanager
def ssh_logs() -> Iterator[set[str]]:
    """While an SSH command runs, Jupyter tokens are masked in every log line (libraries stay
    silent below -vv: configure_logging). Yields the set of secrets (tokens) to mask as well.
    """
    from labctl.ssh.jupyter import TokenRedactingFilter

    handlers = [h for lg in [logging.getLogger(), *library_loggers()] for h in lg.handlers]
    redactor = TokenRedactingFilter()
    for handler in handlers:
        handler.addFilter(redactor)  # on handlers: logger filters miss propagated records
    try:
        yield redactor.secrets
    finally:
        for handler in handlers:
            handler.removeFilter(redactor)


def stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def host_key_prompt(
    pause: Callable[[], AbstractContextManager[object]] | None = None,
) -> ConfirmHostKey | None:
    """Ask on stderr before trusting an unknown host key, but only when a person can answer.

    `pause` hides a spinner while the question is on screen.
    """
    if not stdin_is_tty():
        return None  # a script cannot answer: the SSH layer refuses with a hint instead

    def ask(question: str) -> bool:
        with pause() if pause is not None else nullcontext():
            return typer.confirm(question, default=False, err=True)

    return ask


def running_vm(app: AppContext, name: str) -> Vm:
    """The VM called `name` (one list call); one that is not running is refused."""
    from labctl.vms import find_vm

    return check_running(find_vm(app.compute, name, app.zone))


def check_running(vm: Vm) -> Vm:
    """`vm`, refused unless it is running."""
    from labctl.models import VmState

    if vm.state is not VmState.RUNNING:
        what = "stopped" if vm.state in (VmState.STOPPED, VmState.STOPPING) else "not running yet"
        raise WrongState(
            f"VM {vm.name} is {what} ({vm.status})",
            state=vm.state.value,
            kind="vm",
            name=vm.name,
            zone=vm.zone,
        )
    return vm


def vm_access(
    app: AppContext,
    vm: Vm,
    opts: SshOptions,
    *,
    command: str,
    confirm: ConfirmHostKey | None = None,
) -> VmAccess:
    """Everything the SSH layer needs to reach `vm`. `command` is what to suggest with --iap."""
    from labctl.access import vm_user
    from labctl.config import config_dir
    from labctl.ssh.commands import VmAccess
    from labctl.ssh.connect import IapTarget

    iap = IapTarget(vm.name, app.compute.project, vm.zone) if opts.iap else None
    if iap is None and not vm.external_ip:
        raise LabctlError(
            f"VM {vm.name} has no external IP address",
            hint=f"connect through Identity-Aware Proxy: {command} --iap",
        )
    return VmAccess(
        vm_name=vm.name,
        zone=vm.zone,
        instance_id=vm.id,
        host=vm.external_ip or "",
        # The user `vm create` set up: Jupyter runs as it, so its token is readable there.
        user=vm_user(vm.metadata, opts.user),
        config_dir=config_dir(),
        port=opts.port,
        identity=opts.identity,
        host_keys=_published_host_keys(app, vm),
        accept_new_host_key=opts.accept_new_host_key,
        confirm_host_key=confirm,
        iap=iap,
    )


def _published_host_keys(app: AppContext, vm: Vm) -> dict[str, str]:
    """The host keys the VM's guest agent published (`hostkeys/` guest attributes)."""
    from labctl.errors import NotFound
    from labctl.ssh.hostkeys import GUEST_ATTRIBUTE_QUERY_PATH

    try:
        return app.compute.get_guest_attributes(vm.name, vm.zone, GUEST_ATTRIBUTE_QUERY_PATH)
    except NotFound:
        # Guest attributes are off for this VM: the first connection needs consent instead.
        log.info("VM %s publishes no host keys (guest attributes disabled)", vm.name)
        return {}
