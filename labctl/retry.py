"""Bounded retries with exponential backoff and full jitter for retryable labctl errors."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

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
        start = self.clock()
        delay = self.initial
        for attempt in range(1, self.attempts + 1):
            try:
                return fn()
            except RETRYABLE as exc:
                # Full jitter spreads a class of 100 students' retries instead of aligning them.
                pause = self.rng.uniform(0, delay)
                out_of_time = self.clock() - start + pause > self.deadline
                if attempt == self.attempts or out_of_time:
                    raise
                log.info("%s: %s; retry %d in %.1fs", what, exc.message, attempt, pause)
                self.sleep(pause)
                delay = min(delay * self.multiplier, self.maximum)
        raise AssertionError("unreachable")  # the loop returns or raises
