"""Run commands on the VM through paramiko, and build argv for an interactive OpenSSH shell."""

from __future__ import annotations

import io
import logging
import select
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import paramiko

from labctl.deadline import Deadline
from labctl.ssh.connect import IapTarget, iap_proxy_command
from labctl.ssh.errors import RemoteCommandError, seconds
from labctl.ssh.failures import describe

log = logging.getLogger(__name__)

_READ_SIZE = 1 << 20
_POLL = 0.5


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


def run_command(
    transport: paramiko.Transport,
    command: str,
    *,
    stdout: BinaryIO | None = None,
    stderr: BinaryIO | None = None,
    timeout: float | None = None,
    open_timeout: float = 15.0,
) -> int:
    """Run `command` (a shell string) on the VM, stream its output, return its exit code.

    With `timeout=None` the command may run as long as it likes (a student's training
    run); each wait is still bounded so a dead connection is noticed within seconds.
    The remote exit code is returned as is; -1 means the server reported none (signal).
    """
    try:
        chan = transport.open_session(timeout=open_timeout)
    except _SSH_FAILURES as exc:
        raise RemoteCommandError(f"cannot open an SSH session: {describe(exc)}") from None
    try:
        try:
            chan.exec_command(command)
        except _SSH_FAILURES as exc:
            raise RemoteCommandError(f"the VM did not start the command: {describe(exc)}") from None
        try:
            return _stream(transport, chan, stdout, stderr, Deadline(timeout))
        except _SSH_FAILURES as exc:
            raise RemoteCommandError(
                f"the SSH connection dropped while the command ran: {describe(exc)}"
            ) from None
    finally:
        chan.close()
        for stream in (stdout, stderr):
            if stream is not None:
                stream.flush()


_SSH_FAILURES = (paramiko.SSHException, EOFError, OSError)


def _stream(
    transport: paramiko.Transport,
    chan: paramiko.Channel,
    stdout: BinaryIO | None,
    stderr: BinaryIO | None,
    deadline: Deadline,
) -> int:
    chan.shutdown_write()  # no stdin: let the command see EOF instead of hanging
    out_done = err_done = False
    while not (out_done and err_done):
        if deadline.expired():
            raise RemoteCommandError(
                f"remote command did not finish within {seconds(deadline.elapsed())}"
            )
        if not transport.is_active():
            raise RemoteCommandError("the SSH connection dropped while the command ran")
        # Channel.fileno() is a pipe paramiko signals on data, EOF or close.
        select.select([chan], [], [], deadline.cap(_POLL))
        while chan.recv_ready():
            data = chan.recv(_READ_SIZE)
            if stdout is not None:
                stdout.write(data)
        while chan.recv_stderr_ready():
            data = chan.recv_stderr(_READ_SIZE)
            if stderr is not None:
                stderr.write(data)
        if chan.eof_received or chan.closed:
            out_done = not chan.recv_ready()
            err_done = not chan.recv_stderr_ready()
    # The exit status message may arrive just after EOF.
    chan.status_event.wait(5.0)
    return chan.recv_exit_status() if chan.exit_status_ready() else -1


def capture_command(
    transport: paramiko.Transport, command: str, *, timeout: float = 30.0
) -> CommandResult:
    """Run `command` and collect its output in memory (for short commands like discovery)."""
    out, err = io.BytesIO(), io.BytesIO()
    code = run_command(transport, command, stdout=out, stderr=err, timeout=timeout)
    return CommandResult(code, out.getvalue(), err.getvalue())


def openssh_argv(
    *,
    host: str,
    user: str,
    key_path: Path,
    known_hosts_path: Path,
    alias: str,
    port: int = 22,
    command: Sequence[str] = (),
    iap: IapTarget | None = None,
    extra_args: Sequence[str] = (),
    ssh: str = "ssh",
) -> list[str]:
    """argv for the system OpenSSH with labctl's key and known_hosts and strict checking.

    Verify (and record) the host key first, e.g. with a paramiko connection: with
    StrictHostKeyChecking=yes OpenSSH refuses any key that is not already in the file.
    """
    argv = [
        ssh,
        "-i",
        str(key_path),
        "-o",
        f"UserKnownHostsFile={known_hosts_path}",
        "-o",
        f"HostKeyAlias={alias}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "CheckHostIP=no",
        "-o",
        "HashKnownHosts=no",
        "-p",
        str(port),
    ]
    if iap is not None:
        # %p lets OpenSSH substitute the port; fd passing is not supported by gcloud.
        proxy = iap_proxy_command(iap, "%p")
        argv += ["-o", f"ProxyCommand={proxy}", "-o", "ProxyUseFdpass=no"]
    if not command:
        argv.append("-t")
    argv += list(extra_args)
    argv.append(f"{user}@{host}")
    if command:
        argv.append("--")
        argv += list(command)
    return argv
