"""Replica choice: predicted TTFT from load and queued prefill, prefix affinity with a bound."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.upstream.pool_metrics import ReplicaLoad
from gateway.upstream.replica import (
    BIAS_RANGE,
    STALE_S,
    Capacity,
    ReplicaState,
    best_ttft_s,
    calibrate,
    choose,
    outstanding,
    predict_ttft_s,
)

CAP = Capacity(max_batch=4, max_queue=2, prefill_tokens_per_s=10_000)
NOW = 100.0


def rep(running: float = 0, waiting: float = 0, *, own: int = 0, at_scrape: int = 0,
        healthy: bool = True, age: float = 0.1, kv: float | None = 0.1,
        fresh: int = 0) -> ReplicaState:  # fmt: skip
    load = ReplicaLoad(running, waiting, kv, NOW - age)
    return ReplicaState(healthy, load, own, at_scrape, fresh, service_s=0.4)


def test_the_scrape_is_corrected_by_our_own_in_flight_since() -> None:
    assert outstanding(rep(2, 0, own=3, at_scrape=1), CAP, NOW) == 4  # two more sent since
    assert outstanding(rep(3, 0, own=0, at_scrape=3), CAP, NOW) == 0  # all three finished
    assert outstanding(rep(0, 0, own=2, at_scrape=2), CAP, NOW) == 2  # never below ours


def test_stale_or_missing_metrics_count_as_busy_not_idle() -> None:
    stale = rep(0, 0, age=STALE_S + 0.5)
    assert outstanding(stale, CAP, NOW) == CAP.max_batch
    never = replace(rep(), load=None)
    assert outstanding(never, CAP, NOW) == CAP.max_batch
    assert choose([stale, rep(1)], CAP, NOW, prompt_tokens=100).index == 1  # type: ignore[union-attr]
    unscraped = replace(CAP, scraped=False)  # engine: openai exports nothing: ours is the load
    assert outstanding(replace(rep(), load=None, in_flight=2), unscraped, NOW) == 2


def test_full_kv_cache_means_a_new_request_queues() -> None:
    assert outstanding(rep(1, 0, kv=0.97), CAP, NOW) == CAP.max_batch


def test_ttft_grows_with_the_queue_and_with_prefill_ahead() -> None:
    ttfts = [predict_ttft_s(rep(n), CAP, NOW, prompt_tokens=1000) for n in range(7)]
    assert ttfts[:4] == [ttfts[0]] * 4  # free batch slots: prefill only
    assert ttfts[3] < ttfts[4] < ttfts[5] < ttfts[6]  # then a wait for a slot per request ahead
    assert predict_ttft_s(rep(4), CAP, NOW, prompt_tokens=1000) == pytest.approx(
        0.005 + 0.4 / 4 + 0.1
    )
    assert predict_ttft_s(rep(fresh=5000), CAP, NOW, prompt_tokens=1000) == pytest.approx(
        ttfts[0] + 0.5
    )
    cached = predict_ttft_s(rep(), CAP, NOW, prompt_tokens=1000, cached_tokens=800)
    assert cached == pytest.approx(ttfts[0] - 0.08)


@pytest.mark.parametrize(
    ("replicas", "expected"),
    [
        ([rep(3), rep(1)], 1),  # least loaded when both are below the batch? equal TTFT: load
        ([rep(5), rep(4)], 1),  # lower predicted TTFT
        ([rep(1, healthy=False), rep(4)], 1),  # unhealthy is skipped
        ([rep(6), rep(2)], 1),  # at its safety limit (4 + 2)
        ([rep(0, own=6), rep(3)], 1),  # our own in-flight alone reaches the limit
    ],
)
def test_choose_the_lowest_predicted_ttft(replicas: list[ReplicaState], expected: int) -> None:
    choice = choose(replicas, CAP, NOW, prompt_tokens=500)
    assert choice is not None and choice.index == expected


def test_none_when_every_replica_is_full_or_down() -> None:
    assert choose([rep(6), rep(1, healthy=False)], CAP, NOW, prompt_tokens=1) is None
    assert best_ttft_s([rep(6), rep(1, healthy=False)], CAP, NOW, prompt_tokens=1) is None
    assert best_ttft_s([rep(6), rep(1)], CAP, NOW, prompt_tokens=1) == pytest.approx(0.0051)


def test_equals_are_spread_by_the_draw() -> None:
    picks = {choose([rep(), rep()], CAP, NOW, prompt_tokens=9, tie=t).index for t in (0.1, 0.9)}  # type: ignore[union-attr]
    assert picks == {0, 1}


def test_affinity_wins_while_the_cached_replica_is_not_much_busier() -> None:
    choice = choose([rep(1), rep(2)], CAP, NOW, prompt_tokens=500, affine=1, affine_tokens=256)
    assert choice is not None and (choice.index, choice.affine) == (1, True)


@pytest.mark.parametrize(
    "replicas",
    [
        [rep(0), rep(3)],  # more than a quarter batch (1) busier than the least loaded
        [rep(0), rep(4)],  # its batch is full: it would queue for affinity's sake
        [rep(0), rep(1, fresh=2000)],  # predicted much slower (prefill queued ahead)
    ],
)
def test_affinity_is_bounded(replicas: list[ReplicaState]) -> None:
    choice = choose(replicas, CAP, NOW, prompt_tokens=500, affine=1, affine_tokens=256)
    assert choice is not None and (choice.index, choice.affine) == (0, False)


def test_calibration_converges_on_the_observed_ratio_and_is_bounded() -> None:
    bias = 1.0
    for _ in range(40):
        bias = calibrate(bias, raw_predicted_s=0.1, observed_s=0.3)
    assert bias == pytest.approx(3.0, rel=0.01)
    once = calibrate(1.0, 0.1, 0.2)
    assert 1.0 < once < 2.0  # one observation moves it part of the way
    assert calibrate(1.0, 0.1, 0.0) == 1.0  # nothing observed: unchanged
    huge = 1.0
    for _ in range(100):
        huge = calibrate(huge, 0.001, 10.0)
    assert huge == BIAS_RANGE[1]


def test_the_prediction_is_scaled_by_the_replicas_bias() -> None:
    plain = predict_ttft_s(rep(2), CAP, NOW, prompt_tokens=1000)
    slow = replace(rep(2), ttft_bias=2.5)
    assert predict_ttft_s(slow, CAP, NOW, prompt_tokens=1000) == pytest.approx(2.5 * plain)
    assert choose([slow, rep(3)], CAP, NOW, prompt_tokens=1000).index == 1  # type: ignore[union-attr]
