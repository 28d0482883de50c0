"""Local port forwarding over one SSH connection, listening on loopback only, with reconnects."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import paramiko

from labctl.deadline import Backoff, Deadline, attempts
from labctl.ssh.errors import HostKeyError, SshAuthFailed, SshError, TunnelError, seconds
from labctl.ssh.failures import describe
from labctl.ssh.pump import Pump

log = logging.getLogger(__name__)

# A browser opening Jupyter fires dozens of connections at once; backlog 5 (paramiko's
# demo) dropped some of 50 simultaneous connects.
ACCEPT_BACKLOG = 128
PORT_SEARCH = 20  # how many ports after a busy one to try
_POLL = 0.5  # how often blocking waits look at the stop flag

ConnectFn = Callable[[], paramiko.Transport]
EventFn = Callable[[str], None]


@dataclass(frozen=True)
class ForwardSpec:
    """Forward 127.0.0.1:`local_port` to `remote_host`:`remote_port` as seen from the VM."""

    local_port: int
    remote_port: int
    remote_host: str = "localhost"


def parse_forward_spec(spec: str) -> ForwardSpec:
    """Parse `PORT`, `LOCAL:REMOTE` or `LOCAL:HOST:REMOTE` (HOST as the VM resolves it)."""
    parts = spec.split(":")
    try:
        if len(parts) == 1:
            fwd = ForwardSpec(int(parts[0]), int(parts[0]))
        elif len(parts) == 2:
            fwd = ForwardSpec(int(parts[0]), int(parts[1]))
        elif len(parts) == 3 and parts[1]:
            fwd = ForwardSpec(int(parts[0]), int(parts[2]), parts[1])
        else:
            raise ValueError(spec)
    except ValueError:
        raise TunnelError(
            f"{spec!r} is not a port forward", hint="write LOCAL:REMOTE, e.g. 6006:6006"
        ) from None
    if not (0 <= fwd.local_port <= 65535 and 1 <= fwd.remote_port <= 65535):
        raise TunnelError(f"{spec!r}: ports must be between 1 and 65535")
    return fwd


@dataclass(frozen=True)
class BoundForward:
    """A forward and the local port it really listens on (may differ from the requested one)."""

    spec: ForwardSpec
    local_host: str
    local_port: int

    @property
    def moved(self) -> bool:
        return self.spec.local_port not in (0, self.local_port)


def _bind_listener(host: str, port: int, search: int) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    candidates = [0] if port == 0 else list(range(port, min(port + search, 65535) + 1))
    last: OSError | None = None
    for candidate in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        # Reuse a port still in TIME_WAIT after a previous tunnel; on Linux this does not
        # allow binding over a live listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
            sock.listen(ACCEPT_BACKLOG)
        except OSError as exc:
            sock.close()
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
            last = exc
            continue
        sock.settimeout(_POLL)
        return sock
    raise TunnelError(
        f"ports {port}-{candidates[-1]} on {host} are all in use ({last})",
        hint="pick another local port",
    )


class Tunnel:
    """Forward local loopback ports to the VM over one SSH transport.

    `connect` opens a verified, authenticated transport; the tunnel calls it again when
    the connection dies (bounded backoff, up to `reconnect_timeout` seconds), keeping its
    listeners, so a browser pointed at the local port just sees a short stall. Host-key
    and authentication failures are not retried.
    """

    def __init__(
        self,
        connect: ConnectFn,
        forwards: Sequence[ForwardSpec],
        *,
        transport: paramiko.Transport | None = None,
        bind_host: str = "127.0.0.1",
        port_search: int = PORT_SEARCH,
        reconnect_timeout: float = 300.0,
        reconnect_backoff: Backoff | None = None,
        channel_timeout: float = 15.0,
        on_event: EventFn | None = None,
        vm_name: str | None = None,
    ) -> None:
        if not ipaddress.ip_address(bind_host).is_loopback:
            # Anything else would hand the student's Jupyter (token or not) to the network.
            raise ValueError(f"tunnel must listen on a loopback address, not {bind_host!r}")
        if not forwards:
            raise ValueError("no ports to forward")
        self._connect = connect
        self._forwards = list(forwards)
        self._bind_host = bind_host
        self._port_search = port_search
        self._reconnect_timeout = reconnect_timeout
        self._backoff = reconnect_backoff or Backoff(initial=0.25, maximum=10.0)
        self._channel_timeout = channel_timeout
        self._on_event = on_event
        self._vm_name = vm_name  # only for messages
        self._transport = transport
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._listeners: list[tuple[socket.socket, BoundForward]] = []
        self._threads: list[threading.Thread] = []
        self._handlers: set[threading.Thread] = set()  # threads opening a channel
        self._pump = Pump()
        self._lock = threading.Lock()
        self.bound: list[BoundForward] = []
        self.failure: SshError | None = None
        self.reconnects = 0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> list[BoundForward]:
        """Connect (unless given a transport), bind every listener, start serving."""
        try:
            for spec in self._forwards:
                sock = _bind_listener(self._bind_host, spec.local_port, self._port_search)
                bound = BoundForward(spec, self._bind_host, sock.getsockname()[1])
                self._listeners.append((sock, bound))
                if bound.moved:
                    self._event(
                        f"local port {spec.local_port} is in use; using {bound.local_port} instead"
                    )
            if self._transport is None:
                self._transport = self._connect()
        except BaseException:
            for sock, _ in self._listeners:
                sock.close()
            self._listeners.clear()
            self._pump.stop(0)  # frees its selector and wake-up sockets (never started)
            raise
        self.bound = [b for _, b in self._listeners]
        self._pump.start()
        for sock, bound in self._listeners:
            self._spawn(self._accept_loop, (sock, bound), f"labctl-accept-{bound.local_port}")
        self._spawn(self._supervise, (), "labctl-tunnel-supervisor")
        return self.bound

    def stop(self, timeout: float = 5.0) -> None:
        """Close listeners, channels and the transport; join threads for up to `timeout` s."""
        self._stop.set()
        self._wake.set()
        with self._cond:
            self._cond.notify_all()
        for sock, _ in self._listeners:
            with contextlib.suppress(OSError):
                sock.close()
        deadline = Deadline(timeout)
        self._pump.stop(timeout)  # closes every forwarded connection
        if self._transport is not None:
            self._transport.close()
        with self._lock:
            threads = self._threads + list(self._handlers)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(deadline.remaining())

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the tunnel stops (True) or `timeout` passes (False).

        Raises the error that made the tunnel give up reconnecting, if any.
        """
        stopped = self._stop.wait(timeout)
        if self.failure is not None:
            raise self.failure
        return stopped

    def __enter__(self) -> Tunnel:
        if not self.bound:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def transport(self) -> paramiko.Transport:
        """The current SSH transport (it changes after a reconnect)."""
        return self.get_transport(self._channel_timeout)

    # -- internals -------------------------------------------------------------------------

    def _event(self, message: str) -> None:
        log.info("%s", message)
        if self._on_event is not None:
            self._on_event(message)

    def _spawn(self, target: Callable[..., None], args: tuple[object, ...], name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def get_transport(self, timeout: float) -> paramiko.Transport:
        """An active transport, waiting up to `timeout` s for a reconnect if needed."""
        deadline = Deadline(timeout)
        with self._cond:
            while True:
                t = self._transport
                if t is not None and t.is_active():
                    return t
                if self._stop.is_set() or deadline.expired():
                    raise TunnelError(
                        "the SSH connection to the VM is down", kind="vm", name=self._vm_name
                    )
                self._wake.set()
                self._cond.wait(deadline.cap(_POLL))

    def _supervise(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(_POLL)
            self._wake.clear()
            if self._stop.is_set():
                return
            t = self._transport
            if t is not None and t.is_active():
                continue
            self._event("SSH connection lost; reconnecting")
            try:
                new = self._reconnect()
            except SshError as exc:
                self.failure = exc
                self._event(f"giving up: {exc.message}")
                self.stop(timeout=0)
                return
            if new is None:  # stopped while reconnecting
                return
            if t is not None:
                t.close()
            with self._cond:
                self._transport = new
                self.reconnects += 1
                self._cond.notify_all()
            self._event("SSH connection re-established")

    def _reconnect(self) -> paramiko.Transport | None:
        """A new transport, or None if the tunnel was stopped meanwhile.

        Host-key and login failures are raised at once: retrying cannot fix them.
        """
        deadline = Deadline(self._reconnect_timeout)
        last: SshError | None = None
        count = 0
        # Sleeping on the stop event: stop() ends the wait between attempts at once.
        for count in attempts(deadline, self._backoff, sleep=self._pause):
            if self._stop.is_set():
                return None
            try:
                return self._connect()
            except (HostKeyError, SshAuthFailed):
                raise
            except SshError as exc:
                last = exc
                log.debug("reconnect attempt %d failed: %s", count, exc.message)
        if self._stop.is_set() or last is None:
            return None
        raise TunnelError(
            f"lost the SSH connection to {self._vm_name or 'the VM'} and could not reconnect "
            f"({count} attempts in {seconds(deadline.elapsed())}; the last: {last.message})",
            hint=last.hint,
            kind="vm",
            name=self._vm_name,
        )

    def _pause(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def _accept_loop(self, lsock: socket.socket, bound: BoundForward) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = lsock.accept()
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stop.is_set():
                    return  # listener closed by stop()
                # e.g. out of file descriptors: keep listening rather than die silently.
                log.warning("accepting a connection on port %d failed: %s", bound.local_port, exc)
                self._stop.wait(0.1)
                continue
            try:
                conn.settimeout(None)
                # Without it each small request waits for Nagle against the client's delayed ACK.
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # the client already hung up
                conn.close()
                continue
            # Opening a channel waits a round trip to the VM: one short thread per connection
            # so 50 simultaneous connects wait together; the data then goes through the pump.
            thread = threading.Thread(
                target=self._handle, args=(conn, peer, bound), name="labctl-open", daemon=True
            )
            with self._lock:
                self._handlers.add(thread)
            thread.start()

    def _open_channel(self, spec: ForwardSpec, peer: tuple[str, int]) -> paramiko.Channel | None:
        # Two tries: a transport can die between the is_active() check and the open.
        for _ in range(2):
            try:
                transport = self.get_transport(self._channel_timeout)
                return transport.open_channel(
                    "direct-tcpip",
                    (spec.remote_host, spec.remote_port),
                    (peer[0], peer[1]),
                    timeout=self._channel_timeout,
                )
            except TunnelError:
                return None
            except paramiko.ChannelException as exc:
                log.warning(
                    "VM refused forwarding to %s:%d: %s",
                    spec.remote_host,
                    spec.remote_port,
                    exc.text,
                )
                return None
            except (paramiko.SSHException, EOFError, OSError) as exc:
                log.debug("opening a channel failed (%s); checking the connection", describe(exc))
                self._wake.set()
        return None

    def _handle(self, conn: socket.socket, peer: tuple[str, int], bound: BoundForward) -> None:
        chan: paramiko.Channel | None = None
        try:
            chan = self._open_channel(bound.spec, peer)
            if chan is not None and self._pump.add(conn, chan):
                return
        except Exception as exc:  # e.g. the client hung up meanwhile; never a thread traceback
            log.debug("forwarding a connection failed: %s", describe(exc))
        finally:
            with self._lock:
                self._handlers.discard(threading.current_thread())
        conn.close()
        if chan is not None:
            chan.close()
