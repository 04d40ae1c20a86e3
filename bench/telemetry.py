"""CPU a request spends on telemetry: the metrics the router records (one attempt, the finished
request: counters, the GenAI histograms, cost, overhead) and the no-op trace calls, then the same
with the JSON access line written (log level info). Best of 5 repeats, µs per request.

    .venv/bin/python -m bench.telemetry
"""

from __future__ import annotations

import logging
import os
import timeit
from datetime import UTC, datetime
from decimal import Decimal

from gateway import logs
from gateway.ledger.record import SpendRecord
from gateway.telemetry.observer import Observer
from gateway.telemetry.tracing import NO_TRACER

RECORD = SpendRecord(
    created_at=datetime.now(UTC),
    request_id="0123456789abcdef0123456789abcdef",
    endpoint="/v1/chat/completions",
    requested_model="m",
    stream=False,
    status_code=200,
    attempts=1,
    latency_ms=1.5,
    policy="m",
    provider="sim",
    deployment="sim/m",
    upstream_model="m",
    prompt_tokens=12,
    completion_tokens=16,
    cost_usd=Decimal("0.0000123"),
)


def one_request(observer: Observer) -> None:
    """What the router calls for a request answered at the first attempt."""
    trace = NO_TRACER.begin(request_id="r", operation="chat", model="m", stream=False)
    trace.decision("m", "balanced", iter(()), iter(()))
    span = trace.attempt(
        deployment="sim/m", provider="sim", upstream_model="m", number=1, operation="chat"
    )
    span.answered((12, 16))
    observer.metrics.attempt("sim/m", "ok")
    observer.finished(RECORD, operation="chat", key_prefix=None, overhead_s=0.0004, trace=trace)


def measure(level: int, number: int) -> float:
    root = logging.getLogger()
    root.handlers.clear()
    with open(os.devnull, "w") as sink:
        handler = logging.StreamHandler(sink)
        handler.setFormatter(logs.JsonFormatter())
        root.addHandler(handler)
        root.setLevel(level)
        logs.install(["sk-an-upstream-key-for-the-redaction"])
        observer = Observer()
        one_request(observer)
        best = min(timeit.repeat(lambda: one_request(observer), number=number, repeat=5))
        root.handlers.clear()
    return best / number * 1e6


def main() -> None:
    print(f"metrics (log level warning): {measure(logging.WARNING, 100_000):.1f} µs/request")
    print(f"metrics + JSON access line (info): {measure(logging.INFO, 20_000):.1f} µs/request")


if __name__ == "__main__":
    main()
