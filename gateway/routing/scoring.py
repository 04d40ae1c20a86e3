"""Score candidates in expected dollars for this request. Pure: stats, demand and draws come in.

J(c) = expected_cost(c) + slo_value * P(miss | c) + fail_value * p_fail(c) + quota_pressure(c)
where fail_value = the dearest candidate's expected cost + a share of slo_value (what a failover
costs), and P(miss) below MISS_TOLERANCE counts as meeting the SLO.
P(miss) comes from each deployment's observed TTFT and time-per-token distributions (log-normal
fits, core/latency_fit.py) against the targets; slo_value defaults to SLO_VALUE_MULTIPLE times
the dearest candidate's expected cost, so `balanced` buys the cheapest candidate that meets the
SLO with high probability. Quota is capacity: the pressure term only starts in the last few
percent of a limit, where it decides which requests spill (those a dearer candidate serves
nearly as well), not whether the quota is used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.config.policies import Slo, Strategy
from gateway.config.runtime import Deployment
from gateway.core.estimators import Stats
from gateway.core.latency_fit import LogFit, p_above, with_prior

# Without a slo.value_usd: a miss is worth this many times the dearest candidate's expected
# cost: a cheaper candidate wins while its P(miss), past the tolerance, stays below a quarter of
# the price gap relative to the dearest. Not more: a candidate with few samples looks better
# than one whose many samples carry every hiccup of the host, and the SLO is not worth paying
# several times the price for a point or two of attainment.
SLO_VALUE_MULTIPLE = 4.0
MAX_POINT_WEIGHT = 12.0  # a bare estimate outweighs the prior like a full fit
POINT_SIGMA = 0.3  # spread assumed around a bare latency estimate (no fit: tests, old replicas)
FAIL_SLO_SHARE = 0.25  # of the SLO value, lost with one failed attempt
# An SLO is an attainment target, not a promise per request: a miss probability up to this
# counts as meeting it, so a cheap candidate that meets it 95 % of the time is not traded for a
# dearer one that meets it 99 % of the time.
MISS_TOLERANCE = 0.05
# While a cheaper candidate is left (slow, failing, full), a steady share of the requests
# probes it: the exploration rate times this boost, at most the SLO's tolerance (what probes of
# one still slow may spend), less when the saving it could bring back is under SAVING_FULL of
# the winner's cost. Steady, not random: the caller keeps a credit each request adds its share
# to and a probe spends, so probes come every 1/share requests; at random (Poisson) the wait
# from a recovery to the next probe had a long tail, each second of it paying the price gap.
CHEAPER_PROBE_BOOST = 2.5
SAVING_FULL = 0.25
# A dearer runner-up is probed only while the winner is at risk (its P(miss) past the
# tolerance, failures costing more than AT_RISK_SHARE of its price, or quota pressure) and only
# when its own estimate is stale (a TTFT fit backed by fewer samples than STALE_FIT_WEIGHT):
# with the winner safe a probe buys nothing but its price (a dearer candidate cannot lower the
# cost), and an unmeasured one is scored optimistically anyway.
STALE_FIT_WEIGHT = 2.0
AT_RISK_SHARE = 0.1
QUOTA_KNEE = 0.03  # headroom (of the limit less its safety margin) below which pressure starts
TIE_REL, TIE_ABS_USD = 0.02, 1e-7
OWNED_MAX_P_MISS = 0.5  # prefer_owned_capacity: an owned pool goes first while it meets the SLO
QUOTA_EXHAUSTED = "quota exhausted"
CIRCUIT_OPEN = "circuit open"
_NO_STATS = Stats(ttft_ms=None, tpot_ms=None, p_fail=0.0, in_flight=0)


@dataclass(frozen=True, slots=True)
class Demand:
    prompt_tokens: int
    output_tokens: int
    capabilities: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Draws:
    """Uniform [0, 1) draws made by the caller, so scoring stays deterministic under test; and
    the caller's probe credit for the route (what earlier requests earned towards probing a
    cheaper candidate left behind: next_credit)."""

    tie: float = 0.0
    explore: float = 1.0  # >= explore_rate: no exploration
    pick: float = 0.0
    probe_credit: float = 0.0


@dataclass(frozen=True, slots=True)
class Scored:
    deployment: Deployment
    total: float
    cost_usd: float
    p_miss: float
    miss_usd: float
    fail_usd: float
    quota_usd: float
    ttft_ms: float
    tpot_ms: float


@dataclass(frozen=True, slots=True)
class Excluded:
    deployment: Deployment
    reason: str


@dataclass(frozen=True, slots=True)
class Ranking:
    ranked: tuple[Scored, ...]
    excluded: tuple[Excluded, ...]
    explored: bool = False
    degraded: bool = False  # every candidate's circuit was open: serving the least bad
    probe_share: float = 0.0  # a cheaper candidate is left: the probe credit this request earns


def rank(
    candidates: Sequence[Deployment],
    stats: Mapping[str, Stats],
    demand: Demand,
    *,
    strategy: Strategy,
    slo: Slo,
    draws: Draws,
    explore_rate: float = 0.0,
    weights: Mapping[str, float] | None = None,
    prefer_owned: bool = False,
) -> Ranking:
    eligible: list[Deployment] = []
    excluded: list[Excluded] = []
    for dep in candidates:
        reason = exclusion(dep, stats.get(dep.id, _NO_STATS), demand)
        if reason:
            excluded.append(Excluded(dep, reason))
        else:
            eligible.append(dep)
    degraded = False
    if not eligible:
        # Every circuit open: degrade to the least bad of them rather than fail the request.
        eligible = [e.deployment for e in excluded if e.reason == CIRCUIT_OPEN]
        excluded = [e for e in excluded if e.reason != CIRCUIT_OPEN]
        degraded = bool(eligible)
    if not eligible:
        return Ranking((), tuple(excluded))
    scored = _score_all(eligible, stats, demand, strategy, slo)
    if prefer_owned and not degraded:
        scored = owned_first(scored)
    if strategy is Strategy.ORDERED:
        return Ranking(tuple(scored), tuple(excluded), degraded=degraded)
    if strategy is Strategy.WEIGHTED:
        order = weighted_order(scored, weights or {}, draws.tie)
        return Ranking(tuple(order), tuple(excluded), degraded=degraded)
    ordered = _break_ties(sorted(scored, key=lambda s: s.total), draws.tie)
    if prefer_owned and not degraded:
        ordered = owned_first(ordered)  # stable: the owned keep their order among themselves
    share = probe_share(ordered, explore_rate)
    # (A whole probe within rounding: 0.1 added ten times is 0.9999999999999999.)
    due = draws.probe_credit + share >= 1.0 - 1e-9
    explore = due if share > 0 else draws.explore < explore_rate
    pool = probe_pool(ordered, stats) if explore else []
    if pool:
        chosen = pool[min(int(draws.pick * len(pool)), len(pool) - 1)]
        ordered = [chosen, *(s for s in ordered if s is not chosen)]
    return Ranking(tuple(ordered), tuple(excluded), bool(pool), degraded, share)


def probe_share(ordered: Sequence[Scored], explore_rate: float) -> float:
    """The share of requests that probe the cheapest candidate left behind; 0 if none is."""
    best = ordered[0].cost_usd
    cheapest = min((s.cost_usd for s in ordered[1:]), default=best)
    if cheapest >= best or best <= 0:
        return 0.0
    saving = (best - cheapest) / best
    return min(explore_rate * CHEAPER_PROBE_BOOST, MISS_TOLERANCE) * min(saving / SAVING_FULL, 1.0)


def next_credit(credit: float, ranking: Ranking) -> float:
    """The route's probe credit after this ranking: spent by a probe, reset once nothing cheaper
    is left (a probe owed from an earlier outage is not paid into the next one at its start)."""
    if ranking.explored or ranking.probe_share <= 0:
        return 0.0
    return min(credit + ranking.probe_share, 1.0)


def probe_pool(ordered: Sequence[Scored], stats: Mapping[str, Stats]) -> list[Scored]:
    """The runners-up exploration may move first, to keep their estimates fresh: those cheaper
    than the winner when there are any (only they can lower the cost: a vendor left after a
    slow-down is probed back in); else, while the winner is at risk, the stale dearer ones."""
    best, rest = ordered[0], ordered[1:]
    cheaper = [s for s in rest if s.cost_usd < best.cost_usd]
    if cheaper:
        return cheaper
    at_risk = (
        best.p_miss > MISS_TOLERANCE
        or best.fail_usd > AT_RISK_SHARE * best.cost_usd
        or best.quota_usd > 0
    )
    if not at_risk:
        return []
    return [s for s in rest if _stale(stats.get(s.deployment.id, _NO_STATS))]


def _stale(st: Stats) -> bool:
    return st.ttft_fit is None or st.ttft_fit.weight < STALE_FIT_WEIGHT


def exclusion(dep: Deployment, st: Stats, demand: Demand) -> str:
    """The hard filter: a non-empty reason excludes the deployment."""
    if dep.capabilities is not None:
        missing = demand.capabilities - dep.capabilities
        if missing:
            return f"lacks capability {', '.join(sorted(missing))}"
    if dep.context_window and demand.prompt_tokens + demand.output_tokens > dep.context_window:
        return f"request needs more than its context window of {dep.context_window} tokens"
    if st.circuit_open:
        return CIRCUIT_OPEN
    if st.headroom <= 0:
        return QUOTA_EXHAUSTED
    return ""


def _score_all(
    deps: Sequence[Deployment],
    stats: Mapping[str, Stats],
    demand: Demand,
    strategy: Strategy,
    slo: Slo,
) -> list[Scored]:
    # Unknown prices are scored as the dearest candidate's: they never win on cost.
    worst = (
        max((d.input_per_mtok for d in deps if d.input_per_mtok is not None), default=0.0),
        max((d.output_per_mtok for d in deps if d.output_per_mtok is not None), default=0.0),
    )
    observed = [stats.get(d.id, _NO_STATS) for d in deps]
    # Optimistic prior: an unmeasured deployment is assumed instant, so it gets measured once.
    preds = [(st.ttft_ms or 0.0, st.tpot_ms or 0.0) for st in observed]
    ttft_target, tpot_target = slo.ttft_ms, slo.tpot_ms
    costs = [_expected_cost(d, demand, worst) for d in deps]
    value = slo_value_usd(slo, max(costs))
    cost_weight, slo_value = 1.0, value
    if strategy is Strategy.CHEAPEST:
        slo_value = 0.0
    elif strategy is Strategy.FASTEST:
        # Centre the curve on the fastest measured candidate so that every millisecond counts.
        cost_weight = 0.0
        ttft_target = max(min((p[0] for p in preds if p[0]), default=ttft_target), 1.0)
        tpot_target = max(min((p[1] for p in preds if p[1]), default=tpot_target), 0.1)
    out = []
    # A failed attempt sends the request on to another candidate (at worst the dearest) and
    # loses the time of one attempt, worth a share of the SLO value whatever the preset: even
    # `cheapest` must not keep paying that on a vendor that fails every request. Only a share:
    # a fast error retried at once rarely misses the target, and a timeout is charged already
    # (it is a slow sample in the latency fit).
    fail_value = cost_weight * max(costs) + FAIL_SLO_SHARE * value
    for dep, st, cost, (ttft, tpot) in zip(deps, observed, costs, preds, strict=True):
        p_miss = miss_probability(dep, st, slo)
        miss = slo_value * max(p_miss - MISS_TOLERANCE, 0.0) / (1.0 - MISS_TOLERANCE)
        if strategy is Strategy.FASTEST:
            # Every millisecond counts, even far past the target: rank by latency relative to
            # the fastest measured candidate (a logistic would call all slow ones equal).
            miss = slo_value * (ttft / ttft_target + tpot / tpot_target)
        fail = fail_value * st.p_fail
        # The slot's shadow price near the limit: the dearest candidate's cost at the full
        # pressure, so a request spills only where the gap it pays is smaller.
        quota = max(costs) * quota_pressure(st.headroom)
        total = cost_weight * cost + miss + fail + quota
        out.append(Scored(dep, total, cost, p_miss, miss, fail, quota, ttft, tpot))
    return out


def _expected_cost(dep: Deployment, demand: Demand, worst: tuple[float, float]) -> float:
    pin = dep.input_per_mtok if dep.input_per_mtok is not None else worst[0]
    pout = dep.output_per_mtok if dep.output_per_mtok is not None else worst[1]
    return (demand.prompt_tokens * pin + demand.output_tokens * pout) / 1e6


def owned_first(scored: list[Scored]) -> list[Scored]:
    """prefer_owned_capacity: pools predicted to meet the latency target (P(miss) < 1/2) first.

    A pool that would miss it keeps its place by score, so the excess spills to vendors.
    """
    owned = [s for s in scored if s.deployment.pool is not None and s.p_miss < OWNED_MAX_P_MISS]
    if not owned:
        return scored
    return owned + [s for s in scored if s not in owned]


def slo_value_usd(slo: Slo, dearest_cost_usd: float) -> float:
    """What one missed target is worth for this request: the policy's value_usd, or by default
    SLO_VALUE_MULTIPLE times the dearest candidate's expected cost."""
    if slo.value_usd is not None:
        return slo.value_usd
    return SLO_VALUE_MULTIPLE * dearest_cost_usd


def miss_probability(dep: Deployment, st: Stats, slo: Slo) -> float:
    """P(TTFT > target or time per token > target) from the observed distributions, blended
    with the published typical TTFT while samples are few; 0 when nothing is known."""
    ttft = with_prior(st.ttft_fit or _point(st.ttft_ms), dep.typical_ttft_ms)
    tpot = with_prior(st.tpot_fit or _point(st.tpot_ms), None)
    p_ttft, p_tpot = p_above(ttft, slo.ttft_ms), p_above(tpot, slo.tpot_ms)
    return 1.0 - (1.0 - p_ttft) * (1.0 - p_tpot)


def _point(ms: float | None) -> LogFit | None:
    if ms is None:
        return None
    return LogFit(math.log(max(ms, 0.1)), POINT_SIGMA**2, MAX_POINT_WEIGHT)


def quota_pressure(headroom: float) -> float:
    """0 with plenty of headroom, rising to 1 as it falls from the knee to nothing."""
    if headroom >= QUOTA_KNEE:
        return 0.0
    return ((QUOTA_KNEE - max(headroom, 0.0)) / QUOTA_KNEE) ** 2


def weighted_order(scored: list[Scored], weights: Mapping[str, float], draw: float) -> list[Scored]:
    """First pick by weight with the draw (a canary split); the rest by weight, then score."""
    rest = sorted(scored, key=lambda s: (-weights.get(s.deployment.id, 0.0), s.total))
    total = sum(max(weights.get(s.deployment.id, 0.0), 0.0) for s in rest)
    if total <= 0:
        return rest
    point, acc = draw * total, 0.0
    for i, s in enumerate(rest):
        acc += max(weights.get(s.deployment.id, 0.0), 0.0)
        if point < acc:
            rest.insert(0, rest.pop(i))
            break
    return rest


def _break_ties(ordered: list[Scored], draw: float) -> list[Scored]:
    """Pick at random among near-equals of the best so that replicas don't herd."""
    best = ordered[0].total
    band = best + TIE_ABS_USD + abs(best) * TIE_REL
    n = sum(1 for s in ordered if s.total <= band)
    if n > 1:
        i = min(int(draw * n), n - 1)
        ordered.insert(0, ordered.pop(i))
    return ordered
