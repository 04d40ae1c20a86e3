"""The circuit breaker: pure transitions with time and jitter passed in."""

from __future__ import annotations

from gateway.core.circuit import (
    CONSECUTIVE_FAILURES,
    Breaker,
    cooldown_s,
    half_open,
    held_open,
    is_open,
    step,
)


def fail(b: Breaker, now: float, *, rate: float = 0.0, attempts: float = 0.0) -> Breaker:
    return step(b, failed=True, fail_rate=rate, attempts=attempts, now=now, jitter=0.5)


def ok(b: Breaker, now: float) -> Breaker:
    return step(b, failed=False, fail_rate=0.0, attempts=0.0, now=now, jitter=0.5)


def test_opens_after_k_consecutive_failures_and_a_success_resets_the_streak() -> None:
    b = Breaker()
    for i in range(CONSECUTIVE_FAILURES - 1):
        b = fail(b, 100.0 + i)
    assert not is_open(b, 104.0)
    assert ok(b, 104.0) == Breaker()
    b = fail(b, 104.0)
    assert is_open(b, 104.1)
    assert b.open_until == 104.0 + cooldown_s(1, 0.5)


def test_opens_on_a_high_failure_rate_over_enough_attempts() -> None:
    assert not is_open(fail(Breaker(), 10.0, rate=0.9, attempts=3), 10.1)  # too few to judge
    assert is_open(fail(Breaker(), 10.0, rate=0.6, attempts=20), 10.1)


def test_half_open_probe_closes_on_success_and_reopens_longer_on_failure() -> None:
    b = Breaker(streak=5, open_until=50.0, opens=1)
    assert is_open(b, 49.0) and not is_open(b, 50.0)  # half-open after the cool-down
    assert ok(b, 51.0) == Breaker()
    again = fail(b, 51.0)
    assert again.opens == 2
    assert again.open_until - 51.0 == cooldown_s(2, 0.5) > cooldown_s(1, 0.5)


def test_cooldown_grows_with_jitter_and_a_cap() -> None:
    assert cooldown_s(1, 0.0) == 2.0 * 0.8
    assert cooldown_s(2, 0.5) == 3.0
    assert cooldown_s(3, 0.999) < 4.5 * 1.2
    assert cooldown_s(30, 0.5) == 30.0


def test_a_failed_free_probe_holds_the_circuit_open_for_longer() -> None:
    b = Breaker(streak=5, open_until=50.0, opens=1)
    assert not half_open(b, 49.0) and half_open(b, 50.0)
    held = held_open(b, 50.0, 0.5)
    assert held.opens == 2 and held.open_until == 50.0 + cooldown_s(2, 0.5)
    assert is_open(held, 51.0)
    assert not half_open(Breaker(), 100.0)  # never opened: nothing to probe
