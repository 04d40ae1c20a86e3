"""The plain data a request carries through the router: what was asked, and what served it."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.config.runtime import Deployment, Route
from gateway.core.caller import ANONYMOUS, Caller
from gateway.core.operation import Operation
from gateway.core.prompt import Prompt
from gateway.routing.policy import NO_HINTS, Hints
from gateway.routing.scoring import Demand, Ranking
from gateway.state.quota import Grant
from gateway.state.tenant_limits import TenantGrant
from gateway.telemetry.tracing import NO_TRACE, RequestTrace
from gateway.upstream.base import Reply, StreamReply


@dataclass(frozen=True, slots=True)
class GatewayRequest:
    """One client request of any operation, parsed by its dialect module in gateway.api."""

    operation: Operation
    endpoint: str  # the path the client called (spend_log.endpoint)
    model: str
    body: Mapping[str, Any]  # the client's body minus gateway-only fields
    stream: bool
    client_wants_usage: bool
    demand: Demand  # output_tokens 0: the request set no max_tokens
    prompt: Prompt  # read once at parse time: token counts and prefix affinity reuse it
    request_id: str
    received: float = field(default_factory=time.perf_counter)  # when the gateway got it
    caller: Caller = ANONYMOUS
    hints: Hints = NO_HINTS
    policy: str | None = None  # the x-gateway-policy header
    continuation: bool = False  # a resumed stream's second half: not resumed again
    headers: Mapping[str, str] = field(default_factory=dict)  # for vendors of its dialect
    # Why it cannot be translated for a deployment of another dialect (it uses a feature with
    # no equivalent there), naming the field; None: it can be.
    untranslatable: tuple[str, str] | None = None  # (message, param)
    session: str | None = None  # x-claude-code-session-id or x-session-id: tags.session_id

    @property
    def team(self) -> str | None:
        return self.caller.team

    @property
    def resumable(self) -> bool:
        """A break of its stream may be continued on another candidate (if the route says so)."""
        return self.stream and self.operation.resumable and not self.continuation


@dataclass(frozen=True, slots=True)
class Served:
    """The attempt that answered: built once, when it answered."""

    request: GatewayRequest
    route: Route
    deployment: Deployment
    grant: Grant
    attempts: int
    upstream_s: float  # time spent waiting on upstreams, over all attempts
    ranking: Ranking
    started: float  # when the winning attempt started (perf_counter)
    reply: Reply | None = None
    stream: StreamReply | None = None
    hedged_with: str | None = None  # the runner-up raced against it, if the request was hedged
    carried: tuple[str, Decimal | None] | None = None  # a continuation: (first deployment, cost)
    tenant: TenantGrant | None = None  # the caller's key and team reservation
    overhead_s: float | None = None  # the gateway's own time until the answer was in
    trace: RequestTrace = NO_TRACE
