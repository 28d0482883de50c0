"""Real OpenSSH and Jupyter servers on 127.0.0.1 for the SSH tests and the tunnel benchmark."""

from __future__ import annotations

import contextlib
import http.client
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
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


class FakeSshPort:
    """A loopback port that misbehaves like a VM whose sshd is not (yet) there.

    `mode`: "silent" accepts and never speaks; "close" accepts and closes (EOF); "reset"
    accepts and resets (RST); "http" answers like a web server. Connections are served on
    one thread, which ends within a second of `stop()`.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.lsock.settimeout(0.2)
        self.port = int(self.lsock.getsockname()[1])
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeSshPort:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._held:
            conn.close()
        self.lsock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.lsock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            if self.mode == "silent":
                self._held.append(conn)
                continue
            if self.mode in ("close", "http"):
                # Read the client's version line first: closing with it unread would send
                # RST instead of FIN, and the client would see a reset.
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    conn.recv(256)
            if self.mode == "http":
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            if self.mode == "reset":
                # Linger 0: close() sends RST instead of FIN.
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()


def fake_gcloud(bin_dir: Path, script: str) -> Path:
    """An executable `gcloud` in `bin_dir` that runs `script` (Python) with this interpreter."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / "gcloud"
    path.write_text(f"#!{sys.executable}\n{script}")
    path.chmod(0o755)
    return path


# `gcloud compute start-iap-tunnel ...` that fails as gcloud does when IAP refuses.
GCLOUD_IAP_DENIED = """
import sys
sys.stderr.write("WARNING: something unrelated\\n")
sys.stderr.write(
    "ERROR: (gcloud.compute.start-iap-tunnel) Error while connecting "
    "[4033: 'not authorized'].\\n"
)
sys.exit(1)
"""

# A `gcloud` whose IAP tunnel is a plain pipe to the port in $FAKE_IAP_PORT on 127.0.0.1.
GCLOUD_IAP_BRIDGE = """
import os, socket, sys, threading
sock = socket.create_connection(("127.0.0.1", int(os.environ["FAKE_IAP_PORT"])), timeout=10)
sock.settimeout(None)

def upstream():
    while data := os.read(0, 65536):
        sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)

threading.Thread(target=upstream, daemon=True).start()
while data := sock.recv(65536):
    os.write(1, data)
"""


def get(port: int, path: str, timeout: float = 10.0) -> int:
    """The HTTP status of GET `path` on 127.0.0.1:`port`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()
