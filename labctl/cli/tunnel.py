"""`labctl tunnel`: forward local loopback ports to a VM's Jupyter or other ports over SSH."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from labctl.cli._app import AppContext, shared_options
from labctl.cli._output import Format, Spinner
from labctl.cli._ssh import (
    AcceptNewOpt,
    IapOpt,
    IdentityOpt,
    SshOptions,
    SshPortOpt,
    UserOpt,
    host_key_prompt,
    running_vm,
    ssh_logs,
    vm_access,
)

if TYPE_CHECKING:
    from labctl.models import Vm
    from labctl.ssh.commands import VmAccess
    from labctl.ssh.jupyter import Progress
    from labctl.ssh.tunnel import Tunnel

T = TypeVar("T")

app = typer.Typer(
    add_completion=False,  # offered once, by the root command
    help="Forward local ports to a VM over SSH: its Jupyter, TensorBoard, anything.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_POLL = 0.5  # how often the blocking wait looks at the tunnel and the stop event

WaitOpt = Annotated[
    float,
    typer.Option(
        "--wait",
        min=0,
        metavar="SECONDS",
        help="How long to wait in all for SSH (and Jupyter) on a VM that is still starting "
        "(0: one attempt).",
    ),
]


def _serve(app: AppContext, tunnel: Tunnel, vm: Vm) -> None:
    """Block until Ctrl-C (a clean exit 0) or `app.stop`; the SSH layer reconnects."""
    try:
        while not app.stop.wait(_POLL):
            if tunnel.wait(0):  # raises the error that made it give up reconnecting
                return
    except KeyboardInterrupt:
        app.out.info("closing the tunnel")
    finally:
        tunnel.stop()
        _remind_running(app, vm)


def _remind_running(app: AppContext, vm: Vm) -> None:
    """The tunnel is closed, but a running VM still bills: say so, what it costs, how to stop it.

    Said only about the state the VM is in now (looked up again): a tunnel that ended because
    the VM stopped, or was deleted, gets no reminder.
    """
    from labctl.errors import LabctlError, NotFound
    from labctl.models import VmState
    from labctl.pricing import load_prices

    stop = f"labctl vm stop {vm.name}"
    try:
        now = app.compute.get_vm(vm.name, vm.zone)
    except NotFound:
        app.out.info(f"{vm.name} no longer exists")
        return
    except LabctlError as exc:
        app.out.info(f"could not check whether {vm.name} is still running ({exc.message})")
        app.out.next_step(stop)
        return
    if now.state is not VmState.RUNNING:
        app.out.info(f"{vm.name} is no longer running ({now.status})")
        return
    estimate = load_prices().vm_estimate(now)
    cost = f"at {estimate}" if estimate.usd_per_hour else "its price is not in labctl's table"
    app.out.info(f"{vm.name} is still running ({cost}); stop it when you are done: {stop}")


def _connect(
    app: AppContext,
    name: str,
    opts: SshOptions,
    *,
    doing: str,
    command: str,
    start: Callable[[VmAccess, Progress], T],
) -> tuple[Vm, T]:
    """Look the VM up, then `start(access, progress)`: the SSH layer waits while it boots."""
    from labctl.ssh.errors import seconds

    with app.out.spinner(f"Looking up {name}..."):
        vm = running_vm(app, name)
    with Spinner(app.out, doing, announce=True) as spinner:
        confirm = host_key_prompt(spinner.paused)
        access = vm_access(app, vm, opts, command=command, confirm=confirm)

        def progress(elapsed: float, status: str) -> None:
            spinner.update(f"{doing.removesuffix('...')} ({seconds(elapsed)}: {status})...")

        return vm, start(access, progress)


def _announce_and_serve(
    app: AppContext,
    vm: Vm,
    tunnel: Tunnel,
    data: dict[str, Any],
    text: str,
    message: str,
    *,
    open_url: str | None = None,
) -> None:
    """Print the data (stdout) and how to stop (stderr), then block until Ctrl-C."""
    try:
        if app.out.fmt is Format.json:
            app.out.json(data)
        else:
            sys.stdout.write(text + "\n")
        sys.stdout.flush()  # the command keeps running: a script reading the pipe needs it now
        app.out.info(message + "; press Ctrl-C to close the tunnel.")
        if open_url is not None:
            import webbrowser

            if not webbrowser.open(open_url):
                app.out.warn("no browser found: open the URL yourself")
    except BaseException:
        tunnel.stop()
        raise
    _serve(app, tunnel, vm)


LocalPortOpt = Annotated[
    int,
    typer.Option(min=0, max=65535, metavar="PORT", help="Local port (the next free one if taken)."),
]
OpenOpt = Annotated[
    bool, typer.Option("--open", help="Open it in the browser.", show_default=False)
]


@app.command()
@shared_options(zone=True)
def jupyter(
    app: AppContext,
    name: Annotated[str, typer.Argument(metavar="NAME", help="VM name.")],
    local_port: LocalPortOpt = 8888,
    open_browser: OpenOpt = False,
    ssh_port: SshPortOpt = 22,
    user: UserOpt = None,
    identity: IdentityOpt = None,
    accept_new_host_key: AcceptNewOpt = False,
    iap: IapOpt = False,
    wait: WaitOpt = 300.0,
) -> None:
    """Forward 127.0.0.1:8888 to the VM's Jupyter and print its URL (with token) on stdout."""
    opts = SshOptions(user, identity, ssh_port, accept_new_host_key, iap)
    _jupyter(app, name, opts, local_port=local_port, wait=wait, open_browser=open_browser)


def _jupyter(
    app: AppContext,
    name: str,
    opts: SshOptions,
    *,
    local_port: int,
    wait: float,
    open_browser: bool,
) -> None:
    from labctl.ssh import jupyter as remote_jupyter
    from labctl.ssh.commands import JupyterTunnel, tunnel_jupyter

    def start(access: VmAccess, progress: Progress) -> JupyterTunnel:
        return tunnel_jupyter(
            access,
            local_port=local_port,
            wait=wait,
            # Read at call time so a custom image (or a test) can point elsewhere.
            jupyter_commands=remote_jupyter.JUPYTER_LIST_COMMANDS,
            on_progress=progress,
            on_event=app.out.info,
        )

    with ssh_logs() as secrets:
        doing = f"Connecting to {name} and waiting for Jupyter..."
        command = f"labctl tunnel jupyter {name}"
        vm, jt = _connect(app, name, opts, doing=doing, command=command, start=start)
        secrets.add(jt.server.token)
        data = {
            "url": jt.url,
            "local_port": jt.local_port,
            "remote_port": jt.server.port,
            "vm": vm.name,
            "zone": vm.zone,
        }
        message = f"Jupyter on {name} (port {jt.server.port}) is at 127.0.0.1:{jt.local_port}"
        url = jt.url if open_browser else None
        _announce_and_serve(app, vm, jt.tunnel, data, jt.url, message, open_url=url)


@app.command()
@shared_options(zone=True)
def port(
    app: AppContext,
    name: Annotated[str, typer.Argument(metavar="NAME", help="VM name.")],
    forwards: Annotated[
        list[str],
        typer.Argument(
            metavar="LOCAL:REMOTE...",
            help="Ports to forward: 6006:6006, or LOCAL:HOST:REMOTE with HOST as the VM sees it.",
        ),
    ],
    ssh_port: SshPortOpt = 22,
    user: UserOpt = None,
    identity: IdentityOpt = None,
    accept_new_host_key: AcceptNewOpt = False,
    iap: IapOpt = False,
    wait: WaitOpt = 300.0,
) -> None:
    """Forward local ports to ports on the VM (TensorBoard, a web app) until Ctrl-C."""
    from labctl.ssh.tunnel import parse_forward_spec

    for spec in forwards:
        parse_forward_spec(spec)  # a typo is reported before any API call
    opts = SshOptions(user, identity, ssh_port, accept_new_host_key, iap)
    _ports(app, name, forwards, opts, wait=wait)


def _ports(
    app: AppContext, name: str, forwards: list[str], opts: SshOptions, *, wait: float
) -> None:
    from labctl.ssh.commands import tunnel_ports

    with ssh_logs():
        vm, (tunnel, bound) = _connect(
            app,
            name,
            opts,
            doing=f"Connecting to {name}...",
            command=f"labctl tunnel port {name} {' '.join(forwards)}",
            start=lambda access, progress: tunnel_ports(
                access, forwards, wait=wait, on_progress=progress, on_event=app.out.info
            ),
        )
        rows = [
            {
                "local_port": b.local_port,
                "remote_host": b.spec.remote_host,
                "remote_port": b.spec.remote_port,
            }
            for b in bound
        ]
        text = "\n".join(
            f"127.0.0.1:{r['local_port']} -> {r['remote_host']}:{r['remote_port']}" for r in rows
        )
        data = {"vm": vm.name, "zone": vm.zone, "forwards": rows}
        _announce_and_serve(app, vm, tunnel, data, text, f"Forwarding to {name}")
