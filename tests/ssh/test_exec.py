"""Remote commands through paramiko, and the argv handed to the system OpenSSH."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from labctl.ssh.commands import connector, vm_ssh_interactive_argv, vm_ssh_run
from labctl.ssh.connect import IapTarget
from labctl.ssh.errors import RemoteCommandError
from labctl.ssh.exec import openssh_argv, run_command
from tests.ssh.conftest import AccessFactory
from tests.ssh.servers import SshServer


@pytest.mark.slow
def test_remote_exec_passes_output_and_exit_code(make_access: AccessFactory) -> None:
    out, err = io.BytesIO(), io.BytesIO()
    code = vm_ssh_run(
        make_access(),
        "echo out; echo err >&2; head -c 3000000 /dev/zero | wc -c; exit 3",
        stdout=out,
        stderr=err,
        timeout=20,
    )
    assert code == 3
    assert out.getvalue() == b"out\n3000000\n" and err.getvalue() == b"err\n"


@pytest.mark.slow
def test_a_dropped_connection_is_a_remote_command_error(
    make_access: AccessFactory, sshd: SshServer
) -> None:
    transport = connector(make_access())()
    try:
        sshd.kill_sessions()  # the VM goes away while labctl holds the connection
        with pytest.raises(RemoteCommandError) as info:
            run_command(transport, "sleep 5", timeout=20)
        # Reset or closed, depending on what the kernel saw first; never paramiko's words.
        assert info.value.message in (
            "cannot open an SSH session: connection reset",
            "cannot open an SSH session: connection closed",
        )
    finally:
        transport.close()


@pytest.mark.slow
def test_openssh_uses_labctl_key_and_known_hosts(make_access: AccessFactory) -> None:
    access = make_access()
    argv = vm_ssh_interactive_argv(access)  # verifies and records the host key first
    assert "StrictHostKeyChecking=yes" in argv and f"HostKeyAlias={access.alias}" in argv
    argv = openssh_argv(
        host=access.host,
        user=access.user,
        key_path=access.key_path(),
        known_hosts_path=access.known_hosts.path,
        alias=access.alias,
        port=access.port,
        command=["echo", "via-openssh"],
        extra_args=["-o", "BatchMode=yes", "-F", "/dev/null"],
    )
    out = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "via-openssh\n"


def test_openssh_argv_through_iap() -> None:
    iap = IapTarget("lab-vm", "my-proj", "europe-west4-a")
    argv = openssh_argv(
        host="lab-vm",
        user="u",
        key_path=Path("/k"),
        known_hosts_path=Path("/kh"),
        alias="compute.1",
        iap=iap,
    )
    assert (
        "ProxyCommand=gcloud compute start-iap-tunnel lab-vm %p --listen-on-stdin "
        "--project my-proj --zone europe-west4-a --verbosity warning" in argv
    )
    assert "ProxyUseFdpass=no" in argv and argv[-1] == "u@lab-vm" and "-t" in argv
