"""A socket-like pipe to `gcloud compute start-iap-tunnel --listen-on-stdin` keeping its stderr."""

from __future__ import annotations

import collections
import contextlib
import os
import select
import subprocess
import threading
from collections.abc import Sequence

STDERR_LINES = 12  # the last lines of the command's stderr kept for error messages
_LINE_CHARS = 300  # a runaway line is cut here
_READ_SIZE = 1 << 16


class ProxyProcess:
    """The subset of the socket interface paramiko's Transport uses, over a child's stdio.

    paramiko's own ProxyCommand discards the command's stderr (so gcloud's error never
    reached the user) and, once the command has exited, spins until its timeout instead of
    reporting EOF. This one reads stderr on a thread into a bounded buffer and returns b""
    at EOF, which paramiko turns into EOFError at once.
    """

    def __init__(self, argv: Sequence[str]) -> None:
        # Its own session: Ctrl-C in the terminal reaches labctl, which closes the proxy,
        # instead of making gcloud print its own KeyboardInterrupt traceback.
        self.process = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
            start_new_session=True,
        )
        self._timeout: float | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._reader = threading.Thread(
            target=self._read_stderr, name="labctl-proxy-stderr", daemon=True
        )
        self._reader.start()

    def settimeout(self, timeout: float | None) -> None:
        self._timeout = timeout

    def send(self, data: bytes) -> int:
        stdin = self.process.stdin
        assert stdin is not None
        try:
            return stdin.write(data) or 0
        except (BrokenPipeError, ValueError):
            raise EOFError("the proxy command exited") from None

    def recv(self, size: int) -> bytes:
        """Up to `size` bytes; b"" once the command closed its stdout; TimeoutError if none came."""
        stdout = self.process.stdout
        assert stdout is not None
        try:
            ready, _, _ = select.select([stdout], [], [], self._timeout)
        except (OSError, ValueError):  # closed under us by close()
            return b""
        if not ready:
            raise TimeoutError("no data from the proxy command")
        try:
            return os.read(stdout.fileno(), size)
        except (OSError, ValueError):
            return b""

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                self.process.wait(2)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                self.process.wait(2)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._reader.join(2)

    @property
    def closed(self) -> bool:
        return self.process.poll() is not None

    _closed = closed  # paramiko's Transport looks for this name as well

    def exit_code(self, wait: float = 0.0) -> int | None:
        """The command's exit code, waiting up to `wait` s for it to exit; None if it runs."""
        try:
            return self.process.wait(wait) if wait > 0 else self.process.poll()
        except subprocess.TimeoutExpired:
            return None

    def stderr_tail(self, wait: float = 0.0) -> list[str]:
        """The last lines the command wrote to stderr (waiting up to `wait` s for it to end)."""
        if wait > 0 and self.exit_code(wait) is not None:
            self._reader.join(wait)
        return list(self._stderr)

    def _read_stderr(self) -> None:
        stream = self.process.stderr
        assert stream is not None
        with contextlib.suppress(OSError, ValueError):
            for raw in iter(stream.readline, b""):
                line = raw.decode(errors="replace").rstrip()
                if line:
                    self._stderr.append(line[:_LINE_CHARS])
        with contextlib.suppress(OSError):
            stream.close()
