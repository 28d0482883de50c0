"""`labctl ssh-key`: put labctl's public key on a VM, and show which key that is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from labctl.cli._app import AppContext, shared_options
from labctl.cli._ssh import (
    AcceptNewOpt,
    IapOpt,
    IdentityOpt,
    SshOptions,
    SshPortOpt,
    UserOpt,
    check_running,
    ssh_logs,
    vm_access,
)

if TYPE_CHECKING:
    from labctl.models import Vm

app = typer.Typer(
    add_completion=False,  # offered once, by the root command
    help="Manage the SSH key labctl logs in to VMs with.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


DaysOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=365,
        metavar="DAYS",
        help="Days until the key expires, 1-365 [default: course.ssh_key_days].",
        show_default=False,
    ),
]
WaitKeyOpt = Annotated[
    bool,
    typer.Option(
        "--wait", help="Wait until the VM accepts the key (up to 90 s).", show_default=False
    ),
]


@app.command()
@shared_options(zone=True)
def add(
    app: AppContext,
    name: Annotated[str, typer.Argument(metavar="NAME", help="VM name.")],
    user: UserOpt = None,
    identity: IdentityOpt = None,
    days: DaysOpt = None,
    wait: WaitKeyOpt = False,
    ssh_port: SshPortOpt = 22,
    accept_new_host_key: AcceptNewOpt = False,
    iap: IapOpt = False,
) -> None:
    """Add your public key to the VM's ssh-keys metadata, keeping everyone else's keys."""
    vm, added = _add_key(app, name, user=user, identity=identity, days=days)
    app.out.emit(added, ("FIELD", "VALUE"), list(added.items()))
    app.out.success(f"added key {added['fingerprint']} for {added['user']} to {name}")
    if not wait:
        app.out.info("the VM picks it up within a minute")
    else:
        opts = SshOptions(added["user"], identity, ssh_port, accept_new_host_key, iap)
        _wait_for_key(app, vm, opts)
        app.out.success(f"{name} accepts the key")
    app.out.next_step(f"labctl vm ssh {name}", f"labctl tunnel jupyter {name}")


def _add_key(
    app: AppContext, name: str, *, user: str | None, identity: Path | None, days: int | None
) -> tuple[Vm, dict[str, str]]:
    """The VM (as looked up before the change) and what was added to it."""
    from labctl import access
    from labctl.config import config_dir
    from labctl.vms import find_vm

    expire_on = datetime.now(UTC) + timedelta(days=days or app.settings.course.ssh_key_days)
    if user:
        access.vm_user({}, user)  # a bad --user fails before any API call
    # Load (or create) the key before any API call: a bad --identity fails here, not mid-update.
    key = access.login_key(config_dir(), identity)
    with app.out.spinner(f"Looking up {name}..."):
        vm = find_vm(app.compute, name, app.zone)
    login = access.vm_user(vm.metadata, user)
    with app.out.spinner(f"Adding the key for {login} to {name}..."):
        # Called again by the provider if the metadata changed meanwhile (fingerprint mismatch).
        app.compute.update_metadata(
            vm.name,
            vm.zone,
            lambda items: access.with_login(items, user=login, key=key, expire_on=expire_on),
        )
    if access.uses_os_login(vm.metadata):
        app.out.warn(f"{name} uses OS Login, which ignores keys in metadata")
    return vm, {
        "vm": vm.name,
        "zone": vm.zone,
        "user": login,
        "fingerprint": key.fingerprint,
        "expires": expire_on.isoformat(timespec="seconds"),
    }


def _wait_for_key(app: AppContext, vm: Vm, opts: SshOptions) -> None:
    from labctl.ssh.commands import wait_for_ssh_key
    from labctl.ssh.errors import seconds

    doing = f"Waiting for {vm.name} to accept the key"
    with ssh_logs(), app.out.spinner(doing + "...") as spinner:
        command = f"labctl ssh-key add {vm.name}"
        access = vm_access(app, check_running(vm), opts, command=command)

        def progress(elapsed: float, status: str) -> None:
            spinner.update(f"{doing} ({seconds(elapsed)}: {status})...")

        wait_for_ssh_key(access, on_progress=progress)


@app.command()
@shared_options(cloud=False)
def show(app: AppContext) -> None:
    """Show labctl's own key pair (created on first use): where it is and its fingerprint."""
    from labctl import access
    from labctl.config import config_dir

    key = access.login_key(config_dir())
    assert key.path is not None
    data = {
        "private_key": str(key.path),
        "public_key": str(key.path.with_name(key.path.name + ".pub")),
        "fingerprint": key.fingerprint,
        "public_key_openssh": key.public_openssh,
    }
    app.out.emit(data, ("FIELD", "VALUE"), list(data.items()))
