"""Properties of the pure policy evaluation (hypothesis): narrowing, exclusion, order, weights."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.config.policies import Slo, Strategy
from gateway.config.runtime import Deployment, Route
from gateway.core.estimators import Stats
from gateway.errors import InvalidRequest
from gateway.routing.policy import Hints, narrow
from gateway.routing.scoring import Demand, Draws, exclusion, rank, weighted_order
from tests.factories import deployment as make

PROVIDERS = [f"p{i}" for i in range(6)]
CAPS = ["tools", "json_mode", "vision"]


def deployment(i: int, price: float, caps: frozenset[str] | None) -> Deployment:
    return make(PROVIDERS[i], input_per_mtok=price, output_per_mtok=price, capabilities=caps)


deployments = st.lists(
    st.builds(
        lambda i, p, c: (i, p, c),
        st.integers(0, 5),
        st.floats(0, 20),
        st.none() | st.frozensets(st.sampled_from(CAPS)),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda t: t[0],
).map(lambda rows: [deployment(*r) for r in rows])

hints = st.builds(
    Hints,
    sort=st.none() | st.sampled_from(list(Strategy)),
    only=st.frozensets(st.sampled_from(PROVIDERS)),
    ignore=st.frozensets(st.sampled_from(PROVIDERS)),
    max_price=st.none() | st.floats(0, 20),
    max_ttft_ms=st.none() | st.floats(1, 5000),
)
stats_for = st.fixed_dictionaries(
    {},
    optional={
        f"{p}/m": st.builds(
            Stats,
            ttft_ms=st.none() | st.floats(1, 5000),
            tpot_ms=st.none() | st.floats(0.1, 200),
            p_fail=st.floats(0, 1),
            in_flight=st.integers(0, 10),
            headroom=st.floats(-0.5, 1),
            circuit_open=st.booleans(),
        )
        for p in PROVIDERS
    },
)
draws = st.builds(
    Draws, tie=st.floats(0, 0.999), explore=st.floats(0, 0.999), pick=st.floats(0, 0.999)
)


@given(deployments, hints)
def test_hints_never_widen(deps: list[Deployment], h: Hints) -> None:
    route = Route(name="r", targets=tuple(deps))
    ruled_out = [
        (h.only and d.provider not in h.only)
        or d.provider in h.ignore
        or (
            h.max_price is not None
            and (d.output_per_mtok is None or d.output_per_mtok > h.max_price)
        )
        for d in deps
    ]
    if all(ruled_out):  # hints that leave nothing: a 400 naming one, not an empty route
        with pytest.raises(InvalidRequest) as caught:
            narrow(route, h)
        assert caught.value.param in ("gateway.only", "gateway.ignore", "gateway.max_price")
        return
    narrowed = narrow(route, h)
    assert {d.id for d in narrowed.targets} <= {d.id for d in deps}
    assert {d.id for d in narrowed.targets} | {d.id for d, _ in narrowed.excluded} == {
        d.id for d in deps
    }
    if h.only:
        assert all(d.provider in h.only for d in narrowed.targets)
    assert not any(d.provider in h.ignore for d in narrowed.targets)


@settings(max_examples=200)
@given(
    deployments,
    stats_for,
    st.frozensets(st.sampled_from(CAPS)),
    st.sampled_from(list(Strategy)),
    draws,
)
def test_an_excluded_candidate_is_never_ranked(
    deps: list[Deployment],
    stats: dict[str, Stats],
    caps: frozenset[str],
    strategy: Strategy,
    d: Draws,
) -> None:
    demand = Demand(prompt_tokens=100, output_tokens=100, capabilities=caps)
    weights = {x.id: 1.0 for x in deps}
    ranking = rank(
        deps,
        stats,
        demand,
        strategy=strategy,
        slo=Slo(),
        draws=d,
        explore_rate=0.5,
        weights=weights,
    )
    ranked = {s.deployment.id for s in ranking.ranked}
    excluded = {e.deployment.id for e in ranking.excluded}
    assert not ranked & excluded
    assert ranked | excluded == {x.id for x in deps}
    nothing = Stats(None, None, 0.0, 0)
    # Degraded (every other candidate out, all left with open circuits): the least bad serve.
    allowed = "circuit open" if ranking.degraded else ""
    for s in ranking.ranked:
        assert exclusion(s.deployment, stats.get(s.deployment.id, nothing), demand) == allowed


@given(deployments, stats_for, draws)
def test_ordered_keeps_the_written_order(
    deps: list[Deployment], stats: dict[str, Stats], d: Draws
) -> None:
    ranking = rank(
        deps, stats, Demand(10, 10), strategy=Strategy.ORDERED, slo=Slo(), draws=d, explore_rate=0.5
    )
    order = [s.deployment.id for s in ranking.ranked]
    assert order == [x.id for x in deps if x.id in set(order)]


@given(st.lists(st.integers(1, 100), min_size=2, max_size=5))
def test_weighted_split_converges_to_the_weights(shares: list[int]) -> None:
    deps = [deployment(i, 1.0, None) for i in range(len(shares))]
    weights = {d.id: float(w) for d, w in zip(deps, shares, strict=True)}
    ranking = rank(deps, {}, Demand(10, 10), strategy=Strategy.CHEAPEST, slo=Slo(), draws=Draws())
    n = 2000
    counts = dict.fromkeys(weights, 0)
    for k in range(n):  # evenly spread draws: the split is exact up to rounding
        first = weighted_order(list(ranking.ranked), weights, (k + 0.5) / n)[0]
        counts[first.deployment.id] += 1
    total = sum(shares)
    for dep_id, w in weights.items():
        assert abs(counts[dep_id] / n - w / total) <= 1.0 / n + 1e-9
