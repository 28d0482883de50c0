"""Every paramiko and socket failure becomes a labctl SSH error that names its real cause."""

from __future__ import annotations

import errno
import socket

import paramiko
import pytest
from paramiko.ssh_exception import IncompatiblePeer

from labctl.ssh import failures
from labctl.ssh.errors import (
    SshAuthFailed,
    SshConnectError,
    SshConnectionClosed,
    SshConnectionRefused,
    SshLoginNotAllowed,
    SshNotSsh,
    SshProtocolError,
    SshTimeout,
    SshUnreachable,
)

ADDRESS = "203.0.113.1:22"
FACTS = {"address": ADDRESS, "kind": "vm", "name": "lab-vm"}


def banner_error(cause: BaseException) -> paramiko.SSHException:
    """What paramiko raises when reading the banner fails: the cause only as __context__."""
    wrapped = paramiko.SSHException("Error reading SSH protocol banner" + str(cause))
    wrapped.__context__ = cause
    return wrapped


@pytest.mark.parametrize(
    ("exc", "error", "message"),
    [
        (ConnectionRefusedError(errno.ECONNREFUSED, "x"), SshConnectionRefused, "refused"),
        (TimeoutError(), SshTimeout, f"no answer from {ADDRESS} within 15 s"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), SshUnreachable, "no route to"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), SshUnreachable, "no route"),
        (socket.gaierror(-2, "Name or service not known"), SshUnreachable, "cannot resolve"),
        (ConnectionResetError(errno.ECONNRESET, "x"), SshConnectionClosed, "reset"),
        (OSError(errno.EACCES, "Permission denied"), SshConnectError, "permission denied"),
    ],
)
def test_tcp_failures(exc: OSError, error: type[SshConnectError], message: str) -> None:
    got = failures.tcp_failure(exc, address=ADDRESS, waited=15.0, kind="vm", name="lab-vm")
    assert type(got) is error and message in got.message.lower()
    assert (got.address, got.name, got.kind) == (ADDRESS, "lab-vm", "vm")


@pytest.mark.parametrize(
    ("exc", "banner", "error", "message"),
    [
        (banner_error(EOFError()), False, SshConnectionClosed, "closed the connection before"),
        (
            banner_error(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")),
            False,
            SshConnectionClosed,
            "reset the connection before sending an SSH banner",
        ),
        (banner_error(TimeoutError()), False, SshTimeout, "sent no SSH banner in time"),
        (EOFError(), True, SshConnectionClosed, "closed the connection during the SSH key"),
        (None, True, SshConnectionClosed, "closed the connection during the SSH key exchange"),
        (BrokenPipeError(errno.EPIPE, "Broken pipe"), True, SshConnectionClosed, "closed"),
        (IncompatiblePeer("no acceptable kex algorithm"), True, SshProtocolError, "no SSH alg"),
        (paramiko.SSHException("Bad packet length"), True, SshProtocolError, "Bad packet"),
        (ValueError("odd"), True, SshProtocolError, "failed: odd"),
    ],
)
def test_handshake_failures(
    exc: BaseException | None, banner: bool, error: type[SshConnectError], message: str
) -> None:
    got = failures.handshake_failure(exc, banner=banner, head=b"", **FACTS)
    assert type(got) is error and message in got.message
    assert "No existing session" not in got.message and "Error reading" not in got.message


def test_not_ssh_is_what_the_server_sent() -> None:
    got = failures.handshake_failure(
        banner_error(EOFError()), banner=False, head=b"\r\n220 mail.example ESMTP\r\n", **FACTS
    )
    assert isinstance(got, SshNotSsh)
    assert got.message == f"{ADDRESS} does not speak SSH: it sent '220 mail.example ESMTP'"
    # An SSH banner, even after other lines, or a banner cut short, is SSH.
    for head in (b"SSH-2.0-OpenSSH_9.6\r\n", b"hello\r\nSSH-2.0-x\r\n", b"SS"):
        assert not isinstance(
            failures.handshake_failure(EOFError(), banner=False, head=head, **FACTS), SshNotSsh
        )


def test_handshake_timeout_says_which_phase() -> None:
    none = failures.handshake_timeout(address=ADDRESS, waited=9.5, banner=False)
    assert none.message == f"{ADDRESS} accepted the connection but sent no SSH banner within 9.5 s"
    kex = failures.handshake_timeout(address=ADDRESS, waited=12.0, banner=True)
    assert kex.message == f"the SSH key exchange with {ADDRESS} did not finish within 12 s"


def auth(exc: BaseException, active: bool = True) -> Exception:
    return failures.auth_failure(
        exc, active=active, address=ADDRESS, user="ana", key="SHA256:abc", waited=4.0, name="vm1"
    )


def test_auth_failures() -> None:
    refused = auth(paramiko.AuthenticationException("Authentication failed."))
    assert isinstance(refused, SshAuthFailed) and not isinstance(refused, SshLoginNotAllowed)
    assert str(refused) == f"{ADDRESS} did not accept key SHA256:abc for user 'ana'"

    password_only = auth(paramiko.BadAuthenticationType("Bad", ["password"]))
    assert isinstance(password_only, SshLoginNotAllowed) and "it allows: password" in str(
        password_only
    )

    slow = auth(paramiko.AuthenticationException("Authentication timeout."))
    assert isinstance(slow, SshTimeout) and "login request within 4.0 s" in str(slow)

    # paramiko says "Authentication failed" or "No existing session" when the connection died.
    for died in (
        paramiko.AuthenticationException("Authentication failed: transport shut down or saw EOF"),
        paramiko.SSHException("No existing session"),
        EOFError(),
    ):
        got = auth(died, active=False)
        assert isinstance(got, SshConnectionClosed), died
        assert str(got) == f"{ADDRESS} closed the connection during login (connection closed)"


def test_describe() -> None:
    assert failures.describe(ConnectionResetError(errno.ECONNRESET, "Connection reset")) == (
        "connection reset"
    )
    assert failures.describe(EOFError()) == "connection closed"
    assert failures.describe(paramiko.SSHException("No existing session")) == "connection closed"
    assert failures.describe(paramiko.ChannelException(2, "Connect failed")) == (
        "the server refused the channel (Connect failed)"
    )
    assert failures.describe(OSError(errno.EMFILE, "Too many open files")) == (
        "too many open files"
    )
    assert failures.describe(paramiko.SSHException()) == "SSHException"


def test_gave_up_says_how_often_and_how_long() -> None:
    error = SshConnectionRefused(f"{ADDRESS} refused the connection", address=ADDRESS)
    assert error.gave_up(1, 0.3).message == f"{ADDRESS} refused the connection"
    error.gave_up(4, 9.04)
    assert error.message == f"{ADDRESS} refused the connection (gave up after 4 attempts in 9.0 s)"
    assert str(error) == error.message
