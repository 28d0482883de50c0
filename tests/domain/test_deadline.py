"""The one deadline/backoff helper every waiting loop uses."""

from __future__ import annotations

import random

from labctl.deadline import Backoff, Deadline, attempts


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_deadline_counts_down_and_caps() -> None:
    clock = Clock()
    deadline = Deadline(10, clock=clock)
    clock.now = 4
    assert deadline.remaining() == 6 and deadline.elapsed() == 4
    assert deadline.cap(30) == 6 and deadline.cap(2) == 2
    clock.now = 11
    assert deadline.expired() and deadline.remaining() == 0
    assert Deadline(None, clock=clock).remaining() == float("inf")


def test_backoff_grows_to_its_maximum_and_jitter_stays_below_it() -> None:
    delays = Backoff(initial=1, maximum=5, multiplier=2).delays()
    assert [next(delays) for _ in range(5)] == [1, 2, 4, 5, 5]
    jittered = Backoff(initial=1, maximum=4, jitter=True, rng=random.Random(3)).delays()
    assert all(0 <= next(jittered) <= 4 for _ in range(20))


def test_attempts_stop_before_a_pause_would_cross_the_deadline() -> None:
    clock = Clock()
    numbers = list(
        attempts(Deadline(10, clock=clock), Backoff(initial=3, maximum=3), sleep=clock.sleep)
    )
    assert numbers == [1, 2, 3, 4]  # pauses at 3, 6, 9: a fourth pause would end at 12
    assert clock.sleeps == [3, 3, 3]


def test_attempts_stop_at_max_attempts_without_a_last_sleep() -> None:
    clock = Clock()
    numbers = list(
        attempts(Deadline(None, clock=clock), Backoff(initial=1), max_attempts=3, sleep=clock.sleep)
    )
    assert numbers == [1, 2, 3] and clock.sleeps == [1, 2]


def test_a_caller_that_succeeds_stops_the_schedule() -> None:
    clock = Clock()
    for number in attempts(Deadline(100, clock=clock), Backoff(initial=1), sleep=clock.sleep):
        if number == 2:
            break
    assert clock.sleeps == [1]
