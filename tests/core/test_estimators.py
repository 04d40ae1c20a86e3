"""Peak-EWMA latency and decaying failure rate: pure functions of (estimate, outcome, time)."""

from __future__ import annotations

import pytest

from gateway.core.estimators import Estimate, Outcome, apply, peak_ewma, to_stats


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
