"""The SSH commands' entry points: tunnel_jupyter, connect_when_ready, wait_for_ssh_key."""

from __future__ import annotations

import logging
from pathlib import Path

import paramiko
import pytest

from labctl.deadline import Backoff, Deadline
from labctl.ssh.commands import connect_when_ready, wait_for_ssh_key
from labctl.ssh.errors import (
    HostKeyMismatch,
    SshAuthFailed,
    SshConnectionRefused,
    SshError,
    SshNotSsh,
    SshTimeout,
)
from labctl.ssh.keys import ensure_key_pair
from tests.ssh.conftest import AccessFactory, jupyter_tunnel
from tests.ssh.servers import JupyterServerProc, free_port, get


@pytest.mark.slow
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


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps or connects."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_connect_when_ready_bounds_the_whole_wait_by_the_deadline() -> None:
    clock = FakeClock()
    given: list[float | None] = []

    def connect(timeout: float | None = None) -> paramiko.Transport:
        given.append(timeout)
        clock.now += min(timeout or 15.0, 15.0)  # every attempt times out
        raise SshTimeout("no answer from 203.0.113.1:22", address="203.0.113.1:22")

    with pytest.raises(SshTimeout) as info:
        connect_when_ready(connect, Deadline(10, clock=clock), sleep=clock.sleep)
    # The first attempt gets all 10 s (not the 15 s default), and none starts after the end.
    assert given == [10.0]
    assert clock.now == 10.0
    assert info.value.message == "no answer from 203.0.113.1:22"  # one attempt: as it was


def test_connect_when_ready_retries_what_booting_looks_like_and_counts() -> None:
    clock = FakeClock()
    given: list[float | None] = []

    def connect(timeout: float | None = None) -> paramiko.Transport:
        given.append(timeout)
        raise SshConnectionRefused("10.0.0.1:22 refused the connection", address="10.0.0.1:22")

    seen: list[str] = []
    with pytest.raises(SshConnectionRefused) as info:
        connect_when_ready(
            connect,
            Deadline(10, clock=clock),
            backoff=Backoff(initial=1.0, maximum=5.0),
            on_progress=lambda elapsed, status: seen.append(f"{elapsed:.0f} {status}"),
            sleep=clock.sleep,
        )
    # Attempts at 0, 1, 3 and 7 s; the next pause (5 s) would cross the deadline.
    assert given == [10.0, 9.0, 7.0, 3.0]
    assert info.value.message == (
        "10.0.0.1:22 refused the connection (gave up after 4 attempts in 7.0 s)"
    )
    assert seen[0] == "1 attempt 2; the last one: 10.0.0.1:22 refused the connection"


@pytest.mark.parametrize(
    "error",
    [
        SshNotSsh("x does not speak SSH", address="x"),
        HostKeyMismatch("wrong key"),
        SshAuthFailed("key refused"),
    ],
)
def test_connect_when_ready_raises_what_waiting_cannot_fix_at_once(error: SshError) -> None:
    calls: list[float | None] = []

    def connect(timeout: float | None = None) -> paramiko.Transport:
        calls.append(timeout)
        raise error

    with pytest.raises(type(error)):
        connect_when_ready(connect, Deadline(60), sleep=lambda s: None)
    assert len(calls) == 1


@pytest.mark.slow
def test_wait_for_ssh_key(make_access: AccessFactory, tmp_path: Path) -> None:
    wait_for_ssh_key(make_access(), timeout=10)  # the key already works: returns at once

    stranger = make_access(identity=ensure_key_pair(tmp_path / "s").private_path)
    progress: list[str] = []
    with pytest.raises(SshAuthFailed) as info:
        wait_for_ssh_key(
            stranger, timeout=1.0, interval=0.3, on_progress=lambda e, s: progress.append(s)
        )
    # A refused key is retried (it takes a while to reach the VM), and the error says so.
    assert "gave up after" in info.value.message
    assert progress and "did not accept key" in progress[0]
