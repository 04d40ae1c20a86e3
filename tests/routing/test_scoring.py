"""The pure scorer, table-driven: no clock, no randomness, no I/O."""

from __future__ import annotations

from gateway.config.policies import Slo, Strategy
from gateway.config.runtime import Deployment
from gateway.core.estimators import Stats
from gateway.routing.scoring import QUOTA_KNEE, Demand, Draws, exclusion, quota_pressure, rank
from tests.factories import deployment


def dep(
    name: str,
    pin: float | None,
    pout: float | None,
    caps: frozenset[str] | None = None,
    ctx: int | None = None,
) -> Deployment:
    return deployment(
        name, input_per_mtok=pin, output_per_mtok=pout, capabilities=caps, context_window=ctx
    )


def st(
    ttft: float | None = None, tpot: float | None = None, p_fail: float = 0.0, **kw: object
) -> Stats:
    return Stats(ttft_ms=ttft, tpot_ms=tpot, p_fail=p_fail, in_flight=0, **kw)  # type: ignore[arg-type]


CHEAP, MID, DEAR = dep("cheap", 0.1, 0.2), dep("mid", 0.5, 1.0), dep("dear", 5.0, 15.0)
DEMAND = Demand(prompt_tokens=1000, output_tokens=500)
SLO = Slo(ttft_ms=500, tpot_ms=50, value_usd=0.01)
MEASURED = {
    "cheap/m": st(ttft=900, tpot=80),
    "mid/m": st(ttft=300, tpot=30),
    "dear/m": st(ttft=100, tpot=10),
}


def order(strategy: Strategy, stats: dict[str, Stats] = MEASURED, **kw: object) -> list[str]:
    ranking = rank(
        [CHEAP, MID, DEAR],
        stats,
        DEMAND,
        strategy=strategy,
        slo=SLO,
        draws=Draws(),
        **kw,  # type: ignore[arg-type]
    )
    return [s.deployment.provider for s in ranking.ranked]


def test_presets_trade_cost_against_latency() -> None:
    assert order(Strategy.CHEAPEST) == ["cheap", "mid", "dear"]
    assert order(Strategy.FASTEST) == ["dear", "mid", "cheap"]
    # balanced: cheap misses the SLO (worth $0.01), dear costs $0.0125: mid wins.
    assert order(Strategy.BALANCED)[0] == "mid"
    assert order(Strategy.ORDERED) == ["cheap", "mid", "dear"]


def test_expected_cost_terms() -> None:
    ranking = rank([MID], {}, DEMAND, strategy=Strategy.BALANCED, slo=SLO, draws=Draws())
    scored = ranking.ranked[0]
    assert abs(scored.cost_usd - (1000 * 0.5 + 500 * 1.0) / 1e6) < 1e-12
    assert scored.total >= scored.cost_usd


def test_failing_provider_loses_even_when_cheapest() -> None:
    failing = {**MEASURED, "cheap/m": st(ttft=900, tpot=80, p_fail=0.5)}
    assert order(Strategy.CHEAPEST, failing)[0] == "mid"


def test_unmeasured_candidate_is_tried_first_on_latency() -> None:
    stats = {"cheap/m": st(ttft=100, tpot=10), "dear/m": st(ttft=100, tpot=10)}
    assert order(Strategy.FASTEST, stats)[0] == "mid"


def test_unknown_price_never_wins_on_cost() -> None:
    unknown = dep("unknown", None, None)
    ranking = rank([unknown, DEAR], {}, DEMAND, strategy=Strategy.CHEAPEST, slo=SLO, draws=Draws())
    costs = {s.deployment.provider: s.cost_usd for s in ranking.ranked}
    assert costs["unknown"] == costs["dear"]  # priced as the dearest candidate


def test_hard_filters_exclude_with_reasons() -> None:
    no_tools = dep("plain", 0.1, 0.1, caps=frozenset({"json_mode"}))
    small = dep("small", 0.1, 0.1, ctx=1000)
    demand = Demand(prompt_tokens=900, output_tokens=500, capabilities=frozenset({"tools"}))
    stats = {"dear/m": st(circuit_open=True), "mid/m": st(headroom=0.0)}
    ranking = rank(
        [no_tools, small, DEAR, MID, CHEAP],
        stats,
        demand,
        strategy=Strategy.BALANCED,
        slo=SLO,
        draws=Draws(),
    )
    assert [s.deployment.provider for s in ranking.ranked] == ["cheap"]
    reasons = {e.deployment.provider: e.reason for e in ranking.excluded}
    assert reasons == {
        "plain": "lacks capability tools",
        "small": "request needs more than its context window of 1000 tokens",
        "dear": "circuit open",
        "mid": "quota exhausted",
    }
    assert exclusion(CHEAP, st(), demand) == ""


def test_ties_are_broken_by_the_draw_and_exploration_moves_a_runner_up() -> None:
    twins = [dep("a", 1.0, 1.0), dep("b", 1.0, 1.0), dep("c", 9.0, 9.0)]
    firsts = {
        rank(twins, {}, DEMAND, strategy=Strategy.CHEAPEST, slo=SLO, draws=Draws(tie=t))
        .ranked[0]
        .deployment.provider
        for t in (0.0, 0.99)
    }
    assert firsts == {"a", "b"}
    # The winners fail now and then (at risk): the unmeasured dearer one is worth a probe.
    shaky = {"a/m": st(p_fail=0.1), "b/m": st(p_fail=0.1)}
    explored = rank(
        twins,
        shaky,
        DEMAND,
        strategy=Strategy.CHEAPEST,
        slo=SLO,
        draws=Draws(explore=0.0, pick=0.99),
        explore_rate=0.02,
    )
    assert explored.explored
    assert explored.ranked[0].deployment.provider == "c"
    assert not rank(
        twins,
        shaky,
        DEMAND,
        strategy=Strategy.CHEAPEST,
        slo=SLO,
        draws=Draws(explore=0.5),
        explore_rate=0.02,
    ).explored


def test_quota_pressure_only_in_the_last_few_percent() -> None:
    assert quota_pressure(1.0) == quota_pressure(0.2) == quota_pressure(QUOTA_KNEE) == 0.0
    assert 0.0 < quota_pressure(0.02) < quota_pressure(0.01) < quota_pressure(0.0) == 1.0
    # Far from the limit the cheapest keeps the traffic (no repulsion at 10 % headroom)...
    roomy = {**MEASURED, "mid/m": st(ttft=300, tpot=30, headroom=0.1)}
    assert order(Strategy.BALANCED, roomy)[0] == "mid"
    # ...at the edge it spills.
    low = {**MEASURED, "mid/m": st(ttft=300, tpot=30, headroom=0.001)}
    assert order(Strategy.BALANCED, low)[0] != "mid"
