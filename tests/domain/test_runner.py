"""The batch engine: every request sent before any wait, one outcome per item, Ctrl-C at once."""

from __future__ import annotations

import _thread
import threading
import time

import pytest

from labctl.errors import Interrupted, LabctlError, NotFound
from labctl.runner import apply_to_many


def test_every_send_happens_before_the_waits_finish_and_results_keep_their_order() -> None:
    sent: list[str] = []
    all_sent = threading.Event()
    items = [f"vm{i}" for i in range(20)]

    def send(item: str) -> str:
        sent.append(item)
        if len(sent) == len(items):
            all_sent.set()
        return f"op-{item}"

    def wait(item: str, handle: str) -> str:
        # Each wait blocks until every request went out: with waits done in waves this
        # would time out.
        assert all_sent.wait(5), "a wait blocked the remaining sends"
        return handle.upper()

    outcomes = apply_to_many(
        items, key=str, send=send, wait=wait, action="stop", send_workers=4, wait_workers=20
    )
    assert [o.key for o in outcomes] == items
    assert [o.value for o in outcomes] == [f"OP-VM{i}" for i in range(20)]


def test_failures_are_collected_and_the_rest_goes_on() -> None:
    def send(item: str) -> str:
        if item == "b":
            raise NotFound("b is gone", kind="vm", name="b")
        if item == "c":
            raise KeyError("a bug")
        return item

    seen: list[str] = []
    outcomes = apply_to_many(
        ["a", "b", "c", "d"],
        key=str,
        send=send,
        action="stop",
        on_result=lambda o: seen.append(o.key),
    )
    assert [o.ok for o in outcomes] == [True, False, False, True]
    assert isinstance(outcomes[1].error, NotFound)
    assert isinstance(outcomes[2].error, LabctlError)
    assert "unexpected KeyError" in outcomes[2].error.message
    assert sorted(seen) == ["a", "b", "c", "d"]  # on_result saw each once


def test_ctrl_c_stops_waiting_at_once_and_names_what_is_in_flight() -> None:
    release = threading.Event()

    def wait(item: str, handle: str) -> None:
        release.wait(30)  # an operation that takes long

    # Deliver a KeyboardInterrupt to this (the main) thread shortly after the batch starts.
    threading.Timer(0.3, _thread.interrupt_main).start()
    started = time.monotonic()
    with pytest.raises(Interrupted) as exc:
        apply_to_many(["a", "b"], key=str, send=str, wait=wait, action="stop")
    assert time.monotonic() - started < 5
    assert exc.value.action == "stop"
    assert set(exc.value.in_flight) == {"a", "b"}
    assert exc.value.exit_code == 130
    release.set()


def test_an_empty_batch_is_empty() -> None:
    assert apply_to_many([], key=str, send=str, action="stop") == []
