"""One entry point per SSH command (tunnel jupyter/port, vm ssh, ssh-key add), on plain values."""

from __future__ import annotations

import contextlib
import logging
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Protocol

import paramiko

from labctl.deadline import Backoff, Deadline, Sleep, attempts
from labctl.ssh.connect import DEFAULT_CONNECT_TIMEOUT, IapTarget, SshTarget, open_transport
from labctl.ssh.errors import SshAuthFailed, SshConnectError, SshError
from labctl.ssh.exec import openssh_argv, run_command
from labctl.ssh.hostkeys import (
    ConfirmHostKey,
    HostKeyVerifier,
    KnownHosts,
    host_alias,
    parse_guest_attribute_host_keys,
)
from labctl.ssh.jupyter import (
    DEFAULT_JUPYTER_PORT,
    DEFAULT_WAIT,
    JUPYTER_LIST_COMMANDS,
    JupyterServer,
    Progress,
    wait_for_jupyter,
)
from labctl.ssh.keys import KeyPair, default_key_path, load_key_pair
from labctl.ssh.tunnel import BoundForward, EventFn, ForwardSpec, Tunnel, parse_forward_spec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VmAccess:
    """How to reach one VM: filled by the CLI from its options and the provider's `Vm`.

    The CLI looks the VM up through the provider, fills this, calls one function of this
    module and prints the result; nothing here knows about Typer or Google APIs.

    `host_keys` is the VM's `hostkeys/` guest attributes (`{"ssh-ed25519": BASE64, ...}`),
    empty when guest attributes are disabled.
    """

    vm_name: str
    instance_id: int | str
    host: str  # external IP; ignored with `iap`
    user: str
    config_dir: Path
    zone: str | None = None  # only for messages
    port: int = 22
    identity: Path | None = None  # --identity; default: labctl's key in config_dir
    host_keys: Mapping[str, str] = field(default_factory=dict)
    accept_new_host_key: bool = False
    confirm_host_key: ConfirmHostKey | None = None
    iap: IapTarget | None = None
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT

    @property
    def alias(self) -> str:
        return host_alias(self.instance_id)

    @property
    def known_hosts(self) -> KnownHosts:
        return KnownHosts.in_config_dir(self.config_dir)

    def key_pair(self) -> KeyPair:
        return load_key_pair(self.config_dir, self.identity)

    def key_path(self) -> Path:
        return self.identity if self.identity is not None else default_key_path(self.config_dir)


class Connect(Protocol):
    """Open a fresh verified transport; `timeout` bounds the attempt (default: the target's)."""

    def __call__(self, timeout: float | None = None) -> paramiko.Transport: ...


def connector(access: VmAccess) -> Connect:
    """A function opening a fresh verified transport per call (the tunnel reconnects with it)."""
    target = SshTarget(
        host=access.host,
        user=access.user,
        pkey=access.key_pair().pkey,
        port=access.port,
        iap=access.iap,
        vm_name=access.vm_name,
        connect_timeout=access.connect_timeout,
    )
    verifier = HostKeyVerifier(
        access.known_hosts,
        access.alias,
        published=parse_guest_attribute_host_keys(access.host_keys),
        accept_new=access.accept_new_host_key,
        confirm=access.confirm_host_key,
        vm_name=access.vm_name,
    )

    def connect(timeout: float | None = None) -> paramiko.Transport:
        return open_transport(target, verifier, timeout=timeout)

    return connect


# While a VM boots, sshd first refuses, then may drop connections while the guest agent
# regenerates host keys and restarts it: try again soon, then every few seconds.
BOOT_BACKOFF = Backoff(initial=1.0, maximum=5.0)


def connect_when_ready(
    connect: Connect,
    deadline: Deadline,
    *,
    backoff: Backoff = BOOT_BACKOFF,
    retry_auth: bool = False,
    on_progress: Progress | None = None,
    sleep: Sleep = time.sleep,
) -> paramiko.Transport:
    """Connect, retrying what a booting VM looks like (refused, no answer, dropped) until
    `deadline`; with `retry_auth`, a refused key too (new keys take a while to reach the VM).

    Anything else (a host-key problem, not SSH, IAP failing) is raised at once. The error
    raised when time runs out is the last attempt's, saying how many there were and how long
    they took.
    """
    last: SshError | None = None
    count = 0
    for count in attempts(deadline, backoff, sleep=sleep):
        if last is not None and on_progress is not None:
            on_progress(deadline.elapsed(), f"attempt {count}; the last one: {last.message}")
        try:
            return connect(deadline.remaining())
        except SshConnectError as exc:
            if not exc.booting:
                raise
            last = exc
        except SshAuthFailed as exc:
            if not retry_auth:
                raise
            last = exc
        log.debug("SSH attempt %d failed: %s", count, last.message)
    assert last is not None  # attempts() yields at least once
    raise last.gave_up(count, deadline.elapsed())


@dataclass
class JupyterTunnel:
    """A running tunnel to the VM's Jupyter. `url` holds the token: show it, never log it."""

    tunnel: Tunnel
    server: JupyterServer
    local_port: int
    url: str = field(repr=False)

    def stop(self) -> None:
        self.tunnel.stop()


def _remote_host(server: JupyterServer) -> str:
    host = urllib.parse.urlsplit(server.url).hostname or ""
    # A wildcard bind or an empty host means "every interface"; loopback reaches it.
    return "localhost" if host in ("", "0.0.0.0", "::", "*") else host


def tunnel_jupyter(
    access: VmAccess,
    *,
    local_port: int = DEFAULT_JUPYTER_PORT,
    wait: float = DEFAULT_WAIT,
    jupyter_commands: Sequence[str] = JUPYTER_LIST_COMMANDS,
    on_progress: Progress | None = None,
    on_event: EventFn | None = None,
) -> JupyterTunnel:
    """`labctl tunnel jupyter VM`: connect, wait for Jupyter, forward 127.0.0.1:local_port to it.

    `wait` bounds both waits together: for SSH while the VM boots, then for Jupyter. Returns
    a started tunnel; the caller prints `url`, optionally opens a browser, then `wait()`s
    until Ctrl-C and `stop()`s. `local_port` moves to the next free port if busy.
    """
    deadline = Deadline(wait)
    with _connection(access, deadline, on_progress) as (connect, transport):
        server = wait_for_jupyter(
            lambda: transport,
            deadline,
            commands=jupyter_commands,
            on_progress=on_progress,
            vm_name=access.vm_name,
            zone=access.zone,
        )
        forward = ForwardSpec(local_port, server.port, _remote_host(server))
        tunnel, (bound,) = _start_tunnel(access, connect, transport, [forward], on_event)
    return JupyterTunnel(tunnel, server, bound.local_port, server.browser_url(bound.local_port))


def tunnel_ports(
    access: VmAccess,
    specs: Sequence[str],
    *,
    wait: float = 0.0,
    on_progress: Progress | None = None,
    on_event: EventFn | None = None,
) -> tuple[Tunnel, list[BoundForward]]:
    """`labctl tunnel port VM 6006:6006 8080:80`: several forwards on one SSH connection,
    waiting up to `wait` s for SSH on a VM that is still booting."""
    forwards = [parse_forward_spec(s) for s in specs]
    with _connection(access, Deadline(wait), on_progress) as (connect, transport):
        return _start_tunnel(access, connect, transport, forwards, on_event)


@contextlib.contextmanager
def _connection(
    access: VmAccess, deadline: Deadline, on_progress: Progress | None
) -> Iterator[tuple[Connect, paramiko.Transport]]:
    """Connect, waiting while the VM boots; the connection is closed if the block fails."""
    connect = connector(access)
    transport = connect_when_ready(connect, deadline, on_progress=on_progress)
    try:
        yield connect, transport
    except BaseException:
        transport.close()
        raise


def _start_tunnel(
    access: VmAccess,
    connect: Connect,
    transport: paramiko.Transport,
    forwards: Sequence[ForwardSpec],
    on_event: EventFn | None,
) -> tuple[Tunnel, list[BoundForward]]:
    """A started tunnel over `transport` (reconnecting with `connect`), and its listeners."""
    tunnel = Tunnel(
        connect, forwards, transport=transport, on_event=on_event, vm_name=access.vm_name
    )
    return tunnel, tunnel.start()


def vm_ssh_run(
    access: VmAccess,
    command: str,
    *,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    timeout: float | None = None,
) -> int:
    """`labctl vm ssh VM -- COMMAND...`: run it, stream its output, return its exit code.

    `command` is a shell line, run by the remote shell as OpenSSH does, so `-- 'cd x && make'`
    works.
    """
    transport = connector(access)()
    try:
        return run_command(transport, command, stdout=stdout, stderr=stderr, timeout=timeout)
    finally:
        transport.close()


def vm_ssh_interactive_argv(access: VmAccess) -> list[str]:
    """`labctl vm ssh VM`: argv for the system `ssh`, to `os.execvp` into.

    Connects once with paramiko first so the host key is verified and recorded (OpenSSH
    then runs with StrictHostKeyChecking=yes) and a missing key gives labctl's own error.
    """
    connector(access)().close()
    return openssh_argv(
        # With IAP and no external IP the name only labels the session; the alias picks keys.
        host=access.host or access.alias,
        user=access.user,
        key_path=access.key_path(),
        known_hosts_path=access.known_hosts.path,
        alias=access.alias,
        port=access.port,
        iap=access.iap,
    )


def wait_for_ssh_key(
    access: VmAccess,
    *,
    timeout: float = 90.0,
    interval: float = 3.0,
    on_progress: Progress | None = None,
    sleep: Sleep = time.sleep,
) -> None:
    """Poll until the VM accepts the key (the guest agent applies metadata within ~a minute)."""
    connect_when_ready(
        connector(access),
        Deadline(timeout),
        backoff=Backoff(initial=interval, maximum=interval),
        retry_auth=True,
        on_progress=on_progress,
        sleep=sleep,
    ).close()
