"""The replay runs the router's own decision over recorded requests: strategy, weights, latency
targets, declared limits, capabilities, operations; priced at the candidate's prices."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal

from gateway.config.policies import Strategy
from gateway.config.runtime import Config, Deployment, Route, ScopeLimit
from gateway.core.usage import Usage
from gateway.replay.observed import Observed
from gateway.replay.recorded import Recorded
from gateway.replay.simulate import Knobs, Replay
from gateway.replay.tally import RouteReplay
from tests.replay.rows import config, dep, row, slo

NO_EXPLORING = Knobs(explore_rate=0.0)


def replayed(
    cfg: Config,
    rows: Iterable[Recorded],
    draw: Callable[[], float] = lambda: 0.0,
) -> dict[str, RouteReplay]:
    rows = list(rows)
    sim = Replay(cfg, Observed(rows), draw=draw, knobs=NO_EXPLORING)
    for r in rows:
        sim.feed(r)
    return sim.finish()


def test_cheapest_moves_everything_and_prices_it_at_the_candidates_price() -> None:
    cfg = config([dep("a", 0.5), dep("b", 2.0)])
    rows = [row(i, "b/m", cost_usd=Decimal("0.00022")) for i in range(20)]
    chat = replayed(cfg, rows)["chat"]
    assert chat.actual.summary(has_slo=False) == {
        "requests": 20,
        "cost_usd": 0.0044,
        "slo_attainment": None,
        "split": {"b/m": 1.0},
    }
    # 20 x (100 + 10 tokens) x 0.5 USD / Mtok
    assert chat.predicted.summary(has_slo=False) == {
        "requests": 20,
        "cost_usd": 0.0011,
        "slo_attainment": None,
        "split": {"a/m": 1.0},
    }
    assert chat.unserved == 0 and not chat.has_slo  # a route without `slo:` has none


def test_weighted_split_follows_the_weights_with_the_draws() -> None:
    cfg = config([dep("a"), dep("b")], strategy=Strategy.WEIGHTED, weights={"a/m": 25, "b/m": 75})
    ties = iter([(i % 4) / 4 + 0.01 for i in range(40)])  # the weighted pick's draw
    draws = iter(x for tie in ties for x in (tie, 1.0, 0.0))  # (tie, explore, pick) per request
    chat = replayed(cfg, [row(i) for i in range(40)], lambda: next(draws))["chat"]
    assert chat.predicted.split == {"a/m": 10, "b/m": 30}


def test_a_latency_target_moves_traffic_to_the_deployment_that_meets_it() -> None:
    # a: cheap but 900 ms to the first token; b: twice the price, 20 ms. A miss costs 1 USD.
    cfg = config(
        [dep("a", 1.0), dep("b", 2.0)],
        strategy=Strategy.BALANCED,
        slo=slo(ttft_ms=200, value_usd=1.0),
    )
    rows = [row(0, "b/m", ttft_ms=20.0, latency_ms=110.0)]
    rows += [row(i, ttft_ms=900.0, latency_ms=990.0) for i in range(1, 41)]
    chat = replayed(cfg, rows)["chat"]
    assert chat.has_slo
    actual, predicted = (t.summary(has_slo=True) for t in (chat.actual, chat.predicted))
    assert actual["split"]["a/m"] == 40 / 41 and actual["slo_attainment"] == 1 / 41
    # Only what comes before a's first (slow) answer is learned still goes to it.
    assert predicted["split"]["b/m"] >= 0.9
    assert predicted["slo_attainment"] is not None and predicted["slo_attainment"] >= 0.9


def limited(provider: str, rpm: int, price: float) -> Deployment:
    return dep(provider, price, limits=(ScopeLimit("p"), ScopeLimit("m:m", rpm=rpm)))


def test_declared_limits_hold_in_the_simulated_timeline() -> None:
    cfg = config([limited("a", 10, 0.5), dep("b", 2.0)])
    chat = replayed(cfg, [row(i * 0.5) for i in range(30)])["chat"]  # 30 in 15 s
    a = chat.predicted.split["a/m"]
    assert 5 <= a <= 10  # at most the limit, and most of it used
    assert chat.predicted.split["b/m"] == 30 - a and chat.unserved == 0
    # A minute later the window has slid: a takes requests again.
    later = replayed(cfg, [row(i * 0.5) for i in range(30)] + [row(100 + i) for i in range(5)])
    assert later["chat"].predicted.split["a/m"] >= a + 4


def test_quota_use_is_seen_as_the_routers_snapshot_sees_it() -> None:
    cfg = config([limited("a", 10, 0.5), dep("b", 2.0)])
    rows = [row(i * 0.5) for i in range(30)]
    for refresh_s, used in ((0.0, range(5, 11)), (3600.0, [10])):
        sim = Replay(cfg, Observed(rows), draw=lambda: 0.0, knobs=Knobs(0.0, refresh_s=refresh_s))
        for r in rows:
            sim.feed(r)
        # Refreshed at every request, quota pressure may spill before the limit; a snapshot
        # never refreshed says there is room until a reservation is refused: the limit holds.
        assert sim.finish()["chat"].predicted.split["a/m"] in used


def test_every_candidate_full_leaves_requests_unserved() -> None:
    cfg = config([limited("a", 10, 0.5), limited("b", 5, 2.0)])
    chat = replayed(cfg, [row(i * 0.5) for i in range(30)])["chat"]
    assert chat.predicted.requests <= 15
    assert chat.unserved == 30 - chat.predicted.requests
    assert chat.actual.requests == 30


def test_a_request_goes_only_where_its_capabilities_are() -> None:
    cfg = config([dep("a", 0.5, capabilities=frozenset({"json_mode"})), dep("b", 2.0)])
    tools = frozenset({"tools"})
    rows = [row(i, capabilities=tools if i % 2 else frozenset()) for i in range(10)]
    assert replayed(cfg, rows)["chat"].predicted.split == {"a/m": 5, "b/m": 5}


def test_operations_and_routes_the_candidate_no_longer_has() -> None:
    embeds = dep("b", 2.0, operations=frozenset({"embeddings"}))
    cfg = config([dep("a", 0.5), embeds])
    rows = [row(i, endpoint="/v1/embeddings", usage=Usage(100, 0)) for i in range(3)]
    rows += [row(5 + i, model="gone") for i in range(2)]
    routes = replayed(cfg, rows)
    assert routes["chat"].predicted.split == {"b/m": 3}
    gone = routes["gone"]
    assert (gone.actual.requests, gone.predicted.requests, gone.unserved) == (2, 0, 2)


def test_a_deployment_never_seen_and_without_typical_ttft_has_unknown_latency() -> None:
    cfg = config([dep("a", 2.0), dep("b", 0.5)], slo=slo(ttft_ms=200))
    chat = replayed(cfg, [row(i) for i in range(3)])["chat"]
    assert chat.predicted.split == {"b/m": 3} and chat.unknown_latency == {"b/m"}
    assert chat.predicted.summary(has_slo=True)["slo_attainment"] is None  # nothing to judge
    assert chat.actual.summary(has_slo=True)["slo_attainment"] == 1.0


def test_a_teams_variant_of_the_route_serves_its_requests() -> None:
    a, b = dep("a", 0.5), dep("b", 2.0)
    vip = Route(name="chat", targets=(b,))
    cfg = config([a, b], teams={"vip": vip})
    rows = [row(i, team="vip" if i % 2 else "search") for i in range(6)]
    assert replayed(cfg, rows)["chat"].predicted.split == {"a/m": 3, "b/m": 3}
