"""What the router reports as a request goes: each attempt's outcome, each failover and hedge,
and the finished request (its spend row) into the metrics, the access log and its trace."""

from __future__ import annotations

from gateway.ledger.record import SpendRecord
from gateway.telemetry.access import access_line
from gateway.telemetry.families import GEN_AI_OPERATION, NONE, OTHER, Metrics
from gateway.telemetry.tracing import NO_TRACER, RequestTrace, Tracer


class Observer:
    def __init__(self, metrics: Metrics | None = None, tracer: Tracer = NO_TRACER) -> None:
        self.metrics = metrics or Metrics()
        self.tracer = tracer

    def finished(
        self,
        record: SpendRecord,
        *,
        operation: str,
        key_prefix: str | None,
        overhead_s: float | None,
        trace: RequestTrace,
    ) -> None:
        """A request ended (answered, refused, failed or abandoned): its one row says how."""
        m = self.metrics
        route = record.policy or NONE
        m.request(route, record.deployment or NONE, record.status_code)
        if record.provider is not None:
            # A resolved route means the config knows the requested name; else "other".
            model = record.requested_model if record.policy is not None else OTHER
            gen_ai = (GEN_AI_OPERATION.get(operation, operation), record.provider, model)
            ttft_s = record.ttft_ms / 1000 if record.ttft_ms is not None else None
            tokens = (record.prompt_tokens, record.completion_tokens)
            m.served(gen_ai, seconds=record.latency_ms / 1000, ttft_s=ttft_s, tokens=tokens)
            if record.cost_usd is not None:
                model_name = record.deployment.partition("/")[2] if record.deployment else NONE
                m.cost(record.team or NONE, record.provider, model_name, float(record.cost_usd))
        if overhead_s is not None:
            m.overhead(route, overhead_s)
        access_line(record, key_prefix=key_prefix, overhead_s=overhead_s)
        trace.end(record)
