"""Peak-EWMA latency and decaying failure rate: pure functions of (estimate, outcome, time)."""

from __future__ import annotations

import math

import pytest

from gateway.core.estimators import (
    QUIET_GRACE_S,
    QUIET_TAU_S,
    Estimate,
    Outcome,
    apply,
    decay,
    merge,
    peak_ewma,
    to_stats,
)


def test_peak_ewma_jumps_up_and_decays_down() -> None:
    assert peak_ewma(None, 100.0, 0.0) == 100.0
    assert peak_ewma(100.0, 300.0, 0.1) == 300.0
    lower = peak_ewma(300.0, 100.0, 1.0)
    assert 100.0 < lower < 300.0
    assert peak_ewma(300.0, 100.0, 60.0) == pytest.approx(100.0, abs=0.1)


def test_stream_outcome_sets_ttft_and_time_per_token() -> None:
    est = apply(
        Estimate(), Outcome("a/m", "ok", 1.0, latency_ms=1100, ttft_ms=100, completion_tokens=11)
    )
    assert est.ttft_ms == 100
    assert est.tpot_ms == pytest.approx(100.0)
    assert to_stats(est, 1.0).p_fail == 0.0


def test_fast_failures_raise_p_fail_without_looking_fast() -> None:
    est = apply(
        Estimate(), Outcome("a/m", "ok", 1.0, latency_ms=500, ttft_ms=400, completion_tokens=2)
    )
    for i in range(5):
        est = apply(est, Outcome("a/m", "error", 1.1 + i * 0.01, latency_ms=1))
    stats = to_stats(est, 1.2)
    assert stats.ttft_ms == 400  # the 1 ms errors did not make it look fast
    assert stats.p_fail > 0.6
    assert to_stats(est, 120.0).p_fail < 0.01  # idle: the failure rate decays away


def test_timeout_counts_as_slow_and_rejected_counts_as_nothing() -> None:
    est = apply(Estimate(), Outcome("a/m", "timeout", 1.0, latency_ms=5000))
    assert est.ttft_ms == 5000 and est.fails == 1.0
    assert apply(est, Outcome("a/m", "rejected", 2.0, latency_ms=3)) == est


def test_a_lost_hedge_race_makes_it_look_slower_without_a_failure() -> None:
    est = apply(
        Estimate(), Outcome("a/m", "ok", 1.0, latency_ms=300, ttft_ms=100, completion_tokens=5)
    )
    est = apply(est, Outcome("a/m", "slow", 1.1, latency_ms=400))  # raced, lost after 400 ms
    assert est.ttft_ms == 400
    assert est.fails == 0.0


def _failing(at: float) -> Outcome:
    return Outcome("d", "error", at=at, latency_ms=5)


def _ok(at: float) -> Outcome:
    return Outcome("d", "ok", at=at, latency_ms=100, ttft_ms=50, completion_tokens=10)


def test_failures_fade_fast_once_they_stop() -> None:
    est = Estimate()
    for i in range(20):  # a burst: every attempt fails for 5 s
        est = apply(est, _failing(100.0 + i * 0.25))
    burst_end = 100.0 + 19 * 0.25
    assert to_stats(est, burst_end).p_fail > 0.9
    # Within the grace the rate holds (a vendor failing now and then stays charged) ...
    held = to_stats(est, burst_end + QUIET_GRACE_S).p_fail
    expected = decay(est.fails, QUIET_GRACE_S) / (decay(est.total, QUIET_GRACE_S) + 1)
    assert held == pytest.approx(expected)
    # ... past it, failures fade faster than attempts: the ratio falls with quiet time alone.
    later = [to_stats(est, burst_end + QUIET_GRACE_S + k * QUIET_TAU_S).p_fail for k in (1, 3)]
    assert later[0] < held * 0.5
    assert later[1] < 0.1 < held
    # Successes in between do not stop the fade, and a new failure restarts it from there.
    est = apply(est, _ok(burst_end + 6.0))
    assert to_stats(est, burst_end + 8.0).p_fail < later[1]
    again = apply(est, _failing(burst_end + 8.0))
    assert again.last_fail_at == burst_end + 8.0
    # Within the grace after it, the count decays only with time again.
    expected = decay(again.fails, QUIET_GRACE_S) / (decay(again.total, QUIET_GRACE_S) + 1)
    assert to_stats(again, burst_end + 8.0 + QUIET_GRACE_S).p_fail == pytest.approx(expected)


def test_a_vendor_failing_steadily_keeps_its_rate() -> None:
    est, t = Estimate(), 100.0
    for i in range(60):  # every other attempt fails, 4 attempts a second
        t = 100.0 + i * 0.25
        est = apply(est, _failing(t) if i % 2 else _ok(t))
    assert 0.4 < to_stats(est, t).p_fail < 0.5


def test_merge_fades_each_replica_to_the_latest_failure() -> None:
    old = apply(Estimate(), _failing(100.0))
    new = apply(Estimate(), _failing(100.0 + QUIET_GRACE_S + QUIET_TAU_S))
    merged = merge([old, new])
    assert merged.last_fail_at == new.last_fail_at
    assert merged.fails == pytest.approx(1.0 + math.exp(-1.0))
