"""ProxyProcess: a child's stdio as paramiko's socket, keeping the tail of its stderr."""

from __future__ import annotations

import sys

import pytest

from labctl.ssh.proxy import STDERR_LINES, ProxyProcess


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_echo_then_eof() -> None:
    proxy = ProxyProcess(python("import sys; sys.stdout.write(sys.stdin.readline())"))
    try:
        proxy.settimeout(10)
        assert proxy.send(b"SSH-2.0-x\n") == 10
        got = b""
        while chunk := proxy.recv(64):
            got += chunk
        assert got == b"SSH-2.0-x\n"  # then b"" at EOF, which paramiko reads as EOFError
        assert proxy.exit_code(wait=5) == 0 and proxy.closed
    finally:
        proxy.close()


def test_no_data_is_a_timeout_not_eof() -> None:
    proxy = ProxyProcess(python("import time; time.sleep(30)"))
    try:
        proxy.settimeout(0.1)
        with pytest.raises(TimeoutError):
            proxy.recv(64)
        assert proxy.exit_code() is None
    finally:
        proxy.close()  # terminates the child and reaps it
    assert proxy.closed and proxy.recv(64) == b""


def test_stderr_tail_is_bounded() -> None:
    code = "import sys\nfor i in range(100): print(f'line {i} ' + 'x' * 1000, file=sys.stderr)"
    proxy = ProxyProcess(python(code))
    try:
        lines = proxy.stderr_tail(wait=10)
    finally:
        proxy.close()
    assert len(lines) == STDERR_LINES
    assert lines[-1].startswith("line 99 ") and all(len(line) <= 300 for line in lines)


def test_send_after_exit_is_eof() -> None:
    proxy = ProxyProcess(python("pass"))
    try:
        assert proxy.exit_code(wait=10) == 0
        with pytest.raises(EOFError):
            for _ in range(100):  # the pipe may take a write or two before it breaks
                proxy.send(b"x" * 65536)
    finally:
        proxy.close()
