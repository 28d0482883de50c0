"""Bounded retries with exponential backoff and full jitter for retryable labctl errors."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from labctl.deadline import Backoff, Deadline, attempts
from labctl.errors import LabctlError, RateLimited, TransientError

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRYABLE: tuple[type[LabctlError], ...] = (RateLimited, TransientError)


@dataclass
class RetryPolicy:
    """Up to `attempts` tries and at most `deadline` seconds in all.

    The caller keeps its arguments (an insert's requestId above all) the same on every try, so a
    retried insert that had in fact succeeded is recognised by Compute instead of making a twin.
    """

    attempts: int = 5
    initial: float = 1.0
    maximum: float = 20.0
    multiplier: float = 2.0
    deadline: float = 90.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def call(self, fn: Callable[[], T], *, what: str = "request") -> T:
        # Full jitter spreads a class of 100 students' retries instead of aligning them.
        backoff = Backoff(self.initial, self.maximum, self.multiplier, jitter=True, rng=self.rng)
        deadline = Deadline(self.deadline, clock=self.clock)
        last: LabctlError | None = None
        for number in attempts(deadline, backoff, max_attempts=self.attempts, sleep=self.sleep):
            if last is not None:
                log.info("%s: %s; retry %d", what, last.message, number - 1)
            try:
                return fn()
            except RETRYABLE as exc:
                last = exc
        assert last is not None  # attempts() yields at least once
        raise last
