from __future__ import annotations

import random

import pytest

from labctl.errors import NotFound, RateLimited, TransientError
from labctl.retry import RetryPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def policy(clock: FakeClock, **kw: float) -> RetryPolicy:
    return RetryPolicy(sleep=clock.sleep, clock=clock, rng=random.Random(1), **kw)  # type: ignore[arg-type]


def test_retries_rate_limits_and_5xx_then_returns() -> None:
    clock = FakeClock()
    outcomes: list[Exception | None] = [RateLimited("slow down"), TransientError("503"), None]

    def call() -> str:
        err = outcomes.pop(0)
        if err:
            raise err
        return "ok"

    assert policy(clock).call(call) == "ok"
    assert len(clock.sleeps) == 2
    # full jitter: each pause is within the current backoff ceiling (1 s, then 2 s)
    assert 0 <= clock.sleeps[0] <= 1.0 and 0 <= clock.sleeps[1] <= 2.0


def test_gives_up_after_attempts() -> None:
    clock = FakeClock()
    calls = []

    def call() -> None:
        calls.append(1)
        raise RateLimited("slow down")

    with pytest.raises(RateLimited):
        policy(clock, attempts=4).call(call)
    assert len(calls) == 4


def test_gives_up_at_the_deadline() -> None:
    clock = FakeClock()
    calls = []

    def call() -> None:
        calls.append(1)
        clock.now += 10  # each try takes 10 s
        raise TransientError("503")

    with pytest.raises(TransientError):
        policy(clock, attempts=100, deadline=25).call(call)
    assert len(calls) <= 3


def test_other_errors_are_not_retried() -> None:
    clock = FakeClock()
    calls = []

    def call() -> None:
        calls.append(1)
        raise NotFound("gone")

    with pytest.raises(NotFound):
        policy(clock).call(call)
    assert calls == [1] and clock.sleeps == []
