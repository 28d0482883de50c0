"""The data pump of a tunnel: one selector thread moving every forwarded connection's bytes."""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading

import paramiko

log = logging.getLogger(__name__)

# paramiko's channel buffer copies what is left after each read, so small reads of a
# large transfer are quadratic-ish: 1 KiB reads ran at ~27 MB/s, 1 MiB reads at ~260 MB/s.
READ_SIZE = 1 << 20
POLL = 0.5  # how often the pump looks at its stop flag
# A channel whose SSH window is full gives no file-descriptor event when the VM opens it
# again, so the pump looks again this often while some upload is waiting for window.
_WINDOW_POLL = 0.002
_STEP_READS = 8  # reads per direction before the pump serves the next ready connection


class _Pair:
    """One forwarded connection: the local socket, its channel, and the bytes in flight."""

    def __init__(self, conn: socket.socket, chan: paramiko.Channel) -> None:
        self.conn = conn
        self.chan = chan
        self.chan_fd = chan.fileno()  # a pipe paramiko marks readable on data, EOF or close
        self.to_chan = memoryview(b"")  # read from the socket, not yet taken by the channel
        self.to_conn = memoryview(b"")  # read from the channel, not yet taken by the socket
        self.conn_eof = False  # the local client finished sending
        self.chan_eof = False  # the VM finished sending
        self.masks = {conn.fileno(): 0, self.chan_fd: 0}  # what the selector waits for

    @property
    def done(self) -> bool:
        # The VM closed the channel and everything it sent reached the client; or both
        # sides finished sending and nothing is left in flight.
        flushed = not self.to_conn
        return (self.chan_eof and flushed and self.chan.closed) or (
            self.conn_eof and self.chan_eof and flushed and not self.to_chan
        )


class Pump:
    """One thread moving the data of every forwarded connection, with bounded buffers.

    Two blocking threads per connection made 50 simultaneous connections 100 threads
    contending for the GIL. Here one selector thread serves whichever sockets and channels
    are ready. Each direction holds at most one read in flight and stops reading until it
    is passed on, so backpressure reaches the client through TCP and the VM through the
    SSH window, as with blocking reads.
    """

    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        for s in (self._wake_r, self._wake_w):
            s.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._new: list[_Pair] = []
        self._pairs: set[_Pair] = set()
        self._stalled: set[_Pair] = set()  # uploads waiting for SSH window
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="labctl-pump", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, conn: socket.socket, chan: paramiko.Channel) -> bool:
        """Hand a connection to the pump; False if the pump is stopping (caller closes)."""
        conn.setblocking(False)
        chan.settimeout(0.0)
        pair = _Pair(conn, chan)
        with self._lock:
            if self._stop.is_set():
                return False
            self._new.append(pair)
        self._wake()
        return True

    def stop(self, timeout: float) -> None:
        self._stop.set()
        self._wake()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if not self._thread.is_alive():
            self._close_all()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # full (already woken) or closed
            self._wake_w.send(b"x")

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                timeout = _WINDOW_POLL if self._stalled else POLL
                ready = {}
                for key, _events in self._sel.select(timeout):
                    if key.data is None:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                    else:
                        ready[id(key.data)] = key.data
                with self._lock:
                    new, self._new = self._new, []
                self._pairs.update(new)
                for pair in [*new, *ready.values(), *self._stalled]:
                    if pair in self._pairs:
                        self._step(pair)
        except Exception:  # a bug here must not leave connections hanging silently
            log.exception("the tunnel's data pump failed")
        finally:
            self._close_all()

    def _step(self, p: _Pair) -> None:
        """Move whatever can move without blocking, then wait for what is needed next."""
        try:
            self._vm_to_client(p)
            self._client_to_vm(p)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            log.debug("forwarded connection closed: %s", exc)
            self._close(p)
            return
        if p.done:
            self._close(p)
            return
        if p.to_chan:
            self._stalled.add(p)
        else:
            self._stalled.discard(p)
        conn_mask = (0 if p.conn_eof or p.to_chan else selectors.EVENT_READ) | (
            selectors.EVENT_WRITE if p.to_conn else 0
        )
        chan_mask = 0 if p.chan_eof or p.to_conn else selectors.EVENT_READ
        self._watch(p, p.conn.fileno(), p.conn, conn_mask)
        self._watch(p, p.chan_fd, p.chan_fd, chan_mask)

    def _watch(self, p: _Pair, fd: int, obj: socket.socket | int, mask: int) -> None:
        old = p.masks[fd]
        if mask == old:
            return
        if old == 0:
            self._sel.register(obj, mask, p)
        elif mask == 0:
            self._sel.unregister(obj)
        else:
            self._sel.modify(obj, mask, p)
        p.masks[fd] = mask

    def _vm_to_client(self, p: _Pair) -> None:
        for _ in range(_STEP_READS):
            if p.to_conn:
                try:
                    sent = p.conn.send(p.to_conn)
                except BlockingIOError:
                    return
                p.to_conn = p.to_conn[sent:]
                if p.to_conn:
                    return  # the client reads slower: wait until its socket drains
            if p.chan_eof:
                return
            if not (p.chan.recv_ready() or p.chan.eof_received or p.chan.closed):
                return  # nothing buffered; asking would cost two exceptions in paramiko
            try:
                data = p.chan.recv(READ_SIZE)
            except TimeoutError:
                return
            if not data:
                p.chan_eof = True
                with contextlib.suppress(OSError):
                    p.conn.shutdown(socket.SHUT_WR)  # the client sees the response end
                return
            p.to_conn = memoryview(data)

    def _client_to_vm(self, p: _Pair) -> None:
        for _ in range(_STEP_READS):
            while p.to_chan:
                try:
                    # At most one SSH packet per call; paramiko takes any buffer, not only bytes.
                    sent = p.chan.send(p.to_chan)  # type: ignore[arg-type]
                except TimeoutError:
                    return  # the SSH window is full: retried after _WINDOW_POLL
                if sent == 0:
                    raise EOFError("the channel is closed")
                p.to_chan = p.to_chan[sent:]
            if p.conn_eof:
                return
            try:
                data = p.conn.recv(READ_SIZE)
            except BlockingIOError:
                return
            if not data:
                p.conn_eof = True
                p.chan.shutdown_write()  # half-close: the response may still be coming
                return
            p.to_chan = memoryview(data)

    def _close(self, p: _Pair) -> None:
        self._pairs.discard(p)
        self._stalled.discard(p)
        for fd, obj in ((p.conn.fileno(), p.conn), (p.chan_fd, p.chan_fd)):
            if p.masks.get(fd):
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._sel.unregister(obj)
                p.masks[fd] = 0
        with contextlib.suppress(OSError):
            p.conn.close()
        with contextlib.suppress(Exception):
            p.chan.close()  # also closes the pipe behind chan_fd

    def _close_all(self) -> None:
        with self._lock:
            new, self._new = self._new, []
        for pair in [*self._pairs, *new]:
            self._close(pair)
        with contextlib.suppress(OSError, KeyError, ValueError):
            self._sel.close()
        for s in (self._wake_r, self._wake_w):
            s.close()
