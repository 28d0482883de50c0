"""Errors raised by the SSH layer; each carries a one-line message and the next thing to try."""

from __future__ import annotations

from labctl.errors import LabctlError


class SshError(LabctlError):
    """Base class for everything that goes wrong while reaching a VM over SSH."""


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
    """The TCP or SSH connection could not be established."""


class SshConnectionRefused(SshConnectError):
    """Nothing accepted the TCP connection on the SSH port."""


class SshTimeout(SshConnectError):
    """The TCP connect, SSH banner or handshake did not finish in time."""


class SshAuthFailed(SshError):
    """The server did not accept labctl's key for that user."""


class RemoteCommandError(SshError):
    """A command run on the VM could not be started or did not finish in time."""


class TunnelError(SshError):
    """The local forwarder could not listen or lost the VM for good."""


class JupyterNotRunning(SshError):
    """No Jupyter server appeared on the VM before the deadline."""
