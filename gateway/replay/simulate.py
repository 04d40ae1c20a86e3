"""Replay recorded requests through a candidate config's routing decision. Pure: the rows,
the random draws and the time (each row's own arrival) come in.

For each request, in time order: the replayed requests that had ended by then are folded into
live state (the estimators and sliding quota windows the router reads), the candidate route is
resolved and ranked by the router's own functions (policy.resolve, scoring.rank), a slot is
reserved on the first candidate whose declared limits allow it (as the attempt loop does), and
the request is priced at its recorded tokens. A replayed request ends after the latency its
deployment showed (see observed.py). Failovers are not replayed: the ledger keeps only the
attempt that answered.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from gateway.config.runtime import Config, Deployment, Route
from gateway.core.estimators import Estimate, Outcome, Stats, apply, to_stats
from gateway.core.operation import Operation
from gateway.errors import GatewayError
from gateway.ledger.pricing import cost_usd
from gateway.replay.observed import Observed
from gateway.replay.recorded import Recorded, met, sample_of
from gateway.replay.tally import RouteReplay
from gateway.routing.output_estimate import OutputEstimate, output_cap
from gateway.routing.policy import resolve
from gateway.routing.scoring import QUOTA_EXHAUSTED, Demand, Draws, next_credit, rank
from gateway.state.quota import Denied, Grant, LocalQuota

OPERATIONS: Mapping[str, Operation] = {op.endpoint: op for op in Operation}


@dataclass(frozen=True, slots=True)
class Knobs:
    """The router's settings that shape its choices (gateway.settings.Settings)."""

    explore_rate: float = 0.02
    default_output_tokens: int = 256
    # The router reads quota use from a snapshot refreshed this often (and when a reservation
    # is refused); 0: always current.
    refresh_s: float = 0.25


@dataclass(order=True)
class _Ending:
    """A replayed request in flight, until `end`."""

    end: float
    seq: int
    grant: Grant = field(compare=False)
    outcome: Outcome | None = field(compare=False)  # None: its latency is unknown
    route: str = field(compare=False)
    completion_tokens: int = field(compare=False)
    tokens_used: int = field(compare=False)


class Replay:
    """Feed rows in time order, then read `routes` (keyed by the model name clients sent)."""

    def __init__(
        self,
        config: Config,
        observed: Observed,
        *,
        draw: Callable[[], float],
        knobs: Knobs = Knobs(),
    ) -> None:
        self._config = config
        self._observed = observed
        self._draw = draw
        self._knobs = knobs
        self._estimates: dict[str, Estimate] = {}
        self._quota = LocalQuota()
        self._outputs = OutputEstimate(knobs.default_output_tokens)
        self._in_flight: list[_Ending] = []
        self._resolved: dict[tuple[str, str | None, str], Route | None] = {}
        self._refreshed: dict[str, int] = {}  # deployment -> refresh tick its quota use is from
        self._seq = 0
        self._probe_credit: dict[str, float] = {}  # route -> credit, as the router keeps it
        self.routes: dict[str, RouteReplay] = {}

    def feed(self, row: Recorded) -> None:
        self._end_until(row.at)
        self._seq += 1
        report = self.routes.get(row.model)
        if report is None:
            report = self.routes[row.model] = RouteReplay()
        route = self._route(row)
        tokens = row.usage.completion_tokens
        actual_met = met(sample_of(row), route.slo, tokens) if route is not None else None
        report.actual.add(row.deployment, row.cost_usd, actual_met)
        if route is None:
            report.unserved += 1
            return
        # A route without `slo:` in its policy carries the defaults, none of them set by anyone.
        report.has_slo = report.has_slo or bool(route.slo.model_fields_set)
        self._predict(row, route, report)

    def _predict(self, row: Recorded, route: Route, report: RouteReplay) -> None:
        """The candidate's choice for the row, tallied, and in flight until it would end."""
        chosen = self._choose(row, route)
        if chosen is None:
            report.unserved += 1
            return
        dep, grant = chosen
        tokens = row.usage.completion_tokens
        sample = self._observed.sample_for(dep, row)
        if sample is None:
            report.unknown_latency.add(dep.id)
        report.predicted.add(
            dep.id,
            cost_usd(dep, row.usage),
            met(sample, route.slo, tokens) if sample is not None else None,
        )
        # Unknown latency: it holds its quota as long as the recorded request took.
        latency_ms = sample.latency_ms if sample is not None else row.latency_ms
        end = row.at + latency_ms / 1000
        outcome = None
        if sample is not None:
            outcome = Outcome(
                dep.id,
                "ok",
                at=end,
                latency_ms=sample.latency_ms,
                ttft_ms=sample.ttft_ms,
                completion_tokens=tokens,
            )
        ending = _Ending(end, self._seq, grant, outcome, route.name, tokens, row.usage.total_tokens)
        heapq.heappush(self._in_flight, ending)

    def finish(self) -> dict[str, RouteReplay]:
        self._end_until(float("inf"))
        return self.routes

    def _route(self, row: Recorded) -> Route | None:
        """The candidate route for the row's model, team and operation; None if it has none."""
        key = (row.model, row.team, row.endpoint)
        if key not in self._resolved:
            op = OPERATIONS.get(row.endpoint, Operation.CHAT)
            try:
                route: Route | None = resolve(self._config, row.model, team=row.team, operation=op)
            except GatewayError:  # the model is gone, or no target serves the operation
                route = None
            self._resolved[key] = route
        return self._resolved[key]

    def _choose(self, row: Recorded, route: Route) -> tuple[Deployment, Grant] | None:
        """The router's choice (Router.rank, then loop.walk's reservations), or None when
        every candidate's quota is full."""
        op = OPERATIONS.get(row.endpoint, Operation.CHAT)
        output = self._outputs.expected(route.name) if op.generates else 0
        demand = Demand(row.usage.prompt_tokens, output, row.capabilities)
        stats = {d.id: self._stats(d, row.at) for d in route.targets}
        draw = self._draw
        ranking = rank(
            route.targets,
            stats,
            demand,
            strategy=route.strategy,
            slo=route.slo,
            draws=Draws(draw(), draw(), draw(), self._probe_credit.get(route.name, 0.0)),
            explore_rate=self._knobs.explore_rate,
            weights=route.weights,
            prefer_owned=route.prefer_owned_capacity,
        )
        credit = self._probe_credit.get(route.name, 0.0)
        self._probe_credit[route.name] = next_credit(credit, ranking)
        full = [e.deployment for e in ranking.excluded if e.reason == QUOTA_EXHAUSTED]
        reserve = demand.prompt_tokens + min(output, output_cap(route))
        now_ms = int(row.at * 1000)
        for dep in [s.deployment for s in ranking.ranked] + full:
            grant = self._quota.reserve(dep, reserve, f"replay-{self._seq}", now_ms)
            if not isinstance(grant, Denied):
                return dep, grant
            self._refreshed.pop(dep.id, None)  # a refusal refreshes the snapshot at once
        return None

    def _stats(self, dep: Deployment, now: float) -> Stats:
        """What the router's snapshot would say: the estimate, with quota use as of now."""
        est = self._estimates.get(dep.id) or Estimate()
        tick = int(now / self._knobs.refresh_s) if self._knobs.refresh_s > 0 else self._seq
        if self._refreshed.get(dep.id) != tick:
            self._refreshed[dep.id] = tick
            free, in_flight = self._quota.usage(dep, int(now * 1000))
            if est.quota_headroom != free or est.in_flight != in_flight:  # (replace() is slow)
                est = replace(est, quota_headroom=free, in_flight=in_flight)
                self._estimates[dep.id] = est
        return to_stats(est, now)

    def _end_until(self, now: float) -> None:
        """Settle the replayed requests that ended by `now`: free quota, learn their latency."""
        while self._in_flight and self._in_flight[0].end <= now:
            ending = heapq.heappop(self._in_flight)
            self._quota.settle(ending.grant, ending.tokens_used)
            if ending.outcome is not None:
                dep_id = ending.outcome.deployment_id
                est = self._estimates.get(dep_id) or Estimate()
                self._estimates[dep_id] = apply(est, ending.outcome)
            self._outputs.observe(ending.route, ending.completion_tokens)
