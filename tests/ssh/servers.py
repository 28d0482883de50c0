"""Real OpenSSH and Jupyter servers on 127.0.0.1 for the SSH tests and the tunnel benchmark."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM by PID, then SIGKILL if it is still there after `timeout`."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


def child_pids(pid: int) -> list[int]:
    """Direct children of `pid`, read from /proc."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Field 4 (ppid) comes after the parenthesised command name, which may hold spaces.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            children.append(int(entry.name))
    return children


@dataclass
class SshServer:
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path
    host_public_keys: dict[str, str] = field(default_factory=dict)  # type -> base64 blob

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill_sessions(self) -> list[int]:
        """SIGKILL every per-connection sshd child: the client sees its TCP connection drop."""
        pids = child_pids(self.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pids

    def stop(self) -> None:
        self.kill_sessions()
        stop_process(self.proc)


def start_sshd(
    workdir: Path,
    authorized_keys: list[str],
    *,
    set_env: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> SshServer:
    """Start `sshd -D -e` on a free loopback port with fresh host keys and the given keys."""
    workdir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        # sshd refuses to start without its privilege-separation directory.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host_keys: dict[str, str] = {}
    for key_type, name in (("ed25519", "ssh-ed25519"), ("ecdsa", "ecdsa-sha2-nistp256")):
        path = workdir / f"ssh_host_{key_type}_key"
        if not path.exists():
            subprocess.run(
                [SSH_KEYGEN, "-q", "-t", key_type, "-N", "", "-f", str(path)],
                check=True,
                timeout=30,
            )
        host_keys[name] = path.with_suffix(".pub").read_text().split()[1]
    (workdir / "authorized_keys").write_text("".join(k + "\n" for k in authorized_keys))
    port = free_port()
    env_lines = (
        "SetEnv " + " ".join(f"{k}={v}" for k, v in set_env.items()) + "\n" if set_env else ""
    )
    config = workdir / "sshd_config"
    config.write_text(
        f"""Port {port}
ListenAddress 127.0.0.1
HostKey {workdir}/ssh_host_ed25519_key
HostKey {workdir}/ssh_host_ecdsa_key
PidFile {workdir}/sshd.pid
AuthorizedKeysFile {workdir}/authorized_keys
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
AllowTcpForwarding yes
MaxSessions 200
MaxStartups 100:30:200
LogLevel INFO
{env_lines}"""
    )
    log = open(workdir / "sshd.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    log.close()
    try:
        wait_for_port(port, timeout, proc)
    except BaseException:
        stop_process(proc)
        raise
    return SshServer(port, proc, workdir, host_keys)


@dataclass
class JupyterServerProc:
    port: int
    token: str
    runtime_dir: Path
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        stop_process(self.proc)


def jupyter_env(workdir: Path) -> dict[str, str]:
    return {
        "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
        "JUPYTER_CONFIG_DIR": str(workdir / "config"),
        "JUPYTER_DATA_DIR": str(workdir / "data"),
    }


def start_jupyter(workdir: Path, *, timeout: float = 30.0) -> JupyterServerProc:
    """Start jupyter_server on a free loopback port with a random token."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "root").mkdir(exist_ok=True)
    env = {**os.environ, **jupyter_env(workdir)}
    token = secrets.token_hex(24)
    port = free_port()
    log = open(workdir / "jupyter.log", "ab")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter_server",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            f"--ServerApp.root_dir={workdir / 'root'}",
            "--allow-root",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    try:
        wait_for_port(port, timeout, proc)
        runtime = Path(env["JUPYTER_RUNTIME_DIR"])
        deadline = time.monotonic() + timeout
        while not list(runtime.glob("jpserver-*.json")):
            if time.monotonic() > deadline:
                raise TimeoutError("jupyter_server wrote no jpserver-*.json")
            time.sleep(0.05)
    except BaseException:
        stop_process(proc)
        raise
    return JupyterServerProc(port, token, runtime, proc)


def jupyter_list_command() -> str:
    """How the tests list servers on the "VM": this venv's jupyter, not the VM's venv path."""
    return f"{sys.executable} -m jupyter server list --json"
