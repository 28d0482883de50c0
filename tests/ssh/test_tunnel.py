"""The local forwarder: loopback only, many connections at once, reconnects, and giving up."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import paramiko
import pytest

from labctl.deadline import Backoff
from labctl.ssh.commands import tunnel_ports
from labctl.ssh.errors import SshConnectionRefused, TunnelError
from labctl.ssh.tunnel import ForwardSpec, Tunnel, parse_forward_spec
from tests.ssh.conftest import AccessFactory, jupyter_tunnel
from tests.ssh.servers import JupyterServerProc, SshServer, free_port, get


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


class DeadTransport:
    """A transport whose connection is gone."""

    def is_active(self) -> bool:
        return False

    def close(self) -> None:
        pass


def refused(timeout: float | None = None) -> paramiko.Transport:
    raise SshConnectionRefused("127.0.0.1:22 refused the connection", address="127.0.0.1:22")


def test_giving_up_on_reconnecting_says_how_often_and_why() -> None:
    events: list[str] = []
    tunnel = Tunnel(
        refused,
        [ForwardSpec(0, 8888)],
        transport=DeadTransport(),  # type: ignore[arg-type]
        reconnect_timeout=1.0,
        reconnect_backoff=Backoff(initial=0.1, maximum=0.2),
        on_event=events.append,
        vm_name="lab-vm",
    )
    tunnel.start()
    try:
        with pytest.raises(TunnelError) as info:
            tunnel.wait(30)
    finally:
        tunnel.stop()
    message = info.value.message
    assert message.startswith("lost the SSH connection to lab-vm and could not reconnect (")
    assert message.endswith("; the last: 127.0.0.1:22 refused the connection)")
    assert " attempts in " in message and info.value.name == "lab-vm"
    assert events[0] == "SSH connection lost; reconnecting"


def test_stop_ends_a_reconnect_wait_at_once() -> None:
    tried = threading.Event()

    def connect() -> paramiko.Transport:
        tried.set()
        return refused()

    tunnel = Tunnel(
        connect,
        [ForwardSpec(0, 8888)],
        transport=DeadTransport(),  # type: ignore[arg-type]
        reconnect_timeout=300.0,
        reconnect_backoff=Backoff(initial=60.0, maximum=60.0),
    )
    tunnel.start()
    supervisor = next(t for t in tunnel._threads if t.name == "labctl-tunnel-supervisor")
    assert tried.wait(10)  # the first attempt failed: now it pauses 60 s before the next
    tunnel.stop(timeout=10)
    # It pauses on the stop event, so it ended with the stop instead of a minute later.
    assert not supervisor.is_alive()
    assert tunnel.wait(0) and tunnel.failure is None


def test_parse_forward_spec() -> None:
    assert parse_forward_spec("6006") == ForwardSpec(6006, 6006)
    assert parse_forward_spec("8080:80") == ForwardSpec(8080, 80)
    assert parse_forward_spec("9000:db:5432") == ForwardSpec(9000, 5432, "db")
    for bad in ("x", "1:2:3:4", "70000:1", "1::2"):
        with pytest.raises(TunnelError):
            parse_forward_spec(bad)
