"""`labctl tunnel` and `labctl vm ssh` via the CLI: the fake provider, a real sshd and Jupyter.

The fake VM's external IP is 127.0.0.1 and `--ssh-port` points at the test sshd; its
guest attributes publish the sshd's host key, as the guest agent would.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from labctl.cli import _ssh, app, tunnel
from labctl.config import config_dir
from labctl.models import VmSpec
from labctl.providers.fake.compute import FakeCompute
from labctl.ssh import jupyter as remote_jupyter
from labctl.ssh.hostkeys import KnownHosts
from labctl.ssh.keys import KeyPair, default_key_path, ensure_key_pair
from tests.ssh.servers import (
    SSHD,
    JupyterServerProc,
    SshServer,
    free_port,
    jupyter_env,
    jupyter_list_command,
    start_jupyter,
    start_sshd,
    stop_process,
)

pytestmark = pytest.mark.slow
VM, ZONE = "lab-vm", "us-central1-c"
USER = pwd.getpwuid(os.getuid()).pw_name  # the test sshd can only log in as its own user


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
    spec = VmSpec(VM, ZONE, "n1-standard-8", "img-project", "img-family", 50)
    fake_compute.create_vm(spec, request_id="req-1")
    fake_compute.set_external_ip(VM, ZONE, "127.0.0.1")
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
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    tunnel.stop_requested.clear()
    yield LabVm(sshd, jupyter, key)
    tunnel.stop_requested.clear()
    root.handlers[:] = handlers  # -v configures the root logger; leave it as it was
    root.setLevel(level)


def get(port: int, path: str, timeout: float = 10.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


class Background:
    """A blocking tunnel command in a thread; leaving the block stops it as Ctrl-C would."""

    def __init__(self, runner: CliRunner, args: Sequence[str]) -> None:
        self.result: Result | None = None
        self.thread = threading.Thread(target=self._run, args=(runner, list(args)), daemon=True)

    def _run(self, runner: CliRunner, args: list[str]) -> None:
        self.result = runner.invoke(app, args)

    def __enter__(self) -> Background:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        tunnel.stop_requested.set()
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


def test_jupyter_url_on_stdout_and_api_answers(
    runner: CliRunner, lab_vm: LabVm, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    port, token = free_port(), lab_vm.jupyter.token
    args = ["tunnel", "jupyter", VM, "--local-port", str(port), "--open", *lab_vm.ssh_args]
    with Background(runner, args) as bg:
        assert bg.served_port([port], token) == port
        assert get(port, "/api/status") == 403  # the token is still required
    result = bg.done
    assert result.exit_code == 0, result.stderr
    url = f"http://127.0.0.1:{port}/lab?token={token}"
    assert result.stdout == url + "\n"  # the one thing on stdout
    assert opened == [url]
    assert "press Ctrl-C" in result.stderr and token not in result.stderr
    assert KnownHosts.in_config_dir(config_dir()).path.exists()  # the host key was recorded


def test_json_busy_port_and_no_token_in_verbose_logs(runner: CliRunner, lab_vm: LabVm) -> None:
    token = lab_vm.jupyter.token
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        args = ["tunnel", "jupyter", VM, "--local-port", str(taken), *lab_vm.ssh_args]
        with Background(runner, [*args, "--format", "json", "-vv"]) as bg:
            port = bg.served_port(range(taken + 1, taken + 21), token)
            # Any library that logs the URL or the bare token while the tunnel runs.
            chatty = logging.getLogger("tests.chatty_library")
            chatty.warning("GET http://127.0.0.1:%d/lab?token=%s", port, token)
            chatty.warning("bare %s", token)
    result = bg.done
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "url": f"http://127.0.0.1:{port}/lab?token={token}",
        "local_port": port,
        "remote_port": lab_vm.jupyter.port,
        "vm": VM,
        "zone": ZONE,
    }
    assert f"local port {taken} is in use; using {port} instead" in result.stderr
    assert "DEBUG paramiko" in result.stderr  # -vv did log the SSH session...
    assert token not in result.stderr  # ...without the token
    assert "/lab?token=***" in result.stderr and "bare ***" in result.stderr


def test_reconnect_is_reported(runner: CliRunner, lab_vm: LabVm) -> None:
    port, token = free_port(), lab_vm.jupyter.token
    with Background(
        runner, ["tunnel", "jupyter", VM, "--local-port", str(port), *lab_vm.ssh_args]
    ) as bg:
        bg.served_port([port], token)
        assert lab_vm.sshd.kill_sessions()  # the VM drops the SSH connection
        # A request racing the drop may fail (a browser retries it); then the same port
        # serves again over a new connection.
        assert bg.served_port([port], token) == port
    result = bg.done
    assert result.exit_code == 0, result.stderr
    assert "SSH connection lost; reconnecting" in result.stderr
    assert "SSH connection re-established" in result.stderr


@contextlib.contextmanager
def echo_server() -> Iterator[int]:
    """A loopback TCP server that sends back what it receives (one connection at a time)."""
    lsock = socket.create_server(("127.0.0.1", 0))
    lsock.settimeout(30)

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = lsock.accept()
            with conn:
                conn.settimeout(30)
                while data := conn.recv(1 << 16):
                    conn.sendall(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield lsock.getsockname()[1]
    finally:
        lsock.close()
        thread.join(30)


def test_port_forwards_both_ways(runner: CliRunner, lab_vm: LabVm) -> None:
    port, echo_local, remote = free_port(), free_port(), lab_vm.jupyter.port
    payload = os.urandom(24 << 20)  # more than the SSH window: uploads must wait for it
    with echo_server() as echo_port:
        forwards = [f"{port}:{remote}", f"{echo_local}:127.0.0.1:{echo_port}"]
        with Background(runner, ["tunnel", "port", VM, *forwards, *lab_vm.ssh_args]) as bg:
            bg.served_port([port], lab_vm.jupyter.token)
            got = bytearray()
            with socket.create_connection(("127.0.0.1", echo_local), timeout=30) as sock:
                sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
                sender.start()
                while len(got) < len(payload) and (chunk := sock.recv(1 << 20)):
                    got += chunk
                sender.join(30)
            assert got == payload
    result = bg.done
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"127.0.0.1:{port} -> localhost:{remote}",
        f"127.0.0.1:{echo_local} -> 127.0.0.1:{echo_port}",
    ]


def test_unknown_host_key_refused_without_tty_accepted_with_flag(
    runner: CliRunner, lab_vm: LabVm, fake_compute: FakeCompute
) -> None:
    fake_compute.set_guest_attributes(VM, ZONE, {})  # guest attributes publish nothing
    port = free_port()
    args = ["tunnel", "jupyter", VM, "--local-port", str(port), *lab_vm.ssh_args]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 1
    assert "presented an unknown" in refused.stderr and "SHA256:" in refused.stderr
    assert "--accept-new-host-key" in refused.stderr
    assert refused.stdout == ""
    assert refused.stderr.splitlines()[-2].startswith("error: ")  # one line plus the hint

    with Background(runner, [*args, "--accept-new-host-key"]) as bg:
        bg.served_port([port], lab_vm.jupyter.token)
    assert bg.done.exit_code == 0, bg.done.stderr
    # Recorded: from now on the key is known and no flag is needed.
    assert runner.invoke(app, ["vm", "ssh", VM, *lab_vm.ssh_args, "--", "true"]).exit_code == 0


def test_unknown_host_key_prompt_on_a_terminal(
    runner: CliRunner, lab_vm: LabVm, fake_compute: FakeCompute, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_compute.set_guest_attributes(VM, ZONE, {})
    monkeypatch.setattr(_ssh, "stdin_is_tty", lambda: True)
    args = ["vm", "ssh", VM, *lab_vm.ssh_args, "--", "true"]
    declined = runner.invoke(app, args, input="n\n")
    assert declined.exit_code == 1 and "can't be established" in declined.stderr
    accepted = runner.invoke(app, args, input="y\n")
    assert accepted.exit_code == 0, accepted.stderr
    assert "Trust this key and continue connecting?" in accepted.stderr


def test_stopped_vm_is_one_line_with_the_fix(
    runner: CliRunner, lab_vm: LabVm, fake_compute: FakeCompute
) -> None:
    fake_compute.stop_vm(VM, ZONE)
    result = runner.invoke(app, ["tunnel", "jupyter", VM, *lab_vm.ssh_args])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"error: VM {VM} is stopped (TERMINATED)",
        f"  labctl vm start {VM}",
    ]
    assert fake_compute.calls.count("instances.aggregatedList") == 1  # one list call


def test_no_external_ip_suggests_iap(
    runner: CliRunner, lab_vm: LabVm, fake_compute: FakeCompute
) -> None:
    fake_compute.set_external_ip(VM, ZONE, None)
    result = runner.invoke(app, ["tunnel", "port", VM, "6006:6006", *lab_vm.ssh_args])
    assert result.exit_code == 1
    assert f"VM {VM} has no external IP address" in result.stderr
    assert f"labctl tunnel port {VM} 6006:6006 --iap" in result.stderr


def test_ssh_layer_errors_are_one_line_with_a_hint(
    runner: CliRunner, lab_vm: LabVm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stranger = ensure_key_pair(tmp_path / "stranger").private_path
    auth = runner.invoke(
        app, ["tunnel", "jupyter", VM, *lab_vm.ssh_args, "--identity", str(stranger)]
    )
    assert auth.exit_code == 1 and f"labctl ssh-key add {VM}" in auth.stderr
    assert "Traceback" not in auth.stderr and auth.stderr.splitlines()[-2].startswith("error: ")

    start = time.monotonic()
    refused = runner.invoke(
        app,
        ["tunnel", "jupyter", VM, "--user", USER, "--ssh-port", str(free_port()), "--wait", "0"],
    )
    assert refused.exit_code == 1 and "refused the SSH connection" in refused.stderr
    assert time.monotonic() - start < 10

    monkeypatch.setattr(remote_jupyter, "JUPYTER_LIST_COMMANDS", ("true",))
    missing = runner.invoke(app, ["tunnel", "jupyter", VM, *lab_vm.ssh_args, "--wait", "1"])
    assert missing.exit_code == 1
    assert f"no Jupyter server is running on {VM}" in missing.stderr
    assert "journalctl -u google-startup-scripts" in missing.stderr


def test_vm_ssh_runs_a_command_and_exits_with_its_code(runner: CliRunner, lab_vm: LabVm) -> None:
    result = runner.invoke(
        app, ["vm", "ssh", VM, *lab_vm.ssh_args, "--", "sh", "-c", "echo hi; echo oops >&2; exit 3"]
    )
    assert result.exit_code == 3
    assert result.stdout == "hi\n" and result.stderr == "oops\n"
    # One word is a shell line, as with OpenSSH.
    piped = runner.invoke(app, ["vm", "ssh", VM, *lab_vm.ssh_args, "--", "echo a b | wc -w"])
    assert piped.exit_code == 0 and piped.stdout.strip() == "2"


def test_vm_ssh_without_command_execs_openssh(
    runner: CliRunner, lab_vm: LabVm, fake_compute: FakeCompute, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(os, "execvp", lambda path, argv: calls.append((path, argv)))
    result = runner.invoke(app, ["vm", "ssh", VM, *lab_vm.ssh_args])
    assert result.exit_code == 0, result.stderr
    [(path, argv)] = calls
    vm_id = fake_compute.get_vm(VM, ZONE).id
    assert path == shutil.which("ssh") and argv[-1] == f"{USER}@127.0.0.1"
    assert "StrictHostKeyChecking=yes" in argv and f"HostKeyAlias=compute.{vm_id}" in argv
    assert argv[argv.index("-p") + 1] == str(lab_vm.sshd.port)
    # The host key was verified and recorded first, so OpenSSH's strict check passes.
    assert KnownHosts.in_config_dir(config_dir()).lookup(f"compute.{vm_id}")

    monkeypatch.setattr(shutil, "which", lambda name: None)
    before = len(fake_compute.calls)
    missing = runner.invoke(app, ["vm", "ssh", VM, *lab_vm.ssh_args])
    assert missing.exit_code == 1 and "OpenSSH client (ssh) is not installed" in missing.stderr
    assert len(fake_compute.calls) == before  # checked before any API call


# Runs `labctl tunnel jupyter` in its own process on a fake provider set up from argv.
CTRL_C_PROBE = """
import json, sys
from labctl.cli import _context, main
from labctl.models import VmSpec
from labctl.providers.fake.compute import FakeCompute
from labctl.ssh import jupyter

cfg = json.loads(sys.argv[1])
fake = FakeCompute()
fake.create_vm(VmSpec("lab-vm", "us-central1-c", "n1-standard-8", "p", "f", 50), request_id="r")
fake.set_external_ip("lab-vm", "us-central1-c", "127.0.0.1")
fake.set_guest_attributes("lab-vm", "us-central1-c", {"hostkeys/ssh-ed25519": cfg["hostkey"]})
_context.compute_factory = lambda ctx: fake
jupyter.JUPYTER_LIST_COMMANDS = (cfg["list_command"],)
sys.argv = ["labctl", *cfg["args"]]
main()
"""


def test_ctrl_c_closes_the_tunnel_and_exits_0(lab_vm: LabVm) -> None:
    port = free_port()
    cfg = {
        "hostkey": lab_vm.sshd.host_public_keys["ssh-ed25519"],
        "list_command": jupyter_list_command(),
        "args": [
            "tunnel",
            "jupyter",
            VM,
            "--local-port",
            str(port),
            "--wait",
            "20",
            *lab_vm.ssh_args,
        ],
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_PROBE, json.dumps(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        # Bounded: the URL comes first, or the command gives up within its --wait.
        url = proc.stdout.readline().strip()
        assert url == f"http://127.0.0.1:{port}/lab?token={lab_vm.jupyter.token}"
        assert get(port, f"/api/status?token={lab_vm.jupyter.token}") == 200
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=20)
    finally:
        stop_process(proc)  # type: ignore[arg-type]
    assert proc.returncode == 0, err
    assert rest == ""  # stdout held the URL and nothing else
    assert "closing the tunnel" in err and "Traceback" not in err
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), 2):
        pass  # the listener is gone with the process


def test_the_user_vm_create_set_up_is_the_default(
    runner: CliRunner, lab_vm: LabVm, fake_compute: FakeCompute
) -> None:
    # vm create records the VM user in `labctl-user`; Jupyter runs as that user on the VM.
    fake_compute.update_metadata(VM, ZONE, lambda items: {**items, "labctl-user": USER})
    port = ["--ssh-port", str(lab_vm.sshd.port)]
    result = runner.invoke(app, ["vm", "ssh", VM, *port, "--", "id", "-un"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == USER
