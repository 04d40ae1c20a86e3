"""Traces of a request: its span, the routing decision, each attempt and its upstream call.

The router talks to these small protocols; without OTEL_EXPORTER_OTLP_ENDPOINT (or without the
`otel` extra installed) they are the no-op objects below and opentelemetry is never imported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Protocol

from gateway.ledger.record import SpendRecord

log = logging.getLogger("gateway")


class AttemptTrace(Protocol):
    def answered(self, tokens: tuple[int, int] | None) -> None:
        """The upstream answered (a reply, or a stream's first event); its usage if known."""
        ...

    def failed(self, outcome: str, message: str) -> None: ...


class RequestTrace(Protocol):
    def decision(
        self,
        route: str,
        strategy: str,
        ranked: Iterable[tuple[str, float]],
        excluded: Iterable[tuple[str, str]],
    ) -> None:
        """The ranking: each candidate's score (expected USD), and why others were left out."""
        ...

    def attempt(
        self, *, deployment: str, provider: str, upstream_model: str, number: int, operation: str
    ) -> AttemptTrace: ...

    def end(self, record: SpendRecord) -> None: ...


class Tracer(Protocol):
    def begin(
        self, *, request_id: str, operation: str, model: str, stream: bool
    ) -> RequestTrace: ...

    def close(self) -> None: ...


class _NoAttempt:
    def answered(self, tokens: tuple[int, int] | None) -> None:
        pass

    def failed(self, outcome: str, message: str) -> None:
        pass


class _NoTrace:
    def decision(
        self,
        route: str,
        strategy: str,
        ranked: Iterable[tuple[str, float]],
        excluded: Iterable[tuple[str, str]],
    ) -> None:
        pass

    def attempt(
        self, *, deployment: str, provider: str, upstream_model: str, number: int, operation: str
    ) -> AttemptTrace:
        return NO_ATTEMPT

    def end(self, record: SpendRecord) -> None:
        pass


class _NoTracer:
    def begin(self, *, request_id: str, operation: str, model: str, stream: bool) -> RequestTrace:
        return NO_TRACE

    def close(self) -> None:
        pass


NO_ATTEMPT = _NoAttempt()
NO_TRACE = _NoTrace()
NO_TRACER = _NoTracer()


def tracer_from_env(env: Mapping[str, str]) -> Tracer:
    """OTLP export when OTEL_EXPORTER_OTLP_ENDPOINT is set and the `otel` extra is installed
    (the SDK's exporter reads the rest of the OTEL_* variables itself); else no tracing."""
    if not env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return NO_TRACER
    try:
        from gateway.telemetry.otel import OtelTracer
    except ImportError as exc:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but %s: no traces", exc)
        return NO_TRACER
    return OtelTracer.exporting()
