"""Streams still waiting for a first token: what they waited, per deployment (times passed in)."""

from __future__ import annotations

import pytest

from gateway.routing.attempt import FirstTokenWaits


def waits(*sent: float) -> FirstTokenWaits:
    w = FirstTokenWaits()
    for i, t in enumerate(sent):
        w.begin("a/m", f"r{i}", t)
    return w


@pytest.mark.parametrize(
    ("sent", "now", "expected"),
    [
        ((), 5.0, []),
        ((4.5, 4.8), 5.0, []),  # within the 800 ms target
        ((3.0, 4.0, 4.5), 5.0, [2000.0, 1000.0]),  # the two past it, oldest first
    ],
)
def test_overdue_waits(sent: tuple[float, ...], now: float, expected: list[float]) -> None:
    assert waits(*sent).overdue_ms("a/m", 800.0, now) == pytest.approx(expected)
    assert waits(*sent).overdue_ms("b/m", 800.0, now) == []


def test_an_answer_ends_a_wait_and_overtakes_the_older_ones() -> None:
    w = waits(1.0, 2.0, 3.0)  # r0, r1, r2
    w.end("a/m", "r0", answered=False)  # failed or cancelled: gone, says nothing more here
    assert w.overdue_ms("a/m", 800.0, 5.0) == pytest.approx([3000.0, 2000.0])
    w.end("a/m", "r2", answered=True)  # sent later, answered first: r1 is older news
    assert w.overdue_ms("a/m", 800.0, 5.0) == []
    w.begin("a/m", "r3", 3.5)
    assert w.overdue_ms("a/m", 800.0, 5.0) == pytest.approx([1500.0])


def test_at_most_the_longest_waits_count() -> None:
    w = waits(1.0, 2.0, 3.0, 4.0)
    assert w.overdue_ms("a/m", 800.0, 5.0, most=2) == pytest.approx([4000.0, 3000.0])
