"""A fake VM reached over a real sshd and Jupyter on 127.0.0.1, for the SSH commands' CLI tests."""

from __future__ import annotations

import contextlib
import logging
import os
import pwd
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from typer.testing import CliRunner, Result

from labctl.cli import app
from labctl.cli._app import AppContext
from labctl.config import config_dir
from labctl.models import VmSpec
from labctl.providers.fake.compute import FakeCompute
from labctl.ssh import jupyter as remote_jupyter
from labctl.ssh import keys
from labctl.ssh.keys import KeyPair, default_key_path, ensure_key_pair
from tests.ssh.servers import (
    SSHD,
    JupyterServerProc,
    SshServer,
    get,
    jupyter_env,
    jupyter_list_command,
    start_jupyter,
    start_sshd,
)

VM, ZONE = "lab-vm", "us-central1-c"
USER = pwd.getpwuid(os.getuid()).pw_name  # the test sshd can only log in as its own user


# The fake VM's external IP is 127.0.0.1 and `--ssh-port` points at the test sshd; its guest
# attributes publish the sshd's host key, as the guest agent would. Test modules take the
# fixtures they use from here (`servers, lab_vm = _ssh_vm.servers, _ssh_vm.lab_vm`).


def add_vm(fake: FakeCompute, *, ip: str | None = "127.0.0.1") -> None:
    """The course VM, running, at `ip`."""
    fake.insert_vm(
        VmSpec(VM, ZONE, "n1-standard-8", "img-project", "img-family", 50), request_id="r"
    )
    fake.set_external_ip(VM, ZONE, ip)


@dataclass
class LabVm:
    sshd: SshServer
    jupyter: JupyterServerProc
    key: KeyPair

    @property
    def ssh_args(self) -> list[str]:
        return ["--user", USER, "--ssh-port", str(self.sshd.port)]


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SshServer, JupyterServerProc, KeyPair]]:
    if not (os.path.exists(SSHD) and shutil.which("ssh-keygen")):
        pytest.skip(f"OpenSSH server not installed ({SSHD}); install openssh-server")
    key = ensure_key_pair(tmp_path_factory.mktemp("client"))
    jupyter = start_jupyter(tmp_path_factory.mktemp("jupyter"))
    try:
        # `jupyter server list` over SSH must read the server's runtime dir.
        env = jupyter_env(jupyter.runtime_dir.parent)
        sshd = start_sshd(tmp_path_factory.mktemp("sshd"), [key.public_openssh], set_env=env)
        try:
            yield sshd, jupyter, key
        finally:
            sshd.stop()
    finally:
        jupyter.stop()


@pytest.fixture
def lab_vm(
    servers: tuple[SshServer, JupyterServerProc, KeyPair],
    fake_compute: FakeCompute,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[LabVm]:
    sshd, jupyter, key = servers
    add_vm(fake_compute)
    fake_compute.set_guest_attributes(
        VM, ZONE, {"hostkeys/ssh-ed25519": sshd.host_public_keys["ssh-ed25519"]}
    )
    # labctl's own key where it looks for it, so the default --identity is exercised.
    dest = default_key_path(config_dir())
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(key.private_path, dest)
    dest.chmod(0o600)
    # The test "VM" runs this venv's jupyter, not the one the startup script installs.
    monkeypatch.setattr(remote_jupyter, "JUPYTER_LIST_COMMANDS", (jupyter_list_command(),))
    # The test sshd logs in only as the user running the tests; labctl refuses system
    # accounts such as root as the VM user, so under root (a container) allow it here.
    monkeypatch.setattr(keys, "RESERVED_USERNAMES", keys.RESERVED_USERNAMES - {USER})
    with kept_logging():
        yield LabVm(sshd, jupyter, key)


@contextlib.contextmanager
def kept_logging() -> Iterator[None]:
    """Leave the root logger as it was: every command configures it for its -v level."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


class Background:
    """A blocking tunnel command in a thread; leaving the block stops it through `app.stop`."""

    def __init__(self, runner: CliRunner, args: Sequence[str], context: AppContext) -> None:
        self.result: Result | None = None
        self.context = context
        self.thread = threading.Thread(target=self._run, args=(runner, list(args)), daemon=True)

    def _run(self, runner: CliRunner, args: list[str]) -> None:
        self.result = runner.invoke(app, args, obj=self.context)

    def __enter__(self) -> Background:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.context.stop.set()  # what Ctrl-C does, from another thread
        self.thread.join(30)
        assert not self.thread.is_alive(), "the tunnel command did not stop"

    def served_port(self, ports: Sequence[int], token: str, timeout: float = 30.0) -> int:
        """The first of `ports` where Jupyter answers through the tunnel."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.thread.is_alive():
                raise AssertionError(f"command ended early: {self.result and self.result.stderr}")
            for port in ports:
                with contextlib.suppress(OSError):
                    if get(port, f"/api/status?token={token}", timeout=5) == 200:
                        return port
            time.sleep(0.1)
        raise AssertionError(f"no tunnel on {ports} within {timeout} s")

    @property
    def done(self) -> Result:
        assert self.result is not None
        return self.result
