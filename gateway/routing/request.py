"""The plain data a request carries through the router: what was asked, and what served it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.config.runtime import Deployment, Route
from gateway.routing.policy import Hints
from gateway.routing.scoring import Demand, Ranking
from gateway.state.quota import Grant
from gateway.upstream.base import Reply, StreamReply


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    body: Mapping[str, Any]  # the client's body minus gateway-only fields
    stream: bool
    client_wants_usage: bool
    demand: Demand  # output_tokens 0: the request set no max_tokens
    request_id: str
    received: float = field(default_factory=time.perf_counter)  # when the gateway got it
    hints: Hints = field(default_factory=Hints)
    endpoint: str = "/v1/chat/completions"
    team: str | None = None
    policy: str | None = None  # the x-gateway-policy header
    continuation: bool = False  # a resumed stream's second half: not resumed again


@dataclass(slots=True)
class Served:
    request: ChatRequest
    route: Route
    deployment: Deployment
    grant: Grant
    attempts: int
    upstream_s: float  # time spent waiting on upstreams, over all attempts
    ranking: Ranking
    reply: Reply | None = None
    stream: StreamReply | None = None
    started: float = 0.0  # when the winning attempt started (perf_counter)
    hedged_with: str | None = None  # the runner-up raced against it, if the request was hedged
    resumed: bool = False  # its stream broke and a continuation took over (and bills the row)
    carried: tuple[str, Decimal | None] | None = None  # a continuation: (first deployment, cost)
