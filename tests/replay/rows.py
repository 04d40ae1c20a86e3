"""Recorded rows and candidate configs for the replay's tests, with only the fields they need."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from gateway.config.policies import Slo, Strategy
from gateway.config.runtime import Config, Deployment, Route
from gateway.core.usage import Usage
from gateway.replay.recorded import Recorded
from tests.factories import deployment

T0 = 1_800_000_000.0  # epoch seconds


def row(i: float = 0, dep: str = "a/m", **fields: Any) -> Recorded:
    """Request i arrives at T0 + i seconds: 100 prompt and 10 output tokens, streamed, 50 ms
    to the first token and 140 ms in all (10 ms per token after the first)."""
    base: dict[str, Any] = {
        "at": T0 + i,
        "model": "chat",
        "team": None,
        "endpoint": "/v1/chat/completions",
        "stream": True,
        "deployment": dep,
        "usage": Usage(prompt_tokens=100, completion_tokens=10),
        "cost_usd": Decimal("0.0001"),
        "ttft_ms": 50.0,
        "latency_ms": 140.0,
    }
    base.update(fields)
    return Recorded(**base)


def dep(provider: str, price: float = 1.0, **fields: Any) -> Deployment:
    return deployment(provider, "m", input_per_mtok=price, output_per_mtok=price, **fields)


def config(deps: list[Deployment], **route: Any) -> Config:
    """One route, `chat`, over every deployment given; any Route field by keyword."""
    route.setdefault("strategy", Strategy.CHEAPEST)
    chat = Route(name="chat", targets=tuple(deps), **route)
    return Config({d.id: d for d in deps}, {"chat": chat}, {}, "test")


def slo(**fields: float) -> Slo:
    """An Slo as a policy file declares it (its fields set)."""
    return Slo.model_validate(fields)
