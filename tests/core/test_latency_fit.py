"""The streaming log-normal latency fit: pure functions of (fit, sample, elapsed time)."""

from __future__ import annotations

import math
import random

import pytest

from gateway.core.estimators import Estimate, Outcome, apply, merge, to_stats
from gateway.core.latency_fit import (
    FIT_TAU_S,
    MAX_WEIGHT,
    PRIOR_SIGMA,
    PRIOR_WEIGHT,
    LogFit,
    fade,
    observe,
    p_above,
    past_target,
    pooled,
    quantile_ms,
    with_prior,
)


def fit_of(samples: list[float]) -> LogFit:
    fit = None
    for x in samples:
        fit = observe(fit, x)
    assert fit is not None
    return fit


def test_first_sample_is_the_fit_and_weight_grows_to_its_cap() -> None:
    one = observe(None, 200.0)
    assert one == LogFit(math.log(200.0), 0.0, 1.0)
    assert fit_of([200.0] * 5).weight == 5.0
    assert fit_of([200.0] * 50).weight == MAX_WEIGHT


def test_a_sample_log_normal_is_recovered() -> None:
    rng = random.Random(3)
    fit = fit_of([rng.lognormvariate(math.log(300.0), 0.3) for _ in range(2000)])
    assert math.exp(fit.mean) == pytest.approx(300.0, rel=0.2)
    assert math.sqrt(fit.var) == pytest.approx(0.3, rel=0.35)


@pytest.mark.parametrize(
    ("median_ms", "target_ms", "low", "high"),
    [
        (100.0, 1000.0, 0.0, 1e-6),  # p95 well inside the target: ~0
        (300.0, 600.0, 0.0, 0.02),  # median at half the target, sigma 0.3: p95 inside
        (600.0, 600.0, 0.45, 0.55),  # centred on the target: a coin toss
        (1200.0, 600.0, 0.98, 1.0),  # twice the target: nearly always missed
    ],
)
def test_p_above_follows_the_distribution(
    median_ms: float, target_ms: float, low: float, high: float
) -> None:
    fit = LogFit(math.log(median_ms), 0.3**2, 10.0)
    assert low <= p_above(fit, target_ms) <= high


def test_unknown_fit_is_optimistic() -> None:
    assert p_above(None, 100.0) == 0.0
    assert with_prior(None, None) is None


def test_a_tight_fit_is_never_a_step() -> None:
    fit = LogFit(math.log(500.0), 0.0, 12.0)  # every sample exactly 500 ms
    assert 0.0 < p_above(fit, 520.0) < 0.5 < p_above(fit, 480.0) < 1.0


def test_fade_halves_weight_after_tau_ln2() -> None:
    fit = LogFit(1.0, 0.5, 8.0)
    assert fade(fit, 0.0) == fit
    assert fade(fit, FIT_TAU_S * math.log(2)).weight == pytest.approx(4.0)
    assert fade(fit, -3.0) == fit  # clocks across replicas can disagree


def test_prior_dominates_few_samples_and_fades_out_with_many() -> None:
    slow = LogFit(math.log(2000.0), 0.01, 1.0)
    blended = with_prior(slow, 200.0)
    assert blended is not None
    assert 200.0 < math.exp(blended.mean) < 2000.0
    assert blended.var > PRIOR_SIGMA**2  # two far-apart beliefs: wide
    many = with_prior(LogFit(math.log(2000.0), 0.01, MAX_WEIGHT), 200.0)
    assert many is not None and math.exp(many.mean) > 1000.0
    # No published value: the fit's own centre, with the prior's spread.
    alone = with_prior(LogFit(math.log(300.0), 0.0, 1.0), None)
    assert alone is not None and alone.mean == pytest.approx(math.log(300.0))
    assert alone.var == pytest.approx(PRIOR_SIGMA**2 * PRIOR_WEIGHT / (1 + PRIOR_WEIGHT))
    prior_only = with_prior(None, 300.0)
    assert prior_only == LogFit(math.log(300.0), PRIOR_SIGMA**2, 0.0)


def test_a_slowdown_moves_the_miss_probability_within_a_few_samples() -> None:
    fit = fit_of([120.0] * 30)
    assert p_above(fit, 600.0) < 1e-6
    for _ in range(4):
        fit = observe(fit, 1200.0)
    assert p_above(fit, 600.0) > 0.15  # worth far more than any price gap at 4x


def test_an_idle_slow_fit_returns_towards_the_published_value() -> None:
    slow = fit_of([2000.0] * 30)
    now = with_prior(slow, 200.0)
    later = with_prior(fade(slow, 5 * FIT_TAU_S), 200.0)
    assert now is not None and later is not None
    assert p_above(later, 600.0) < p_above(now, 600.0)


def test_pooled_is_the_mixture() -> None:
    a, b = LogFit(0.0, 1.0, 2.0), LogFit(2.0, 1.0, 2.0)
    both = pooled([a, b])
    assert both == LogFit(1.0, 2.0, 4.0)
    assert pooled([]) is None
    assert pooled([LogFit(1.0, 0.0, 0.0)]) == LogFit(1.0, 0.0, 0.0)


def test_quantile_inverts_p_above() -> None:
    fit = LogFit(math.log(300.0), 0.25, 10.0)
    p95 = quantile_ms(fit, 0.95)
    assert p_above(fit, p95) == pytest.approx(0.05, abs=1e-6)


def test_estimates_keep_fits_fade_them_with_time_and_merge_them() -> None:
    est = Estimate()
    for i in range(5):
        est = apply(
            est,
            Outcome("a/m", "ok", 1.0 + i, latency_ms=1100, ttft_ms=100, completion_tokens=11),
        )
    assert est.ttft_fit is not None and est.tpot_fit is not None
    assert math.exp(est.ttft_fit.mean) == pytest.approx(100.0)
    assert math.exp(est.tpot_fit.mean) == pytest.approx(100.0)
    stats = to_stats(est, 5.0 + FIT_TAU_S)
    assert stats.ttft_fit is not None and stats.ttft_fit.weight < est.ttft_fit.weight
    errored = apply(est, Outcome("a/m", "error", 5.0 + FIT_TAU_S, latency_ms=1))
    assert errored.ttft_fit == stats.ttft_fit  # a failure adds no sample, only time
    timed_out = apply(est, Outcome("a/m", "timeout", 6.0, latency_ms=5000))
    assert timed_out.ttft_fit is not None and timed_out.ttft_fit.mean > est.ttft_fit.mean
    other = replace_fit(est, LogFit(math.log(400.0), 0.0, est.ttft_fit.weight))
    merged = merge([est, other]).ttft_fit
    assert merged is not None and math.exp(merged.mean) == pytest.approx(200.0)


def replace_fit(est: Estimate, fit: LogFit) -> Estimate:
    from dataclasses import replace

    return replace(est, ttft_fit=fit)


def test_a_sample_far_faster_than_the_fit_restarts_it_and_a_slow_one_does_not() -> None:
    slow = fit_of([2000.0] * 30)
    idle = 3.0  # left alone for a while, then probed
    assert observe(slow, 200.0, idle) == LogFit(math.log(200.0), slow.var, 1.0)  # recovered
    assert observe(slow, 200.0).weight == MAX_WEIGHT  # in steady use: just a sample
    wide = LogFit(math.log(1200.0), 0.6**2, 12.0)  # after a slow-down: slow and wide
    assert observe(wide, 250.0, idle).weight == 1.0  # 250 ms is 2.6 sigmas below: restarted
    assert observe(wide, 700.0, idle).weight > 1.0  # 0.9 sigmas, not twice as fast: a sample
    wider = LogFit(math.log(1200.0), 1.0, 12.0)  # sigma 1: twice as fast is enough
    assert observe(wider, 550.0, idle).weight == 1.0
    steady = fit_of([200.0] * 30)
    spike = observe(steady, 2000.0)  # one slow sample (maybe ours): one sample of twelve
    assert spike.weight == MAX_WEIGHT
    assert spike.mean == pytest.approx(math.log(200.0) + math.log(10.0) / MAX_WEIGHT)


def test_a_non_streamed_reply_feeds_the_fit_only_once_the_decode_pace_is_known() -> None:
    blind = apply(Estimate(), Outcome("a/m", "ok", 1.0, latency_ms=330, completion_tokens=16))
    assert blind.ttft_fit is None and blind.ttft_ms is not None
    streamed = apply(
        Estimate(), Outcome("a/m", "ok", 1.0, latency_ms=325, ttft_ms=250, completion_tokens=16)
    )
    after = apply(streamed, Outcome("a/m", "ok", 1.1, latency_ms=330, completion_tokens=16))
    assert after.ttft_fit is not None and after.ttft_fit.weight == pytest.approx(2.0, abs=0.02)
    assert math.exp(after.ttft_fit.mean) == pytest.approx(252.5, rel=0.01)  # 330 - 16 x 5 ms


def test_a_refusal_hint_holds_for_its_own_ttl() -> None:
    est = apply(
        Estimate(),
        Outcome("a/m", "rate_limited", 10.0, latency_ms=5, hint_headroom=0.0, hint_ttl_s=2.0),
    )
    assert to_stats(est, 11.0).headroom == 0.0
    assert to_stats(est, 12.5).headroom == 1.0
    assert est.fails == 0.0  # full, not broken
    bare = apply(Estimate(), Outcome("a/m", "rate_limited", 10.0, latency_ms=5))
    assert bare.fails == 1.0  # a 429 that says nothing more still counts
    headers = apply(Estimate(), Outcome("a/m", "ok", 10.0, latency_ms=5, hint_headroom=0.5))
    assert to_stats(headers, 50.0).headroom == 0.5  # a header's hint: its window (60 s)


def test_a_probe_far_faster_than_the_fit_restarts_it_without_a_gap() -> None:
    slow = fit_of([2000.0] * 30)
    # Probes now come every few seconds: the one after the recovery need not wait for a gap.
    assert observe(slow, 200.0, 0.5, probe=True) == LogFit(math.log(200.0), slow.var, 1.0)
    assert observe(slow, 200.0, 0.5).weight == MAX_WEIGHT  # no probe, no gap: one sample
    assert observe(slow, 1900.0, 0.5, probe=True).weight == MAX_WEIGHT  # no faster: a sample
    assert observe(slow, 3000.0, 0.5, probe=True).mean > slow.mean  # slower: a sample
    est = apply(
        Estimate(ttft_fit=slow, updated_at=10.0),
        Outcome("a/m", "ok", 10.5, latency_ms=280, ttft_ms=200, completion_tokens=16, probe=True),
    )
    assert est.ttft_fit is not None and est.ttft_fit.weight == 1.0


@pytest.mark.parametrize(
    ("waits_ms", "moved"),
    [
        ([], False),
        ([300.0, 700.0, 799.0], False),  # within the 800 ms target: they may still meet it
        ([900.0], True),  # past it: a certain miss, evidence before the answer
        ([900.0, 1500.0, 2500.0], True),
    ],
)
def test_waits_past_the_target_count_as_slow_samples(waits_ms: list[float], moved: bool) -> None:
    steady = fit_of([250.0] * 30)
    seen = past_target(steady, waits_ms, 800.0)
    assert (seen != steady) is moved
    if moved:
        assert seen is not None and p_above(seen, 800.0) > p_above(steady, 800.0)


def test_more_and_longer_waits_push_the_miss_probability_up() -> None:
    steady = fit_of([250.0] * 30)

    def p(waits: list[float]) -> float:
        return p_above(past_target(steady, waits, 800.0), 800.0)

    assert p([900.0]) < p([900.0, 1000.0]) < p([900.0, 1000.0, 1100.0, 1200.0])
    assert p([900.0]) < p([1800.0])
    assert p([1000.0] * 6) > 0.1  # half a second of traffic at 12 a second: it is left


def test_a_wait_counts_at_least_as_long_as_it_is() -> None:
    # A wait well inside a slow fit counts at the fit's own mean above it, not at the wait.
    slow = LogFit(math.log(2000.0), 0.2**2, 4.0)
    after = past_target(slow, [900.0], 800.0)
    assert after is not None and after.mean == pytest.approx(slow.mean, abs=0.01)
    # With nothing known, a wait is a sample at its own length.
    assert past_target(None, [1200.0], 800.0) == LogFit(math.log(1200.0), 0.0, 1.0)
