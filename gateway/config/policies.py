"""Schema of policies/*.yaml: how each public model name is routed."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Strategy(StrEnum):
    BALANCED = "balanced"
    CHEAPEST = "cheapest"
    FASTEST = "fastest"
    ORDERED = "ordered"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Slo(_Strict):
    ttft_ms: float = Field(default=1000.0, gt=0)
    tpot_ms: float = Field(default=100.0, gt=0)
    value_usd: float = Field(default=0.01, ge=0)  # what one missed target is worth


class Failover(_Strict):
    max_attempts: int = Field(default=3, ge=1, le=10)


class RouteSpec(_Strict):
    targets: tuple[str, ...] = Field(min_length=1)  # provider/model
    strategy: Strategy = Strategy.BALANCED
    slo: Slo = Slo()
    failover: Failover = Failover()


class PolicyFile(_Strict):
    routes: dict[str, RouteSpec] = Field(default_factory=dict)
