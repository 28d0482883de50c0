"""Deadlines and backoff: the one helper every loop that waits or retries is built on."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class Deadline:
    """A point in time `seconds` from now on a monotonic clock.

    `Deadline(None)` never expires: `remaining()` is then infinite.
    """

    def __init__(self, seconds: float | None, *, clock: Clock = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._start = clock()

    def elapsed(self) -> float:
        return self._clock() - self._start

    def remaining(self) -> float:
        if self.seconds is None:
            return float("inf")
        return max(0.0, self.seconds - self.elapsed())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def cap(self, seconds: float) -> float:
        """`seconds`, shortened so it ends no later than the deadline."""
        return min(seconds, self.remaining())


@dataclass
class Backoff:
    """Exponential delays from `initial` up to `maximum`.

    With `jitter`, each delay is drawn from [0, delay] ("full jitter"), which spreads the
    retries of a whole class instead of aligning them on the same instants.
    """

    initial: float = 1.0
    maximum: float = 20.0
    multiplier: float = 2.0
    jitter: bool = False
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delays(self) -> Iterator[float]:
        delay = self.initial
        while True:
            yield self.rng.uniform(0.0, delay) if self.jitter else delay
            delay = min(delay * self.multiplier, self.maximum)


def attempts(
    deadline: Deadline,
    backoff: Backoff,
    *,
    max_attempts: int | None = None,
    sleep: Sleep = time.sleep,
) -> Iterator[int]:
    """Attempt numbers 1, 2, ... with a backoff pause before each one after the first.

    Stops (without sleeping in vain) when the next pause would cross the deadline or when
    `max_attempts` were made, so the caller's loop ends and it reports its last failure::

        for _ in attempts(Deadline(90), Backoff()):
            try:
                return call()
            except Retryable as exc:
                last = exc
        raise last
    """
    delays = backoff.delays()
    number = 1
    while True:
        yield number
        if max_attempts is not None and number >= max_attempts:
            return
        pause = next(delays)
        if pause >= deadline.remaining():
            return
        sleep(pause)
        number += 1
