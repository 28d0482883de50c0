"""`labctl ssh-key`: put labctl's public key on a VM, and show which key that is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from labctl.cli._context import current
from labctl.cli._options import command_options
from labctl.cli._ssh import (
    AcceptNewOpt,
    IapOpt,
    IdentityOpt,
    SshOptions,
    SshPortOpt,
    UserOpt,
    running_vm,
    vm_access,
)

app = typer.Typer(
    add_completion=False,  # offered once, by the root command
    help="Manage the SSH key labctl logs in to VMs with.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@app.command()
@command_options
def add(
    name: Annotated[str, typer.Argument(help="VM name.")],
    user: UserOpt = None,
    identity: IdentityOpt = None,
    days: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=3650,
            help="Days until the key expires (default: course.ssh_key_days).",
            show_default=False,
        ),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until the VM accepts the key (up to 90 s).")
    ] = False,
    ssh_port: SshPortOpt = 22,
    accept_new_host_key: AcceptNewOpt = False,
    iap: IapOpt = False,
) -> None:
    """Add your public key to the VM's ssh-keys metadata, keeping everyone else's keys."""
    from labctl.config import config_dir
    from labctl.ssh.commands import ssh_key_add, wait_for_ssh_key
    from labctl.ssh.hostkeys import fingerprint_sha256
    from labctl.ssh.keys import default_username, ensure_key_pair, load_identity, validate_username
    from labctl.vms import find_vm

    ctx = current()
    if user:
        validate_username(user)
    expire_on = datetime.now(UTC) + timedelta(days=days or ctx.settings.course.ssh_key_days)
    # Load (or create) the key before any API call: a bad --identity fails here, not mid-update.
    pair = load_identity(identity) if identity else ensure_key_pair(config_dir())

    with ctx.out.spinner(f"Looking up {name}..."):
        vm = find_vm(ctx.compute, name, ctx.opts.zone)
    # As for the tunnel: the user vm create set up (Jupyter runs as it), else the login name.
    user = user or vm.metadata.get("labctl-user") or default_username()

    def update(items: dict[str, str]) -> dict[str, str]:
        # Called again by the provider if the metadata changed meanwhile (fingerprint mismatch).
        keys = ssh_key_add(
            items.get("ssh-keys", ""),
            user=user,
            config_dir=config_dir(),
            identity=identity,
            expire_on=expire_on,
        )
        # Instance keys only: a classmate's project-wide key must not open this VM.
        return {**items, "ssh-keys": keys, "block-project-ssh-keys": "TRUE"}

    with ctx.out.spinner(f"Adding the key for {user} to {name}..."):
        ctx.compute.update_metadata(vm.name, vm.zone, update)
    if str(vm.metadata.get("enable-oslogin", "")).upper() == "TRUE":
        ctx.out.warn(f"{name} uses OS Login, which ignores keys in metadata")
    fingerprint = fingerprint_sha256(pair.pkey)
    if ctx.out.fmt == "json":
        ctx.out.json(
            {
                "vm": vm.name,
                "zone": vm.zone,
                "user": user,
                "fingerprint": fingerprint,
                "expires": expire_on.isoformat(timespec="seconds"),
            }
        )
    ctx.out.success(f"added key {fingerprint} for {user} to {name} (expires {expire_on:%Y-%m-%d})")
    if not wait:
        ctx.out.info("the VM picks it up within a minute")
        ctx.out.next_step(f"labctl vm ssh {name}", f"labctl tunnel jupyter {name}")
        return
    opts = SshOptions(user, identity, ssh_port, accept_new_host_key, iap)
    with ctx.out.spinner(f"Waiting for {name} to accept the key..."):
        access = vm_access(ctx, running_vm(ctx, name), opts, command=f"labctl ssh-key add {name}")
        wait_for_ssh_key(access)
    ctx.out.success(f"{name} accepts the key")
    ctx.out.next_step(f"labctl vm ssh {name}", f"labctl tunnel jupyter {name}")


@app.command()
@command_options
def show() -> None:
    """Show labctl's own key pair (created on first use): where it is and its fingerprint."""
    from labctl.config import config_dir
    from labctl.ssh.hostkeys import fingerprint_sha256
    from labctl.ssh.keys import ensure_key_pair

    ctx = current()
    pair = ensure_key_pair(config_dir())
    public_path = pair.private_path.with_name(pair.private_path.name + ".pub")
    data = {
        "private_key": str(pair.private_path),
        "public_key": str(public_path),
        "fingerprint": fingerprint_sha256(pair.pkey),
        "public_key_openssh": pair.public_openssh,
    }
    ctx.out.emit(data, ("FIELD", "VALUE"), list(data.items()))
