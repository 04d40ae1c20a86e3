"""SpendRecord (one row of spend_log) and the Ledger protocol the request path submits to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

CAPABILITIES_TAG = "capabilities"  # tags: what a request needed (tools, vision...), for replay


@dataclass(frozen=True, slots=True)
class SpendRecord:
    created_at: datetime  # UTC, when the request arrived
    request_id: str  # equal to the x-request-id the client received; unique
    endpoint: str
    requested_model: str
    stream: bool
    status_code: int
    attempts: int
    latency_ms: float
    policy: str | None = None  # the route that served it
    provider: str | None = None
    deployment: str | None = None
    upstream_model: str | None = None
    error_type: str | None = None  # OpenAI error type, "client_cancelled", "partial"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0  # the part of prompt_tokens read from the vendor's cache
    reasoning_tokens: int = 0  # the part of completion_tokens spent reasoning
    cache_write_tokens: int = 0  # the part of prompt_tokens written to the vendor's cache
    cost_usd: Decimal | None = None  # None: no price known for the deployment
    ttft_ms: float | None = None
    team: str | None = None
    key_id: str | None = None  # a key's id, never the key
    tags: dict[str, str] = field(default_factory=dict)


class Ledger(Protocol):
    """submit() never blocks and never raises on the request path."""

    def submit(self, record: SpendRecord) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None:
        """Flush what is queued (graceful shutdown)."""
        ...
