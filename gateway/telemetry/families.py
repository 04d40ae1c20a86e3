"""Every Prometheus family the gateway exports, by its one name (a contract with the Grafana
dashboards), and the cheap calls the request path records through.

Labels are bounded: routes, deployments, providers and teams come from the config or the key
table, statuses and outcomes from short fixed sets; no request, key or user id. The children of
a label set are bound once and cached, so a request costs a dict lookup and an observe each.
Point-in-time gauges (headroom, circuit, in-flight, budgets, queue depth, health) are set from
live state when scraped (gauges.py), never per request.

With PROMETHEUS_MULTIPROC_DIR set (`gateway serve --workers N`), prometheus_client keeps values
in per-process files and /metrics sums them; each gauge says how its workers' values combine.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# OpenTelemetry GenAI semantic conventions, as Prometheus spells them (and their buckets).
OPERATION_DURATION = "gen_ai_client_operation_duration_seconds"
TOKEN_USAGE = "gen_ai_client_token_usage"
TIME_TO_FIRST_CHUNK = "gen_ai_client_operation_time_to_first_chunk_seconds"
REQUESTS = "gateway_requests_total"
ATTEMPTS = "gateway_attempts_total"
FAILOVERS = "gateway_failovers_total"
OVERHEAD = "gateway_overhead_seconds"
COST = "gateway_cost_usd_total"
HEDGES = "gateway_hedges_total"
QUOTA_HEADROOM = "gateway_quota_headroom_ratio"
CIRCUIT_STATE = "gateway_circuit_state"
IN_FLIGHT = "gateway_in_flight_requests"
BUDGET_REMAINING = "gateway_budget_remaining_usd"
LEDGER_QUEUE = "gateway_ledger_queue_rows"
LEDGER_SPOOLED = "gateway_ledger_spooled_rows"
REDIS_UP = "gateway_redis_up"
DATABASE_UP = "gateway_database_up"

GEN_AI = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")
DURATION_BUCKETS = tuple(0.01 * 2**i for i in range(14))  # 10 ms .. 82 s
TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1 .. 67M, as the convention advises
CHUNK_BUCKETS: tuple[float, ...] = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5)
CHUNK_BUCKETS += (0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
OVERHEAD_BUCKETS: tuple[float, ...] = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01)
OVERHEAD_BUCKETS += (0.025, 0.05, 0.1, 0.25, 1.0)
NONE = "none"  # a label with nothing to say (no deployment answered, no team)
OTHER = "other"  # a model name the config does not know

# The operation names of the GenAI conventions, per gateway operation.
GEN_AI_OPERATION = {
    "chat": "chat",
    "messages": "chat",
    "responses": "chat",
    "embeddings": "embeddings",
    "completions": "text_completion",
    "count_tokens": "count_tokens",
}

Child = TypeVar("Child")


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class _Bound(dict[tuple[str, ...], Child]):
    """A family's children by label values, bound on first use."""

    def __init__(self, make: Callable[..., Child]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: tuple[str, ...]) -> Child:
        child = self[key] = self._make(*key)
        return child


class Metrics:
    """One app's families in its own registry (tests build many apps in one process)."""

    def __init__(self, *, shared_state: bool = False) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)

        def histogram(name: str, doc: str, labels: tuple[str, ...], buckets: Any) -> Histogram:
            return Histogram(name, doc, labels, registry=registry, buckets=buckets)

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> Counter:
            return Counter(name, doc, labels, registry=registry)

        def gauge(name: str, doc: str, labels: tuple[str, ...], mode: str) -> Gauge:
            # (mode: how the workers' values combine; the Gauge type checks the name)
            return Gauge(name, doc, labels, registry=registry, multiprocess_mode=mode)  # type: ignore[arg-type]

        duration = histogram(
            OPERATION_DURATION, "Duration of GenAI operations.", GEN_AI, DURATION_BUCKETS
        )
        tokens = histogram(
            TOKEN_USAGE, "Tokens used.", (*GEN_AI, "gen_ai_token_type"), TOKEN_BUCKETS
        )
        chunk = histogram(
            TIME_TO_FIRST_CHUNK, "Time to the first chunk of a stream.", GEN_AI, CHUNK_BUCKETS
        )
        requests = counter(REQUESTS, "Client requests finished.", ("route", "deployment", "status"))
        attempts = counter(ATTEMPTS, "Attempts on deployments.", ("deployment", "outcome"))
        failovers = counter(FAILOVERS, "Moves to the next candidate.", ("route", "reason"))
        overhead = histogram(
            OVERHEAD, "Time the gateway added before the answer.", ("route",), OVERHEAD_BUCKETS
        )
        cost = counter(COST, "Cost of served requests in USD.", ("team", "provider", "model"))
        hedges = counter(HEDGES, "Hedged requests, by who won.", ("route", "outcome"))

        # Live state gauges. A shared (Redis) store gives every worker the same numbers: the
        # most recent wins (the scraped worker's, set just now; the others' may be seconds
        # old). With the in-memory store each worker has its own: the worst one, or the sum.
        def live(worst: str) -> str:
            return "livemostrecent" if shared_state else worst

        self.headroom = gauge(
            QUOTA_HEADROOM, "Share of the declared limit left.", ("deployment",), live("livemin")
        )
        self.circuit = gauge(
            CIRCUIT_STATE, "0 closed, 1 half-open, 2 open.", ("deployment",), live("livemax")
        )
        self.in_flight = gauge(IN_FLIGHT, "Requests in flight.", ("deployment",), live("livesum"))
        self.budget = gauge(
            BUDGET_REMAINING, "USD left of a team's budget.", ("team", "period"), live("livemin")
        )
        self.live_deployments: set[str] = set()  # the gauges' deployments at the last refresh
        # Each worker's own: its ledger queue and spool add up; one worker cut off counts.
        self.ledger_queue = gauge(LEDGER_QUEUE, "Spend rows queued.", (), "livesum")
        self.ledger_spooled = gauge(LEDGER_SPOOLED, "Spend rows on disk.", (), "livesum")
        self.redis_up = gauge(REDIS_UP, "Redis reachable (1) or not.", (), "livemin")
        self.database_up = gauge(DATABASE_UP, "Ledger database reachable.", (), "livemin")
        self._duration = _Bound(lambda *k: duration.labels(*k))
        self._ttfc = _Bound(lambda *k: chunk.labels(*k))
        self._tokens = _Bound(lambda *k: tokens.labels(*k))
        self._requests = _Bound(lambda *k: requests.labels(*k))
        self._attempts = _Bound(lambda *k: attempts.labels(*k))
        self._failovers = _Bound(lambda *k: failovers.labels(*k))
        self._overhead = _Bound(lambda *k: overhead.labels(*k))
        self._cost = _Bound(lambda *k: cost.labels(*k))
        self._hedges = _Bound(lambda *k: hedges.labels(*k))

    def request(self, route: str, deployment: str, status: int) -> None:
        self._requests[route, deployment, str(status)].inc()

    def served(
        self,
        gen_ai: tuple[str, str, str],  # (operation, provider, model) label values
        *,
        seconds: float,
        ttft_s: float | None,
        tokens: tuple[int, int],  # input, output
    ) -> None:
        self._duration[gen_ai].observe(seconds)
        if ttft_s is not None:
            self._ttfc[gen_ai].observe(ttft_s)
        self._tokens[(*gen_ai, "input")].observe(tokens[0])
        self._tokens[(*gen_ai, "output")].observe(tokens[1])

    def cost(self, team: str, provider: str, model: str, usd: float) -> None:
        self._cost[team, provider, model].inc(usd)

    def overhead(self, route: str, seconds: float) -> None:
        self._overhead[(route,)].observe(seconds)

    def attempt(self, deployment: str, outcome: str) -> None:
        self._attempts[deployment, outcome].inc()

    def failover(self, route: str, reason: str) -> None:
        self._failovers[route, reason].inc()

    def hedge(self, route: str, outcome: str) -> None:
        self._hedges[route, outcome].inc()
