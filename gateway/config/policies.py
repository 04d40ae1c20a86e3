"""Schema of policies/*.yaml: how each public model name is routed (unknown keys refused)."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strategy(StrEnum):
    BALANCED = "balanced"
    CHEAPEST = "cheapest"
    FASTEST = "fastest"
    ORDERED = "ordered"
    WEIGHTED = "weighted"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Slo(_Strict):
    ttft_ms: float = Field(default=1000.0, gt=0)
    tpot_ms: float = Field(default=100.0, gt=0)
    # What one missed target (or one failed attempt) is worth. Unset: 4 times the dearest
    # candidate's expected cost for the request (routing.scoring.slo_value_usd).
    value_usd: float | None = Field(default=None, ge=0)


class Failover(_Strict):
    max_attempts: int = Field(default=3, ge=1, le=10)
    deadline_ms: float | None = Field(default=None, gt=0)  # no new attempt after this


class Timeouts(_Strict):
    connect_ms: float | None = Field(default=None, gt=0)
    # First token of a stream (for a non-streamed request: the whole reply); failover after it.
    first_token_ms: float | None = Field(default=None, gt=0)
    read_ms: float | None = Field(default=None, gt=0)  # longest wait for the next byte (stalls)
    total_ms: float | None = Field(default=None, gt=0)  # one attempt, stream included


class Constraints(_Strict):
    max_input_price_per_mtok: float | None = Field(default=None, ge=0)
    max_output_price_per_mtok: float | None = Field(default=None, ge=0)
    require: tuple[str, ...] = ()  # capabilities every target must have
    regions: tuple[str, ...] = ()  # allowed provider regions
    tags: tuple[str, ...] = ()  # a target's provider must carry one of these tags
    min_context_window: int | None = Field(default=None, ge=1)


class RouteOverride(_Strict):
    """A team's variant of a route: the fields it sets replace the route's."""

    targets: tuple[str, ...] | None = Field(default=None, min_length=1)
    weights: dict[str, float] | None = None
    strategy: Strategy | None = None
    slo: Slo | None = None
    constraints: Constraints | None = None
    failover: Failover | None = None
    timeouts: Timeouts | None = None


class RouteSpec(_Strict):
    targets: tuple[str, ...] = Field(min_length=1)  # provider/model
    weights: dict[str, float] | None = None  # target -> share, for strategy weighted
    strategy: Strategy = Strategy.BALANCED
    aliases: tuple[str, ...] = ()  # more public names for the same route
    slo: Slo = Slo()
    constraints: Constraints = Constraints()
    failover: Failover = Failover()
    timeouts: Timeouts = Timeouts()
    prefer_owned_capacity: bool = False  # fill owned pools first (takes effect with pools)
    # No first token by then: race the runner-up, keep the first to answer, cancel the other.
    # "auto": the first candidate's predicted (peak) TTFT. Unset: no hedging.
    hedge_after_ms: float | Literal["auto"] | None = Field(default=None)
    # A stream that breaks after its first byte is continued on the next candidate, prompted
    # with the text already sent (see README for the caveats). Off: the client gets an error event.
    resume: bool = False
    # What clients use this route for (gateway check verifies every target serves each one,
    # natively or translated). Unset: not checked.
    operations: (
        tuple[Literal["chat", "messages", "responses", "embeddings", "completions"], ...] | None
    ) = None
    teams: dict[str, RouteOverride] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _weights_fit(self) -> RouteSpec:
        if self.strategy is Strategy.WEIGHTED and not self.weights:
            raise ValueError("strategy weighted needs `weights` (target: share)")
        return self


class PolicyFile(_Strict):
    routes: dict[str, RouteSpec] = Field(default_factory=dict)
    default_route: str | None = None  # route for model names no policy mentions (off if unset)
