"""Every way reaching a VM over SSH fails, as one labctl error that names the real cause."""

from __future__ import annotations

import errno
import socket
from typing import Any

import paramiko
from paramiko.ssh_exception import IncompatiblePeer

from labctl.ssh.errors import (
    SshAuthFailed,
    SshConnectError,
    SshConnectionClosed,
    SshConnectionRefused,
    SshError,
    SshLoginNotAllowed,
    SshNotSsh,
    SshProtocolError,
    SshTimeout,
    SshUnreachable,
    seconds,
)

# paramiko reports most failures as a bare SSHException whose text hides the cause ("Error
# reading SSH protocol banner" for a reset, an EOF and a timeout alike; "No existing session"
# after any of them). These functions look at the underlying exception, the phase, and what
# the server actually sent, so a message says "refused", "reset", "no banner within 4 s" or
# "not SSH" instead.
_NO_ROUTE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
_BANNER_ERROR = "Error reading SSH protocol banner"


def tcp_failure(exc: OSError, *, address: str, waited: float, **facts: Any) -> SshConnectError:
    """The TCP connect to `address` failed after `waited` seconds."""
    facts["address"] = address
    if isinstance(exc, ConnectionRefusedError):
        return SshConnectionRefused(f"{address} refused the connection", **facts)
    if isinstance(exc, TimeoutError):
        return SshTimeout(f"no answer from {address} within {seconds(waited)}", **facts)
    if isinstance(exc, socket.gaierror):
        return SshUnreachable(f"cannot resolve {address}: {exc.strerror or exc}", **facts)
    if exc.errno in _NO_ROUTE:
        return SshUnreachable(f"no route to {address} ({exc.strerror})", **facts)
    if isinstance(exc, ConnectionResetError):
        return SshConnectionClosed(f"{address} reset the connection", **facts)
    return SshConnectError(f"cannot connect to {address}: {exc.strerror or exc}", **facts)


def handshake_timeout(
    *, address: str, waited: float, banner: bool, **facts: Any
) -> SshConnectError:
    """Nothing failed, but the handshake was not done within `waited` seconds."""
    if banner:
        what = f"the SSH key exchange with {address} did not finish within {seconds(waited)}"
    else:
        what = f"{address} accepted the connection but sent no SSH banner within {seconds(waited)}"
    return SshTimeout(what, address=address, **facts)


def handshake_failure(
    exc: BaseException | None, *, address: str, banner: bool, head: bytes, **facts: Any
) -> SshConnectError:
    """The SSH handshake ended with `exc` (None: the transport just stopped).

    `banner`: the server's SSH version line was read; `head`: the first bytes it sent.
    """
    facts["address"] = address
    sent = _not_ssh(head) if not banner else None
    if sent is not None:
        return SshNotSsh(f"{address} does not speak SSH: it sent {sent!r}", **facts)
    cause: BaseException | None = exc
    if isinstance(exc, paramiko.SSHException) and str(exc).startswith(_BANNER_ERROR):
        # paramiko wraps the reset, EOF or timeout it hit while reading the banner.
        cause = exc.__context__
    phase = "during the SSH key exchange" if banner else "before sending an SSH banner"
    if cause is None or isinstance(cause, EOFError | BrokenPipeError | ConnectionAbortedError):
        return SshConnectionClosed(f"{address} closed the connection {phase}", **facts)
    if isinstance(cause, ConnectionResetError):
        return SshConnectionClosed(f"{address} reset the connection {phase}", **facts)
    if isinstance(cause, TimeoutError):
        return SshTimeout(f"{address} sent no SSH banner in time", **facts)
    if isinstance(cause, IncompatiblePeer):
        return SshProtocolError(f"{address} and labctl share no SSH algorithm: {cause}", **facts)
    if isinstance(cause, OSError):
        what = f"the connection to {address} failed {phase}: {describe(cause)}"
        return SshConnectError(what, **facts)
    return SshProtocolError(f"the SSH handshake with {address} failed: {describe(cause)}", **facts)


def auth_failure(
    exc: BaseException,
    *,
    active: bool,
    address: str,
    user: str,
    key: str,
    waited: float,
    **facts: Any,
) -> SshError:
    """Public-key login as `user` with the key whose fingerprint is `key` ended with `exc`."""
    if not active or not isinstance(exc, paramiko.AuthenticationException):
        # paramiko reports a connection that died mid-login as "Authentication failed:
        # transport shut down" or "No existing session": it was the connection, not the key.
        return SshConnectionClosed(
            f"{address} closed the connection during login ({describe(exc)})",
            address=address,
            **facts,
        )
    if isinstance(exc, paramiko.BadAuthenticationType):
        allowed = ", ".join(exc.allowed_types) or "nothing"
        return SshLoginNotAllowed(
            f"{address} does not allow public-key login for {user!r} (it allows: {allowed})",
            **facts,
        )
    if "timeout" in str(exc).lower():
        return SshTimeout(
            f"{address} did not answer the login request within {seconds(waited)}",
            address=address,
            **facts,
        )
    return SshAuthFailed(f"{address} did not accept key {key} for user {user!r}", **facts)


def describe(exc: BaseException) -> str:
    """A short, true description of a low-level error, for messages ("connection reset")."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, EOFError | BrokenPipeError | ConnectionAbortedError):
        return "connection closed"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, paramiko.ChannelException):
        return f"the server refused the channel ({exc.text})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[:1].lower() + exc.strerror[1:]
    text = str(exc)
    if text == "No existing session" or "transport shut down" in text:
        return "connection closed"
    return text or type(exc).__name__


def _not_ssh(head: bytes) -> str | None:
    """The first line `head` holds if the server sent something and none of it is SSH."""
    if not head.strip() or head.startswith(b"SSH-") or b"\nSSH-" in head:
        return None
    if len(head) < 4 and b"SSH-".startswith(head):
        return None  # the start of a banner that was cut off
    first = next(line for line in head.splitlines() if line.strip())
    return first[:60].decode("ascii", errors="replace")
