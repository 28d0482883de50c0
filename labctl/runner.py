"""One bounded concurrent engine for batches: vm stop/start/delete, cleanup and class setup.

Each item goes through `send` (one API request, e.g. an insert that returns an operation) and
then `wait` (waiting for that operation). Every request is sent first, by a small pool, and the
operations are waited on together, by a larger one: twenty deletes take about one operation's
time, not two waves of it. The result is one `Outcome` per item, in input order; a failure is
recorded and the rest goes on. Ctrl-C stops waiting at once (workers are daemon threads) and
raises `Interrupted` naming what may still be happening.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from labctl.errors import Interrupted, LabctlError

log = logging.getLogger(__name__)

T = TypeVar("T")
H = TypeVar("H")
R = TypeVar("R")

SEND_WORKERS = 16  # concurrent API requests: well inside Compute's per-minute rate quotas
WAIT_WORKERS = 64  # concurrent operation waits: each mostly blocks in a long-poll
_TICK = 0.2  # how often the main thread looks up from waiting, so Ctrl-C lands at once


@dataclass
class Outcome(Generic[T]):
    """What happened to one item: `value` on success, `error` on failure."""

    key: str
    item: T
    value: Any = None
    error: LabctlError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _DaemonPool:
    """Threads that never keep the process alive: Ctrl-C must not wait for their requests."""

    def __init__(self, size: int, name: str) -> None:
        self._tasks: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._size = size
        self._name = name
        self._threads: list[threading.Thread] = []
        self.cancelled = threading.Event()

    def submit(self, task: Callable[[], None]) -> None:
        if len(self._threads) < self._size:
            thread = threading.Thread(
                target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        self._tasks.put(task)

    def _work(self) -> None:
        while not self.cancelled.is_set():
            task = self._tasks.get()
            if task is None or self.cancelled.is_set():
                return
            task()

    def close(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)


def apply_to_many(
    items: Sequence[T],
    *,
    key: Callable[[T], str],
    send: Callable[[T], H],
    wait: Callable[[T, H], Any] | None = None,
    action: str,
    kind: str | None = None,
    on_result: Callable[[Outcome[T]], None] | None = None,
    send_workers: int = SEND_WORKERS,
    wait_workers: int = WAIT_WORKERS,
) -> list[Outcome[T]]:
    """Run `send` then `wait` for every item, concurrently and bounded; one Outcome per item.

    `on_result` is called in the calling thread as each item finishes (for progress bars).
    `action` and `kind` ("stop", "vm") name what is done in the Interrupted error on Ctrl-C.
    """
    results: queue.Queue[Outcome[T]] = queue.Queue()
    state: dict[str, str] = {}  # key -> "sending" | "waiting" while in flight
    lock = threading.Lock()
    senders = _DaemonPool(max(1, min(send_workers, len(items))), "labctl-send")
    waiters = _DaemonPool(max(1, min(wait_workers, len(items))), "labctl-wait")

    def finish(item: T, value: Any = None, error: LabctlError | None = None) -> None:
        with lock:
            state.pop(key(item), None)
        results.put(Outcome(key(item), item, value, error))

    def guarded(item: T, step: Callable[[], Any]) -> tuple[bool, Any]:
        try:
            return True, step()
        except LabctlError as exc:
            finish(item, error=exc)
        except Exception as exc:  # a bug in one item must not sink the batch; it is reported
            log.debug("unexpected error for %s", key(item), exc_info=True)
            finish(item, error=LabctlError(f"unexpected {type(exc).__name__}: {exc}"))
        return False, None

    def run_wait(item: T, handle: H) -> None:
        assert wait is not None
        ok, value = guarded(item, lambda: wait(item, handle))
        if ok:
            finish(item, value)

    def run_send(item: T) -> None:
        with lock:
            state[key(item)] = "sending"
        ok, handle = guarded(item, lambda: send(item))
        if not ok:
            return
        if wait is None:
            finish(item, handle)
            return
        with lock:
            state[key(item)] = "waiting"
        waiters.submit(lambda: run_wait(item, handle))

    by_key: dict[str, Outcome[T]] = {}
    try:
        # Inside the try: a Ctrl-C while the first items already run is still an Interrupted.
        for item in items:
            senders.submit(lambda item=item: run_send(item))  # type: ignore[misc]
        while len(by_key) < len(items):
            try:
                outcome = results.get(timeout=_TICK)
            except queue.Empty:
                continue
            by_key[outcome.key] = outcome
            if on_result is not None:
                on_result(outcome)
    except KeyboardInterrupt:
        senders.cancelled.set()
        waiters.cancelled.set()
        with lock:
            in_flight = dict(state)
        raise Interrupted(
            f"interrupted: {len(in_flight)} {action} request(s) may still be in progress",
            action=action,
            kind=kind,
            in_flight=in_flight,
        ) from None
    finally:
        senders.close()
        waiters.close()
    return [by_key[key(item)] for item in items]


def read_many(
    items: Sequence[T],
    call: Callable[[T], Any],
    *,
    key: Callable[[T], str] = str,
    doing: str = "reading",
) -> list[Outcome[T]]:
    """Reads through the batch engine (bounded, concurrent); Ctrl-C changes nothing."""
    if not items:
        return []
    try:
        return apply_to_many(items, key=key, send=call, action=doing)
    except Interrupted:
        raise Interrupted(f"interrupted while {doing}; nothing changed", action=doing) from None


def raise_first(outcomes: Sequence[Outcome[Any]]) -> None:
    """Raise the first failure of a batch, if any."""
    for outcome in outcomes:
        if outcome.error is not None:
            raise outcome.error
