"""The OpenTelemetry implementation of tracing.py's protocols (imported only when traces are
exported).

Spans carry the GenAI semantic-convention attributes. Parents are passed explicitly, not through
the current context, so a hedge's attempts (other tasks) and a stream's relay (which outlives
the handler) land under their request's span.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from gateway.ledger.record import SpendRecord
from gateway.telemetry.families import GEN_AI_OPERATION


class OtelAttempt:
    __slots__ = ("_attempt", "_call")

    def __init__(self, attempt: Span, call: Span) -> None:
        self._attempt, self._call = attempt, call

    def answered(self, tokens: tuple[int, int] | None) -> None:
        if tokens is not None:
            self._call.set_attribute("gen_ai.usage.input_tokens", tokens[0])
            self._call.set_attribute("gen_ai.usage.output_tokens", tokens[1])
        self._call.end()
        self._attempt.set_attribute("gateway.outcome", "ok")
        self._attempt.end()

    def failed(self, outcome: str, message: str) -> None:
        for span in (self._call, self._attempt):
            span.set_attribute("error.type", outcome)
            span.set_status(Status(StatusCode.ERROR, message))
            span.end()


class OtelRequest:
    __slots__ = ("_context", "_span", "_tracer")

    def __init__(self, tracer: trace.Tracer, span: Span) -> None:
        self._tracer, self._span = tracer, span
        self._context: Context = trace.set_span_in_context(span)

    def decision(
        self,
        route: str,
        strategy: str,
        ranked: Iterable[tuple[str, float]],
        excluded: Iterable[tuple[str, str]],
    ) -> None:
        span = self._tracer.start_span("gateway.route", context=self._context)
        ranked = list(ranked)
        span.set_attribute("gateway.route", route)
        span.set_attribute("gateway.strategy", strategy)
        span.set_attribute("gateway.ranked", [dep for dep, _ in ranked])
        span.set_attribute("gateway.scores_usd", [score for _, score in ranked])
        span.set_attribute("gateway.excluded", [f"{dep}: {why}" for dep, why in excluded])
        span.end()

    def attempt(
        self, *, deployment: str, provider: str, upstream_model: str, number: int, operation: str
    ) -> OtelAttempt:
        attempt = self._tracer.start_span("gateway.attempt", context=self._context)
        attempt.set_attribute("gateway.deployment", deployment)
        attempt.set_attribute("gateway.attempt", number)
        op = GEN_AI_OPERATION.get(operation, operation)
        call = self._tracer.start_span(
            f"{op} {upstream_model}",
            context=trace.set_span_in_context(attempt),
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": op,
                "gen_ai.provider.name": provider,
                "gen_ai.request.model": upstream_model,
            },
        )
        return OtelAttempt(attempt, call)

    def end(self, record: SpendRecord) -> None:
        span = self._span
        span.set_attribute("http.response.status_code", record.status_code)
        span.set_attribute("gateway.attempts", record.attempts)
        if record.policy is not None:
            span.set_attribute("gateway.route", record.policy)
        if record.provider is not None and record.deployment is not None:
            span.set_attribute("gen_ai.provider.name", record.provider)
            span.set_attribute("gateway.deployment", record.deployment)
            span.set_attribute("gen_ai.usage.input_tokens", record.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", record.completion_tokens)
        if record.cost_usd is not None:
            span.set_attribute("gateway.cost_usd", float(record.cost_usd))
        if record.error_type is not None:
            span.set_attribute("error.type", record.error_type)
        if record.status_code >= 500:
            span.set_status(Status(StatusCode.ERROR, record.error_type or ""))
        span.end()


class OtelTracer:
    def __init__(self, provider: TracerProvider) -> None:
        self._provider = provider
        self._tracer = provider.get_tracer("gateway")

    @classmethod
    def exporting(cls) -> OtelTracer:
        """Batched OTLP/HTTP export; endpoint, headers and service name from OTEL_* variables."""
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider = TracerProvider(resource=Resource.create({"service.name": "gateway"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider)

    def begin(self, *, request_id: str, operation: str, model: str, stream: bool) -> OtelRequest:
        op = GEN_AI_OPERATION.get(operation, operation)
        span = self._tracer.start_span(
            f"{op} {model}",
            kind=SpanKind.SERVER,
            attributes={
                "gen_ai.operation.name": op,
                "gen_ai.request.model": model,
                "gateway.request_id": request_id,
                "gateway.stream": stream,
            },
        )
        return OtelRequest(self._tracer, span)

    def close(self) -> None:
        self._provider.shutdown()  # flushes what the batch processor still holds
