"""OpenTelemetry spans for a request, its routing decision, each attempt and upstream call, with
the GenAI attributes; none of it loaded without OTEL_EXPORTER_OTLP_ENDPOINT."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway import app as app_module
from gateway.sim import VendorSpec
from gateway.telemetry.otel import OtelTracer
from gateway.telemetry.tracing import NO_TRACER, tracer_from_env
from tests.conftest import FleetFactory

FAST = VendorSpec(models=["m"], ttft_ms=1, tokens_per_s=5000, output_tokens=5)
POLICY = "routes:\n  chat:\n    targets: [bad/m, good/m]\n    strategy: ordered\n"
MSG = [{"role": "user", "content": "hello"}]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_failover_is_traced_attempt_by_attempt(
    fleet: FleetFactory, monkeypatch: pytest.MonkeyPatch, stream: bool
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(app_module, "tracer_from_env", lambda env: OtelTracer(provider))
    async with (
        fleet(
            {"bad": FAST.model_copy(update={"error_rate": 1.0}), "good": FAST},
            {"bad": (0.1, 0.1), "good": (1.0, 2.0)},
            policies=POLICY,
        ) as fl,
        httpx.AsyncClient(base_url=fl.url) as http,
    ):
        body = {"model": "chat", "messages": MSG, "stream": stream}
        if stream:
            body["stream_options"] = {"include_usage": True}
        r = await http.post("/v1/chat/completions", json=body)
        assert r.status_code == 200
    spans = exporter.get_finished_spans()  # the app has stopped: every span has ended
    (request,) = [s for s in spans if s.kind is SpanKind.SERVER]
    attrs = dict(request.attributes or {})
    assert request.name == "chat chat"
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.request.model"] == "chat"
    assert attrs["gen_ai.provider.name"] == "good" and attrs["gateway.deployment"] == "good/m"
    assert attrs["gateway.request_id"] == r.headers["x-request-id"]
    assert attrs["gateway.attempts"] == 2 and attrs["http.response.status_code"] == 200
    assert attrs["gen_ai.usage.output_tokens"] == 5
    assert int(str(attrs["gen_ai.usage.input_tokens"])) > 0
    (route,) = _children(spans, request, "gateway.route")
    route_attrs = dict(route.attributes or {})
    assert route_attrs["gateway.ranked"] == ("bad/m", "good/m")
    assert len(route_attrs["gateway.scores_usd"]) == 2  # type: ignore[arg-type]
    first, second = sorted(
        _children(spans, request, "gateway.attempt"), key=lambda s: s.start_time or 0
    )
    assert [dict(a.attributes or {})["gateway.deployment"] for a in (first, second)] == [
        "bad/m",
        "good/m",
    ]
    assert first.status.status_code is StatusCode.ERROR
    assert second.status.status_code is StatusCode.UNSET
    (failed_call,) = _children(spans, first, "chat m")
    (call,) = _children(spans, second, "chat m")
    assert call.kind is SpanKind.CLIENT
    call_attrs = dict(call.attributes or {})
    assert call_attrs["gen_ai.provider.name"] == "good"
    assert call_attrs["gen_ai.request.model"] == "m"
    assert dict(failed_call.attributes or {})["error.type"] == "error"
    if not stream:  # a whole reply: its usage is known when the call ends
        assert call_attrs["gen_ai.usage.output_tokens"] == 5
    assert request.context is not None
    assert {s.context.trace_id for s in spans if s.context} == {request.context.trace_id}


def _children(
    spans: tuple[ReadableSpan, ...], parent: ReadableSpan, name: str
) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        s
        for s in spans
        if s.name == name and s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


def test_no_endpoint_no_tracing_and_no_opentelemetry_import() -> None:
    assert tracer_from_env({}) is NO_TRACER
    code = (
        "import sys\n"
        "from gateway.app import create_app\n"
        "from gateway.telemetry.tracing import tracer_from_env, NO_TRACER\n"
        "assert tracer_from_env({}) is NO_TRACER\n"
        "assert 'gateway.telemetry.otel' not in sys.modules\n"
    )  # (redis-py imports the SDK itself when it is installed: not ours to test)
    subprocess.run([sys.executable, "-c", code], check=True)


def test_an_endpoint_turns_on_otlp_export() -> None:
    tracer = tracer_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert isinstance(tracer, OtelTracer)
    tracer.close()
