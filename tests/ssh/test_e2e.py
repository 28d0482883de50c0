"""The SSH layer end to end against a real sshd and a real Jupyter server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.client
import io
import logging
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import paramiko
import pytest

from labctl.ssh.commands import (
    JupyterTunnel,
    VmAccess,
    tunnel_jupyter,
    tunnel_ports,
    vm_ssh_interactive_argv,
    vm_ssh_run,
)
from labctl.ssh.connect import IapTarget, iap_proxy_command
from labctl.ssh.errors import (
    HostKeyChanged,
    HostKeyMismatch,
    JupyterNotRunning,
    SshAuthFailed,
    SshConnectionRefused,
    UnknownHostKey,
)
from labctl.ssh.exec import openssh_argv
from labctl.ssh.hostkeys import HostKeyVerifier, KnownHosts, VerifyingPolicy, key_from_blob
from labctl.ssh.jupyter import JupyterServer, parse_server_list
from labctl.ssh.keys import ensure_key_pair
from labctl.ssh.tunnel import Tunnel
from tests.ssh.conftest import AccessFactory
from tests.ssh.servers import JupyterServerProc, SshServer, free_port, jupyter_list_command

pytestmark = pytest.mark.slow
COMMANDS = [jupyter_list_command()]


def get(port: int, path: str, timeout: float = 10.0) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@contextlib.contextmanager
def jupyter_tunnel(access: VmAccess, **kwargs: object) -> JupyterTunnel:  # type: ignore[misc]
    jt = tunnel_jupyter(access, jupyter_commands=COMMANDS, wait_timeout=20, **kwargs)  # type: ignore[arg-type]
    try:
        yield jt
    finally:
        jt.stop()


def test_tunnel_serves_jupyter_api(
    make_access: AccessFactory, jupyter: JupyterServerProc, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    progress: list[str] = []
    with jupyter_tunnel(
        make_access(), local_port=free_port(), on_progress=lambda e, s: progress.append(s)
    ) as jt:
        assert jt.server.port == jupyter.port and jt.server.token == jupyter.token
        assert jt.url == f"http://127.0.0.1:{jt.local_port}/lab?token={jupyter.token}"
        assert get(jt.local_port, f"/api/status?token={jupyter.token}") == 200
        assert get(jt.local_port, "/api/status") == 403
    # The token reaches the caller but never the logs, reprs or progress lines.
    assert jupyter.token not in caplog.text
    assert jupyter.token not in repr(jt) + repr(jt.server) + "".join(progress)
    assert "paramiko" in caplog.text or "labctl" in caplog.text  # logs were captured at all


def test_unknown_host_key_needs_consent(make_access: AccessFactory, sshd: SshServer) -> None:
    access = make_access(host_keys={})
    with pytest.raises(UnknownHostKey) as info:
        vm_ssh_run(access, ["true"])
    assert "SHA256:" in info.value.message and info.value.hint
    assert access.known_hosts.lookup(access.alias) == {}

    asked: list[str] = []
    with pytest.raises(UnknownHostKey):
        vm_ssh_run(
            make_access(host_keys={}, confirm_host_key=lambda q: asked.append(q) or False), ["true"]
        )
    assert "SHA256:" in asked[0]

    assert vm_ssh_run(make_access(host_keys={}, confirm_host_key=lambda q: True), ["true"]) == 0
    assert access.known_hosts.lookup(access.alias)  # recorded
    assert vm_ssh_run(make_access(host_keys={}), ["true"]) == 0  # and trusted from now on


def test_accept_new_host_key_flag(make_access: AccessFactory) -> None:
    assert vm_ssh_run(make_access(host_keys={}, accept_new_host_key=True), ["true"]) == 0


def test_wrong_and_changed_host_keys_refused(
    make_access: AccessFactory, sshd: SshServer, tmp_path: Path
) -> None:
    other = ensure_key_pair(tmp_path / "other").pkey  # a valid ed25519 key that is not the host's
    wrong = make_access(host_keys={"ssh-ed25519": other.get_base64()}, accept_new_host_key=True)
    with pytest.raises(HostKeyMismatch):
        vm_ssh_run(wrong, ["true"])

    access = make_access()
    access.known_hosts.add(access.alias, [other])  # what we recorded earlier
    with pytest.raises(HostKeyChanged) as info:
        vm_ssh_run(make_access(accept_new_host_key=True), ["true"])
    assert info.value.hint and "ssh-keygen -R" in info.value.hint
    assert "guest attributes do list the new key" in info.value.message

    # paramiko's SSHClient with labctl's policy refuses an unknown key as well.
    client = paramiko.SSHClient()
    verifier = HostKeyVerifier(KnownHosts(tmp_path / "kh"), "compute.9")
    client.set_missing_host_key_policy(VerifyingPolicy(verifier))
    with pytest.raises(UnknownHostKey):
        client.connect(
            "127.0.0.1", sshd.port, pkey=other, allow_agent=False, look_for_keys=False, timeout=5
        )
    client.close()


def test_published_host_keys_are_recorded(make_access: AccessFactory, sshd: SshServer) -> None:
    access = make_access()
    assert vm_ssh_run(access, ["true"]) == 0
    recorded = access.known_hosts.lookup(access.alias)
    expected = key_from_blob("ssh-ed25519", sshd.host_public_keys["ssh-ed25519"])
    assert recorded["ssh-ed25519"][0].asbytes() == expected.asbytes()


def test_auth_failure_and_refused(make_access: AccessFactory, tmp_path: Path) -> None:
    stranger = ensure_key_pair(tmp_path / "stranger").private_path
    with pytest.raises(SshAuthFailed) as info:
        vm_ssh_run(make_access(identity=stranger), ["true"])
    assert info.value.hint and "labctl ssh-key add lab-vm" in info.value.hint
    with pytest.raises(SshConnectionRefused):
        vm_ssh_run(make_access(port=free_port()), ["true"])


def test_remote_exec_passes_output_and_exit_code(make_access: AccessFactory) -> None:
    out, err = io.BytesIO(), io.BytesIO()
    code = vm_ssh_run(
        make_access(),
        ["echo out; echo err >&2; head -c 3000000 /dev/zero | wc -c; exit 3"],
        stdout=out,
        stderr=err,
        timeout=20,
    )
    assert code == 3
    assert out.getvalue() == b"out\n3000000\n" and err.getvalue() == b"err\n"


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


def test_reconnects_after_server_drops_connection(
    make_access: AccessFactory, sshd: SshServer, jupyter: JupyterServerProc
) -> None:
    events: list[str] = []
    with jupyter_tunnel(make_access(), local_port=free_port(), on_event=events.append) as jt:
        path = f"/api/status?token={jupyter.token}"
        assert get(jt.local_port, path) == 200
        old = jt.tunnel.transport
        assert sshd.kill_sessions()
        deadline = time.monotonic() + 5
        while old.is_active() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not old.is_active()
        assert get(jt.local_port, path, timeout=20) == 200  # same local port, new connection
        assert jt.tunnel.reconnects >= 1
        assert any("re-established" in e for e in events)


def test_fifty_concurrent_connections(
    make_access: AccessFactory, jupyter: JupyterServerProc
) -> None:
    with jupyter_tunnel(make_access(), local_port=free_port()) as jt:
        barrier = threading.Barrier(50, timeout=10)

        def one(_: int) -> int:
            barrier.wait()
            return get(jt.local_port, f"/api/status?token={jupyter.token}", timeout=20)

        with ThreadPoolExecutor(50) as pool:
            statuses = list(pool.map(one, range(50), timeout=60))
        assert statuses == [200] * 50


def _other_local_addresses() -> list[str]:
    out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    return [a for a in out.split() if ":" not in a and not a.startswith("127.")]


def test_listener_is_loopback_only(make_access: AccessFactory, jupyter: JupyterServerProc) -> None:
    with pytest.raises(ValueError):
        Tunnel(lambda: None, [], bind_host="0.0.0.0")  # type: ignore[arg-type,return-value]
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    busy_port = busy.getsockname()[1]
    events: list[str] = []
    try:
        tunnel, bound = tunnel_ports(
            make_access(),
            [f"{busy_port}:{jupyter.port}", f"0:{jupyter.port}"],
            on_event=events.append,
        )
    finally:
        busy.close()
    try:
        assert bound[0].local_port != busy_port and bound[0].moved
        assert any(str(busy_port) in e and str(bound[0].local_port) in e for e in events)
        for b in bound:
            assert get(b.local_port, f"/api/status?token={jupyter.token}") == 200
        for lsock, _ in tunnel._listeners:
            assert lsock.getsockname()[0] == "127.0.0.1"
            assert lsock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        for address in _other_local_addresses():
            with (
                pytest.raises(OSError),
                socket.create_connection((address, bound[1].local_port), 2),
            ):
                pass
    finally:
        tunnel.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", bound[1].local_port), 2):
        pass  # listener closed on stop
    assert not [t for t in threading.enumerate() if t.name.startswith("labctl-accept")]


def test_jupyter_not_running_is_bounded_and_token_free(
    make_access: AccessFactory, jupyter: JupyterServerProc
) -> None:
    start = time.monotonic()
    with pytest.raises(JupyterNotRunning) as info:
        tunnel_jupyter(make_access(), jupyter_commands=["true"], wait_timeout=1.5)
    assert time.monotonic() - start < 10
    assert "get-serial-port-output lab-vm" in (info.value.hint or "")
    assert "journalctl -u google-startup-scripts" in (info.value.hint or "")


def test_parse_server_list_and_redacted_repr() -> None:
    text = (
        "not json\n"
        '{"url": "http://localhost:8888/", "port": 8888, "token": "s3cret", '
        '"base_url": "/", "pid": 7}\n'
        '[{"url": "http://localhost:8889/x/", "port": 8889, "token": "", "base_url": "/x/"}]\n'
    )
    servers = parse_server_list(text)
    assert [s.port for s in servers] == [8888, 8889]
    assert "s3cret" not in repr(servers[0]) and "s3cret" not in str(servers[0])
    assert servers[1].browser_url(9000) == "http://127.0.0.1:9000/x/lab"
    assert JupyterServer("u", 1, "a b&c").browser_url(5) == "http://127.0.0.1:5/lab?token=a%20b%26c"


def test_iap_proxy_command() -> None:
    iap = IapTarget("lab-vm", "my-proj", "europe-west4-a")
    assert iap_proxy_command(iap) == (
        "gcloud compute start-iap-tunnel lab-vm 22 --listen-on-stdin "
        "--project my-proj --zone europe-west4-a --verbosity warning"
    )
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


def test_token_redacting_filter(caplog: pytest.LogCaptureFixture) -> None:
    from labctl.ssh.jupyter import TokenRedactingFilter, redact_tokens

    assert redact_tokens("http://127.0.0.1:8888/lab?token=abc123&x=1") == (
        "http://127.0.0.1:8888/lab?token=***&x=1"
    )
    assert redact_tokens('{"token": "abc123", "port": 1}') == '{"token": "***", "port": 1}'
    logger = logging.getLogger("labctl.test.redact")
    handler_filter = TokenRedactingFilter(["s3cr3t-value"])
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="labctl.test.redact"):
            logger.info("open %s", "http://x/lab?token=s3cr3t-value")
            logger.info("raw secret %s", "s3cr3t-value")
    finally:
        logger.removeFilter(handler_filter)
    assert "s3cr3t-value" not in caplog.text and caplog.text.count("***") == 2


def test_ssh_key_add_and_wait(make_access: AccessFactory, tmp_path: Path) -> None:
    from labctl.ssh.commands import ssh_key_add, wait_for_ssh_key

    access = make_access()
    value = ssh_key_add("bob:ssh-ed25519 BOB bob@x", user="alice", config_dir=tmp_path / "c")
    lines = value.splitlines()
    assert lines[0] == "bob:ssh-ed25519 BOB bob@x" and lines[1].startswith("alice:ssh-ed25519 ")
    assert (tmp_path / "c" / "ssh" / "labctl_ed25519").stat().st_mode & 0o777 == 0o600
    wait_for_ssh_key(access, timeout=10)  # the key already works: returns at once
    stranger = make_access(identity=ensure_key_pair(tmp_path / "s").private_path)
    start = time.monotonic()
    with pytest.raises(SshAuthFailed):
        wait_for_ssh_key(stranger, timeout=1.0, interval=0.3)
    assert time.monotonic() - start < 10
