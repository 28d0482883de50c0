"""`labctl vm ssh`: run a command on a VM through paramiko, or open an interactive OpenSSH shell."""

from __future__ import annotations

import io
import logging
import os
import shlex
import shutil
import sys
from typing import TYPE_CHECKING, Annotated, BinaryIO, cast

import typer

from labctl.cli._app import AppContext, shared_options
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
from labctl.cli.vm import app
from labctl.errors import LabctlError

# paramiko and the SSH layer are imported inside the functions: `labctl --help` must not pay.
if TYPE_CHECKING:
    from labctl.ssh.commands import VmAccess

log = logging.getLogger(__name__)


class _Passthrough(io.RawIOBase):
    """Forward remote output as it arrives: sys.stdout.buffer would hold it until 8 KiB."""

    def __init__(self, stream: BinaryIO) -> None:
        super().__init__()
        self._stream = stream

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        chunk = bytes(cast(bytes, data))
        self._stream.write(chunk)
        self._stream.flush()
        return len(chunk)


CommandArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[-- COMMAND...]",
        help="Run this instead of a shell. Several words are passed as they are; "
        "one word is a shell line (-- 'cd data && ls').",
        show_default=False,
    ),
]


@app.command("ssh")
@shared_options(zone=True, fmt=False)
def ssh(
    app: AppContext,
    name: Annotated[str, typer.Argument(metavar="NAME", help="VM name.")],
    command: CommandArg = None,
    user: UserOpt = None,
    identity: IdentityOpt = None,
    ssh_port: SshPortOpt = 22,
    accept_new_host_key: AcceptNewOpt = False,
    iap: IapOpt = False,
) -> None:
    """Open a shell on a VM (system ssh), or run one command and exit with its exit code."""
    opts = SshOptions(user, identity, ssh_port, accept_new_host_key, iap)
    # Checked before any API call: without OpenSSH there is nothing to hand the terminal to.
    ssh_path = None if command else shutil.which("ssh")
    if not command and ssh_path is None:
        raise LabctlError(
            "the OpenSSH client (ssh) is not installed",
            hint="install it (Debian/Ubuntu: apt install openssh-client), or run a single "
            f"command without it: labctl vm ssh {name} -- COMMAND",
        )
    with ssh_logs():
        with app.out.spinner(f"Looking up {name}..."):
            vm = running_vm(app, name)
            access = vm_access(
                app, vm, opts, command=f"labctl vm ssh {name}", confirm=host_key_prompt()
            )
        if command:
            raise typer.Exit(_run_remote(access, command))
        assert ssh_path is not None
        _exec_openssh(access, ssh_path)


def _run_remote(access: VmAccess, command: list[str]) -> int:
    """Run one command through paramiko with its output passed through; its exit code."""
    from labctl.ssh.commands import vm_ssh_run

    # Words are quoted so `-- sh -c 'echo hi; exit 3'` arrives as three words, as with
    # docker/kubectl exec; a single word stays a shell line so pipes and && work.
    line = command[0] if len(command) == 1 else shlex.join(command)
    sys.stdout.flush()
    sys.stderr.flush()
    code = vm_ssh_run(
        access,
        line,
        stdout=cast(BinaryIO, _Passthrough(sys.stdout.buffer)),
        stderr=cast(BinaryIO, _Passthrough(sys.stderr.buffer)),
    )
    # -1: the remote command died of a signal; OpenSSH reports that as 255 too.
    return code if code >= 0 else 255


def _exec_openssh(access: VmAccess, ssh_path: str) -> None:
    from labctl.ssh.commands import vm_ssh_interactive_argv

    argv = vm_ssh_interactive_argv(access)  # verifies and records the host key first
    log.debug("running %s", shlex.join(argv))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvp(ssh_path, argv)
