"""Errors raised by the SSH layer: the real cause in one line, and the facts the CLI advises on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from labctl.errors import LabctlError


class SshError(LabctlError):
    """Base class for everything that goes wrong while reaching a VM over SSH.

    Errors carry facts (`kind="vm"`, `name`, `address` ...), never a labctl command: the
    CLI's error table turns them into advice, and `hint` only holds advice about other tools
    (ssh-keygen, gcloud) or files.
    """

    def gave_up(self, attempts: int, waited: float) -> SshError:
        """This error as the last of `attempts` tries over `waited` seconds; it says so."""
        if attempts > 1:
            tries = f"{attempts} attempts in {seconds(waited)}"
            self.message = f"{self.message} (gave up after {tries})"
            self.args = (self.message,)
        return self


class KeyFileError(SshError):
    """An identity file is missing, unreadable, too widely readable, encrypted or not a key."""

    exit_code = 2


class InvalidUsername(SshError):
    """A name that cannot be a Linux user on the VM."""

    exit_code = 2


class SshKeysTooLarge(SshError):
    """The merged `ssh-keys` metadata value is over Compute Engine's 256 KB limit."""


class HostKeyError(SshError):
    """The VM's host key could not be verified; the connection was not used."""


class UnknownHostKey(HostKeyError):
    """The VM presented a host key labctl has never seen, and nobody agreed to trust it."""


class HostKeyChanged(HostKeyError):
    """The VM presented a key that differs from the one recorded for it in known_hosts."""


class HostKeyMismatch(HostKeyError):
    """The VM presented a key that differs from the keys it published in guest attributes."""


class SshConnectError(SshError):
    """The TCP connection or the SSH handshake failed. `address` is what was dialled.

    `booting` is True for the failures a VM that is still starting produces (refused, no
    answer, dropped by an sshd that restarts): those are retried while the caller waits.
    """

    booting = False

    def __init__(self, message: str, *, address: str = "", **facts: Any) -> None:
        super().__init__(message, **facts)
        self.address = address


class SshConnectionRefused(SshConnectError):
    """Nothing accepted the TCP connection on the SSH port."""

    booting = True


class SshTimeout(SshConnectError):
    """The TCP connect, SSH banner, key exchange or login did not finish in time."""

    booting = True


class SshConnectionClosed(SshConnectError):
    """The server reset or closed the connection before SSH was set up (sshd (re)starting)."""

    booting = True


class SshUnreachable(SshConnectError):
    """No route to the address, or its name does not resolve."""


class SshNotSsh(SshConnectError):
    """Something answered on the port, but not an SSH server."""


class SshProtocolError(SshConnectError):
    """The SSH handshake failed for a protocol reason (no common algorithm, bad packet)."""


class SshProxyFailed(SshConnectError):
    """The IAP tunnel (`gcloud compute start-iap-tunnel`) failed; `output` is its last lines."""

    def __init__(self, message: str, *, output: Sequence[str] = (), **facts: Any) -> None:
        super().__init__(message, **facts)
        self.output = tuple(output)


class SshAuthFailed(SshError):
    """The server did not accept labctl's key for that user."""


class SshLoginNotAllowed(SshAuthFailed):
    """The server does not allow public-key login for that user (or wants more than a key)."""


class RemoteCommandError(SshError):
    """A command run on the VM could not be started or did not finish in time."""


class TunnelError(SshError):
    """The local forwarder could not listen or lost the VM for good."""


class JupyterNotRunning(SshError):
    """No Jupyter server appeared on the VM before the deadline."""


def seconds(value: float) -> str:
    """`0.8 s`, `12 s`: how long something took, as a person reads it."""
    return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"
