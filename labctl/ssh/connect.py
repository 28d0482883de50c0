"""Open a verified, authenticated paramiko Transport to a VM (directly or through IAP)."""

from __future__ import annotations

import contextlib
import logging
import shlex
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import paramiko

from labctl.deadline import Deadline
from labctl.labels import IAP_SOURCE_RANGE
from labctl.ssh.errors import SshConnectError, SshLoginNotAllowed, SshProxyFailed
from labctl.ssh.failures import auth_failure, handshake_failure, handshake_timeout, tcp_failure
from labctl.ssh.hostkeys import HostKeyVerifier, fingerprint_sha256
from labctl.ssh.proxy import ProxyProcess

log = logging.getLogger(__name__)

# Measured on loopback: paramiko's AES-GCM is ~1.4x faster than its default aes128-ctr +
# HMAC (one AEAD pass instead of cipher + MAC). chacha20 is listed for paramiko versions
# that implement it; names the installed paramiko lacks are filtered out.
PREFERRED_CIPHERS = (
    "aes128-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
)
# paramiko names RSA host-key algorithms by signature; known_hosts names the key type.
_HOST_KEY_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}
DEFAULT_CONNECT_TIMEOUT = 15.0
DEFAULT_KEEPALIVE = 15
_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)  # Linux only
HEAD_BYTES = 256  # how much of what the server sent first is kept for error messages
MIN_ATTEMPT = 1.0  # an attempt gets at least this long, even at the end of a wait
# paramiko's own banner and handshake timers are set this much later than labctl's, so
# labctl's wait (which knows what it was waiting for) is always the one that runs out.
_PARAMIKO_GRACE = 5.0
PROXY_LINES = 6  # the last lines of gcloud's stderr shown in the error
IAP_HINT = (
    f"IAP TCP forwarding needs a firewall rule allowing tcp:22 from {IAP_SOURCE_RANGE} and the "
    "IAP-secured Tunnel User role (roles/iap.tunnelResourceAccessor); see "
    "https://cloud.google.com/iap/docs/using-tcp-forwarding"
)


@dataclass(frozen=True)
class IapTarget:
    """Where `gcloud compute start-iap-tunnel` should connect: a VM in a project and zone."""

    instance: str
    project: str
    zone: str
    gcloud: str = "gcloud"


def iap_proxy_argv(iap: IapTarget, port: int | str = 22) -> list[str]:
    """`gcloud compute start-iap-tunnel VM PORT --listen-on-stdin --project P --zone Z`."""
    return [
        iap.gcloud,
        "compute",
        "start-iap-tunnel",
        iap.instance,
        str(port),
        "--listen-on-stdin",
        "--project",
        iap.project,
        "--zone",
        iap.zone,
        "--verbosity",
        "warning",
    ]


def iap_proxy_command(iap: IapTarget, port: int | str = 22) -> str:
    """The same command as one shell-quoted string (paramiko.ProxyCommand and OpenSSH take that)."""
    return shlex.join(iap_proxy_argv(iap, port))


@dataclass(frozen=True)
class SshTarget:
    """Everything needed to (re)open an SSH connection to one VM."""

    host: str  # IP or name to connect to; unused with `iap`
    user: str
    pkey: paramiko.PKey = field(repr=False)
    port: int = 22
    iap: IapTarget | None = None
    vm_name: str | None = None  # only for messages and hints
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    keepalive: int = DEFAULT_KEEPALIVE

    @property
    def address(self) -> str:
        return (
            f"{self.host}:{self.port}" if self.iap is None else f"IAP tunnel to {self.iap.instance}"
        )


class _RecordingSocket(socket.socket):
    """A TCP socket that keeps the first bytes the server sent, to tell "not SSH" apart.

    On Linux it also acknowledges received data at once instead of up to 40 ms later: sshd
    does not set TCP_NODELAY on a connection without a terminal, so after sending a
    channel's data it holds the next small packet (EOF, close, the next response) until that
    data is acknowledged, and Linux delays ACKs on request/response traffic, so every short
    forwarded connection stalled ~40 ms. TCP_QUICKACK is not sticky; it is set again before
    every read paramiko makes.
    """

    head = b""
    error: OSError | None = None  # the last error; paramiko turns a failed send into EOFError

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        if _QUICKACK is not None:
            self.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        try:
            data = super().recv(bufsize, flags)
        except TimeoutError:
            raise  # paramiko polls with a short timeout: not an error
        except OSError as exc:
            self.error = exc
            raise
        if len(self.head) < HEAD_BYTES:
            self.head += data[: HEAD_BYTES - len(self.head)]
        return data

    def send(self, data: Any, flags: int = 0) -> int:
        try:
            return super().send(data, flags)
        except TimeoutError:
            raise
        except OSError as exc:
            self.error = exc
            raise


Sock = socket.socket | ProxyProcess


def _facts(target: SshTarget) -> dict[str, Any]:
    return {"kind": "vm", "name": target.vm_name}


def _open_socket(target: SshTarget, clock: Deadline) -> Sock:
    if target.iap is not None:
        try:
            return ProxyProcess(iap_proxy_argv(target.iap, target.port))
        except OSError as exc:
            raise SshProxyFailed(
                f"cannot start `{target.iap.gcloud} compute start-iap-tunnel`: "
                f"{exc.strerror or exc}",
                hint="install the Google Cloud CLI (gcloud) to connect through IAP",
                address=target.address,
                **_facts(target),
            ) from None
    try:
        plain = socket.create_connection((target.host, target.port), timeout=clock.remaining())
    except OSError as exc:
        # Only a timeout's message uses `waited`: it used up the whole allowance.
        raise tcp_failure(
            exc, address=target.address, waited=clock.seconds or 0.0, **_facts(target)
        ) from None
    # Interactive traffic and small HTTP requests must not wait for Nagle's algorithm.
    plain.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    plain.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    # paramiko's Transport sets its own short timeout on the socket.
    return _RecordingSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())


def _prefer(current: Sequence[str], preferred: Sequence[str]) -> list[str]:
    first = [name for name in preferred if name in current]
    return first + [name for name in current if name not in first]


def open_transport(
    target: SshTarget, verifier: HostKeyVerifier, *, timeout: float | None = None
) -> paramiko.Transport:
    """Connect, verify the host key against `verifier`, authenticate with the target's key.

    The whole attempt takes at most `timeout` s (default and cap: `target.connect_timeout`,
    at least MIN_ATTEMPT). Raises an `SshError` subclass naming the real cause; the
    returned transport sends keepalives every `target.keepalive` seconds.
    """
    limit = target.connect_timeout if timeout is None else min(timeout, target.connect_timeout)
    clock = Deadline(max(limit, MIN_ATTEMPT))
    sock = _open_socket(target, clock)
    transport = paramiko.Transport(sock)  # type: ignore[arg-type]  # ProxyProcess is socket-like
    try:
        try:
            server_key = _handshake(transport, target, verifier, clock, sock)
            verifier.verify(server_key, target.address)
            _authenticate(transport, target, clock)
        except SshConnectError as exc:
            raise _blame_proxy(sock, target) or exc from None
        transport.set_keepalive(target.keepalive)
        log.debug(
            "connected to %s as %s in %.1f s (cipher %s)",
            target.address,
            target.user,
            clock.elapsed(),
            getattr(transport, "remote_cipher", "?"),  # set once keys are exchanged
        )
        return transport
    except BaseException:
        with contextlib.suppress(Exception):
            transport.close()
        raise


def _handshake(
    transport: paramiko.Transport,
    target: SshTarget,
    verifier: HostKeyVerifier,
    clock: Deadline,
    sock: Sock,
) -> paramiko.PKey:
    """The SSH version exchange and key exchange; returns the key the server presented.

    Waited for here rather than by paramiko: its blocking start_client() returns without an
    error when its own timeout runs out, leaving a dead session ("No existing session"
    later); waiting on its completion event tells a timeout from a failure, and the phase.
    """
    transport.banner_timeout = clock.remaining() + _PARAMIKO_GRACE
    transport.handshake_timeout = clock.remaining() + _PARAMIKO_GRACE
    opts = transport.get_security_options()
    opts.ciphers = tuple(_prefer(opts.ciphers, PREFERRED_CIPHERS))
    known = [a for t in verifier.known_key_types() for a in _HOST_KEY_ALGORITHMS.get(t, (t,))]
    # Like OpenSSH: ask for a key type already on record so the server offers that one.
    opts.key_types = tuple(_prefer(opts.key_types, known))
    done = threading.Event()
    transport.start_client(event=done)
    finished = done.wait(clock.remaining())
    banner = bool(transport.remote_version)
    facts = {"address": target.address, **_facts(target)}
    if not finished:
        raise handshake_timeout(waited=clock.seconds or 0.0, banner=banner, **facts)
    if transport.is_active():
        try:
            return transport.get_remote_server_key()
        except paramiko.SSHException:
            pass  # the connection died just after the key exchange ("No existing session")
    exc = transport.get_exception()
    if isinstance(sock, _RecordingSocket):
        if isinstance(exc, EOFError) and sock.error is not None:
            exc = sock.error  # what really happened to the socket
        raise handshake_failure(exc, banner=banner, head=sock.head, **facts)
    raise handshake_failure(exc, banner=banner, head=b"", **facts)


def _authenticate(transport: paramiko.Transport, target: SshTarget, clock: Deadline) -> None:
    transport.auth_timeout = max(clock.remaining(), MIN_ATTEMPT)
    key = fingerprint_sha256(target.pkey)
    facts = {"address": target.address, "user": target.user, "key": key, **_facts(target)}
    try:
        more = transport.auth_publickey(target.user, target.pkey)
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise auth_failure(
            exc, active=transport.is_active(), waited=transport.auth_timeout, **facts
        ) from None
    if more or not transport.is_authenticated():
        # The key was accepted as one step of several (e.g. a second factor).
        raise SshLoginNotAllowed(
            f"{target.address} accepted key {key} for {target.user!r} but asks for more "
            f"({', '.join(more) or 'another method'})",
            **_facts(target),
        )


def _blame_proxy(sock: Sock, target: SshTarget) -> SshProxyFailed | None:
    """If the IAP proxy command has exited, it is the cause: report it with its own words."""
    if not isinstance(sock, ProxyProcess):
        return None
    code = sock.exit_code(wait=1.0)
    if code is None:
        return None
    lines = sock.stderr_tail(wait=1.0)
    said = "".join(f"\n  gcloud: {line}" for line in lines[-PROXY_LINES:])
    return SshProxyFailed(
        f"the IAP tunnel to {target.iap.instance if target.iap else target.address} failed: "
        f"`gcloud compute start-iap-tunnel` exited with code {code}"
        + (f":{said}" if said else " and printed nothing"),
        hint=IAP_HINT,
        output=lines,
        address=target.address,
        **_facts(target),
    )
