"""Fixtures: a real sshd and a real Jupyter server on 127.0.0.1, stopped by PID at teardown."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from labctl.ssh.commands import JupyterTunnel, VmAccess, tunnel_jupyter
from labctl.ssh.keys import KeyPair, ensure_key_pair
from tests.ssh.servers import (
    SSHD,
    JupyterServerProc,
    SshServer,
    jupyter_env,
    jupyter_list_command,
    start_jupyter,
    start_sshd,
)


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    """labctl's key pair as created on first use, shared by the session."""
    return ensure_key_pair(tmp_path_factory.mktemp("client-config"))


@pytest.fixture(scope="session")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterServerProc]:
    server = start_jupyter(tmp_path_factory.mktemp("jupyter"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sshd(
    tmp_path_factory: pytest.TempPathFactory, client_key: KeyPair, jupyter: JupyterServerProc
) -> Iterator[SshServer]:
    if not (os.path.exists(SSHD) and shutil.which("ssh-keygen")):
        pytest.skip(f"OpenSSH server not installed ({SSHD}); install openssh-server")
    server = start_sshd(
        tmp_path_factory.mktemp("sshd"),
        [client_key.public_openssh],
        # `jupyter server list` over SSH must read the same runtime dir as the server.
        set_env=jupyter_env(jupyter.runtime_dir.parent),
    )
    try:
        yield server
    finally:
        server.stop()


AccessFactory = Callable[..., VmAccess]


@pytest.fixture
def make_access(tmp_path: Path, sshd: SshServer, client_key: KeyPair) -> AccessFactory:
    """A VmAccess for the test sshd with a per-test config dir (so an empty known_hosts)."""

    def make(**overrides: Any) -> VmAccess:
        values: dict[str, Any] = {
            "vm_name": "lab-vm",
            "instance_id": 1234567890123,
            "host": "127.0.0.1",
            "port": sshd.port,
            "user": pwd.getpwuid(os.getuid()).pw_name,
            "config_dir": tmp_path / "config",
            "identity": client_key.private_path,
            "host_keys": dict(sshd.host_public_keys),
            "connect_timeout": 5.0,
        }
        values.update(overrides)
        return VmAccess(**values)

    return make


@contextlib.contextmanager
def jupyter_tunnel(access: VmAccess, **kwargs: Any) -> Iterator[JupyterTunnel]:
    """tunnel_jupyter to the test Jupyter (this venv's `jupyter server list`), stopped after."""
    jt = tunnel_jupyter(access, jupyter_commands=[jupyter_list_command()], wait=20, **kwargs)
    try:
        yield jt
    finally:
        jt.stop()
