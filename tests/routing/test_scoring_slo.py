"""P(miss) from observed distributions, the default SLO value, and quota as capacity: tables."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from gateway.config.policies import Slo, Strategy
from gateway.config.runtime import Deployment
from gateway.core.estimators import Stats
from gateway.core.latency_fit import LogFit
from gateway.routing.scoring import (
    QUOTA_KNEE,
    SLO_VALUE_MULTIPLE,
    STALE_FIT_WEIGHT,
    Demand,
    Draws,
    Ranking,
    miss_probability,
    next_credit,
    rank,
    slo_value_usd,
)
from tests.factories import deployment

DEMAND = Demand(prompt_tokens=400, output_tokens=100)
LOOSE = Slo(ttft_ms=800, tpot_ms=100)  # value_usd unset: the default


def dep(name: str, pin: float, pout: float, typical: float | None = None) -> Deployment:
    return deployment(name, input_per_mtok=pin, output_per_mtok=pout, typical_ttft_ms=typical)


def fit(median_ms: float, sigma: float = 0.2, weight: float = 12.0) -> LogFit:
    return LogFit(math.log(median_ms), sigma**2, weight)


def observed(ttft: float, tpot: float = 10.0, sigma: float = 0.2, **kw: float) -> Stats:
    return Stats(
        ttft_ms=ttft * 1.5,  # the peak estimate sits above the median
        tpot_ms=tpot * 1.5,
        p_fail=0.0,
        in_flight=0,
        ttft_fit=fit(ttft, sigma),
        tpot_fit=fit(tpot, sigma),
        **kw,  # type: ignore[arg-type]
    )


CHEAP, FAST = dep("cheap", 1.0, 2.0), dep("fast", 3.0, 6.0)


def first(stats: dict[str, Stats], slo: Slo = LOOSE, strategy: Strategy = Strategy.BALANCED) -> str:
    ranking = rank([CHEAP, FAST], stats, DEMAND, strategy=strategy, slo=slo, draws=Draws())
    return ranking.ranked[0].deployment.provider


@pytest.mark.parametrize(
    ("cheap_ttft", "fast_ttft", "ttft_target", "winner"),
    [
        (300.0, 100.0, 800.0, "cheap"),  # both meet it comfortably: the cheap one, whatever speed
        (500.0, 100.0, 800.0, "cheap"),  # the cheap one's p95 (~700 ms) still inside
        (700.0, 100.0, 800.0, "fast"),  # the cheap one misses ~25 %: worth more than the gap
        (1200.0, 100.0, 800.0, "fast"),  # the cheap one misses nearly always
        (1200.0, 1150.0, 800.0, "cheap"),  # both miss: no reason to pay more
    ],
)
def test_balanced_is_the_cheapest_that_meets_the_slo(
    cheap_ttft: float, fast_ttft: float, ttft_target: float, winner: str
) -> None:
    stats = {"cheap/m": observed(cheap_ttft), "fast/m": observed(fast_ttft)}
    slo = Slo(ttft_ms=ttft_target, tpot_ms=100)
    assert first(stats, slo) == winner


def test_fastest_and_cheapest_are_unchanged() -> None:
    stats = {"cheap/m": observed(300.0), "fast/m": observed(100.0)}
    assert first(stats, strategy=Strategy.FASTEST) == "fast"
    assert (
        first({"cheap/m": observed(5000.0), "fast/m": observed(100.0)}, LOOSE, Strategy.CHEAPEST)
        == "cheap"
    )


@pytest.mark.parametrize(
    ("value", "dearest", "expected"),
    [
        (None, 0.001, SLO_VALUE_MULTIPLE * 0.001),
        (None, 0.0, 0.0),
        (0.5, 0.001, 0.5),
        (0.0, 1.0, 0.0),
    ],
)
def test_slo_value_defaults_to_a_multiple_of_the_dearest_cost(
    value: float | None, dearest: float, expected: float
) -> None:
    assert slo_value_usd(Slo(value_usd=value), dearest) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("stats", "typical", "low", "high"),
    [
        (Stats(None, None, 0.0, 0), None, 0.0, 0.0),  # nothing known: optimistic
        (Stats(None, None, 0.0, 0), 200.0, 0.0, 0.01),  # published 200 ms vs 800: fine
        (Stats(None, None, 0.0, 0), 900.0, 0.5, 0.7),  # published above the target: likely miss
        (Stats(300.0, None, 0.0, 0), None, 0.0, 0.01),  # a bare estimate, no fit
        (observed(100.0), 2000.0, 0.0, 0.05),  # twelve fast samples outweigh a slow claim
        (observed(100.0, tpot=150.0), None, 0.9, 1.0),  # fast first token, slow decoding
    ],
)
def test_miss_probability_table(
    stats: Stats, typical: float | None, low: float, high: float
) -> None:
    d = dep("x", 1.0, 1.0, typical)
    assert low <= miss_probability(d, stats, LOOSE) <= high


def test_few_samples_keep_wide_uncertainty() -> None:
    d = dep("x", 1.0, 1.0, 400.0)
    one = Stats(None, None, 0.0, 0, ttft_fit=fit(400.0, 0.0, 1.0))
    many = Stats(None, None, 0.0, 0, ttft_fit=fit(400.0, 0.0, 12.0))
    assert miss_probability(d, one, LOOSE) > miss_probability(d, many, LOOSE)


@pytest.mark.parametrize(
    ("headroom", "winner"),
    [(1.0, "cheap"), (0.2, "cheap"), (QUOTA_KNEE, "cheap"), (0.01, "cheap"), (0.0001, "fast")],
)
def test_quota_is_used_to_its_last_percent(headroom: float, winner: str) -> None:
    stats = {"cheap/m": observed(200.0, headroom=headroom), "fast/m": observed(100.0)}
    assert first(stats) == winner


def test_near_the_limit_the_loose_slo_spills_and_the_tight_one_stays() -> None:
    # The cheap deployment is also the fast one; the spill target is slower and dearer.
    fast_cheap, slow_dear = dep("cheap", 1.0, 2.0), dep("slow", 1.5, 3.0)
    stats = {
        "cheap/m": observed(150.0, headroom=0.005),
        "slow/m": observed(600.0),
    }

    def winner(slo: Slo) -> str:
        ranking = rank(
            [fast_cheap, slow_dear],
            stats,
            DEMAND,
            strategy=Strategy.BALANCED,
            slo=slo,
            draws=Draws(),
        )
        return ranking.ranked[0].deployment.provider

    assert winner(Slo(ttft_ms=2000)) == "slow"  # the slower one meets it too: spill
    assert winner(Slo(ttft_ms=400)) == "cheap"  # it would miss on the slower one: keep the slot


def test_exploration_probes_a_cheaper_candidate_first() -> None:
    # cheap is out (slow by its fit): a probe tries it, not the dearest, once credit is due.
    mid = dep("mid", 2.0, 4.0)
    stats = {"cheap/m": observed(3000.0), "mid/m": observed(200.0), "fast/m": observed(100.0)}
    for pick in (0.0, 0.5, 0.99):
        ranking = rank(
            [CHEAP, mid, FAST],
            stats,
            DEMAND,
            strategy=Strategy.BALANCED,
            slo=LOOSE,
            draws=Draws(explore=1.0, pick=pick, probe_credit=0.96),
            explore_rate=0.02,
        )
        assert ranking.explored
        assert [s.deployment.provider for s in ranking.ranked][:2] == ["cheap", "mid"]


def test_a_cheaper_candidate_left_behind_is_probed_every_1_over_share_requests() -> None:
    stats = {"cheap/m": observed(3000.0), "fast/m": observed(100.0)}

    def probes(n: int, draw: float) -> list[int]:
        credit, out = 0.0, []
        for i in range(n):
            ranking = rank(
                [CHEAP, FAST],
                stats,
                DEMAND,
                strategy=Strategy.BALANCED,
                slo=LOOSE,
                draws=Draws(explore=draw, probe_credit=credit),
                explore_rate=0.02,
            )
            assert ranking.probe_share == pytest.approx(0.05)  # 2 % x 2.5, the tolerance
            if ranking.explored:
                out.append(i)
            credit = next_credit(credit, ranking)
        return out

    # Steady, whatever the draws: the 20th, 40th, 60th request (a random draw no longer decides).
    assert probes(60, 0.0) == probes(60, 0.99) == [19, 39, 59]


def test_a_share_summing_to_one_within_rounding_is_a_probe() -> None:
    stats = {"cheap/m": observed(3000.0), "fast/m": observed(100.0)}
    credit, probes = 0.0, []
    for i in range(60):
        ranking = rank(
            [CHEAP, FAST],
            stats,
            DEMAND,
            strategy=Strategy.BALANCED,
            slo=LOOSE,
            draws=Draws(probe_credit=credit),
            explore_rate=1 / 75,  # a share of 1/30: thirty of them add up to 0.9999999999999999
        )
        if ranking.explored:
            probes.append(i)
        credit = next_credit(credit, ranking)
    assert probes == [29, 59]


def test_nothing_cheaper_left_keeps_the_random_rate() -> None:
    # The cheapest wins but fails now and then, and fast's estimate is stale: the plain 2 %.
    shaky = {"cheap/m": replace(observed(100.0), p_fail=0.05), "fast/m": stale(100.0)}

    def explored(draw: float) -> bool:
        ranking = rank(
            [CHEAP, FAST],
            shaky,
            DEMAND,
            strategy=Strategy.BALANCED,
            slo=LOOSE,
            draws=Draws(explore=draw, probe_credit=1.0),  # credit plays no part here
            explore_rate=0.02,
        )
        assert ranking.probe_share == 0.0
        return ranking.explored

    assert not explored(0.04)
    assert explored(0.01)


@pytest.mark.parametrize(
    ("left_price", "explore_rate", "share"),
    [
        (1.0, 0.02, 0.05),  # a third of the winner's price: the full share, the tolerance
        (1.0, 0.01, 0.025),  # the exploration rate x 2.5
        (1.0, 0.1, 0.05),  # never past the tolerance: what probes of a still slow one may cost
        (2.25, 0.02, 0.05),  # 25 % cheaper: still the full share
        (2.7, 0.02, 0.02),  # 10 % cheaper: the share scaled down with the saving
        (3.0, 0.02, 0.0),  # not cheaper: nothing to probe back
    ],
)
def test_probe_share_follows_the_saving(
    left_price: float, explore_rate: float, share: float
) -> None:
    winner, left = dep("win", 3.0, 3.0), dep("left", left_price, left_price)
    slow = {"left/m": observed(3000.0), "win/m": observed(100.0)}
    ranking = rank(
        [left, winner],
        slow,
        DEMAND,
        strategy=Strategy.BALANCED,
        slo=LOOSE,
        draws=Draws(),
        explore_rate=explore_rate,
    )
    assert ranking.ranked[0].deployment.provider == "win"
    assert ranking.probe_share == pytest.approx(share)


@pytest.mark.parametrize(
    ("credit", "explored", "share", "after"),
    [
        (0.3, False, 0.05, 0.35),  # earned
        (0.98, False, 0.05, 1.0),  # never more than one probe owed
        (0.97, True, 0.05, 0.0),  # spent by the probe
        (0.6, False, 0.0, 0.0),  # nothing cheaper left: reset, not saved for the next outage
    ],
)
def test_next_credit(credit: float, explored: bool, share: float, after: float) -> None:
    ranking = Ranking((), (), explored=explored, probe_share=share)
    assert next_credit(credit, ranking) == pytest.approx(after)


def test_a_dearer_candidate_is_probed_only_when_stale_and_the_winner_at_risk() -> None:
    def explored(stats: dict[str, Stats]) -> bool:
        return rank(
            [CHEAP, FAST],
            stats,
            DEMAND,
            strategy=Strategy.BALANCED,
            slo=LOOSE,
            draws=Draws(explore=0.0),
            explore_rate=0.02,
        ).explored

    safe, failing = observed(100.0), replace(observed(100.0), p_fail=0.05)
    missing = observed(610.0)  # P(miss) of the 800 ms target ~13 %: cheap still wins
    tolerated = observed(500.0)  # ~3 %: within the tolerance, no risk
    full = replace(observed(100.0), headroom=0.01)  # in the quota's last few percent
    # The cheapest is safe: a probe of a dearer one buys nothing, stale or not.
    assert not explored({"cheap/m": safe, "fast/m": stale(100.0)})
    assert not explored({"cheap/m": safe})  # even one never measured
    assert not explored({"cheap/m": tolerated, "fast/m": stale(100.0)})
    rare = replace(observed(100.0), p_fail=0.001)  # a failure long ago: not a risk
    assert not explored({"cheap/m": rare, "fast/m": stale(100.0)})
    for risky in (failing, missing, full):
        assert explored({"cheap/m": risky, "fast/m": stale(100.0)})
        assert explored({"cheap/m": risky})  # never measured: stale
        assert not explored({"cheap/m": risky, "fast/m": observed(100.0)})  # fresh enough


def stale(ttft: float) -> Stats:
    return replace(observed(ttft), ttft_fit=fit(ttft, weight=STALE_FIT_WEIGHT / 2))
